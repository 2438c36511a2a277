//! Security notices by email and the organization's branding, end to end with real nodes
//! and a real SMTP relay (`aiosmtpd`): once the organization opts in, a customer with an
//! address is mailed when their PIN is changed, when they are locked out, when their PIN
//! is reset and when their keys are exported — each notice committed with the change it
//! tells of, sent once, audited, and carrying nothing secret. The branding an admin sets
//! is checked on the way in and reaches the Gateway's challenge.

use base64::Engine as _;
use planbok_sdk::api::model::{Logo, SetBranding};
use planbok_sdk::gateway::{GatewayLink, PreparedPin};
use planbok_store::server::MailKind;
use planbok_testkit::cluster::SERVER;
use serde_json::{Value, json};

use crate::customer_wallets::{cli_challenge, cli_complete};
use crate::customers::{ANSWERS, NEW_PIN, PIN, attempt, challenge, customer, gateway, initialize};
use crate::customers_recovery::reset;
use crate::rest::{Custody, Stack, assert_err, assert_ok, cli};
use crate::smtp::SmtpRelay;

/// A 1×1 PNG (a real image: the Gateway test shows it).
pub(crate) const PNG_1X1: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

fn smtp(relay: &SmtpRelay) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {}\nfrom = \"Wallet <wallet@example.com>\"\n\
         tls = \"plain\"\ntimeout_ms = 5000\n",
        relay.port
    )
}

fn update_pin(s: &Stack, url: &str, old: &str, new: &str) {
    let (ok, out) = cli(
        s,
        &["customer", "complete", url, "--pin", old, "--new-pin", new],
        None,
    );
    assert!(ok, "{out}");
}

/// The one message of `mail` with this `Message-ID`, checked for the parts every notice
/// has and the secrets none has.
fn notice<'a>(mail: &'a [String], message_id: &str, subject: &str) -> &'a str {
    let m = mail
        .iter()
        .find(|m| m.contains(&format!("Message-ID: <{message_id}>")))
        .unwrap_or_else(|| panic!("no {message_id} in {mail:#?}"));
    assert!(m.contains("To: alice@example.com"), "{m}");
    assert!(m.contains(subject), "{subject}: {m}");
    for part in ["Content-Type: text/plain", "Content-Type: text/html"] {
        assert!(m.contains(part), "{part}: {m}");
    }
    for secret in [PIN, NEW_PIN, ANSWERS[0], "http"] {
        assert!(!m.contains(secret), "{secret} in {m}");
    }
    m
}

