//! A small JSON-RPC 2.0 client for EVM nodes over the hyper and rustls already in the tree
//! (the webhook worker's): one HTTP/1.1 connection per call, bounded by a timeout. Only the
//! dozen methods transactions need; see `docs/transactions.md` for why not alloy's
//! provider.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{Request, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper_util::rt::TokioIo;
use planbok_chains::{Address, B256, U256};
use rustls::pki_types::ServerName;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// The longest answer read (a fee history or a receipt is a few kB).
const MAX_ANSWER: usize = 4 * 1024 * 1024;

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum RpcError {
    /// No answer, or not a JSON-RPC answer: the node is down or unreachable.
    #[error("{0}")]
    Transport(String),
    /// The node answered with an error object.
    #[error("{message} (code {code})")]
    Node {
        /// JSON-RPC error code.
        code: i64,
        /// Its message.
        message: String,
        /// Revert data, `0x`-hex, when the node gives it.
        data: Option<String>,
    },
}

/// One EVM node.
#[derive(Clone)]
pub(crate) struct Rpc {
    uri: Uri,
    host: String,
    port: u16,
    https: bool,
    tls: Option<Arc<rustls::ClientConfig>>,
    timeout: Duration,
}

impl std::fmt::Debug for Rpc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The path or query of an RPC URL often carries an API key: host and port only.
        f.debug_struct("Rpc")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("https", &self.https)
            .finish()
    }
}

impl Rpc {
    /// A client of `url` (`http://` or `https://`, verified against `tls`'s roots).
    pub(crate) fn new(
        url: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
        timeout: Duration,
    ) -> Result<Rpc, String> {
        let uri: Uri = url.parse().map_err(|_| "rpc_url is not a URL".to_owned())?;
        let https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err("rpc_url must be http:// or https://".into()),
        };
        let host = uri
            .host()
            .ok_or("rpc_url has no host")?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        Ok(Rpc {
            uri,
            host,
            port,
            https,
            tls,
            timeout,
        })
    }

    /// Where it points, for messages (no path: it may carry a key).
    pub(crate) fn describe(&self) -> String {
        format!(
            "{}://{}:{}",
            if self.https { "https" } else { "http" },
            self.host,
            self.port
        )
    }

    /// Calls `method` with `params`; the `result`.
    pub(crate) async fn call(&self, method: &str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let answer = tokio::time::timeout(self.timeout, self.post(body.to_string()))
            .await
            .map_err(|_| {
                RpcError::Transport(format!(
                    "{method}: no answer from {} within {} ms",
                    self.describe(),
                    self.timeout.as_millis()
                ))
            })??;
        let mut v: Value = serde_json::from_slice(&answer)
            .map_err(|e| RpcError::Transport(format!("{method}: not JSON: {e}")))?;
        if let Some(err) = v.get("error") {
            return Err(RpcError::Node {
                code: err["code"].as_i64().unwrap_or_default(),
                message: err["message"].as_str().unwrap_or("error").to_owned(),
                data: err["data"].as_str().map(str::to_owned),
            });
        }
        match v.get_mut("result") {
            Some(r) => Ok(r.take()),
            None => Err(RpcError::Transport(format!(
                "{method}: an answer with neither result nor error"
            ))),
        }
    }

    async fn post(&self, body: String) -> Result<Bytes, RpcError> {
        let t = |e: String| RpcError::Transport(format!("{}: {e}", self.describe()));
        let path = self
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .to_owned();
        let host_header = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        let req = Request::post(path)
            .header(header::HOST, host_header)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| t(e.to_string()))?;
        let stream = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| t(format!("connect: {e}")))?;
        let _ = stream.set_nodelay(true);
        if self.https {
            let tls = self
                .tls
                .clone()
                .ok_or_else(|| t("no CA certificates to verify https with".into()))?;
            let name = ServerName::try_from(self.host.clone())
                .map_err(|_| t("not a valid TLS server name".into()))?;
            let tls = tokio_rustls::TlsConnector::from(tls)
                .connect(name, stream)
                .await
                .map_err(|e| t(format!("tls: {e}")))?;
            exchange(tls, req).await.map_err(t)
        } else {
            exchange(stream, req).await.map_err(t)
        }
    }
}

