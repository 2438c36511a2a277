"""The Gateway page in a real browser (Debian's Chromium, driven by Playwright).

Run by crates/planbok-cli/tests/it/gateway_page.rs against `planbok dev`; the organization's
side goes through the REST API, the end user's through the page only: labelled fields,
buttons named by their action. Signatures are verified with eth-account. Every request the
page makes must stay on the Gateway's origin, every Gateway response must carry the
security headers, and the page must log no error (a CSP violation is one).

Environment: PLANBOK_URL, PLANBOK_API_KEY, PLANBOK_GATEWAY (the Gateway's origin),
PLANBOK_BIN, PLANBOK_NODE_KEY, PLANBOK_SCREENSHOTS (a directory for the PNGs).
"""

import base64
import http.server
import json
import os
import re
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
import zlib

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
import nacl.bindings
from playwright.sync_api import expect, sync_playwright

API = os.environ["PLANBOK_URL"]
KEY = os.environ["PLANBOK_API_KEY"]
GATEWAY = os.environ["PLANBOK_GATEWAY"]
BIN = os.environ["PLANBOK_BIN"]
NODE_KEY = os.environ["PLANBOK_NODE_KEY"]
SHOTS = os.environ["PLANBOK_SCREENSHOTS"]
MAILDIR = os.environ["PLANBOK_MAILDIR"]

PIN = "284913"
NEW_PIN = "730518"
NEWEST_PIN = "502977"
ANSWERS = ["Rex the Dog", "Zürich", "St. Mary's"]
CSP = (
    "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; "
    "img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'; require-trusted-types-for 'script'"
)


def png(width, height, pixel):
    """A PNG (8-bit RGB) of `pixel(x, y) -> (r, g, b)`: the organization's logo."""

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(
        b"\x00" + b"".join(bytes(pixel(x, y)) for x in range(width)) for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def logo_pixel(x, y):
    """A navy band with a lighter square: enough to see the logo in the screenshot."""
    if 8 <= x < 40 and 8 <= y < 40:
        return (126, 180, 255)
    return (11, 61, 145)


def rest(method, path, body=None):
    """The organization's side; the envelope's data, or an AssertionError with the code."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method)
    req.add_header("PLANBOK-X-API-KEY", KEY)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return json.load(r)["data"]
    except urllib.error.HTTPError as e:
        raise AssertionError(f"{method} {path}: {e.code} {e.read().decode()}") from None


class Receiver(http.server.BaseHTTPRequestHandler):
    """The integrator's return page: records where the Gateway sent the user."""

    seen = []

    def do_GET(self):
        Receiver.seen.append(self.path)
        body = b"<!doctype html><title>Back in the app</title><p>Back in the app.</p>"
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except BrokenPipeError:
            pass  # the browser moved on (the page redirects on its own)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
RETURN = f"http://127.0.0.1:{server.server_address[1]}/done"


def idem():
    return str(uuid.uuid4())


def new_customer(name, email=None):
    body = {"idempotencyKey": idem(), "name": name}
    if email:
        body["email"] = email
    return rest("POST", "/v2/customers", body)["id"]


def mailed_code(n):
    """The recovery code in the n-th message the SMTP relay received (waits for it)."""
    path = os.path.join(MAILDIR, f"{n}.eml")
    for _ in range(300):
        if os.path.exists(path):
            break
        time.sleep(0.1)
    text = open(path, encoding="utf-8", errors="replace").read()
    m = re.search(r"^\s*([0-9A-Z]{4}(?:-[0-9A-Z]{4}){7})\s*$", text, re.M)
    assert m, text
    return m.group(1)


def challenge(customer, op, body=None):
    body = dict(body or {}, idempotencyKey=idem(), redirectUrl=RETURN)
    ch = rest("POST", f"/v2/customers/{customer}/{op}", body)
    assert ch["status"] == "pending", ch
    assert ch["redirectUrl"].startswith(GATEWAY + "/gateway/?challenge="), ch
    return ch


def result(customer, ch):
    got = rest("GET", f"/v2/customers/{customer}/challenges/{ch['challengeId']}")
    assert got["status"] == "complete", got
    return got["result"]


class Page:
    """One browser page, with what it requested and logged recorded."""

    def __init__(self, browser):
        self.page = browser.new_page(viewport={"width": 560, "height": 640})
        self.requests = []
        self.errors = []
        self.refused = set()
        self.checked = 0
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("response", self.check_headers)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("console", self.console)

    FAILED = "Failed to load resource: the server responded with a status of "

    def console(self, m):
        if m.type != "error":
            return
        # The browser logs every refused request; the test expects some (a used link,
        # the lockout) and records them apart. Anything else is a failure.
        if m.text.startswith(self.FAILED):
            self.refused.add(int(m.text[len(self.FAILED):].split()[0]))
        else:
            self.errors.append(m.text)

    HEADERS = {
        "content-security-policy": CSP,
        "x-frame-options": "DENY",
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cross-origin-opener-policy": "same-origin",
    }

    def check_headers(self, response):
        """Records (an exception in an event handler would not fail the script) every
        Gateway response without the security headers; `finish` fails on any."""
        if not response.url.startswith(GATEWAY):
            return
        self.checked += 1
        h = response.headers
        for name, want in self.HEADERS.items():
            if h.get(name) != want:
                self.errors.append(f"{response.url}: {name} is {h.get(name)!r}")

    def open(self, ch, heading):
        Receiver.seen.clear()
        self.page.goto(ch["redirectUrl"])
        expect(self.page.get_by_role("heading", level=2)).to_have_text(heading)
        # The token is out of the address bar at once.
        assert "#" not in self.page.url, self.page.url

    def shot(self, name):
        self.page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)

    def label(self, text, nth=0):
        return self.page.get_by_label(text, exact=True).nth(nth)

    def click(self, name):
        self.page.get_by_role("button", name=name, exact=True).click()

    def problem(self, text):
        expect(self.page.get_by_role("alert").filter(has_text=text)).to_be_visible()

    def returned(self, ch, status="complete"):
        """The page sent the user back to the integrator with the challenge's outcome."""
        self.page.wait_for_url(RETURN + "*", timeout=60_000)
        query = urllib.parse.parse_qs(urllib.parse.urlparse(self.page.url).query)
        assert query == {"challengeId": [ch["challengeId"]], "status": [status]}, query
        assert any(p.startswith("/done?") for p in Receiver.seen), Receiver.seen

    def finish(self):
        assert not self.errors, self.errors
        # The header checks ran (the page, its assets and the API's answers).
        assert self.checked > 50, self.checked
        # 401: the used link; 423: the lockout; 403: the wrong emailed code. No 404
        # (every asset is there).
        assert self.refused == {401, 403, 423}, self.refused
        # A blob: URL of the Gateway's origin (the logo) is made by the page itself.
        own = (GATEWAY, "blob:" + GATEWAY, RETURN)
        off = [u for u in self.requests if not u.startswith(own)]
        assert not off, f"requests off the Gateway's origin: {off}"
        self.page.close()


