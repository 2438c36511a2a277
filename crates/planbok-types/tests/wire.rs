//! Each type's wire form round-trips, and every unknown form is refused (no silent default).

#![expect(clippy::unwrap_used, reason = "a test: a panic is the failure report")]

use planbok_types::{CustodyMode, EcdsaProtocol, NodeRole};

#[test]
fn node_roles_are_1_and_2_and_nothing_else() {
    for r in NodeRole::ALL {
        assert_eq!(NodeRole::from_number(r.number()).unwrap(), r);
        assert_eq!(r.to_string().parse::<NodeRole>().unwrap(), r);
        assert_eq!(serde_json::to_string(&r).unwrap(), r.number().to_string());
        assert_eq!(r.peer().peer(), r);
        assert_ne!(r.peer(), r);
    }
    assert_eq!((NodeRole::Node1.index(), NodeRole::Node2.index()), (0, 1));
    assert_eq!(NodeRole::Node2.name(), "node2");
    for bad in [0u8, 3, 255] {
        let e = NodeRole::from_number(bad).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("node role must be 1 or 2, not \"{bad}\"")
        );
        assert!(serde_json::from_str::<NodeRole>(&bad.to_string()).is_err());
    }
    for bad in ["", "0", "01", "node1", " 1"] {
        assert!(bad.parse::<NodeRole>().is_err(), "{bad:?}");
    }
    // As the node's TOML config writes and reads it.
    #[derive(serde::Serialize, serde::Deserialize)]
    struct C {
        role: NodeRole,
    }
    let text = toml::to_string(&C {
        role: NodeRole::Node2,
    })
    .unwrap();
    assert_eq!(text.trim(), "role = 2");
    assert!(toml::from_str::<C>("role = 3").is_err());
    assert!(toml::from_str::<C>("role = \"1\"").is_err());
}

#[test]
fn protocols_and_custody_modes_parse_their_wire_names_only() {
    for p in EcdsaProtocol::ALL {
        assert_eq!(EcdsaProtocol::parse(p.as_str()).unwrap(), p);
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(json, format!("\"{p}\""));
        assert_eq!(serde_json::from_str::<EcdsaProtocol>(&json).unwrap(), p);
    }
    for bad in ["", "CGGMP", "cggmp21", "frost", "dkls", "dkls23 "] {
        assert!(EcdsaProtocol::parse(bad).is_err(), "{bad:?}");
        assert!(serde_json::from_value::<EcdsaProtocol>(bad.into()).is_err());
    }
    for c in [CustodyMode::Standard, CustodyMode::Trustless] {
        assert_eq!(c.as_str().parse::<CustodyMode>().unwrap(), c);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<CustodyMode>(&json).unwrap(), c);
    }
    for bad in ["", "unset", "STANDARD", "Trustless"] {
        assert!(CustodyMode::parse(bad).is_err(), "{bad:?}");
    }
    let long = "x".repeat(1000);
    assert_eq!(CustodyMode::parse(&long).unwrap_err().got.len(), 64);
}
