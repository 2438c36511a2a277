//! Every `ChainError` has a stable code; the refusals themselves are tested per family.

use planbok_chains::ChainError;

#[test]
fn codes_are_stable_snake_case() {
    let all = [
        (
            ChainError::UnsupportedChain("X".into()),
            "unsupported_chain",
            false,
        ),
        (
            ChainError::UnsupportedOperation("x".into()),
            "unsupported_operation",
            false,
        ),
        (ChainError::InvalidPublicKey, "invalid_public_key", false),
        (ChainError::InvalidPath, "invalid_path", false),
        (
            ChainError::InvalidMessage("x".into()),
            "invalid_request",
            false,
        ),
        (
            ChainError::InvalidTypedData("x".into()),
            "invalid_typed_data",
            false,
        ),
        (
            ChainError::InvalidTransaction("x".into()),
            "invalid_transaction",
            false,
        ),
        (
            ChainError::ChainIdMismatch {
                expected: 1,
                got: 2,
            },
            "chain_id_mismatch",
            false,
        ),
        (ChainError::NotSigner, "not_signer", false),
        (ChainError::InputMismatch("x".into()), "internal", true),
        (ChainError::SignatureMismatch, "signature_invalid", true),
    ];
    for (err, code, internal) in all {
        assert_eq!(err.code(), code, "{err:?}");
        assert_eq!(err.is_internal(), internal, "{err:?}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        ChainError::ChainIdMismatch {
            expected: 1,
            got: 5
        }
        .to_string(),
        "chain id mismatch: the wallet's chain is 1, the input says 5"
    );
}

#[test]
fn unsupported_chain_does_not_echo_huge_input() {
    let long = "X".repeat(10_000);
    match planbok_chains::Chain::parse(&long) {
        Err(ChainError::UnsupportedChain(id)) => assert_eq!(id.len(), 64),
        other => panic!("{other:?}"),
    }
}