async fn exchange<S>(io: S, req: Request<Full<Bytes>>) -> Result<Bytes, String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let answer = async {
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| format!("http: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("HTTP {}", resp.status().as_u16()));
        }
        Limited::new(resp.into_body(), MAX_ANSWER)
            .collect()
            .await
            .map(|b| b.to_bytes())
            .map_err(|e| format!("http body: {e}"))
    }
    .await;
    conn.abort();
    answer
}

/// `0x`-hex quantity → U256.
pub(crate) fn quantity(v: &Value) -> Result<U256, RpcError> {
    let s = v
        .as_str()
        .ok_or_else(|| RpcError::Transport(format!("expected a hex quantity, got {v}")))?;
    let digits = s.strip_prefix("0x").unwrap_or(s);
    U256::from_str_radix(if digits.is_empty() { "0" } else { digits }, 16)
        .map_err(|_| RpcError::Transport(format!("not a hex quantity: {s}")))
}

/// `0x`-hex quantity → u64.
pub(crate) fn quantity_u64(v: &Value) -> Result<u64, RpcError> {
    u64::try_from(quantity(v)?).map_err(|_| RpcError::Transport(format!("quantity too large: {v}")))
}

/// `0x`-hex quantity → u128.
pub(crate) fn quantity_u128(v: &Value) -> Result<u128, RpcError> {
    u128::try_from(quantity(v)?)
        .map_err(|_| RpcError::Transport(format!("quantity too large: {v}")))
}

fn hex_q(v: impl std::fmt::LowerHex) -> String {
    format!("0x{v:x}")
}

/// `0x`-hex bytes.
pub(crate) fn bytes(v: &Value) -> Result<Vec<u8>, RpcError> {
    let s = v
        .as_str()
        .ok_or_else(|| RpcError::Transport(format!("expected hex data, got {v}")))?;
    hex::decode(s.strip_prefix("0x").unwrap_or(s))
        .map_err(|_| RpcError::Transport(format!("not hex data: {s}")))
}

/// A call's fields (`eth_call`, `eth_estimateGas`).
#[derive(Debug, Clone)]
pub(crate) struct CallRequest {
    pub(crate) from: Option<Address>,
    pub(crate) to: Address,
    pub(crate) value: U256,
    pub(crate) data: Vec<u8>,
    pub(crate) gas: Option<u64>,
}

impl CallRequest {
    fn json(&self) -> Value {
        let mut o = json!({
            "to": self.to.to_string(),
            "value": hex_q(self.value),
            "data": format!("0x{}", hex::encode(&self.data)),
        });
        if let Some(f) = self.from {
            o["from"] = json!(f.to_string());
        }
        if let Some(g) = self.gas {
            o["gas"] = json!(hex_q(g));
        }
        o
    }
}

/// What a receipt says.
#[derive(Debug, Clone)]
pub(crate) struct Receipt {
    pub(crate) success: bool,
    pub(crate) block_number: u64,
    pub(crate) block_hash: String,
    pub(crate) gas_used: U256,
    pub(crate) effective_gas_price: U256,
}

/// One log of `eth_getLogs`.
#[derive(Debug, Clone)]
pub(crate) struct Log {
    pub(crate) topics: Vec<B256>,
    pub(crate) data: Vec<u8>,
}

impl Rpc {
    pub(crate) async fn chain_id(&self) -> Result<u64, RpcError> {
        quantity_u64(&self.call("eth_chainId", json!([])).await?)
    }

    pub(crate) async fn block_number(&self) -> Result<u64, RpcError> {
        quantity_u64(&self.call("eth_blockNumber", json!([])).await?)
    }

    pub(crate) async fn balance(&self, who: Address) -> Result<U256, RpcError> {
        quantity(
            &self
                .call("eth_getBalance", json!([who.to_string(), "latest"]))
                .await?,
        )
    }

    pub(crate) async fn eth_call(&self, c: &CallRequest, block: &str) -> Result<Vec<u8>, RpcError> {
        bytes(&self.call("eth_call", json!([c.json(), block])).await?)
    }

