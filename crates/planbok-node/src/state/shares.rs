//! Shares: a DKG result sealed and stored as a pending key, a stored share opened for one
//! run (the keystore layer, then on Node 1 the wrap under the organization secret), and
//! the wire forms of protocols and custody modes.

use std::sync::Arc;

use planbok_keystore::wrap;
use planbok_mpc::cggmp::CggmpKeyShare;
use planbok_mpc::dkls::DklsKeyShare;
use planbok_mpc::frost::FrostKeyShare;
use planbok_mpc::{EcdsaPublicKey, PartyIndex};
use planbok_proto::codes::ErrorCode;
use planbok_proto::pb;
use planbok_store::{Custody, KeyRecord, NewKey, StoreError};
use zeroize::Zeroizing;

use planbok_types::EcdsaProtocol;

use crate::error::{NodeError, NodeResult};

use super::NodeState;

/// The custody mode a request names.
pub(crate) fn custody_from_pb(mode: i32) -> NodeResult<Custody> {
    pb::CustodyMode::try_from(mode)
        .ok()
        .and_then(|m| Custody::try_from(m).ok())
        .ok_or_else(|| NodeError::invalid("unknown custody mode"))
}

/// The wire form of a recorded custody mode (`Unspecified`: never recorded).
pub(crate) fn custody_to_pb(custody: Option<Custody>) -> pb::CustodyMode {
    custody.map_or(pb::CustodyMode::Unspecified, Into::into)
}

/// A key's protocol, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Proto {
    Cggmp,
    Dkls23,
    Frost,
}

impl Proto {
    pub(crate) fn from_pb(p: i32) -> NodeResult<Proto> {
        match pb::Protocol::try_from(p) {
            Ok(pb::Protocol::Cggmp) => Ok(Proto::Cggmp),
            Ok(pb::Protocol::Dkls23) => Ok(Proto::Dkls23),
            Ok(pb::Protocol::Frost) => Ok(Proto::Frost),
            _ => Err(NodeError::invalid("unknown protocol")),
        }
    }
    pub(crate) fn to_pb(self) -> pb::Protocol {
        match self {
            Proto::Cggmp => pb::Protocol::Cggmp,
            Proto::Dkls23 => pb::Protocol::Dkls23,
            Proto::Frost => pb::Protocol::Frost,
        }
    }
    /// The stored name: an ECDSA protocol's wire name, or `frost`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Proto::Cggmp => EcdsaProtocol::Cggmp.as_str(),
            Proto::Dkls23 => EcdsaProtocol::Dkls23.as_str(),
            Proto::Frost => "frost",
        }
    }
    pub(crate) fn from_name(s: &str) -> NodeResult<Proto> {
        match (s, EcdsaProtocol::parse(s)) {
            (_, Ok(EcdsaProtocol::Cggmp)) => Ok(Proto::Cggmp),
            (_, Ok(EcdsaProtocol::Dkls23)) => Ok(Proto::Dkls23),
            ("frost", _) => Ok(Proto::Frost),
            (other, Err(_)) => Err(NodeError::internal(format!(
                "stored key has protocol {other:?}"
            ))),
        }
    }
}

/// A share opened for one operation. Dropped (and zeroized by the share types) after it.
// One per request, moved into the protocol thread: boxing buys nothing.
#[expect(
    clippy::large_enum_variant,
    reason = "one share per request, moved once; boxing would only add an allocation"
)]
pub(crate) enum Share {
    Cggmp(CggmpKeyShare),
    Dkls(Arc<DklsKeyShare>),
    Frost(Arc<FrostKeyShare>),
}

impl Share {
    pub(crate) fn decode(proto: Proto, bytes: &[u8], me: PartyIndex) -> NodeResult<Share> {
        let s = match proto {
            Proto::Cggmp => Share::Cggmp(CggmpKeyShare::from_sealable_bytes(bytes)?),
            Proto::Dkls23 => Share::Dkls(Arc::new(DklsKeyShare::from_sealable_bytes(bytes)?)),
            Proto::Frost => Share::Frost(Arc::new(FrostKeyShare::from_sealable_bytes(bytes)?)),
        };
        let party = match &s {
            Share::Cggmp(k) => k.party(),
            Share::Dkls(k) => k.party(),
            Share::Frost(k) => k.party(),
        };
        if party != me {
            return Err(NodeError::internal(
                "stored share belongs to the other party",
            ));
        }
        Ok(s)
    }
}

/// A DKG result to store as a pending key (one field per column).
pub(crate) struct PendingKey<'a> {
    pub(crate) key_id: &'a str,
    pub(crate) org_id: &'a str,
    pub(crate) proto: Proto,
    pub(crate) custody: Custody,
    pub(crate) customer_id: Option<&'a str>,
    pub(crate) public_key: &'a [u8],
    pub(crate) chain_code: Option<Vec<u8>>,
}

impl NodeState {
    /// Seals a DKG result (on Node 1 already wrapped under the organization secret) and
    /// stores it as a pending key, usable only once [`NodeStore::activate_key`] runs.
    pub(crate) async fn store_pending_key(
        &self,
        key: PendingKey<'_>,
        share: impl AsRef<[u8]> + Send + 'static,
    ) -> NodeResult<()> {
        let PendingKey {
            key_id,
            org_id,
            proto,
            custody,
            customer_id,
            public_key,
            chain_code,
        } = key;
        let id = key_id.to_owned();
        let sealed_share = self.ks(move |k| k.seal_blob(&id, share.as_ref())).await?;
        self.store
            .insert_pending_key(&NewKey {
                key_id: key_id.into(),
                org_id: org_id.into(),
                protocol: proto.name().into(),
                public_key: public_key.to_vec(),
                chain_code,
                sealed_share,
                custody,
                customer_id: customer_id.map(str::to_owned),
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => {
                    NodeError::new(ErrorCode::KeyExists, "a key with this id exists")
                }
                e => e.into(),
            })
    }

    /// Opens a stored share for one run: the keystore layer, then on Node 1 the wrapping
    /// under the organization secret.
    pub(crate) async fn open_share(
        &self,
        rec: KeyRecord,
        proto: Proto,
        org_secret: Option<&[u8; 32]>,
    ) -> NodeResult<Share> {
        let bytes = self.open_share_bytes(rec, org_secret).await?;
        Share::decode(proto, &bytes, self.me)
    }

    /// The share's sealable bytes (the export plaintext), checked to decode as this node's
    /// share of `proto`.
    pub(crate) async fn open_share_bytes_checked(
        &self,
        rec: KeyRecord,
        proto: Proto,
        org_secret: Option<&[u8; 32]>,
    ) -> NodeResult<Zeroizing<Vec<u8>>> {
        let bytes = self.open_share_bytes(rec, org_secret).await?;
        drop(Share::decode(proto, &bytes, self.me)?);
        Ok(bytes)
    }

    async fn open_share_bytes(
        &self,
        rec: KeyRecord,
        org_secret: Option<&[u8; 32]>,
    ) -> NodeResult<Zeroizing<Vec<u8>>> {
        let KeyRecord {
            key_id,
            org_id,
            sealed_share,
            ..
        } = rec;
        let id = key_id.clone();
        let opened = self.ks(move |k| k.open_blob(&id, &sealed_share)).await?;
        Ok(match org_secret {
            Some(secret) => wrap::unwrap_share(secret, &org_id, &key_id, &opened)?,
            None => opened,
        })
    }
}

/// The public key bytes of a DKG output, as stored and returned.
pub(crate) fn ecdsa_bytes(pk: &EcdsaPublicKey) -> Vec<u8> {
    pk.to_compressed().to_vec()
}
