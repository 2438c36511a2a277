//! The OpenAPI document as the wire is: the route declarations of `openapi.rs` name each
//! answer's `data`, and this pass writes what a client actually receives around it, once
//! for every operation, from the same types and tables the server answers with:
//!
//! - every JSON success is the envelope `{success: true, status, message, data}` (the
//!   `Success` shape of `envelope.rs`), and a list page's `data` is `{items, page, limit,
//!   total}` (`List`);
//! - every error status an operation can answer is declared with the error envelope
//!   (`ErrorBody`) and the codes that carry that status (`ErrorCode::http_status`): the
//!   ones every request can meet (a malformed request, a rate limit, an internal error, a
//!   storage or node outage), the authentication ones on authenticated routes, 404 on
//!   routes that name a resource, and the conflict, size and semantic ones on routes that
//!   change something;
//! - the constraints the server checks on request fields that their types do not carry
//!   (lengths, enumerations, the idempotency key's form), from [`field_constraints`].

use serde_json::{Map, Value, json};

use planbok_types::{CustodyMode, EcdsaProtocol};

use crate::ErrorCode;

const ERROR_BODY: &str = "#/components/schemas/ErrorBody";
const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// Statuses any request can be answered with.
const ALWAYS: &[u16] = &[400, 429, 500, 503];
/// More statuses on routes authorized by a key, a challenge token or the operator token.
const AUTHENTICATED: &[u16] = &[401, 403];
/// More statuses on routes that take a body.
const WITH_BODY: &[u16] = &[404, 409, 413, 415, 422];
/// More statuses on routes with query parameters (a filter naming an unknown chain).
const WITH_QUERY: &[u16] = &[422];

/// Rewrites `doc` (the document `utoipa` generated from the route declarations).
pub(crate) fn wire(doc: &mut Value) {
    constrain_fields(doc);
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            if !METHODS.contains(&method.as_str()) {
                continue;
            }
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            envelope_successes(op);
            declare_errors(path, method, op);
            constrain_parameters(path, op);
        }
    }
}

/// Wraps each JSON answer's schema in the success envelope, except the error envelope's
/// (`/ready`'s 503 is a success envelope: the server's state, not an error).
fn envelope_successes(op: &mut Map<String, Value>) {
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    for (status, r) in responses.iter_mut() {
        let Ok(code) = status.parse::<u16>() else {
            continue;
        };
        let list = r
            .get("description")
            .and_then(Value::as_str)
            .is_some_and(|d| d.contains("list page"));
        let Some(schema) = r.pointer_mut("/content/application~1json/schema") else {
            continue;
        };
        if schema.get("$ref").and_then(Value::as_str) == Some(ERROR_BODY) {
            continue;
        }
        let data = if list {
            let items = schema.get("items").cloned().unwrap_or_else(|| json!({}));
            json!({
                "type": "object",
                "required": ["items", "page", "limit", "total"],
                "properties": {
                    "items": {"type": "array", "items": items},
                    "page": {"type": "integer", "minimum": 1},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                    "total": {"type": "integer", "minimum": 0},
                },
            })
        } else {
            schema.take()
        };
        *schema = json!({
            "type": "object",
            "required": ["success", "status", "message", "data"],
            "properties": {
                "success": {"type": "boolean", "const": true},
                "status": {"type": "integer", "const": code},
                "message": {"type": "string"},
                "data": data,
            },
        });
    }
}

/// Adds every error status `op` can answer that its declaration leaves out.
fn declare_errors(path: &str, method: &str, op: &mut Map<String, Value>) {
    let public = op
        .get("security")
        .and_then(Value::as_array)
        .is_some_and(|s| s.iter().all(|r| r.as_object().is_some_and(Map::is_empty)));
    let mut statuses: Vec<u16> = ALWAYS.to_vec();
    if !public {
        statuses.extend_from_slice(AUTHENTICATED);
    }
    if path.contains('{') {
        statuses.push(404);
    }
    if op.contains_key("requestBody") || method == "delete" {
        statuses.extend_from_slice(WITH_BODY);
    }
    let queried = op
        .get("parameters")
        .and_then(Value::as_array)
        .is_some_and(|ps| {
            ps.iter()
                .any(|p| p.get("in").and_then(Value::as_str) == Some("query"))
        });
    if queried {
        statuses.extend_from_slice(WITH_QUERY);
    }
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut();
    let Some(responses) = responses else {
        return;
    };
    for status in statuses {
        let key = status.to_string();
        let r = responses
            .entry(key)
            .or_insert_with(|| json!({"description": codes_with(status)}));
        if let Some(r) = r.as_object_mut() {
            r.entry("content")
                .or_insert_with(|| json!({"application/json": {"schema": {"$ref": ERROR_BODY}}}));
        }
    }
}

