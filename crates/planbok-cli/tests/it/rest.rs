//! Helpers for the REST tests: the whole stack (Node 1, Node 2, server) as processes, an
//! organization with its owner's key, requests, and the independent Python cross-checks.

use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use planbok_testkit::cluster::SERVER;
use std::io::Write as _;
use std::process::{Command, Stdio};

use planbok_proto::pb::ProvisionAuxRequest;
use planbok_sdk::Client;
use planbok_sdk::api::model::{
    CreateOrganization, CreateWalletSet, CreateWallets, Wallet, WalletSet,
};
use planbok_sdk::secret::{Context, OrgSecret};
use planbok_sdk::trust::{MemoryPins, OrgKeyTrust, Sealer, TrustedOrgKey};
use planbok_testkit::cluster::{Cluster, Options};
use serde_json::{Value, json};

/// The whole system with one organization.
pub struct Stack {
    pub cluster: Cluster,
    pub owner: Client,
    pub owner_key: String,
    pub org_id: String,
    pub secret: OrgSecret,
    pub pem: String,
    /// Node 1's identity key, `ed25519:<hex>` (as `planbok operator status` prints it).
    pub node_key: String,
}

/// Custody of the test organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Custody {
    /// Secret not registered.
    Unset,
    Standard,
    Trustless,
}

impl Stack {
    /// `planbok audit verify` on the server's database: whether every chain verifies, and
    /// its report.
    pub fn audit_verify(&self) -> (bool, String) {
        crate::common::run_with_stdin(
            Command::new(crate::common::bin())
                .args(["audit", "verify", "--config"])
                .arg(&self.cluster.node(SERVER).config),
            "",
        )
    }

    /// Starts the nodes and the server (`extra` goes into the server config) and creates an
    /// organization in `custody`.
    pub async fn start(opts: Options, custody: Custody, extra: &str) -> Stack {
        let mut cluster = crate::common::cluster(opts).await;
        cluster
            .start_server(extra)
            .await
            .unwrap_or_else(|e| panic!("server: {e:?}\n{}", cluster.log_tail(SERVER)));
        let (owner, org_id, owner_key) = new_org_with_key(&cluster, "acme");
        let pem = owner.organization_public_key().unwrap();
        let node_key = node_key(&cluster).await;
        let secret = OrgSecret::generate();
        let mode = match custody {
            Custody::Unset => None,
            Custody::Standard => Some("standard"),
            Custody::Trustless => Some("trustless"),
        };
        if let Some(mode) = mode {
            let trust = OrgKeyTrust::new(
                Some(OrgKeyTrust::parse_node_key(&node_key).unwrap()),
                MemoryPins::default(),
            );
            owner.register_org_secret(&secret, mode, &trust).unwrap();
        }
        Stack {
            cluster,
            owner,
            owner_key,
            org_id,
            secret,
            pem,
            node_key,
        }
    }

    /// The organization key as a client checks it: signed by Node 1.
    pub fn trusted_key(&self) -> TrustedOrgKey {
        let trust = OrgKeyTrust::new(
            Some(OrgKeyTrust::parse_node_key(&self.node_key).unwrap()),
            MemoryPins::default(),
        );
        self.owner.trusted_org_key(&trust).unwrap()
    }

    /// Bound ciphertexts, as our clients make them.
    pub fn sealer(&self) -> Sealer<'_> {
        Sealer::new(&self.owner, &self.secret, self.trusted_key())
    }

    pub async fn sqlite(custody: Custody) -> Stack {
        Stack::start(Options::default(), custody, "").await
    }

    /// A fresh ciphertext of the organization secret.
    pub fn ct(&self, context: Context) -> String {
        self.secret.encrypt(&self.pem, context, None).unwrap()
    }

    /// Provisions CGGMP (test primes; seconds).
    pub async fn provision(&self) {
        self.cluster
            .operator(Node2)
            .unwrap()
            .provision_aux(ProvisionAuxRequest { replace: false })
            .await
            .expect("node 2 allows provisioning");
        let mut op = self.cluster.operator(Node1).unwrap();
        let mut req = tonic::Request::new(ProvisionAuxRequest { replace: false });
        req.set_timeout(std::time::Duration::from_secs(300));
        op.provision_aux(req).await.expect("provision aux");
    }

    /// A wallet set (secret attached when trustless).
    pub fn wallet_set(&self, protocol: &str, trustless: bool) -> WalletSet {
        self.owner
            .create_wallet_set(&CreateWalletSet {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                name: format!("set {protocol}"),
                encrypted_organization_secret: trustless.then(|| self.ct(Context::Dkg)),
                ecdsa_protocol: Some(protocol.into()),
            })
            .unwrap_or_else(|e| {
                panic!(
                    "wallet set: {e}\n{}\n{}",
                    self.cluster.log_tail(SERVER),
                    self.cluster.log_tail(Node1)
                )
            })
    }

    /// Wallets on `chains` in `set`.
    pub fn wallets(&self, set: &str, chains: &[&str], count: u32, trustless: bool) -> Vec<Wallet> {
        self.owner
            .create_wallets(&CreateWallets {
                idempotency_key: Some(planbok_sdk::idempotency_key()),
                wallet_set_id: set.into(),
                blockchains: chains.iter().map(|c| c.to_string()).collect(),
                count: Some(count),
                metadata: Vec::new(),
                encrypted_organization_secret: trustless.then(|| self.ct(Context::Sign)),
            })
            .unwrap_or_else(|e| panic!("wallets: {e}\n{}", self.cluster.log_tail(SERVER)))
    }

    /// `POST` with the owner key; the status and the whole envelope.
    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.owner.raw("POST", path, Some(&body)).unwrap()
    }
}

