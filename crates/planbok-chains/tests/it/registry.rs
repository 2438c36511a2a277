use planbok_chains::{Chain, ChainError, Curve, Family};

const API_ORDER: [&str; 18] = [
    "ETH",
    "ETH-SEPOLIA",
    "BASE",
    "BASE-SEPOLIA",
    "ARB",
    "ARB-SEPOLIA",
    "OP",
    "OP-SEPOLIA",
    "POL",
    "POL-AMOY",
    "BSC",
    "BSC-TESTNET",
    "BTC",
    "BTC-TESTNET",
    "SOL",
    "SOL-DEVNET",
    "NEAR",
    "NEAR-TESTNET",
];

#[test]
fn all_is_api_order_and_parse_round_trips() {
    let ids: Vec<_> = Chain::all().iter().map(|c| c.id()).collect();
    assert_eq!(ids, API_ORDER);
    for c in Chain::all() {
        assert_eq!(Chain::parse(c.id()).unwrap(), *c);
        assert_eq!(c.to_string(), c.id());
        assert_eq!(format!("{c:?}"), format!("Chain({})", c.id()));
    }
}

#[test]
fn parse_is_exact_and_case_sensitive() {
    for bad in [
        "eth",
        "Eth",
        " ETH",
        "ETH ",
        "ETH-sepolia",
        "MATIC",
        "SOL-TESTNET",
        "",
    ] {
        let err = Chain::parse(bad).unwrap_err();
        assert_eq!(err, ChainError::UnsupportedChain(bad.to_owned()));
    }
}

#[test]
fn evm_chain_ids_families_curves_and_testnets() {
    let ids: Vec<_> = Chain::all()
        .iter()
        .filter_map(|c| c.evm_chain_id())
        .collect();
    assert_eq!(
        ids,
        [
            1, 11155111, 8453, 84532, 42161, 421614, 10, 11155420, 137, 80002, 56, 97
        ]
    );
    for c in Chain::all() {
        let testnet = c.id().contains('-');
        assert_eq!(c.is_testnet(), testnet, "{c}");
        match c.family() {
            Family::Evm => {
                assert!(c.evm_chain_id().is_some());
                assert_eq!(c.curve(), Curve::Secp256k1);
            }
            Family::Bitcoin => assert_eq!(c.curve(), Curve::Secp256k1),
            Family::Solana | Family::Near => {
                assert_eq!(c.curve(), Curve::Ed25519);
                assert_eq!(c.evm_chain_id(), None);
            }
        }
    }
    assert_eq!(crate::chain("BASE-SEPOLIA").display_name(), "Base Sepolia");
    assert_eq!(crate::chain("ETH").display_name(), "Ethereum");
    let symbols: Vec<_> = [
        "ETH",
        "ARB",
        "POL-AMOY",
        "BSC",
        "BTC-TESTNET",
        "SOL",
        "NEAR",
    ]
    .iter()
    .map(|id| crate::chain(id).native_symbol())
    .collect();
    assert_eq!(symbols, ["ETH", "ETH", "POL", "BNB", "BTC", "SOL", "NEAR"]);
}

#[test]
fn derivation_paths() {
    assert_eq!(crate::chain("ETH").derivation_path(7), "m/44/60/0/7");
    assert_eq!(
        crate::chain("BSC-TESTNET").derivation_path(0),
        "m/44/60/0/0"
    );
    assert_eq!(crate::chain("BTC").derivation_path(3), "m/44/0/0/3");
    assert_eq!(crate::chain("BTC-TESTNET").derivation_path(3), "m/44/1/0/3");
    assert_eq!(crate::chain("SOL").derivation_path(3), "m");
    assert_eq!(crate::chain("NEAR-TESTNET").derivation_path(9), "m");
}