/// The codes answered with `status`, for its description.
fn codes_with(status: u16) -> String {
    let codes: Vec<String> = ErrorCode::ALL
        .iter()
        .filter(|c| c.http_status() == status)
        .map(|c| format!("`{}`", c.as_str()))
        .collect();
    if codes.is_empty() {
        return format!("HTTP {status}");
    }
    format!("one of: {}", codes.join(", "))
}

/// A label the server trims and then counts (`routes::name` in `planbok-server`): at least
/// one character that is not white space, at most `max` characters.
fn label(max: u64) -> Value {
    json!({"minLength": 1, "maxLength": max, "pattern": format!("[^{WS}]")})
}

/// White space as Rust's `char::is_whitespace` and `str::trim` see it (Unicode
/// `White_Space`), for character classes: a regex's `\s` differs (ECMA's takes U+FEFF and
/// leaves out U+0085).
const WS: &str =
    "\\t\\n\\u000b\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// The forms of a UUID v4 the server's idempotency check accepts (`uuid::Uuid::parse_str`
/// and version 4): hyphenated, simple, braced, URN.
const UUID_V4: &str = concat!(
    "^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "|[0-9a-fA-F]{12}4[0-9a-fA-F]{19}",
    "|\\{[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\\}",
    "|urn:uuid:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-4[0-9a-fA-F]{3}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$"
);

/// An absolute http(s) URL with a DNS name (its last label starts with a letter: a numeric
/// one would be read as an IPv4 address), an optional port, and a path and query of RFC
/// 3986 characters, no fragment: what `webhooks::guard::parse` takes. The SSRF guard then
/// decides (422 `webhook_url_refused`).
const WEBHOOK_URL: &str = concat!(
    "^https?://(?:[A-Za-z0-9-]+\\.)*[A-Za-z][A-Za-z0-9-]*",
    "(?::(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?",
    "(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@/-]|%[0-9A-Fa-f]{2})*)?",
    "(?:\\?(?:[A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$"
);
/// Standard base64 with its padding (the organization secret's ciphertext).
const BASE64: &str = "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$";
/// An IPv4 network in CIDR notation (`members::create_key`'s allowlist).
const IPV4_CIDR: &str = concat!(
    "^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\\.){3}",
    "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])/(?:3[0-2]|[12]?[0-9])$"
);

