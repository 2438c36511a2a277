#!/usr/bin/env python3
"""Independent checks of planbok's webhook deliveries.

Reads a JSON list of cases on stdin, each {"headers": {name: value}, "body": "<raw body>",
"standard": [secrets], "platform": {"header": name, "secret": secret} | null}, and checks:

- the Standard Webhooks signature with the `standardwebhooks` reference package
  (`Webhook(secret).verify`) for every secret in "standard";
- the platform signature with Python's own hmac: header == "sha256=" + hex(HMAC-SHA256(
  secret's UTF-8 bytes, f"{X-Webhook-Timestamp}.{body}")), compared in constant time.

Prints "ok" when every case passes, else the first failure (exit 1).
"""
import hashlib
import hmac
import json
import sys

from standardwebhooks.webhooks import Webhook


def main() -> int:
    cases = json.load(sys.stdin)
    for i, c in enumerate(cases):
        headers = {k.lower(): v for k, v in c["headers"].items()}
        body = c["body"]
        for secret in c.get("standard", []):
            try:
                Webhook(secret).verify(body.encode(), headers)
            except Exception as e:  # noqa: BLE001 - report any refusal
                print(f"case {i}: standardwebhooks refused with {secret[:10]}…: {e!r}")
                return 1
        p = c.get("platform")
        if p:
            ts = headers["x-webhook-timestamp"]
            want = "sha256=" + hmac.new(
                p["secret"].encode(), f"{ts}.{body}".encode(), hashlib.sha256
            ).hexdigest()
            got = headers.get(p["header"].lower(), "")
            if not hmac.compare_digest(want, got):
                print(f"case {i}: {p['header']} is {got!r}, expected {want!r}")
                return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
