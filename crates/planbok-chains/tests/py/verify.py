"""Independent checks of planbok-chains' output, one JSON list of cases on stdin.

Each case is an object with a "kind" and its fields (bytes as hex unless said otherwise).
Uses eth-account / eth-keys / eth-utils (EVM), coincurve + bech32 (Bitcoin), solders + PyNaCl
+ base58 (Solana), PyNaCl + base58 (NEAR). Prints one line per failing case and exits 1 if
any fails; exits 0 when all pass.
"""
import base64
import hashlib
import json
import sys


def ripemd160(data: bytes) -> bytes:
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:  # OpenSSL 3 without the legacy provider
        from Crypto.Hash import RIPEMD160

        return RIPEMD160.new(data).digest()


def ed25519_verify(pk: bytes, msg: bytes, sig: bytes) -> None:
    from nacl.signing import VerifyKey

    VerifyKey(pk).verify(msg, sig)  # raises BadSignatureError


def check(c: dict) -> None:
    kind = c["kind"]
    if kind == "eip55":
        from eth_keys import keys

        pk = keys.PublicKey.from_compressed_bytes(bytes.fromhex(c["pubkey"]))
        want = pk.to_checksum_address()
        assert c["address"] == want, f"address {c['address']} != {want}"
    elif kind == "eip191":
        from eth_account import Account
        from eth_account.messages import _hash_eip191_message, encode_defunct

        msg = encode_defunct(primitive=bytes.fromhex(c["message"]))
        digest = "0x" + _hash_eip191_message(msg).hex()
        assert digest == c["digest"], f"digest {c['digest']} != {digest}"
        got = Account.recover_message(msg, signature=bytes.fromhex(c["signature"][2:]))
        assert got == c["address"], f"recovered {got} != {c['address']}"
    elif kind == "eip712":
        from eth_account import Account
        from eth_account.messages import _hash_eip191_message, encode_typed_data

        msg = encode_typed_data(full_message=json.loads(c["typed_data"]))
        digest = "0x" + _hash_eip191_message(msg).hex()
        assert digest == c["digest"], f"digest {c['digest']} != {digest}"
        got = Account.recover_message(msg, signature=bytes.fromhex(c["signature"][2:]))
        assert got == c["address"], f"recovered {got} != {c['address']}"
    elif kind == "evm_tx":
        import rlp
        from eth_account import Account
        from eth_utils import keccak

        raw = bytes.fromhex(c["signed"][2:])
        got = Account.recover_transaction(raw)
        assert got == c["address"], f"recovered {got} != {c['address']}"
        assert "0x" + keccak(raw).hex() == c["tx_hash"], "tx hash"
        if raw[0] >= 0xC0:
            fields = rlp.decode(raw)
            assert len(fields) == 9, "legacy has 9 fields"
            v = int.from_bytes(fields[6], "big")
            chain_id = (v - 35) // 2
            assert v in (chain_id * 2 + 35, chain_id * 2 + 36)
        else:
            assert raw[0] == c["type"], f"type {raw[0]} != {c['type']}"
            fields = rlp.decode(raw[1:])
            chain_id = int.from_bytes(fields[0], "big")
        assert chain_id == c["chain_id"], f"chain id {chain_id} != {c['chain_id']}"
        if "nonce" in c:
            nonce_field = fields[1] if raw[0] < 0xC0 else fields[0]
            assert int.from_bytes(nonce_field, "big") == c["nonce"], "nonce"
    elif kind == "btc_address":
        import bech32

        pk = bytes.fromhex(c["pubkey"])
        want = bech32.encode(c["hrp"], 0, ripemd160(hashlib.sha256(pk).digest()))
        assert c["address"] == want, f"address {c['address']} != {want}"
    elif kind == "bip137":
        import bech32
        import coincurve

        msg = bytes.fromhex(c["message"])
        n = len(msg)
        if n < 0xFD:
            varint = bytes([n])
        elif n <= 0xFFFF:
            varint = b"\xfd" + n.to_bytes(2, "little")
        else:
            varint = b"\xfe" + n.to_bytes(4, "little")
        pre = b"\x18Bitcoin Signed Message:\n" + varint + msg
        digest = hashlib.sha256(hashlib.sha256(pre).digest()).digest()
        assert "0x" + digest.hex() == c["digest"], "digest"
        sig = base64.b64decode(c["signature"])
        assert len(sig) == 65 and 39 <= sig[0] <= 42, f"header {sig[0]}"
        recid = sig[0] - 39
        pk = coincurve.PublicKey.from_signature_and_message(
            sig[1:] + bytes([recid]), digest, hasher=None
        )
        addr = bech32.encode(c["hrp"], 0, ripemd160(hashlib.sha256(pk.format(True)).digest()))
        assert addr == c["address"], f"recovered {addr} != {c['address']}"
    elif kind == "sol_message":
        import base58

        pk = base58.b58decode(c["address"])
        assert len(pk) == 32
        ed25519_verify(pk, bytes.fromhex(c["message"]), base58.b58decode(c["signature"]))
    elif kind == "sol_tx":
        import base58
        from solders.message import to_bytes_versioned
        from solders.pubkey import Pubkey
        from solders.transaction import VersionedTransaction

        tx = VersionedTransaction.from_bytes(base64.b64decode(c["signed"]))
        msg = to_bytes_versioned(tx.message)
        me = Pubkey.from_string(c["address"])
        keys = tx.message.account_keys
        slot = list(keys).index(me)
        sig = bytes(tx.signatures[slot])
        assert base58.b58encode(sig).decode() == c["signature"], "signature slot"
        ed25519_verify(bytes(me), msg, sig)
        assert str(tx.signatures[0]) == c["tx_hash"], "tx id is the first signature"
        assert msg.hex() == c["message"], "message bytes"
        if c.get("fully_signed"):
            assert all(tx.verify_with_results()), "every signature verifies"
    elif kind == "near_message":
        ed25519_verify(
            bytes.fromhex(c["pubkey"]),
            bytes.fromhex(c["message"]),
            base64.b64decode(c["signature"]),
        )
    elif kind == "near_tx":
        import base58

        signed = base64.b64decode(c["signed"])
        tx, tag, sig = signed[:-65], signed[-65], signed[-64:]
        assert tag == 0, "ed25519 signature tag"
        # borsh: signer_id (u32 len + utf8), then public_key = tag 0 + 32 bytes.
        n = int.from_bytes(tx[:4], "little")
        assert tx[4 + n] == 0
        pk = tx[5 + n : 37 + n]
        assert pk.hex() == c["pubkey"], "key in transaction"
        h = hashlib.sha256(tx).digest()
        ed25519_verify(pk, h, sig)
        assert base58.b58encode(h).decode() == c["tx_hash"], "tx hash"
        assert tx == base64.b64decode(c["unsigned"]), "transaction bytes kept"
    elif kind == "sol_address":
        import base58

        assert base58.b58encode(bytes.fromhex(c["pubkey"])).decode() == c["address"]
    else:
        raise AssertionError(f"unknown kind {kind}")


def main() -> int:
    cases = json.load(sys.stdin)
    failed = 0
    for i, c in enumerate(cases):
        try:
            check(c)
        except Exception as e:  # noqa: BLE001 - report every failing case
            failed += 1
            print(f"case {i} ({c.get('kind')}, {c.get('label', '')}): {type(e).__name__}: {e}")
    print(f"{len(cases) - failed} passed, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
