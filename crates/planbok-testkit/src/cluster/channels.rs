//! gRPC channels into a cluster's nodes, presenting the PKI's certificates for any role
//! (or a test's own, or none): what the server, an operator or a peer would open.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use planbok_node::pki::Leaf;
use planbok_proto::pb::coordinator_client::CoordinatorClient;
use planbok_proto::pb::operator_client::OperatorClient;
use planbok_proto::pb::peer_client::PeerClient;
use planbok_proto::roles::Role;
use planbok_types::NodeRole;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use super::{Cluster, Proc};

impl Cluster {
    fn leaf_path(&self, role: Role) -> (PathBuf, PathBuf) {
        let pki = self.dir.path().join("pki");
        (
            pki.join(format!("{}.pem", role.name())),
            pki.join(format!("{}.key", role.name())),
        )
    }

    /// A channel to node `role` presenting `leaf` (any certificate), trusting `ca_pem`.
    pub fn channel_with(
        &self,
        role: NodeRole,
        cert_pem: &str,
        key_pem: &str,
        ca_pem: &str,
    ) -> Result<Channel> {
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca_pem))
            .identity(Identity::from_pem(cert_pem, key_pem))
            .domain_name(format!("{}.planbok", role.name()));
        Ok(self.endpoint(role)?.tls_config(tls)?.connect_lazy())
    }

    /// A channel to node `role` with no client certificate.
    pub fn channel_without_cert(&self, role: NodeRole) -> Result<Channel> {
        let ca = std::fs::read_to_string(self.dir.path().join("pki/ca.pem"))?;
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .domain_name(format!("{}.planbok", role.name()));
        Ok(self.endpoint(role)?.tls_config(tls)?.connect_lazy())
    }

    fn endpoint(&self, who: impl Into<Proc>) -> Result<Endpoint> {
        Ok(
            Endpoint::from_shared(format!("https://127.0.0.1:{}", self.node(who).port))?
                .connect_timeout(Duration::from_secs(2)),
        )
    }

    /// A channel to node `role` as `as_role`, with the PKI's certificate for that role.
    pub fn channel_as(&self, role: NodeRole, as_role: Role) -> Result<Channel> {
        let (cert, key) = self.leaf_path(as_role);
        let ca = std::fs::read_to_string(self.dir.path().join("pki/ca.pem"))?;
        self.channel_with(
            role,
            &std::fs::read_to_string(cert)?,
            &std::fs::read_to_string(key)?,
            &ca,
        )
    }

    /// A channel presenting a freshly issued certificate.
    pub fn channel_with_leaf(&self, role: NodeRole, leaf: &Leaf, ca_pem: &str) -> Result<Channel> {
        self.channel_with(role, &leaf.cert_pem, &leaf.key_pem, ca_pem)
    }

    /// Node 1's coordinator, as the REST server.
    pub fn server(&self) -> Result<CoordinatorClient<Channel>> {
        Ok(
            CoordinatorClient::new(self.channel_as(NodeRole::Node1, Role::Server)?)
                .max_decoding_message_size(8 << 20),
        )
    }

    /// A node's operator service, as an operator.
    pub fn operator(&self, role: NodeRole) -> Result<OperatorClient<Channel>> {
        Ok(OperatorClient::new(self.channel_as(role, Role::Operator)?))
    }

    /// The operator service of any node (of any pair), as an operator.
    pub fn operator_of(&self, who: Proc) -> Result<OperatorClient<Channel>> {
        let role = who.role().context("the server has no operator service")?;
        let (cert, key) = self.leaf_path(Role::Operator);
        let ca = std::fs::read_to_string(self.dir.path().join("pki/ca.pem"))?;
        let tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(ca))
            .identity(Identity::from_pem(
                std::fs::read_to_string(cert)?,
                std::fs::read_to_string(key)?,
            ))
            .domain_name(format!("{}.planbok", role.name()));
        Ok(OperatorClient::new(
            self.endpoint(who)?.tls_config(tls)?.connect_lazy(),
        ))
    }

    /// Node 2's peer service, as Node 1 (to test Node 2's own checks).
    pub fn as_node1(&self) -> Result<PeerClient<Channel>> {
        Ok(PeerClient::new(
            self.channel_as(NodeRole::Node2, Role::Node1)?,
        ))
    }
}