/// A new organization through the operator token: its owner's client and its id.
pub fn new_org(cluster: &Cluster, name: &str) -> (Client, String) {
    let (client, id, _) = new_org_with_key(cluster, name);
    (client, id)
}

/// As [`new_org`], with the owner's API key.
pub fn new_org_with_key(cluster: &Cluster, name: &str) -> (Client, String, String) {
    let op = Client::operator(&cluster.server_url(), &cluster.operator_token);
    let created = op
        .create_organization(&CreateOrganization {
            name: name.into(),
            owner_name: "Owner".into(),
            owner_email: "owner@example.com".into(),
            node_pair: None,
        })
        .unwrap();
    (
        Client::new(&cluster.server_url(), &created.api_key.secret),
        created.organization.id,
        created.api_key.secret,
    )
}

/// Asserts an error envelope with `code` (and the matching status).
#[track_caller]
pub fn assert_err(r: (u16, Value), code: &str) {
    let (status, body) = r;
    assert_eq!(body["code"], code, "status {status}: {body}");
    assert_eq!(body["success"], false, "{body}");
    let expected = planbok_sdk::api::ErrorCode::parse(code)
        .map(|c| c.http_status())
        .unwrap_or(0);
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], status, "{body}");
}

/// Asserts a success envelope; returns `data`.
#[track_caller]
pub fn assert_ok(r: (u16, Value)) -> Value {
    let (status, body) = r;
    assert!((200..300).contains(&status), "status {status}: {body}");
    assert_eq!(body["success"], true, "{body}");
    body["data"].clone()
}

pub fn idem() -> String {
    planbok_sdk::idempotency_key()
}

/// Whether python3 imports `modules` (for `what`); in CI (PLANBOK_REQUIRE_PYTHON=1) it
/// must, elsewhere the caller skips.
pub fn python_has(modules: &str, what: &str) -> bool {
    let ok = Command::new("python3")
        .args(["-c", &format!("import {modules}")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        assert!(
            std::env::var("PLANBOK_REQUIRE_PYTHON").is_err(),
            "PLANBOK_REQUIRE_PYTHON=1 but python3 lacks {modules} (scripts/install-deps.sh)"
        );
        eprintln!("SKIPPED {what}: python3 lacks {modules}");
    }
    ok
}

/// Whether the Python cross-checks can run; in CI (PLANBOK_REQUIRE_PYTHON=1) they must.
pub fn python_ready() -> bool {
    python_has(
        "eth_account, nacl, coincurve, bech32, base58, solders",
        "python cross-checks",
    )
}

/// Runs `tests/py/rest_verify.py` over `cases`; panics with its message on failure.
pub fn python_verify(cases: &[Value]) {
    if !python_ready() {
        return;
    }
    assert!(run_python(cases).0, "python: {}", run_python(cases).1);
}

/// Asserts that the checker refuses `case` (so it is not vacuous).
pub fn python_rejects(case: &Value) {
    if python_ready() {
        assert!(
            !run_python(std::slice::from_ref(case)).0,
            "the checker accepted {case}"
        );
    }
}

fn run_python(cases: &[Value]) -> (bool, String) {
    run_checker("rest_verify.py", cases)
}

/// Runs the checker `tests/py/<script>` over `cases` (JSON on stdin): whether it printed
/// `ok`, and its stdout + stderr.
pub fn run_checker(script: &str, cases: &[Value]) -> (bool, String) {
    let script = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(json!(cases).to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    (
        out.status.success() && text.trim() == "ok",
        format!("{text}\n{}", String::from_utf8_lossy(&out.stderr)),
    )
}

/// Runs the `planbok` binary's client verbs against the stack as its owner; `secret` adds
/// `--secret-file`. Whether it succeeded, and stdout + stderr.
pub fn cli(s: &Stack, args: &[&str], secret: Option<&std::path::Path>) -> (bool, String) {
    let mut c = Command::new(crate::common::bin());
    c.args(args)
        .env("PLANBOK_URL", s.cluster.server_url())
        .env("PLANBOK_API_KEY", &s.owner_key)
        .env("PLANBOK_NODE_KEY", &s.node_key)
        .env_remove("PLANBOK_ORG_SECRET");
    if let Some(f) = secret {
        c.arg("--secret-file").arg(f);
    }
    crate::common::run_with_stdin(&mut c, "")
}

/// Node 1's identity key as `planbok operator status` reads it.
pub async fn node_key(cluster: &Cluster) -> String {
    let k = cluster
        .operator(Node1)
        .unwrap()
        .status(planbok_proto::pb::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .identity_public_key;
    assert!(k.starts_with("ed25519:"), "{k:?}");
    k
}
