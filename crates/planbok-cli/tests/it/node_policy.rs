//! The custody boundary as each node holds it on its own, each claim a drill: the test
//! plays a compromised server (it holds the grant key) and a compromised Node 1
//! (`fake_peers`), against the real Node 2 process.
//!
//! - a Standard key never leaves Node 2, whatever grant and caller ask for it;
//! - the custody mode a key is recorded with is the one the server signed for, on each node;
//! - keys made before modes were recorded fail closed on Node 2 until its operator confirms;
//! - Node 1 alone cannot make Node 2 run aux-info generation.

use planbok_testkit::cluster::NodeRole;
use planbok_testkit::cluster::NodeRole::{Node1, Node2};
use std::time::Duration;

use planbok_mpc::export::ExportRecipientSecret;
use planbok_proto::grant;
use planbok_proto::pb::{
    CustodyMode, KeyCustodyRequest, Open, Operation, OrgKeyCustody, Protocol, ProvisionAuxRequest,
    RunKind, StatusRequest,
};
use planbok_store::{Custody, NodeStore};
use planbok_testkit::cluster::{Cluster, Options};
use tonic::Status;

use crate::common::*;
use crate::export::{export_and_check, export_request, export_with};
use crate::fake_peers::{FakeNode1Run, node2_key, peer_export};

// ---- Node 2 keeps its own custody policy ------------------------------------------------

async fn server_and_node1_asking_node2_to_export_a_standard_key_is_refused_by_node2(base: Options) {
    let c = cluster(base).await;
    // Standard keys made through the real stack (the server's grants, Node 1, Node 2).
    let standard = org(&c, CustodyMode::Standard).await;
    let dk = keygen(&c, &standard, Protocol::Dkls23).await;
    let ed = keygen(&c, &standard, Protocol::Frost).await;
    assert_eq!(
        node2_key(&c, &dk.key_id).await.custody,
        Some(Custody::Standard)
    );

    // The compromised server signs perfectly valid export grants; the compromised Node 1
    // forwards them with the right share version. Node 2 refuses on its own record.
    for (key, proto) in [(&dk, Protocol::Dkls23), (&ed, Protocol::Frost)] {
        let r = peer_export(&c, &standard.id, &key.key_id, proto).await;
        assert_code(r, "export_not_allowed");
    }
    assert!(
        c.log_tail(Node2)
            .contains("refused to export a Standard key although the grant allowed it"),
        "node 2 raises an alert:\n{}",
        c.log_tail(Node2)
    );
    // Node 1 (honest here) refuses as before, on its own check.
    let (_, pk) = ExportRecipientSecret::generate();
    assert_code(
        export_with(
            &c,
            export_request(&c, &standard, &dk, &pk, standard.ct("verify")),
        )
        .await,
        "export_not_allowed",
    );

    // The same call for a Trustless organization's key works: the refusal is the key's
    // recorded custody, nothing else.
    let trustless = org(&c, CustodyMode::Trustless).await;
    let tk = keygen_with(&c, &trustless, Protocol::Dkls23, trustless.ct("dkg"))
        .await
        .unwrap();
    assert_eq!(
        node2_key(&c, &tk.key_id).await.custody,
        Some(Custody::Trustless)
    );
    let ct = peer_export(&c, &trustless.id, &tk.key_id, Protocol::Dkls23)
        .await
        .unwrap();
    assert_eq!(ct[0], planbok_mpc::export::EXPORT_VERSION);
    export_and_check(&c, &trustless, &tk, "m/44/60/0/1").await;
}

async fn a_dkg_grant_and_open_that_disagree_on_custody_are_refused(base: Options) {
    let c = cluster(base).await;
    // At Node 2: Node 1 claims one mode, the server's grant covers the other.
    for (granted, claimed) in [
        (CustodyMode::Trustless, CustodyMode::Standard),
        (CustodyMode::Standard, CustodyMode::Trustless),
    ] {
        let key_id = new_id("key");
        let g = c.grant(
            "org-x",
            &key_id,
            Operation::Dkg,
            grant::dkg_params(Protocol::Dkls23, granted),
        );
        let r = FakeNode1Run::open(
            &c,
            Open {
                kind: RunKind::Keygen as i32,
                grant: Some(g),
                protocol: Protocol::Dkls23 as i32,
                key_id: key_id.clone(),
                custody_mode: claimed as i32,
                ..Default::default()
            },
        )
        .await
        .map(|_| ());
        assert_code(r, "grant_digest_mismatch");
    }
    // No mode at all.
    let g = c.grant(
        "org-x",
        "k-none",
        Operation::Dkg,
        grant::dkg_params(Protocol::Dkls23, CustodyMode::Unspecified),
    );
    let r = FakeNode1Run::open(
        &c,
        Open {
            kind: RunKind::Keygen as i32,
            grant: Some(g),
            protocol: Protocol::Dkls23 as i32,
            key_id: "k-none".into(),
            ..Default::default()
        },
    )
    .await
    .map(|_| ());
    assert_code(r, "invalid_argument");

    // At Node 1: a server granting the other mode than the organization registered.
    for (registered, granted) in [
        (CustodyMode::Standard, CustodyMode::Trustless),
        (CustodyMode::Trustless, CustodyMode::Standard),
    ] {
        let mut o = org(&c, registered).await;
        let secret = o.ct("dkg");
        o.mode = granted;
        assert_code(
            keygen_with(&c, &o, Protocol::Frost, secret).await,
            "grant_digest_mismatch",
        );
        // With the registered mode it works, and both nodes record that mode.
        o.mode = registered;
        let key = keygen_with(&c, &o, Protocol::Frost, o.ct("dkg"))
            .await
            .unwrap();
        let expected = if registered == CustodyMode::Trustless {
            Custody::Trustless
        } else {
            Custody::Standard
        };
        assert_eq!(node2_key(&c, &key.key_id).await.custody, Some(expected));
        let n1 = NodeStore::connect(&c.node(Node1).database_url)
            .await
            .unwrap();
        assert_eq!(
            n1.active_key(&key.key_id).await.unwrap().unwrap().custody,
            Some(expected)
        );
    }
}