/// `(schema, property, constraints)`: what the server checks of a request field beyond its
/// type, each merged into the property's schema. `*` is every request schema.
pub(crate) fn field_constraints() -> Vec<(&'static str, &'static str, Value)> {
    let fee_level = json!({"enum": nullable(&crate::FEE_LEVELS)});
    // An EVM address: lower or upper case (a mixed-case one must carry its EIP-55
    // checksum, which a pattern cannot check).
    let evm = json!({"pattern": "^0x(?:[0-9a-f]{40}|[0-9A-F]{40})$"});
    // `orgs::email`: one `@`, something before it, a dot after it, no white space.
    let email_pattern = format!("[^@{WS}]+@[^@{WS}]*\\.[^@{WS}]*");
    let email = json!({"pattern": format!("^{email_pattern}$"), "maxLength": 254});
    // `customers::return_url`: empty, or an http(s) URL.
    let redirect = json!({"pattern": "^\\s*(?:https?://[\\s\\S]*)?$", "maxLength": 2048});
    // `webhooks::events`: named events, each once, or `["*"]` alone.
    let events = json!({"anyOf": [
        {"minItems": 1, "uniqueItems": true, "items": {"type": "string", "enum": crate::WEBHOOK_EVENTS}},
        {"const": ["*"]},
    ]});
    let color = json!({"pattern": "^#[0-9a-fA-F]{6}$"});
    let logo_type = json!({"enum": ["image/png", "image/jpeg"]});
    let logo_data =
        json!({"pattern": BASE64, "maxLength": crate::model::MAX_LOGO_BYTES.div_ceil(3) * 4});
    let mut out = vec![
        ("*", "idempotencyKey", json!({"pattern": UUID_V4})),
        ("*", "memo", json!({"maxLength": crate::MAX_MEMO_CHARS})),
        ("*", "refId", json!({"maxLength": 256})),
        ("*", "redirectUrl", redirect),
        ("CreateCustomer", "refId", json!({"maxLength": 100})),
        ("UpdateWallet", "refId", json!({"maxLength": 100})),
        ("CreateOrganization", "name", label(100)),
        ("CreateOrganization", "ownerName", label(100)),
        ("CreateOrganization", "ownerEmail", email.clone()),
        ("CreateMember", "name", label(100)),
        ("CreateMember", "email", email.clone()),
        ("UpdateMember", "name", label(100)),
        ("CreateApiKey", "name", label(100)),
        ("CreateCustomer", "name", label(100)),
        // Empty is no email.
        (
            "CreateCustomer",
            "email",
            json!({"pattern": format!("^(?:|{email_pattern})$"), "maxLength": 254}),
        ),
        ("CreateWalletSet", "name", label(100)),
        ("UpdateWalletSet", "name", label(100)),
        ("CreateToken", "name", label(100)),
        ("CreateToken", "symbol", label(32)),
        ("CreateToken", "decimals", json!({"maximum": 77})),
        (
            "CreateToken",
            "standard",
            json!({"enum": crate::TOKEN_STANDARDS}),
        ),
        ("CreateToken", "address", evm.clone()),
        (
            "CreateWallets",
            "count",
            json!({"minimum": 1, "maximum": 20}),
        ),
        ("CreateWallets", "blockchains", json!({"minItems": 1})),
        (
            "CreateCustomerWallets",
            "blockchains",
            json!({"minItems": 1}),
        ),
        (
            "RegisterSecret",
            "custodyMode",
            json!({"enum": [CustodyMode::Standard.as_str(), CustodyMode::Trustless.as_str()]}),
        ),
        (
            "CreateWalletSet",
            "ecdsaProtocol",
            json!({"enum": nullable(&EcdsaProtocol::ALL.map(EcdsaProtocol::as_str))}),
        ),
        // `org_settings`: a colour's contrast and a logo's bytes are 422s, not forms.
        ("SetBranding", "primaryColor", color.clone()),
        ("SetBranding", "backgroundColor", color.clone()),
        ("Branding", "primaryColor", color.clone()),
        ("Branding", "backgroundColor", color),
        ("Logo", "mediaType", logo_type),
        ("Logo", "data", logo_data),
        ("CreateWebhook", "events", events.clone()),
        ("UpdateWebhook", "events", events),
        (
            "ResetPin",
            "method",
            json!({"enum": ["securityQuestions", "email", null]}),
        ),
        (
            "ExportWallets",
            "walletIds",
            json!({"minItems": 1, "maxItems": 200}),
        ),
        (
            "*",
            "encryptedOrganizationSecret",
            json!({"pattern": BASE64}),
        ),
        (
            "CreateApiKey",
            "allowedIps",
            json!({"maxItems": 100, "items": {"type": "string", "anyOf": [
            {"format": "ipv4"}, {"format": "ipv6"}, {"pattern": IPV4_CIDR}]}}),
        ),
        (
            "RegisterSecret",
            "encryptedOrganizationSecret",
            json!({"minLength": 1}),
        ),
        (
            "CreateWebhook",
            "url",
            json!({"pattern": WEBHOOK_URL, "maxLength": 2048}),
        ),
        (
            "UpdateWebhook",
            "url",
            json!({"pattern": WEBHOOK_URL, "maxLength": 2048}),
        ),
        (
            "CreateApiKey",
            "allowedOrigins",
            json!({"maxItems": 100, "items": {"type": "string", "pattern": "^https?://[^/?# @]+$"}}),
        ),
        (
            "ExportWallets",
            "recipientPublicKey",
            json!({"pattern": "^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"}),
        ),
    ];
    for s in [
        "CreateTransfer",
        "CreateContractExecution",
        "CustomerTransfer",
        "CustomerContractExecution",
    ] {
        out.push((s, "feeLevel", fee_level.clone()));
    }
    for s in [
        "CreateContractExecution",
        "EstimateContractFee",
        "ContractViewCall",
        "CustomerContractExecution",
    ] {
        out.push((s, "contractAddress", evm.clone()));
    }
    out
}

