//! Which `ChainError`s are our own fault; the refusals themselves are tested per family, and
//! each variant's API code and status in `planbok-server/src/error.rs`.

use planbok_chains::ChainError;

#[test]
fn internal_errors_are_told_apart_and_every_error_has_a_message() {
    let all = [
        (ChainError::UnsupportedChain("X".into()), false),
        (ChainError::UnsupportedOperation("x".into()), false),
        (ChainError::InvalidPublicKey, false),
        (ChainError::InvalidPath, false),
        (ChainError::InvalidMessage("x".into()), false),
        (ChainError::InvalidTypedData("x".into()), false),
        (ChainError::InvalidTransaction("x".into()), false),
        (
            ChainError::ChainIdMismatch {
                expected: 1,
                got: 2,
            },
            false,
        ),
        (ChainError::NotSigner, false),
        (ChainError::InputMismatch("x".into()), true),
        (ChainError::SignatureMismatch, true),
    ];
    for (err, internal) in all {
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
