"""Independent checks of what the REST server returns, with libraries planbok does not use.

Reads a JSON list of cases on stdin; prints "ok" or exits non-zero naming the first failure.
Case kinds:
  evm_message    {message_hex, signature, address}           eth-account recovers EIP-191
  evm_typed      {typed_data (JSON string), signature, address}  eth-account EIP-712
  evm_tx         {signed, address, chain_id, tx_hash}         recover_transaction, chain id, hash
  evm_address    {public_key (0x compressed), address}        eth-keys + EIP-55 checksum
  btc_message    {message_hex, signature (base64), address, hrp}  coincurve recover + bech32 P2WPKH
  btc_address    {public_key, address, hrp}                   hash160 + bech32
  ed25519        {public_key, message_hex, signature_hex}     PyNaCl
  sol_address    {public_key, address}                        base58
  sol_tx         {signed_b64, public_key}                     solders verifies every signature
  near_tx        {signed_b64, public_key}                     PyNaCl over sha256(tx)
  near_delegate  {signed_b64, unsigned_b64, public_key}       NEP-366: PyNaCl over
                 sha256(u32 LE (2**30 + 366) || delegate action); signed = action || 0 || sig
"""
import base64
import hashlib
import json
import sys

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
import eth_keys
from eth_utils import to_checksum_address
import coincurve
import bech32
import base58
import nacl.signing


def check(cond, what):
    if not cond:
        print("FAIL: " + what)
        sys.exit(1)


def h160(b):
    return hashlib.new("ripemd160", hashlib.sha256(b).digest()).digest()


def evm_address_of(pub_hex):
    pk = coincurve.PublicKey(bytes.fromhex(pub_hex[2:]))
    return eth_keys.keys.PublicKey(pk.format(compressed=False)[1:]).to_checksum_address()


def run(c):
    k = c["kind"]
    if k == "evm_message":
        msg = encode_defunct(primitive=bytes.fromhex(c["message_hex"]))
        got = Account.recover_message(msg, signature=bytes.fromhex(c["signature"][2:]))
        check(got == c["address"], f"evm_message: {got} != {c['address']}")
    elif k == "evm_typed":
        msg = encode_typed_data(full_message=json.loads(c["typed_data"]))
        got = Account.recover_message(msg, signature=bytes.fromhex(c["signature"][2:]))
        check(got == c["address"], f"evm_typed: {got} != {c['address']}")
    elif k == "evm_tx":
        raw = bytes.fromhex(c["signed"][2:])
        got = Account.recover_transaction(raw)
        check(got == c["address"], f"evm_tx: {got} != {c['address']}")
        from eth_account._utils.legacy_transactions import Transaction
        from eth_account.typed_transactions import TypedTransaction
        if raw[0] >= 0xC0:
            tx = Transaction.from_bytes(raw)
            chain_id = (tx.v - 35) // 2
        else:
            from hexbytes import HexBytes
            tx = TypedTransaction.from_bytes(HexBytes(raw))
            chain_id = tx.as_dict()["chainId"]
        check(chain_id == c["chain_id"], f"evm_tx chain id {chain_id} != {c['chain_id']}")
        from eth_utils import keccak
        check("0x" + keccak(raw).hex() == c["tx_hash"], "evm_tx hash")
    elif k == "evm_address":
        check(evm_address_of(c["public_key"]) == c["address"], "evm_address")
        check(to_checksum_address(c["address"].lower()) == c["address"], "eip55")
    elif k == "btc_message":
        sig = base64.b64decode(c["signature"])
        header = sig[0]
        check(39 <= header <= 42, f"bip137 header {header} is not P2WPKH")
        msg = bytes.fromhex(c["message_hex"])
        prefix = b"\x18Bitcoin Signed Message:\n"
        n = len(msg)
        varint = bytes([n]) if n < 0xFD else b"\xfd" + n.to_bytes(2, "little")
        digest = hashlib.sha256(hashlib.sha256(prefix + varint + msg).digest()).digest()
        rec = sig[1:] + bytes([header - 39])
        pk = coincurve.PublicKey.from_signature_and_message(rec, digest, hasher=None)
        addr = bech32.encode(c["hrp"], 0, h160(pk.format(compressed=True)))
        check(addr == c["address"], f"btc_message: {addr} != {c['address']}")
    elif k == "btc_address":
        addr = bech32.encode(c["hrp"], 0, h160(bytes.fromhex(c["public_key"][2:])))
        check(addr == c["address"], f"btc_address: {addr} != {c['address']}")
    elif k == "ed25519":
        vk = nacl.signing.VerifyKey(bytes.fromhex(c["public_key"][2:]))
        vk.verify(bytes.fromhex(c["message_hex"]), bytes.fromhex(c["signature_hex"]))
    elif k == "sol_address":
        check(base58.b58encode(bytes.fromhex(c["public_key"][2:])).decode() == c["address"], "sol_address")
    elif k == "sol_tx":
        from solders.transaction import VersionedTransaction
        tx = VersionedTransaction.from_bytes(base64.b64decode(c["signed_b64"]))
        msg = bytes(tx.message)
        keys = tx.message.account_keys
        me = bytes.fromhex(c["public_key"][2:])
        idx = [bytes(k) for k in keys].index(me)
        sig = bytes(tx.signatures[idx])
        nacl.signing.VerifyKey(me).verify(msg, sig)
    elif k == "near_tx":
        raw = base64.b64decode(c["signed_b64"])
        tx, sig = raw[:-65], raw[-64:]
        check(raw[-65] == 0, "near key type")
        nacl.signing.VerifyKey(bytes.fromhex(c["public_key"][2:])).verify(hashlib.sha256(tx).digest(), sig)
    elif k == "near_delegate":
        raw = base64.b64decode(c["signed_b64"])
        action, sig = raw[:-65], raw[-64:]
        check(raw[-65] == 0, "near key type")
        check(action == base64.b64decode(c["unsigned_b64"]), "the delegate action signed is the one sent")
        signable = ((1 << 30) + 366).to_bytes(4, "little") + action
        nacl.signing.VerifyKey(bytes.fromhex(c["public_key"][2:])).verify(hashlib.sha256(signable).digest(), sig)
    else:
        check(False, "unknown kind " + k)


for case in json.load(sys.stdin):
    run(case)
print("ok")