// ---- Keys made before modes were recorded ------------------------------------------------

/// Turns a node's database back into what a build before schema 3 left: the three policy
/// columns (and schema 4's `require_binding`) gone and migrations 3 and 4 not applied, the
/// rows kept.
async fn downgrade_to_schema_2(url: &str) {
    use sqlx::Connection as _;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(url).await.unwrap();
    for sql in [
        "ALTER TABLE node_keys DROP COLUMN disabled_reason",
        "ALTER TABLE node_keys DROP COLUMN disabled_at_ms",
        "ALTER TABLE node_keys DROP COLUMN custody_mode",
        "DELETE FROM _planbok_node_migrations WHERE version = 3",
        "ALTER TABLE org_secrets DROP COLUMN require_binding",
        "DELETE FROM _planbok_node_migrations WHERE version = 4",
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
}

async fn custody_list(c: &Cluster, role: NodeRole, org: &str) -> Vec<OrgKeyCustody> {
    c.operator(role)
        .unwrap()
        .key_custody(KeyCustodyRequest {
            org_id: org.into(),
            set: 0,
        })
        .await
        .unwrap()
        .into_inner()
        .orgs
}

async fn keys_made_before_modes_were_recorded_are_not_exported_by_node2_until_its_operator_confirms(
    base: Options,
) {
    let mut c = cluster(base).await;
    let trustless = org(&c, CustodyMode::Trustless).await;
    let standard = org(&c, CustodyMode::Standard).await;
    let tk = keygen_with(&c, &trustless, Protocol::Dkls23, trustless.ct("dkg"))
        .await
        .unwrap();
    let sk = keygen(&c, &standard, Protocol::Frost).await;
    c.kill(Node1).unwrap();
    c.kill(Node2).unwrap();
    for role in NodeRole::ALL {
        downgrade_to_schema_2(&c.node(role).database_url).await;
    }
    c.restart(Node2).await.unwrap();
    c.restart(Node1).await.unwrap();

    // Node 1 took each key's mode from its organization's registration; Node 2 could not
    // know, and says so.
    let row = |mode: CustodyMode, org: &Org| OrgKeyCustody {
        org_id: org.id.clone(),
        mode: mode as i32,
        keys: 1,
        disabled: 0,
    };
    assert_eq!(
        custody_list(&c, Node1, &trustless.id).await,
        vec![row(CustodyMode::Trustless, &trustless)]
    );
    assert_eq!(
        custody_list(&c, Node2, &trustless.id).await,
        vec![row(CustodyMode::Unspecified, &trustless)]
    );
    // Fail closed: the owner's export with a fresh secret passes Node 1 and stops at Node 2.
    let (_, pk) = ExportRecipientSecret::generate();
    let r = export_with(
        &c,
        export_request(&c, &trustless, &tk, &pk, trustless.export_ct(&pk, &[&tk])),
    )
    .await;
    assert_code(r, "export_not_allowed");
    assert_code(
        peer_export(&c, &trustless.id, &tk.key_id, Protocol::Dkls23).await,
        "export_not_allowed",
    );
    // Signing is not affected.
    sign_and_verify(&c, &standard, &sk, "m", b"legacy key signs").await;
    let r = sign_with(
        &c,
        sign_request(
            &c,
            &trustless,
            &tk,
            "m/44/60/0/0",
            &digest("legacy"),
            trustless.ct("sign"),
        ),
    )
    .await
    .unwrap();
    verify(&tk, "m/44/60/0/0", &digest("legacy"), &r);

    // Node 2's operator confirms the organization's mode (from the server's or Node 1's
    // record). A claim that contradicts a recorded key is refused: a new key recorded as
    // Standard blocks calling the Standard organization's older keys Trustless.
    let _new = keygen(&c, &standard, Protocol::Frost).await;
    let wrong = c
        .operator(Node2)
        .unwrap()
        .key_custody(KeyCustodyRequest {
            org_id: standard.id.clone(),
            set: CustodyMode::Trustless as i32,
        })
        .await;
    assert_code(wrong, "invalid_argument");
    // The documented path: `planbok operator key-custody` against Node 2.
    let (ok, out) = crate::sealed::operator(&c, Node2, &["key-custody"]);
    assert!(ok && out.contains("unrecorded"), "{out}");
    let (ok, out) = crate::sealed::operator(
        &c,
        Node2,
        &["key-custody", "--org", &trustless.id, "--set", "trustless"],
    );
    assert!(ok, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with(&trustless.id))
        .unwrap_or_else(|| panic!("{out}"));
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>(),
        [trustless.id.as_str(), "trustless", "1", "0"],
        "{out}"
    );
    assert_eq!(
        custody_list(&c, Node2, &trustless.id).await,
        vec![row(CustodyMode::Trustless, &trustless)]
    );
    export_and_check(&c, &trustless, &tk, "m/44/60/0/2").await;
    // The Standard organization's legacy key stays unexportable, recorded or not.
    assert_code(
        peer_export(&c, &standard.id, &sk.key_id, Protocol::Frost).await,
        "export_not_allowed",
    );
    // Only an operator may do this: Node 1's certificate is refused on Node 2's operator
    // service.
    let as_node1 = planbok_proto::pb::operator_client::OperatorClient::new(
        c.channel_as(Node2, planbok_proto::roles::Role::Node1)
            .unwrap(),
    )
    .key_custody(KeyCustodyRequest {
        org_id: standard.id.clone(),
        set: CustodyMode::Trustless as i32,
    })
    .await;
    assert_code(as_node1, "wrong_role");
}