def set_new_pin(p, pin, shot=None):
    p.label("New PIN").fill(pin)
    p.label("Repeat the PIN").fill(pin)
    if shot:
        p.shot(shot)
    p.click("Continue")


def initialize(p, customer, shots=False):
    ch = challenge(customer, "initialize")
    p.open(ch, "Choose a PIN")
    if shots:
        p.shot("01-pin-setup")
    # A weak PIN is named as such while typing, and refused.
    p.label("New PIN").fill("123456")
    expect(p.page.locator("#new-pin-rule")).to_contain_text("sequence")
    p.label("Repeat the PIN").fill("123456")
    p.click("Continue")
    p.problem("sequence")
    if shots:
        p.shot("02-weak-pin")
    # Two different PINs are refused.
    p.label("New PIN").fill(PIN)
    p.label("Repeat the PIN").fill("730519")
    p.click("Continue")
    p.problem("not the same")
    set_new_pin(p, PIN)
    expect(p.page.get_by_role("heading", level=2)).to_have_text("Security questions")
    p.label("Question", 0).select_option("first_pet")
    p.label("Question", 1).select_option("birth_city")
    p.label("Question", 2).select_option("custom")
    p.label("Your question", 2).fill("What was the name of my first school?")
    for i, a in enumerate(ANSWERS):
        p.label("Answer", i).fill(a)
    # A hint that gives the answer away is refused here (the server never sees answers).
    p.label("Hint (optional)", 0).fill("rex the dog")
    p.click("Continue")
    p.problem("hint")
    p.label("Hint (optional)", 0).fill("a dog")
    if shots:
        p.shot("03-questions")
    p.click("Continue")
    p.returned(ch)
    assert rest("GET", f"/v2/customers/{customer}")["pinStatus"] == "set"


