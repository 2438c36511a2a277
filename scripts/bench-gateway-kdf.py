"""How long the Gateway page's WebAssembly client takes for one PIN step in Chromium:
Argon2id (KdfParams v1: 64 MiB, t = 3, p = 1) and the OPRF blinding, as `enrollPin` does
them, 12 runs (the first 2 dropped), plus the module's fetch and compile.

Usage: start `planbok dev --gateway-port 18081` (or give the Gateway's origin as the first
argument), then `python3 scripts/bench-gateway-kdf.py [http://127.0.0.1:18081]`.
Needs Debian's chromium and Playwright for Python (scripts/install-deps.sh).
"""
import sys
import json, statistics
from playwright.sync_api import sync_playwright
CH = json.dumps({"challengeId": "c", "type": "initialize", "organizationId": "o", "customerId": "u",
                 "expiresAt": "2026-12-01T00:00:00Z", "pin": None, "returnUrl": None})
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
    p = b.new_page()
    p.goto((sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:18081") + "/gateway/?challenge=x")
    p.wait_for_selector("#fatal-text")
    ms = p.evaluate("""async (ch) => {
        const m = document.querySelector('meta[name="planbok-wasm"]');
        const t0 = performance.now();
        await wasm_bindgen({ module_or_path: fetch(m.content, { integrity: m.dataset.integrity }) });
        const load = performance.now() - t0;
        const out = [];
        for (let i = 0; i < 12; i++) {
            const g = new wasm_bindgen.Gateway(ch);
            const t = performance.now();
            g.enrollPin("284913", "");
            out.push(performance.now() - t);
            g.free();
        }
        return { load, out };
    }""", CH)
    xs = sorted(ms["out"][2:])
    print("module fetch+compile ms", round(ms["load"]))
    print("Argon2id(64MiB,t=3)+blind ms: median", round(statistics.median(xs)), "p90", round(xs[int(0.9*len(xs))-1]), "min", round(xs[0]), "max", round(xs[-1]), "n", len(xs))
    b.close()