// ---- Aux info needs Node 2's operator ------------------------------------------------------

async fn aux_ready(c: &Cluster, role: NodeRole) -> bool {
    c.operator(role)
        .unwrap()
        .status(StatusRequest {})
        .await
        .unwrap()
        .into_inner()
        .cggmp_ready
}

async fn provision_at_node1(c: &Cluster, replace: bool) -> Result<(), Status> {
    let mut req = tonic::Request::new(ProvisionAuxRequest { replace });
    req.set_timeout(Duration::from_secs(300));
    c.operator(Node1)
        .unwrap()
        .provision_aux(req)
        .await
        .map(|_| ())
}

async fn allow_at_node2(c: &Cluster, replace: bool) -> Result<(), Status> {
    c.operator(Node2)
        .unwrap()
        .provision_aux(ProvisionAuxRequest { replace })
        .await
        .map(|_| ())
}

fn aux_open() -> Open {
    Open {
        kind: RunKind::AuxInfo as i32,
        payload: planbok_testkit::random_bytes::<32>().to_vec(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn node1_alone_cannot_make_node2_run_aux_info() {
    let c = sqlite().await;
    // A Node 1 (the test, with Node 1's certificate) asks on its own: refused before any
    // prime is generated.
    assert_code(
        FakeNode1Run::open(&c, aux_open()).await.map(|_| ()),
        "aux_not_allowed",
    );
    // Node 1's own operator is not Node 2's operator either.
    assert_code(provision_at_node1(&c, false).await, "aux_not_allowed");
    assert!(!aux_ready(&c, Node1).await && !aux_ready(&c, Node2).await);

    // Node 2's operator allows one run; Node 1 runs it.
    // (through the CLI, as docs/node.md shows it)
    let (ok, out) = crate::sealed::operator(&c, Node2, &["provision-aux"]);
    assert!(
        ok && out.contains("node 2 accepts one aux-info run"),
        "{out}"
    );
    provision_at_node1(&c, false).await.unwrap();
    assert!(aux_ready(&c, Node1).await && aux_ready(&c, Node2).await);
    // One run per permission: replacing needs a new one, and one that says so.
    assert_code(provision_at_node1(&c, true).await, "aux_not_allowed");
    assert_code(
        FakeNode1Run::open(&c, aux_open()).await.map(|_| ()),
        "aux_not_allowed",
    );
    assert_code(allow_at_node2(&c, false).await, "key_exists");
    allow_at_node2(&c, true).await.unwrap();
    provision_at_node1(&c, true).await.unwrap();
    assert_code(provision_at_node1(&c, true).await, "aux_not_allowed");
    // CGGMP signs with what the two operators provisioned.
    let o = org(&c, CustodyMode::Standard).await;
    let key = keygen(&c, &o, Protocol::Cggmp).await;
    sign_and_verify(&c, &o, &key, "m/44/0/0/1", &digest("after replace")).await;
    // The permission lives in Node 2's memory only: a restart forgets it (fail closed).
    let mut c = c;
    allow_at_node2(&c, true).await.unwrap();
    c.restart(Node2).await.unwrap();
    assert_code(provision_at_node1(&c, true).await, "aux_not_allowed");
}

on_sqlite_and_postgres!(
    server_and_node1_asking_node2_to_export_a_standard_key_is_refused_by_node2,
    a_dkg_grant_and_open_that_disagree_on_custody_are_refused,
    keys_made_before_modes_were_recorded_are_not_exported_by_node2_until_its_operator_confirms,
);