fn audit_of(s: &Stack, action: &str) -> Vec<Value> {
    let data = assert_ok(
        s.owner
            .raw("GET", "/v2/audit-logs?limit=100", None)
            .unwrap(),
    );
    data["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

async fn the_customer_is_told_of_each_security_change_and_of_nothing_secret(
    mut opts: planbok_testkit::cluster::Options,
) {
    let Some(relay) = SmtpRelay::start() else {
        return;
    };
    opts.limits.customer_pin_attempts = 2;
    let s = Stack::start(opts, Custody::Unset, &smtp(&relay)).await;
    let id = customer(&s);
    initialize(&challenge(&s, &id, "initialize"), PIN);

    // Off by default: a PIN change owes no mail (nothing in the outbox for it).
    let store = planbok_store::ServerStore::connect(&s.cluster.node(SERVER).database_url)
        .await
        .unwrap();
    let url = challenge(&s, &id, "update-pin");
    update_pin(&s, &url, PIN, NEW_PIN);
    let quiet = GatewayLink::parse(&url).unwrap().challenge_id;
    assert_eq!(
        store
            .mail_status(&quiet, MailKind::PinChanged)
            .await
            .unwrap(),
        None
    );
    assert!(!s.owner.organization().unwrap().email_notices);

    // The owner opts in (CLI).
    let (ok, out) = cli(&s, &["customer", "email-notices", "on", "--json"], None);
    assert!(ok, "{out}");
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["emailNotices"],
        true
    );

    // 1. The PIN is changed.
    let url = challenge(&s, &id, "update-pin");
    let changed = GatewayLink::parse(&url).unwrap().challenge_id;
    update_pin(&s, &url, NEW_PIN, PIN);
    let mail = relay.wait_for(1).await;
    let m = notice(
        &mail,
        &format!("{changed}.pin-changed@example.com"),
        "Your wallet PIN was changed",
    );
    assert!(m.contains("Hello Alice"), "{m}");

    // 2. Wrong PINs lock the wallet: one notice, when Node 2 refuses.
    let url = challenge(&s, &id, "update-pin");
    let locked = GatewayLink::parse(&url).unwrap().challenge_id;
    let gw = gateway(&url);
    for wrong in ["502977", "119283"] {
        assert!(attempt(&gw, wrong).0.is_err());
    }
    let ch = gw.gateway_challenge().unwrap();
    let (_, req) = PreparedPin::existing_pin(PIN, ch.pin.as_ref().unwrap()).unwrap();
    let evaluate = || {
        gw.raw(
            "POST",
            "/gateway/api/pin/evaluate",
            Some(&serde_json::to_value(&req).unwrap()),
        )
        .unwrap()
    };
    assert_err(evaluate(), "customer_locked");
    let mail = relay.wait_for(2).await;
    notice(
        &mail,
        &format!("{locked}.locked-out@example.com"),
        "Your wallet is locked",
    );

    // 3. The PIN is reset through the security questions (which ends the lockout).
    let url = challenge(&s, &id, "reset-pin");
    let reset_id = GatewayLink::parse(&url).unwrap().challenge_id;
    assert_eq!(reset(&url, &ANSWERS, NEW_PIN).status, "complete");
    let mail = relay.wait_for(3).await;
    notice(
        &mail,
        &format!("{reset_id}.pin-reset@example.com"),
        "Your wallet PIN was reset",
    );

    // 4. The keys are exported.
    let url = cli_challenge(&s, &["wallet-create", &id, "--blockchain", "SOL-DEVNET"]);
    cli_complete(&s, &url, NEW_PIN, &[]);
    let url = cli_challenge(&s, &["export", &id]);
    let exported = GatewayLink::parse(&url).unwrap().challenge_id;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("keys.csv");
    cli_complete(&s, &url, NEW_PIN, &["--out", csv.to_str().unwrap()]);
    let mail = relay.wait_for(4).await;
    notice(
        &mail,
        &format!("{exported}.keys-exported@example.com"),
        "Your wallet's private keys were exported",
    );

    // Each was sent once and audited by the sender, with its kind and nothing else.
    let sent = audit_of(&s, "customer.notice_sent");
    let mut kinds: Vec<&str> = sent
        .iter()
        .map(|e| e["detail"]["kind"].as_str().unwrap())
        .collect();
    kinds.sort_unstable();
    assert_eq!(
        kinds,
        ["keys_exported", "locked_out", "pin_changed", "pin_reset"]
    );
    assert!(sent.iter().all(|e| e["outcome"] == "success"));

    // Off again: the next change owes no mail, and none was sent twice.
    s.owner.set_email_notices(false).unwrap();
    let url = challenge(&s, &id, "update-pin");
    update_pin(&s, &url, NEW_PIN, PIN);
    let quiet = GatewayLink::parse(&url).unwrap().challenge_id;
    assert_eq!(
        store
            .mail_status(&quiet, MailKind::PinChanged)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .mail_status(&changed, MailKind::PinChanged)
            .await
            .unwrap(),
        Some(("sent".into(), 1))
    );
    assert_eq!(relay.messages().len(), 4);
    drop(relay);
}

async fn the_branding_is_checked_and_reaches_the_gateway(opts: planbok_testkit::cluster::Options) {
    let s = Stack::start(opts, Custody::Unset, "").await;
    // Without a relay, notices cannot be switched on.
    assert_err(
        s.owner
            .raw(
                "POST",
                "/v2/organization/email-notices",
                Some(&json!({ "idempotencyKey": crate::rest::idem(), "enabled": true })),
            )
            .unwrap(),
        "mail_not_configured",
    );
    assert_eq!(s.owner.branding().unwrap(), Default::default());
    let put = |body: Value| {
        s.owner
            .raw("PUT", "/v2/organization/branding", Some(&body))
            .unwrap()
    };
    let png = |data: &str| json!({ "mediaType": "image/png", "data": data });
    // Refused by form (400) or by meaning (422), and nothing is stored.
    for (body, code) in [
        (json!({ "primaryColor": "blue" }), "invalid_request"),
        (json!({ "backgroundColor": "#12345" }), "invalid_request"),
        // White text on yellow does not read.
        (json!({ "primaryColor": "#ffff00" }), "invalid_branding"),
        (
            json!({ "logo": { "mediaType": "image/svg+xml", "data": "PHN2Zy8+" } }),
            "invalid_request",
        ),
        // A JPEG's bytes called a PNG.
        (
            json!({ "logo": png("/9j/4AAQSkZJRg==") }),
            "invalid_branding",
        ),
        (json!({ "logo": png("not base64") }), "invalid_request"),
        (
            json!({ "logo": png(&"A".repeat(90_000)) }),
            "invalid_request",
        ),
        (json!({ "colour": "#000000" }), "invalid_request"),
    ] {
        assert_err(put(body.clone()), code);
    }
    assert_eq!(s.owner.branding().unwrap(), Default::default());

    let set = SetBranding {
        primary_color: Some("#0B3D91".into()),
        background_color: Some("#eef2f7".into()),
        logo: Some(Logo {
            media_type: "image/png".into(),
            data: PNG_1X1.into(),
        }),
    };
    let b = s.owner.set_branding(&set).unwrap();
    assert_eq!(b.primary_color.as_deref(), Some("#0b3d91"));
    assert_eq!(s.owner.branding().unwrap(), b);
    let logo = b.logo.as_ref().unwrap();
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&logo.data)
            .unwrap(),
        base64::engine::general_purpose::STANDARD
            .decode(PNG_1X1)
            .unwrap()
    );
    // The audit entry names the change, not the image.
    let entry = &audit_of(&s, "organization.branding")[0];
    assert_eq!(entry["detail"]["logo"]["mediaType"], "image/png");
    assert!(!entry.to_string().contains(&PNG_1X1[..40]), "{entry}");

    // The Gateway's challenge carries the organization's name and branding.
    let id = customer(&s);
    let ch = gateway(&challenge(&s, &id, "initialize"))
        .gateway_challenge()
        .unwrap();
    let org = ch.organization.unwrap();
    assert_eq!(org.name, s.owner.organization().unwrap().name);
    assert_eq!(org.branding, b);

    // Replaced whole: an empty body clears it.
    assert_eq!(put(json!({})).0, 200);
    assert_eq!(s.owner.branding().unwrap(), Default::default());
}

on_sqlite_and_postgres!(the_customer_is_told_of_each_security_change_and_of_nothing_secret);

mod branding {
    #[tokio::test(flavor = "multi_thread")]
    async fn the_branding_is_checked_and_reaches_the_gateway() {
        super::the_branding_is_checked_and_reaches_the_gateway(
            planbok_testkit::cluster::Options::default(),
        )
        .await
    }
}