def approve(p, ch, heading, pin, shot=None, expect_lines=()):
    p.open(ch, heading)
    for line in expect_lines:
        expect(p.page.locator("#approve-lines")).to_contain_text(line)
    if shot:
        p.shot(shot)
    p.label("PIN").fill(pin)
    p.click("Approve")
    p.returned(ch)


def verify_message(address, message, signature):
    signer = Account.recover_message(encode_defunct(text=message), signature=signature)
    assert signer.lower() == address.lower(), (signer, address)


def check_export(csv, customer, wallets):
    """Each exported key gives its wallet, checked with libraries planbok does not use:
    eth-account for EVM keys, libsodium (PyNaCl) for ed25519 scalars (FROST keys have no
    seed: the CSV carries the little-endian secret scalar)."""
    lines = csv.strip("\n").split("\n")
    assert lines[0].startswith("Customer: Bob (" + customer + ")"), lines[0]
    assert lines[1] == "Address,Private Key,Blockchain,Derivation Path,Key Type", lines[1]
    by_address = {w["address"]: w for w in wallets}
    rows = [line.split(",") for line in lines[2:]]
    assert sorted(r[0] for r in rows) == sorted(by_address), (rows, wallets)
    kinds = set()
    for address, key, chain, path, kind in rows:
        w = by_address[address]
        assert (chain, path) == (w["blockchain"], w["derivationPath"]), (chain, path, w)
        kinds.add(kind)
        if kind == "secp256k1":
            got = Account.from_key(bytes.fromhex(key[2:])).address
            assert got == address, f"{address}: the key gives {got}"
        elif kind == "ed25519-scalar":
            scalar = bytes.fromhex(key[len("scalar:0x"):])
            pk = nacl.bindings.crypto_scalarmult_ed25519_base_noclamp(scalar)
            assert "0x" + pk.hex() == w["publicKey"], f"{address}: the scalar gives {pk.hex()}"
        else:
            raise AssertionError(f"key type {kind}")
    assert kinds == {"secp256k1", "ed25519-scalar"}, kinds


def export(p, customer):
    """An export in the browser: the warning and the wallets before the PIN, the keys
    rebuilt in the module and offered as a file, then back to the app."""
    wallets = rest("GET", f"/v2/wallets?customerId={customer}&limit=100")["items"]
    ch = challenge(customer, "export-private-keys")
    p.open(ch, "Export private keys")
    form = p.page.locator("form[data-state=export]")
    expect(form.get_by_role("note")).to_contain_text("controls the funds")
    expect(form.get_by_role("note")).to_contain_text("protection ends")
    for w in wallets:
        expect(p.page.locator("#export-lines")).to_contain_text(w["address"])
    p.shot("14-export")
    form.get_by_label("PIN", exact=True).fill(PIN)
    p.click("Export")
    link = p.page.get_by_role("link", name="Download the keys (CSV)")
    expect(link).to_be_visible(timeout=120_000)
    p.shot("15-exported")
    with p.page.expect_download() as got:
        link.click()
    download = got.value
    assert download.suggested_filename == f"private-keys-{ch['challengeId']}.csv"
    with open(download.path(), encoding="utf-8") as f:
        csv = f.read()
    p.returned(ch)
    assert result(customer, ch)["wallets"] == len(wallets)
    check_export(csv, customer, wallets)
    # Not vacuous: another key in a row fails the check.
    try:
        check_export(csv.replace(",0x", ",0x00", 1), customer, wallets)
    except (AssertionError, ValueError):
        pass
    else:
        raise AssertionError("a changed key passed the check")


def cli_complete(url, pin):
    """The native client (the CLI) completes a challenge: the cross-implementation check."""
    out = subprocess.run(
        [BIN, "customer", "complete", url, "--pin", pin, "--json", "--node-key", NODE_KEY],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PLANBOK_URL=API, PLANBOK_API_KEY=KEY),
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return json.JSONDecoder().raw_decode(out.stdout)[0]


