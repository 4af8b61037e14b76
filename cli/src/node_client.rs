//! The HTTP client of a node's API: HTTPS with a client certificate ([`ClientTls`]), or
//! plain HTTP to a node on loopback.
//!
//! Every call has a timeout and every answer a size limit. Answers the node and this
//! client share a type for are read with it ([`ledger::api`]: errors, receipts, the
//! node's status, the status of a transaction); other documents are read as JSON values, so that a field the
//! node adds later does not break a command. Errors keep the node's own code and message,
//! so the user sees, for instance,
//! `refused (BadSignature): signature 0 (key …): the signature does not verify`. The
//! audit's chain reader ([`crate::chain::NodeChain`]) reads through this client too.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use ledger::api::{
    BatchAnswer, BatchResult, BlockView, ErrorBody, ErrorCode, StatusView, Submitted, TxStatusView,
};
use ledger::block::{Outcome, Receipt};
use ledger::tx::{SignedTx, TxId};
use serde_json::Value;

use crate::tls::ClientTls;

/// One request may take this long (connect, send, answer).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest answer read (a block of the largest size, as JSON, fits).
const RESPONSE_BYTES_MAX: u64 = 64 * 1024 * 1024;
/// How often `wait_committed` asks.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// A node's API at `base` (`http://127.0.0.1:28000`).
#[derive(Clone)]
pub struct NodeClient {
    base: String,
    agent: ureq::Agent,
    /// For the long-lived streams, which take no overall timeout.
    tls: ureq::tls::TlsConfig,
}

/// A refusal or failure reported by the node (HTTP status ≥ 400).
#[derive(Debug, Clone)]
pub struct NodeError {
    pub http_status: u16,
    /// The node's stable error code when it gave one (`BadSignature`, `WrongChain`, …).
    pub code: Option<ErrorCode>,
    pub message: String,
}

impl std::fmt::Display for NodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.code {
            Some(code) => write!(
                f,
                "refused by the node ({code}, HTTP {}): {}",
                self.http_status, self.message
            ),
            None => write!(
                f,
                "the node answered HTTP {}: {}",
                self.http_status, self.message
            ),
        }
    }
}

impl std::error::Error for NodeError {}

/// What the node says of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxStatus {
    /// Received, not yet in a block.
    Pending,
    /// In the block at `height`; `code` is `None` when accepted, the rulebook's code when
    /// rejected (a rejected transaction is still ordered, and changes nothing).
    Committed { height: u64, code: Option<String> },
    /// The node does not know it (never received, dropped, or expired).
    Unknown,
}

impl TxStatus {
    /// Reads the node's answer to `GET /v1/tx/{id}` ([`ledger::api::TxStatusView`]); a
    /// committed transaction's receipt must say its outcome, and a rejection its code.
    pub fn from_json(value: &Value) -> anyhow::Result<TxStatus> {
        let view: TxStatusView = serde_json::from_value(value.clone())
            .with_context(|| format!("not a transaction status: {value}"))?;
        Ok(match view {
            TxStatusView::Pending { .. } => TxStatus::Pending,
            TxStatusView::Unknown { .. } => TxStatus::Unknown,
            TxStatusView::Committed {
                height, receipt, ..
            } => {
                let receipt = Receipt::try_from(receipt)
                    .with_context(|| format!("an unreadable receipt: {value}"))?;
                let code = match receipt.outcome {
                    Outcome::Accepted => None,
                    Outcome::Rejected(code) => Some(code.as_str().to_string()),
                };
                TxStatus::Committed { height, code }
            }
        })
    }
}

impl NodeClient {
    pub fn new(base: &str) -> NodeClient {
        NodeClient::with_timeout(base, REQUEST_TIMEOUT)
    }

    /// A client whose every request may take `timeout` (connect, send, answer).
    pub fn with_timeout(base: &str, timeout: Duration) -> NodeClient {
        NodeClient::build(base, timeout, ureq::tls::TlsConfig::default())
    }

    /// A client of a node's HTTPS API (`https://HOST:PORT`), presenting `tls`'s client
    /// certificate and trusting its CA.
    pub fn with_tls(base: &str, timeout: Duration, tls: &ClientTls) -> anyhow::Result<NodeClient> {
        Ok(NodeClient::build(base, timeout, tls.ureq_config()?))
    }

    /// A client for the command-line options: over TLS when they name certificates.
    pub fn connect(base: &str, tls: &ClientTls) -> anyhow::Result<NodeClient> {
        if tls.is_set() {
            NodeClient::with_tls(base, REQUEST_TIMEOUT, tls)
        } else {
            Ok(NodeClient::new(base))
        }
    }

