"""Independent checks of a customer's exported keys (the platform's CSV), with libraries
planbok does not use: each private key must give its wallet's address.

Reads a JSON list on stdin of {"csv": <the CSV text>, "customer_id": ..., "wallets": [{address,
blockchain, publicKey}, ...]} (the wallets as the API lists them). Prints "ok" or exits
non-zero naming the first failure.
  secp256k1 EVM   0x-hex key -> eth-account address
  secp256k1 BTC   WIF -> base58check decode, coincurve public key, bech32 P2WPKH (tb)
  ed25519-scalar  scalar:0x<32 LE bytes> -> PyNaCl scalar * B (no clamping) = public key
"""
import hashlib
import json
import sys

from eth_account import Account
import base58
import bech32
import coincurve
import nacl.bindings


def check(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)


def h160(b):
    return hashlib.new("ripemd160", hashlib.sha256(b).digest()).digest()


def run(data):
    lines = data["csv"].strip("\n").split("\n")
    check(lines[0].startswith("Customer: ") and "(" + data["customer_id"] + ")" in lines[0] and "| RefID: " in lines[0], "header line: " + lines[0])
    check(lines[1] == "Address,Private Key,Blockchain,Derivation Path,Key Type", "column line")
    rows = [l.split(",") for l in lines[2:]]
    by_address = {w["address"]: w for w in data["wallets"]}
    check(len(rows) == len(data["wallets"]), f"{len(rows)} rows for {len(data['wallets'])} wallets")
    for address, key, chain, path, kind in rows:
        w = by_address.get(address)
        check(w is not None and w["blockchain"] == chain, "row for an unknown wallet " + address)
        check(path == w["derivationPath"], "derivation path of " + address)
        if chain.startswith("BTC"):
            raw = base58.b58decode_check(key)
            check(raw[0] == 0xEF and len(raw) == 34 and raw[33] == 1, "testnet compressed WIF")
            pk = coincurve.PrivateKey(raw[1:33]).public_key.format(compressed=True)
            got = bech32.encode("tb", 0, h160(pk))
            check(got == address, f"BTC key gives {got}, not {address}")
            check("0x" + pk.hex() == w["publicKey"], "BTC public key")
            check(kind == "secp256k1", "BTC key type")
        elif kind == "secp256k1":
            got = Account.from_key(bytes.fromhex(key[2:])).address
            check(got == address, f"EVM key gives {got}, not {address}")
        elif kind == "ed25519-scalar":
            scalar = bytes.fromhex(key[len("scalar:0x"):])
            pk = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(scalar)
            check("0x" + pk.hex() == w["publicKey"], f"ed25519 scalar gives {pk.hex()}, not {w['publicKey']}")
        else:
            check(False, "unknown key type " + kind)


for case in json.load(sys.stdin):
    run(case)
print("ok")
