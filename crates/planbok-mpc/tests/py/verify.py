"""Independent signature checks for planbok-mpc's tests.

verify.py eth MESSAGE SIG_HEX ADDRESS      eth-account recovers ADDRESS from an EIP-191 signature
verify.py ed25519 MESSAGE SIG_HEX PK_HEX   PyNaCl (libsodium) verifies an ed25519 signature
Exits 0 when the signature checks out, 1 otherwise.
"""
import sys


def main() -> int:
    kind, message, sig_hex, key = sys.argv[1:5]
    if kind == "eth":
        from eth_account import Account
        from eth_account.messages import encode_defunct

        recovered = Account.recover_message(encode_defunct(text=message), signature=bytes.fromhex(sig_hex))
        if recovered.lower() != key.lower():
            print(f"recovered {recovered}, expected {key}", file=sys.stderr)
            return 1
        return 0
    if kind == "ed25519":
        from nacl.exceptions import BadSignatureError
        from nacl.signing import VerifyKey

        try:
            VerifyKey(bytes.fromhex(key)).verify(message.encode(), bytes.fromhex(sig_hex))
        except BadSignatureError as e:
            print(f"bad signature: {e}", file=sys.stderr)
            return 1
        return 0
    print(f"unknown kind {kind}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