    /// The count of `who`'s transactions including the node's pending ones.
    pub(crate) async fn pending_nonce(&self, who: Address) -> Result<u64, RpcError> {
        quantity_u64(
            &self
                .call(
                    "eth_getTransactionCount",
                    json!([who.to_string(), "pending"]),
                )
                .await?,
        )
    }

    pub(crate) async fn estimate_gas(&self, c: &CallRequest) -> Result<u64, RpcError> {
        quantity_u64(&self.call("eth_estimateGas", json!([c.json()])).await?)
    }

    /// `eth_feeHistory` over the last `blocks` blocks at `percentiles`: the next block's
    /// base fee and the rewards (one row per block, one column per percentile).
    pub(crate) async fn fee_history(
        &self,
        blocks: u64,
        percentiles: &[f64],
    ) -> Result<(u128, Vec<Vec<u128>>), RpcError> {
        let v = self
            .call(
                "eth_feeHistory",
                json!([hex_q(blocks), "latest", percentiles]),
            )
            .await?;
        let bases = v["baseFeePerGas"]
            .as_array()
            .ok_or_else(|| RpcError::Transport("feeHistory without baseFeePerGas".into()))?;
        let next_base = match bases.last() {
            Some(b) => quantity_u128(b)?,
            None => 0,
        };
        let mut rewards = Vec::new();
        for row in v["reward"].as_array().into_iter().flatten() {
            let mut r = Vec::new();
            for q in row.as_array().into_iter().flatten() {
                r.push(quantity_u128(q)?);
            }
            rewards.push(r);
        }
        Ok((next_base, rewards))
    }

    /// Sends a signed transaction; its hash.
    pub(crate) async fn send_raw(&self, raw: &str) -> Result<String, RpcError> {
        let v = self.call("eth_sendRawTransaction", json!([raw])).await?;
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| RpcError::Transport("sendRawTransaction returned no hash".into()))
    }

    pub(crate) async fn receipt(&self, hash: &str) -> Result<Option<Receipt>, RpcError> {
        let v = self
            .call("eth_getTransactionReceipt", json!([hash]))
            .await?;
        if v.is_null() {
            return Ok(None);
        }
        // A receipt of a block being mined may still lack its number.
        if v["blockNumber"].is_null() {
            return Ok(None);
        }
        Ok(Some(Receipt {
            success: quantity_u64(&v["status"])? == 1,
            block_number: quantity_u64(&v["blockNumber"])?,
            block_hash: v["blockHash"].as_str().unwrap_or_default().to_owned(),
            gas_used: quantity(&v["gasUsed"])?,
            effective_gas_price: quantity(&v["effectiveGasPrice"])?,
        }))
    }

    /// `eth_getLogs` of `address` over every block, with `topics` (one list of
    /// alternatives per position; an empty list matches anything): each log's topics and
    /// data. A node that limits the range it searches answers with an error.
    pub(crate) async fn logs(
        &self,
        address: Address,
        topics: &[Vec<B256>],
    ) -> Result<Vec<Log>, RpcError> {
        let topics: Vec<Value> = topics
            .iter()
            .map(|alts| match alts.as_slice() {
                [] => Value::Null,
                alts => json!(alts.iter().map(B256::to_string).collect::<Vec<_>>()),
            })
            .collect();
        let v = self
            .call(
                "eth_getLogs",
                json!([{
                    "address": address.to_string(),
                    "fromBlock": "earliest",
                    "toBlock": "latest",
                    "topics": topics,
                }]),
            )
            .await?;
        let bad = || RpcError::Transport("getLogs answered something else than logs".into());
        let mut out = Vec::new();
        for l in v.as_array().ok_or_else(bad)? {
            let mut topics = Vec::new();
            for t in l["topics"].as_array().ok_or_else(bad)? {
                topics.push(t.as_str().and_then(|t| t.parse().ok()).ok_or_else(bad)?);
            }
            out.push(Log {
                topics,
                data: bytes(&l["data"])?,
            });
        }
        Ok(out)
    }

    /// Whether the node knows the transaction (mined or in its pool).
    pub(crate) async fn knows(&self, hash: &str) -> Result<bool, RpcError> {
        Ok(!self
            .call("eth_getTransactionByHash", json!([hash]))
            .await?
            .is_null())
    }
}
