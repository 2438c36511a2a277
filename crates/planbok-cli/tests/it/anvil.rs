//! anvil for the transaction tests: the npm package `@foundry-rs/anvil` (the real binary
//! behind a Node wrapper) on a free port with a chosen chain id, its unlocked dev account,
//! OpenZeppelin's compiled ERC20PresetMinterPauser (npm `@openzeppelin/contracts` 4.9),
//! and raw JSON-RPC.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

pub const SEPOLIA: u64 = 11_155_111;
pub const ETH: u128 = 1_000_000_000_000_000_000;

/// A running anvil, killed on drop.
pub struct Anvil {
    child: Child,
    pub url: String,
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // The npm package's `anvil` is a Node wrapper that forwards SIGTERM to the real
        // binary; SIGKILL would leave that one running.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether anvil and the OpenZeppelin artifacts are installed; in CI
/// (`PLANBOK_REQUIRE_ANVIL=1`) they must be.
pub fn anvil_ready() -> bool {
    let ok = Command::new("anvil")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
        && std::path::Path::new(&oz_artifact()).exists();
    if !ok {
        assert!(
            std::env::var("PLANBOK_REQUIRE_ANVIL").is_err(),
            "PLANBOK_REQUIRE_ANVIL=1 but anvil or @openzeppelin/contracts is missing (scripts/install-deps.sh)"
        );
        eprintln!("SKIPPED: anvil or @openzeppelin/contracts not installed");
    }
    ok
}

fn oz_artifact() -> String {
    oz_artifact_named("ERC20PresetMinterPauser")
}

fn oz_artifact_named(name: &str) -> String {
    let root = Command::new("npm")
        .args(["root", "-g"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!("{root}/@openzeppelin/contracts/build/contracts/{name}.json")
}

/// An address as one ABI word (hex, no `0x`).
pub fn word_address(a: &str) -> String {
    format!("{:0>64}", a.trim_start_matches("0x").to_lowercase())
}

/// A number as one ABI word (hex, no `0x`).
pub fn word(v: u128) -> String {
    format!("{v:064x}")
}

impl Anvil {
    pub fn start(chain_id: u64) -> Anvil {
        let port = crate::common::free_port();
        let child = Command::new("anvil")
            .args([
                "--port",
                &port.to_string(),
                "--chain-id",
                &chain_id.to_string(),
                "--silent",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("anvil starts");
        let a = Anvil {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        for _ in 0..600 {
            if a.try_rpc("eth_chainId", json!([])).is_ok() {
                return a;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("anvil did not answer on {}", a.url);
    }

    pub fn try_rpc(&self, method: &str, params: Value) -> Result<Value, Value> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let text = ureq::post(&self.url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .map_err(|e| json!(e.to_string()))?
            .into_body()
            .read_to_string()
            .map_err(|e| json!(e.to_string()))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| json!(e.to_string()))?;
        match v.get("error") {
            Some(e) => Err(e.clone()),
            None => Ok(v["result"].clone()),
        }
    }

    pub fn rpc(&self, method: &str, params: Value) -> Value {
        self.try_rpc(method, params)
            .unwrap_or_else(|e| panic!("{method}: {e}"))
    }

    pub fn dev_account(&self) -> String {
        self.rpc("eth_accounts", json!([]))[0]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Sends a transaction from anvil's unlocked dev account and waits for its receipt.
    pub fn send_from_dev(&self, tx: Value) -> Value {
        let mut tx = tx;
        tx["from"] = json!(self.dev_account());
        let hash = self.rpc("eth_sendTransaction", json!([tx]));
        self.receipt(&hash)
    }

    /// Waits for a receipt (anvil mines a sent transaction at once, but answers the send
    /// before its block is in).
    pub fn receipt(&self, hash: &Value) -> Value {
        for _ in 0..600 {
            let r = self.rpc("eth_getTransactionReceipt", json!([hash]));
            if !r.is_null() {
                return r;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("no receipt for {hash}");
    }

    pub fn balance(&self, who: &str) -> u128 {
        quantity(&self.rpc("eth_getBalance", json!([who, "latest"])))
    }

    pub fn token_balance(&self, token: &str, who: &str) -> u128 {
        let data = format!("0x70a08231{:0>64}", who.trim_start_matches("0x"));
        quantity(&self.rpc("eth_call", json!([{"to": token, "data": data}, "latest"])))
    }

    pub fn nonce(&self, who: &str) -> u64 {
        quantity(&self.rpc("eth_getTransactionCount", json!([who, "latest"]))) as u64
    }

    /// Deploys OpenZeppelin's ERC20PresetMinterPauser("Test Token", "TT") from the dev
    /// account; its address.
    pub fn deploy_erc20(&self) -> String {
        let artifact: Value =
            serde_json::from_str(&std::fs::read_to_string(oz_artifact()).unwrap()).unwrap();
        let bytecode = artifact["bytecode"].as_str().unwrap();
        let data = format!("{bytecode}{}", abi_two_strings("Test Token", "TT"));
        let r = self.send_from_dev(json!({"data": data, "gas": "0x500000"}));
        assert_eq!(r["status"], "0x1", "{r}");
        r["contractAddress"].as_str().unwrap().to_owned()
    }

    /// Deploys OpenZeppelin's compiled contract `name` with the ABI-encoded constructor
    /// arguments `args` (hex, no `0x`) from the dev account; its address.
    pub fn deploy_oz(&self, name: &str, args: &str) -> String {
        let artifact: Value =
            serde_json::from_str(&std::fs::read_to_string(oz_artifact_named(name)).unwrap())
                .unwrap();
        let bytecode = artifact["bytecode"].as_str().unwrap();
        let r =
            self.send_from_dev(json!({"data": format!("{bytecode}{args}"), "gas": "0x1000000"}));
        assert_eq!(r["status"], "0x1", "{r}");
        r["contractAddress"].as_str().unwrap().to_owned()
    }

    /// Calls `to` with `data` (hex with `0x`) from the dev account, which must succeed.
    pub fn dev_call(&self, to: &str, data: &str) {
        let r = self.send_from_dev(json!({"to": to, "data": data}));
        assert_eq!(r["status"], "0x1", "{r}");
    }

    /// `eth_call` of `data` on `to` at the latest block: the answer as a number.
    pub fn read_u128(&self, to: &str, data: &str) -> u128 {
        quantity(&self.rpc("eth_call", json!([{"to": to, "data": data}, "latest"])))
    }

    /// `eth_call` of `data` on `to`: the answer as an address (the last 20 bytes).
    pub fn read_address(&self, to: &str, data: &str) -> String {
        let v = self.rpc("eth_call", json!([{"to": to, "data": data}, "latest"]));
        let s = v.as_str().unwrap();
        format!("0x{}", &s[s.len() - 40..])
    }

    pub fn mint(&self, token: &str, to: &str, amount: u128) {
        let data = format!(
            "0x40c10f19{:0>64}{amount:064x}",
            to.trim_start_matches("0x").to_lowercase()
        );
        let r = self.send_from_dev(json!({"to": token, "data": data}));
        assert_eq!(r["status"], "0x1", "{r}");
    }

    pub fn fund(&self, to: &str, wei: u128) {
        let r = self.send_from_dev(json!({"to": to, "value": format!("0x{wei:x}")}));
        assert_eq!(r["status"], "0x1", "{r}");
    }
}

/// ABI encoding of `(string, string)` for strings under 32 bytes.
fn abi_two_strings(a: &str, b: &str) -> String {
    abi_strings(&[a, b])
}

/// ABI encoding of `(string, …)` for strings of at most 32 bytes.
pub fn abi_strings(items: &[&str]) -> String {
    let n = items.len();
    let mut head = String::new();
    let mut tail = String::new();
    for (i, s) in items.iter().enumerate() {
        assert!(s.len() <= 32);
        head.push_str(&format!("{:064x}", 32 * n + 64 * i));
        let mut bytes = s.as_bytes().to_vec();
        bytes.resize(32, 0);
        tail.push_str(&format!("{:064x}{}", s.len(), hex::encode(bytes)));
    }
    format!("{head}{tail}")
}

pub fn quantity(v: &Value) -> u128 {
    let s = v.as_str().unwrap_or_else(|| panic!("not a quantity: {v}"));
    u128::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// `wei` as the API writes an 18-decimal amount (exact, trailing zeros dropped).
pub fn decimal18(wei: u128) -> String {
    let int = wei / ETH;
    let frac = wei % ETH;
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{frac:018}");
    format!("{int}.{}", f.trim_end_matches('0'))
}