def main():
    os.makedirs(SHOTS, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        p = Page(browser)
        alice = new_customer("Alice")

        # PIN setup and security questions.
        initialize(p, alice, shots=True)

        # Wallet creation, approved with the PIN.
        ch = challenge(alice, "wallet/create", {"blockchains": ["ETH-SEPOLIA"]})
        approve(
            p,
            ch,
            "Create wallets",
            PIN,
            shot="04-approve-wallets",
            expect_lines=["Create 1 wallet(s) on ETH-SEPOLIA"],
        )
        wallet = result(alice, ch)["wallets"][0]
        address = wallet["address"]

        # A message, shown before the PIN, signed, verified by eth-account.
        message = "Pay 12.50 to Bob — invoice 7"
        ch = challenge(
            alice, "sign/message", {"walletId": wallet["id"], "message": message, "memo": "Invoice 7"}
        )
        approve(
            p,
            ch,
            "Sign a message",
            PIN,
            shot="05-approve-message",
            expect_lines=[f"Message: {message}", "Memo: Invoice 7"],
        )
        verify_message(address, message, result(alice, ch)["signature"])

        # EIP-712: the domain and the fields are shown.
        typed = {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                ],
                "Order": [
                    {"name": "amount", "type": "uint256"},
                    {"name": "to", "type": "address"},
                ],
            },
            "primaryType": "Order",
            "domain": {"name": "Shop", "chainId": 11155111},
            "message": {"amount": 42, "to": "0x000000000000000000000000000000000000bEEF"},
        }
        ch = challenge(
            alice, "sign/typed-data", {"walletId": wallet["id"], "typedData": json.dumps(typed)}
        )
        approve(
            p,
            ch,
            "Sign typed data",
            PIN,
            shot="06-approve-typed-data",
            expect_lines=['"name":"Shop"', "Primary type:"],
        )
        signed = encode_typed_data(full_message=typed)
        signer = Account.recover_message(signed, signature=result(alice, ch)["signature"])
        assert signer.lower() == address.lower()

        # The native client opens what the browser enrolled.
        ch = challenge(alice, "sign/message", {"walletId": wallet["id"], "message": "native"})
        done = cli_complete(ch["redirectUrl"], PIN)
        verify_message(address, "native", done["result"]["signature"])

        # A used link says so.
        p.page.goto(ch["redirectUrl"])
        expect(p.page.get_by_role("alert")).to_contain_text("expired or was already used")
        p.shot("07-link-used")

        # Wrong PINs: the attempts left, then the lockout.
        ch = challenge(alice, "sign/message", {"walletId": wallet["id"], "message": "locked?"})
        p.open(ch, "Sign a message")
        for left in [4, 3, 2, 1]:
            p.label("PIN").fill("190283")
            p.click("Approve")
            p.problem(f"Wrong PIN: {left} attempt" + ("s" if left != 1 else "") + " left")
            if left == 4:
                p.shot("08-wrong-pin")
        p.label("PIN").fill("190283")
        p.click("Approve")
        p.problem("Wrong PIN: 0 attempts left")
        p.label("PIN").fill(PIN)
        p.click("Approve")
        expect(p.page.get_by_role("alert")).to_contain_text("locked")
        p.shot("09-locked")
        assert rest("GET", f"/v2/customers/{alice}")["pinStatus"] == "locked"

        # Reset through the security questions (the hint is shown), which also unlocks.
        ch = challenge(alice, "reset-pin")
        p.open(ch, "Answer your security questions")
        expect(p.page.get_by_text("Hint: a dog")).to_be_visible()
        p.label("What was the name of your first pet?").fill("rex  THE dog ")
        p.label("In which city were you born?").fill("Zürich")
        p.label("What was the name of my first school?").fill("wrong school")
        p.click("Continue")
        p.problem("not right: 4 attempts left")
        p.label("What was the name of my first school?").fill("St. Mary's")
        p.shot("10-answer-questions")
        p.click("Continue")
        expect(p.page.get_by_role("heading", level=2)).to_have_text("Choose a new PIN")
        set_new_pin(p, NEW_PIN, shot="11-new-pin")
        p.returned(ch)
        assert rest("GET", f"/v2/customers/{alice}")["pinStatus"] == "set"

        # Update the PIN (the current one first).
        ch = challenge(alice, "update-pin")
        p.open(ch, "Enter your current PIN")
        p.label("Current PIN").fill(NEW_PIN)
        p.shot("12-current-pin")
        p.click("Continue")
        set_new_pin(p, NEWEST_PIN)
        p.returned(ch)

        # The newest PIN signs, the older one does not.
        ch = challenge(alice, "sign/message", {"walletId": wallet["id"], "message": "after"})
        p.open(ch, "Sign a message")
        p.label("PIN").fill(NEW_PIN)
        p.click("Approve")
        p.problem("Wrong PIN")
        p.label("PIN").fill(NEWEST_PIN)
        p.click("Approve")
        p.returned(ch)
        verify_message(address, "after", result(alice, ch)["signature"])

        # Declining sends the user back with `declined`, and nothing is signed.
        ch = challenge(alice, "sign/message", {"walletId": wallet["id"], "message": "no"})
        p.open(ch, "Sign a message")
        p.click("Decline")
        expect(p.page.get_by_role("alert")).to_contain_text("declined")
        p.page.get_by_role("link", name="Return").click()
        p.returned(ch, "declined")
        got = rest("GET", f"/v2/customers/{alice}/challenges/{ch['challengeId']}")
        assert got["status"] == "pending" and got["result"] is None, got

        # Reset through an emailed code (the organization's opt-in; a real SMTP relay).
        rest("POST", "/v2/organization/email-recovery", {"idempotencyKey": idem(), "enabled": True})
        carol = new_customer("Carol", email="carol@example.com")
        initialize(p, carol)
        ch = challenge(carol, "reset-pin", {"method": "email"})
        code = mailed_code(0)
        p.open(ch, "Enter the recovery code")
        wrong = ("2" if code[0] != "2" else "3") + code[1:]
        p.label("Recovery code").fill(wrong)
        p.shot("13-email-code")
        p.click("Continue")
        set_new_pin(p, NEW_PIN)
        p.problem("not right: 4 attempts left")
        p.label("Recovery code").fill(code.lower())
        p.click("Continue")
        set_new_pin(p, NEW_PIN)
        p.returned(ch)
        ch = challenge(carol, "wallet/create", {"blockchains": ["ETH-SEPOLIA"]})
        approve(p, ch, "Create wallets", NEW_PIN)

        # The other way round: a PIN set by the native client opens in the browser.
        bob = new_customer("Bob")
        init = challenge(bob, "initialize")
        out = subprocess.run(
            [BIN, "customer", "complete", init["redirectUrl"], "--pin", PIN,
             "--answers", ",".join(ANSWERS), "--json"],
            capture_output=True, text=True, timeout=300,
        )
        assert out.returncode == 0, out.stdout + out.stderr
        ch = challenge(bob, "wallet/create", {"blockchains": ["ETH-SEPOLIA"]})
        approve(p, ch, "Create wallets", PIN)
        assert len(result(bob, ch)["wallets"]) == 1

        # Export in the browser: an EVM wallet (CGGMP) and a Solana one (FROST).
        ch = challenge(bob, "wallet/create", {"blockchains": ["SOL-DEVNET"]})
        approve(p, ch, "Create wallets", PIN)
        export(p, bob)

        # The organization's name, colours and logo (set through the REST API) on the
        # page; the logo comes in the challenge and is shown from a blob: URL, nothing
        # off the origin.
        logo = base64.b64encode(png(144, 48, logo_pixel)).decode()
        rest(
            "PUT",
            "/v2/organization/branding",
            {
                "primaryColor": "#0b3d91",
                "backgroundColor": "#eef2f7",
                "logo": {"mediaType": "image/png", "data": logo},
            },
        )
        org = rest("GET", "/v2/organization")["name"]
        ch = challenge(bob, "wallet/create", {"blockchains": ["ETH-SEPOLIA"]})
        p.open(ch, "Create wallets")
        shown = p.page.get_by_role("img", name=f"{org} logo")
        expect(shown).to_be_visible()
        assert shown.evaluate("i => i.naturalWidth") == 144
        assert shown.get_attribute("src").startswith("blob:" + GATEWAY)
        expect(p.page.locator("#brand-name")).to_have_text(org)
        assert p.page.title() == f"{org} — Wallet Gateway", p.page.title()
        button = p.page.get_by_role("button", name="Approve", exact=True)
        colour = button.evaluate("b => getComputedStyle(b).backgroundColor")
        assert colour == "rgb(11, 61, 145)", colour
        page_bg = p.page.evaluate("getComputedStyle(document.documentElement).backgroundColor")
        assert page_bg == "rgb(238, 242, 247)", page_bg
        p.shot("16-branded")
        p.label("PIN").fill(PIN)
        p.click("Approve")
        p.returned(ch)
        rest("PUT", "/v2/organization/branding", {})

        p.finish()
        browser.close()
    print("gateway browser test: ok")


if __name__ == "__main__":
    try:
        main()
    finally:
        server.shutdown()
    sys.exit(0)