    fn build(base: &str, timeout: Duration, tls: ureq::tls::TlsConfig) -> NodeClient {
        let base = base.trim_end_matches('/');
        let base = if base.contains("://") {
            base.to_string()
        } else {
            format!("http://{base}")
        };
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .tls_config(tls.clone())
            .build();
        NodeClient {
            base,
            agent: config.into(),
            tls,
        }
    }

    /// Opens the event feed (`GET /v1/events?QUERY`) after position `after`, if any (sent
    /// as `Last-Event-ID`): the stream of server-sent events, which has no end. Connecting
    /// and the answer's head are bounded by [`REQUEST_TIMEOUT`]; a refusal is a
    /// [`NodeError`].
    pub fn open_events(
        &self,
        query: &str,
        after: Option<&str>,
    ) -> anyhow::Result<Box<dyn std::io::Read + Send>> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_connect(Some(REQUEST_TIMEOUT))
            .timeout_recv_response(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .tls_config(self.tls.clone())
            .build()
            .into();
        let url = if query.is_empty() {
            self.url("/v1/events")
        } else {
            self.url(&format!("/v1/events?{query}"))
        };
        let mut request = agent.get(&url).header("Accept", "text/event-stream");
        if let Some(after) = after {
            request = request.header("Last-Event-ID", after);
        }
        let response = request.call().with_context(|| format!("GET {url}"))?;
        if !response.status().is_success() {
            self.answer("GET /v1/events", response)?;
            bail!("GET {url}: the node answered without a stream");
        }
        Ok(Box::new(response.into_body().into_reader()))
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Reads an answer: JSON for 2xx, a [`NodeError`] otherwise.
    fn answer(
        &self,
        what: &str,
        response: ureq::http::Response<ureq::Body>,
    ) -> anyhow::Result<Value> {
        let status = response.status().as_u16();
        let text = response
            .into_body()
            .with_config()
            .limit(RESPONSE_BYTES_MAX)
            .read_to_string()
            .with_context(|| format!("{what}: reading the answer of {}", self.base))?;
        if (200..300).contains(&status) {
            if text.trim().is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text)
                .or_else(|_| Ok(Value::String(text.trim().to_string())));
        }
        // The node refuses with an [`ErrorBody`]; anything else (a proxy's page) is shown
        // as it came.
        let error = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => NodeError {
                http_status: status,
                code: Some(body.error.code),
                message: body.error.message,
            },
            Err(_) => NodeError {
                http_status: status,
                code: None,
                message: text.trim().to_string(),
            },
        };
        Err(error.into())
    }

    /// A GET whose answer is read as bytes, up to `limit`, whatever its status.
    pub fn get_bytes(&self, path: &str, limit: u64) -> anyhow::Result<(u16, Vec<u8>)> {
        let url = self.url(path);
        let response = self
            .agent
            .get(&url)
            .call()
            .with_context(|| format!("GET {url}"))?;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .with_context(|| format!("GET {url}: reading the answer"))?;
        Ok((status, bytes))
    }

    fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .agent
            .get(&self.url(path))
            .call()
            .with_context(|| format!("GET {}", self.url(path)))?;
        self.answer(&format!("GET {path}"), response)
    }

    fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let bytes = serde_json::to_vec(body)?;
        let response = self
            .agent
            .post(&self.url(path))
            .header("Content-Type", "application/json")
            .send(&bytes[..])
            .with_context(|| format!("POST {}", self.url(path)))?;
        self.answer(&format!("POST {path}"), response)
    }

    /// `GET /health`: whether the node answers at all.
    pub fn health(&self) -> bool {
        matches!(
            self.agent.get(&self.url("/health")).call(),
            Ok(response) if response.status().is_success()
        )
    }

    /// `GET /v1/status`, read as the node writes it ([`StatusView`]).
    pub fn status(&self) -> anyhow::Result<StatusView> {
        let value = self.get("/v1/status")?;
        serde_json::from_value(value.clone())
            .with_context(|| format!("{}/v1/status: not a node's status: {value}", self.base))
    }

    pub fn status_json(&self) -> anyhow::Result<Value> {
        self.get("/v1/status")
    }

    pub fn block(&self, height: u64) -> anyhow::Result<Value> {
        self.get(&format!("/v1/blocks/{height}"))
    }

    /// `GET /v1/blocks/{height}`, read as the node writes it ([`BlockView`]).
    pub fn block_view(&self, height: u64) -> anyhow::Result<BlockView> {
        let value = self.block(height)?;
        serde_json::from_value(value)
            .with_context(|| format!("{}/v1/blocks/{height}: not a block", self.base))
    }

    /// The R10 document of the current state (`GET /v1/state`).
    /// `GET /v1/evidence`: the double votes this node saw.
    pub fn evidence(&self) -> anyhow::Result<Value> {
        self.get("/v1/evidence")
    }

    pub fn state(&self) -> anyhow::Result<Value> {
        self.get("/v1/state")
    }

    pub fn metrics(&self) -> anyhow::Result<String> {
        match self.get("/metrics")? {
            Value::String(text) => Ok(text),
            other => Ok(other.to_string()),
        }
    }

    /// `POST /v1/tx` in the JSON file form; the node's id of it.
    pub fn submit(&self, tx: &SignedTx) -> anyhow::Result<TxId> {
        let body = serde_json::to_vec(tx).context("encoding the transaction")?;
        self.submit_as(tx, "application/json", &body)
    }

    /// `POST /v1/tx` in the canonical binary form.
    pub fn submit_binary(&self, tx: &SignedTx) -> anyhow::Result<TxId> {
        self.submit_as(tx, "application/octet-stream", &tx.to_bytes())
    }

    fn submit_as(&self, tx: &SignedTx, content_type: &str, body: &[u8]) -> anyhow::Result<TxId> {
        let response = self
            .agent
            .post(&self.url("/v1/tx"))
            .header("Content-Type", content_type)
            .send(body)
            .with_context(|| format!("POST {}", self.url("/v1/tx")))?;
        let answer = self.answer("POST /v1/tx", response)?;
        let Submitted { id } = serde_json::from_value(answer.clone())
            .with_context(|| format!("the node took the transaction but gave no id: {answer}"))?;
        let expected = tx.id(tx.signers_suite().unwrap_or_default());
        anyhow::ensure!(
            id == expected,
            "the node names the transaction {id}, its id is {expected}"
        );
        Ok(id)
    }

    /// `POST /v1/txs`: many transactions in one request (canonical binary form), each
    /// answered on its own, in order.
    pub fn submit_many(&self, txs: &[SignedTx]) -> anyhow::Result<Vec<Result<TxId, NodeError>>> {
        let list: Vec<Vec<u8>> = txs.iter().map(SignedTx::to_bytes).collect();
        let body = ledger::codec::encode(&list);
        let response = self
            .agent
            .post(&self.url("/v1/txs"))
            .header("Content-Type", "application/octet-stream")
            .send(&body[..])
            .with_context(|| format!("POST {}", self.url("/v1/txs")))?;
        let answer = self.answer("POST /v1/txs", response)?;
        let answer: BatchAnswer = serde_json::from_value(answer.clone())
            .with_context(|| format!("POST /v1/txs: not a batch's answer: {answer}"))?;
        anyhow::ensure!(
            answer.results.len() == txs.len(),
            "POST /v1/txs: {} results for {} transactions",
            answer.results.len(),
            txs.len()
        );
        answer
            .results
            .into_iter()
            .zip(txs)
            .map(|(result, tx)| match result {
                BatchResult::Taken { id } => {
                    let ours = tx.id(tx.signers_suite().unwrap_or_default());
                    anyhow::ensure!(id == ours, "the node names {id} for {ours}");
                    Ok(Ok(id))
                }
                BatchResult::Refused { error } => Ok(Err(NodeError {
                    http_status: 200,
                    code: Some(error.code),
                    message: error.message,
                })),
            })
            .collect()
    }

    pub fn tx_json(&self, id: &TxId) -> anyhow::Result<Value> {
        self.get(&format!("/v1/tx/{id}"))
    }

    pub fn tx_status(&self, id: &TxId) -> anyhow::Result<TxStatus> {
        match self.tx_json(id) {
            Ok(value) => TxStatus::from_json(&value),
            Err(error) => match error.downcast_ref::<NodeError>() {
                Some(e) if e.http_status == 404 => Ok(TxStatus::Unknown),
                _ => Err(error),
            },
        }
    }

    /// Polls until the transaction is committed, for at most `timeout`.
    pub fn wait_committed(
        &self,
        id: &TxId,
        timeout: Duration,
    ) -> anyhow::Result<(u64, Option<String>)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let TxStatus::Committed { height, code } = self.tx_status(id)? {
                return Ok((height, code));
            }
            if Instant::now() >= deadline {
                bail!(
                    "transaction {id} was not committed within {} s",
                    timeout.as_secs()
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }

    /// `POST /v1/devnet/clock`: the time block times are taken from, on a devnet clock.
    pub fn set_clock(&self, unix_ms: u64) -> anyhow::Result<()> {
        self.post_json(
            "/v1/devnet/clock",
            &serde_json::json!({ "time_ms": unix_ms }),
        )?;
        Ok(())
    }
}
