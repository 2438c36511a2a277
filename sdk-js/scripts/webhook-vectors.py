"""Writes test/vectors/webhooks.json: webhook signatures computed independently of the SDK,
by the Standard Webhooks reference package (`pip install standardwebhooks==1.1.0`) and by
Python's own hmac for the platform signature (docs/webhooks.md). Deterministic (seeded), so
running it again gives the same file; the SDK's unit tests check every vector.
"""

import base64
import hashlib
import hmac
import json
import random
from datetime import datetime, timezone
from pathlib import Path

from standardwebhooks.webhooks import Webhook

rng = random.Random(13)


def secret() -> str:
    return "whsec_" + base64.b64encode(bytes(rng.getrandbits(8) for _ in range(32))).decode()


def platform(secret: str, ts: int, body: str) -> str:
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + body.encode(), hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def standard(secret: str, msg_id: str, ts: int, body: str) -> str:
    return Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=timezone.utc), body)


bodies = [
    '{"id":"evt_1","event":"webhook.test","timestamp":"2026-11-30T08:00:00.123Z","organizationId":"org_1","data":{"webhookId":"wh_1","message":"hello"}}',
    '{"id":"evt_2","event":"wallet.created","timestamp":"2026-11-30T08:00:01.000Z","organizationId":"org_2","data":{"name":"caf\u00e9 \u2615 \u00fcber","address":"0x00000000000000000000000000000000000000aa"}}',
    '{"id":"evt_3","event":"key.disabled","timestamp":"2026-11-30T08:00:02.000Z","organizationId":"org_3","data":{"keyId":"k","code":"key_disabled"}}\n',
]

vectors = []
# The Standard Webhooks published vector (also in planbok-sdk's Rust tests).
vectors.append(
    {
        "name": "standard-webhooks published vector",
        "secret": "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
        "id": "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        "timestamp": 1649367553,
        "body": '{"email":"test@example.com","username":"test_user"}',
        "standard": "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    }
)
for i, body in enumerate(bodies):
    s = secret()
    msg_id = f"evt_{rng.getrandbits(64):016x}"
    ts = 1_790_000_000 + rng.randrange(10_000_000)
    vectors.append(
        {
            "name": f"event {i + 1}",
            "secret": s,
            "id": msg_id,
            "timestamp": ts,
            "body": body,
            "standard": standard(s, msg_id, ts, body),
            "platform": platform(s, ts, body),
        }
    )
assert standard(vectors[0]["secret"], vectors[0]["id"], vectors[0]["timestamp"], vectors[0]["body"]) == vectors[0]["standard"]

# A rotation: two secrets, both sign webhook-signature; X-Webhook-Signature is the previous
# secret's and X-Webhook-Signature-Next the new one's.
previous, new = secret(), secret()
body = bodies[0]
msg_id = "evt_rotation"
ts = 1_800_000_000
rotation = {
    "previous": previous,
    "new": new,
    "id": msg_id,
    "timestamp": ts,
    "body": body,
    "standard": standard(new, msg_id, ts, body) + " " + standard(previous, msg_id, ts, body),
    "platform": platform(previous, ts, body),
    "platformNext": platform(new, ts, body),
}

out = Path(__file__).resolve().parent.parent / "test" / "vectors" / "webhooks.json"
out.write_text(json.dumps({"vectors": vectors, "rotation": rotation}, indent=2, ensure_ascii=False) + "\n")
print(f"wrote {out}")