/// Request schemas whose fields are exclusive: exactly one of them is sent (`(schema,
/// [field, …])`).
const ONE_OF: &[(&str, &[&str])] = &[
    ("SignTransaction", &["rawTransaction", "transaction"]),
    (
        "CustomerSignTransaction",
        &["rawTransaction", "transaction"],
    ),
];

/// `values` and JSON `null` (an optional field's enumeration).
fn nullable(values: &[&str]) -> Vec<Value> {
    values
        .iter()
        .map(|v| json!(v))
        .chain([Value::Null])
        .collect()
}

/// Merges [`field_constraints`] into the request schemas of `doc`'s components.
fn constrain_fields(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, s) in schemas.iter_mut() {
        // Every request that carries an idempotency key must (`idem::parse_key`).
        let keyed = s
            .get("properties")
            .is_some_and(|p| p.get("idempotencyKey").is_some());
        if keyed && let Some(o) = s.as_object_mut() {
            let required = o.entry("required").or_insert_with(|| json!([]));
            if let Some(r) = required.as_array_mut()
                && !r.iter().any(|v| v == "idempotencyKey")
            {
                r.push(json!("idempotencyKey"));
            }
            // Required, so never null.
            if let Some(k) = s.pointer_mut("/properties/idempotencyKey") {
                k["type"] = json!("string");
            }
        }
        if let Some((_, fields)) = ONE_OF.iter().find(|(n, _)| n == name) {
            let alternatives: Vec<Value> = fields
                .iter()
                .map(|f| {
                    let others: Map<String, Value> = fields
                        .iter()
                        .filter(|o| *o != f)
                        .map(|o| ((*o).to_owned(), json!({"type": "null"})))
                        .collect();
                    let mut props = others;
                    props.insert((*f).to_owned(), json!({"type": "string"}));
                    json!({"required": [f], "properties": props})
                })
                .collect();
            s["oneOf"] = Value::Array(alternatives);
        }
        if name == "CreateToken" {
            // `tokens::create`: an NFT's decimals are 0.
            s["if"] = json!({"required": ["standard"], "properties": {"standard": {"enum": ["erc721", "erc1155"]}}});
            s["then"] = json!({"properties": {"decimals": {"const": 0}}});
        }
    }
    for (schema, property, extra) in field_constraints() {
        for (name, s) in schemas.iter_mut() {
            if schema != "*" && schema != name {
                continue;
            }
            let Some(p) = s
                .get_mut("properties")
                .and_then(|p| p.get_mut(property))
                .and_then(Value::as_object_mut)
            else {
                continue;
            };
            if let Value::Object(extra) = &extra {
                for (k, v) in extra {
                    p.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

/// Query parameters whose form the server checks beyond their type: an instant
/// (`from`, `to`) is RFC 3339 or unix milliseconds (`audit_logs::instant`); a list's
/// `status` filters are enumerations.
fn constrain_parameters(path: &str, op: &mut Map<String, Value>) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for p in params {
        if p.get("in").and_then(Value::as_str) != Some("query") {
            continue;
        }
        let enumerated = |values: &[&str]| json!({"type": "string", "enum": values});
        let schema = match (p.get("name").and_then(Value::as_str), path) {
            (Some("from" | "to"), _) => json!({
                "type": "string",
                "anyOf": [{"format": "date-time"}, {"pattern": "^[+-]?[0-9]{1,18}$"}],
            }),
            (Some("status"), p) if p.ends_with("/deliveries") => {
                enumerated(crate::DELIVERY_STATUSES)
            }
            (Some("status"), p) if p.ends_with("/transactions") => {
                enumerated(crate::TRANSACTION_STATUSES)
            }
            _ => continue,
        };
        p["schema"] = schema;
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]
mod tests {
    use serde_json::Value;

    fn doc() -> Value {
        serde_json::from_str(&crate::openapi::json()).unwrap()
    }

    fn operations(doc: &Value) -> Vec<(String, String, Value)> {
        let mut out = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if super::METHODS.contains(&method.as_str()) {
                    out.push((path.clone(), method.clone(), op.clone()));
                }
            }
        }
        out
    }

    #[test]
    fn every_json_answer_is_an_envelope_and_every_list_a_page() {
        let doc = doc();
        let mut lists = 0;
        for (path, method, op) in operations(&doc) {
            for (status, r) in op["responses"].as_object().unwrap() {
                let Some(schema) = r.pointer("/content/application~1json/schema") else {
                    continue;
                };
                if schema.get("$ref").and_then(Value::as_str) == Some(super::ERROR_BODY) {
                    assert!(!status.starts_with('2'), "{method} {path} {status}");
                    continue;
                }
                let props = &schema["properties"];
                for field in ["success", "status", "message", "data"] {
                    assert!(
                        props.get(field).is_some(),
                        "{method} {path} {status}: {field}"
                    );
                }
                assert_eq!(props["status"]["const"], status.parse::<u16>().unwrap());
                if r["description"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("list page")
                {
                    lists += 1;
                    let data = &props["data"]["properties"];
                    for field in ["items", "page", "limit", "total"] {
                        assert!(data.get(field).is_some(), "{method} {path}: {field}");
                    }
                }
            }
        }
        assert!(lists >= 12, "{lists} list routes");
    }

    #[test]
    fn every_operation_declares_the_errors_it_can_meet() {
        let doc = doc();
        for (path, method, op) in operations(&doc) {
            let responses = op["responses"].as_object().unwrap();
            let mut wanted = vec!["400", "429", "500", "503"];
            let public = path == "/health" || path == "/ready" || path == "/metrics";
            if !public {
                wanted.extend(["401", "403"]);
            }
            if path.contains('{') || op.get("requestBody").is_some() {
                wanted.push("404");
            }
            for status in wanted {
                let r = responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{method} {path}: no {status}"));
                assert!(r.get("content").is_some(), "{method} {path} {status}");
            }
        }
    }

    #[test]
    fn every_constraint_names_a_field_of_the_document() {
        let doc = doc();
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        for (schema, property, _) in super::field_constraints() {
            let found = schemas.iter().any(|(name, s)| {
                (schema == "*" || schema == name) && s["properties"].get(property).is_some()
            });
            assert!(found, "{schema}.{property} is not in the document");
        }
        // The idempotency key is required wherever a request carries one.
        for (name, s) in schemas {
            if s["properties"].get("idempotencyKey").is_some() {
                let required = s["required"].as_array().unwrap();
                assert!(required.iter().any(|r| r == "idempotencyKey"), "{name}");
            }
        }
    }

    #[test]
    fn the_idempotency_key_pattern_takes_every_form_of_a_v4_and_nothing_else() {
        // The forms `uuid::Uuid::parse_str` reads; version 4 only.
        let v4 = "0f8fad5b-d9cb-469f-a165-70867728950e";
        let ok = [
            v4.to_owned(),
            v4.to_uppercase(),
            v4.replace('-', ""),
            format!("{{{v4}}}"),
            format!("urn:uuid:{v4}"),
        ];
        let re = regex::Regex::new(super::UUID_V4).unwrap();
        for s in &ok {
            assert!(re.is_match(s), "{s}");
            assert!(uuid_v4(s), "{s}");
        }
        for s in [
            "0f8fad5b-d9cb-169f-a165-70867728950e",
            "not-a-uuid",
            "",
            "0f8fad5b",
        ] {
            assert!(!re.is_match(s), "{s}");
        }
    }

    /// What the server's check accepts (`idem::parse_key`), by the same crate.
    fn uuid_v4(s: &str) -> bool {
        uuid::Uuid::parse_str(s).is_ok_and(|u| u.get_version_num() == 4)
    }
}
