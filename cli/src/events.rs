//! `xinbao events`: a node's event feed (`GET /v1/events`) as JSON lines, for scripts.
//!
//! Each event is printed as one line `{"id": "HEIGHT:INDEX", "event": "tx"|"block",
//! "data": {…}}` as soon as it arrives. The command follows the feed until it is
//! interrupted (or has printed `--count` events): when the connection drops, or the node
//! restarts, or the node ends the stream (a final `end` event, printed to standard
//! error), it connects again with the last position it printed as `Last-Event-ID`, so the
//! lines it prints have no gap and no duplicate. It gives up when the node cannot be
//! reached for `--retry-seconds`; a refusal (a bad filter, a certificate without the
//! role) ends it at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use serde_json::{json, Value};

use crate::node_client::{NodeClient, NodeError};
use crate::tls::ClientTls;

/// The node says it is alive every 15 s; this long without a byte means the connection
/// is dead.
const IDLE_MAX: Duration = Duration::from_secs(60);
/// One line of the stream is at most this long (an event is a few kilobytes).
const LINE_BYTES_MAX: usize = 4 * 1024 * 1024;

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// The node's API address.
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:28000")]
    node: String,
    /// Start after this position (HEIGHT:INDEX, as each event's `id`); `0:0` for the
    /// whole history. Without it, from the next block committed.
    #[arg(long, value_name = "POSITION")]
    from: Option<String>,
    /// Only events of these types (action types, such as DecideClaim, and `block`),
    /// comma-separated or repeated.
    #[arg(long = "type", value_name = "TYPE", value_delimiter = ',')]
    types: Vec<String>,
    /// Only transactions within this programme.
    #[arg(long, value_name = "ID")]
    programme: Option<String>,
    /// Only transactions whose records name this organisation.
    #[arg(long, value_name = "ID")]
    org: Option<String>,
    /// Only transactions with this outcome: Accepted or Rejected.
    #[arg(long, value_name = "OUTCOME")]
    outcome: Option<String>,
    /// Stop after printing this many events.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
    /// Give up when the node cannot be reached for this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    retry_seconds: u64,
    #[command(flatten)]
    tls: ClientTls,
}

/// One server-sent event.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: String,
}

/// Reads server-sent events from `reader` (the `text/event-stream` format: `id:`,
/// `event:` and `data:` lines, an empty line ending each event, `:` comments).
pub struct SseReader<R> {
    reader: BufReader<R>,
}

impl<R: Read> SseReader<R> {
    pub fn new(reader: R) -> SseReader<R> {
        SseReader {
            reader: BufReader::new(reader),
        }
    }

    /// The next event, or `None` at the end of the stream.
    pub fn next_event(&mut self) -> anyhow::Result<Option<SseEvent>> {
        let mut event = SseEvent::default();
        let mut data: Vec<String> = Vec::new();
        let mut any = false;
        loop {
            let Some(line) = self.line()? else {
                return Ok(None);
            };
            if line.is_empty() {
                if any {
                    event.data = data.join("\n");
                    if event.event.is_empty() {
                        event.event = "message".into();
                    }
                    return Ok(Some(event));
                }
                continue;
            }
            if line.starts_with(':') {
                continue;
            }
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line.as_str(), ""),
            };
            any = true;
            match field {
                "id" => event.id = Some(value.to_string()),
                "event" => event.event = value.to_string(),
                "data" => data.push(value.to_string()),
                _ => {}
            }
        }
    }

    /// One line without its end, bounded; `None` at the end of the stream.
    fn line(&mut self) -> anyhow::Result<Option<String>> {
        let mut bytes = Vec::new();
        loop {
            let buffer = self.reader.fill_buf().context("reading the event stream")?;
            if buffer.is_empty() {
                return Ok(None);
            }
            match buffer.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    bytes.extend_from_slice(&buffer[..end]);
                    self.reader.consume(end + 1);
                    break;
                }
                None => {
                    let n = buffer.len();
                    bytes.extend_from_slice(buffer);
                    self.reader.consume(n);
                }
            }
            if bytes.len() > LINE_BYTES_MAX {
                bail!("a line of the event stream is longer than {LINE_BYTES_MAX} bytes");
            }
        }
        if bytes.last() == Some(&b'\r') {
            bytes.pop();
        }
        String::from_utf8(bytes)
            .map(Some)
            .context("the event stream is not UTF-8")
    }
}

impl EventsArgs {
    /// The query string of the feed, without the position.
    fn query(&self) -> String {
        let mut parts = Vec::new();
        if !self.types.is_empty() {
            parts.push(format!("type={}", self.types.join(",")));
        }
        for (name, value) in [
            ("programme", &self.programme),
            ("org", &self.org),
            ("outcome", &self.outcome),
        ] {
            if let Some(value) = value {
                parts.push(format!("{name}={value}"));
            }
        }
        parts.join("&")
    }
}

/// What a reader of the feed does after an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// What ended one connection.
enum Ended {
    Stopped,
    /// The connection ended or failed: connect again.
    Dropped(String),
}

/// Follows the feed `GET /v1/events?QUERY` of `client` after position `after` (from the
/// next block when `None`), handing each event to `handle` in order until it says stop.
/// When the connection drops, the node restarts or ends the stream, it connects again
/// after the last event handled; it gives up when the node cannot be reached for `retry`.
/// A refusal (a bad filter, a certificate without the role) is an error at once.
pub fn follow_feed(
    client: &NodeClient,
    query: &str,
    mut after: Option<String>,
    retry: Duration,
    mut handle: impl FnMut(&SseEvent) -> anyhow::Result<Flow>,
) -> anyhow::Result<()> {
    let mut failing_since: Option<Instant> = None;
    let mut pause = Duration::from_millis(100);
    loop {
        let ended = match client.open_events(query, after.as_deref()) {
            Ok(stream) => {
                failing_since = None;
                pause = Duration::from_millis(100);
                read_connection(stream, &mut after, &mut handle)?
            }
            Err(e) => match e.downcast_ref::<NodeError>() {
                Some(refusal) if refusal.http_status != 503 => return Err(e),
                _ => Ended::Dropped(format!("{e:#}")),
            },
        };
        let why = match ended {
            Ended::Stopped => return Ok(()),
            Ended::Dropped(why) => why,
        };
        let since = *failing_since.get_or_insert_with(Instant::now);
        if since.elapsed() > retry {
            bail!(
                "{}: no events for {} s: {why}",
                client.base(),
                retry.as_secs()
            );
        }
        eprintln!(
            "events: {why}; connecting again after {}",
            after.as_deref().unwrap_or("the start")
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

pub fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    let client = NodeClient::connect(&args.node, &args.tls)?;
    let mut printed = 0u64;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.count == Some(0) {
        return Ok(ExitCode::SUCCESS);
    }
    follow_feed(
        &client,
        &args.query(),
        args.from.clone(),
        Duration::from_secs(args.retry_seconds),
        |event| {
            let data: Value = serde_json::from_str(&event.data)
                .with_context(|| format!("an event that is not JSON: {}", event.data))?;
            writeln!(
                out,
                "{}",
                json!({ "id": event.id, "event": event.event, "data": data })
            )?;
            out.flush()?;
            printed += 1;
            Ok(if args.count.is_some_and(|n| printed >= n) {
                Flow::Stop
            } else {
                Flow::Continue
            })
        },
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Hands the events of one connection to `handle` until it ends.
fn read_connection(
    stream: Box<dyn Read + Send>,
    after: &mut Option<String>,
    handle: &mut impl FnMut(&SseEvent) -> anyhow::Result<Flow>,
) -> anyhow::Result<Ended> {
    // Read on a thread of its own, so that a connection gone silent is noticed.
    let (send, events) = mpsc::sync_channel::<anyhow::Result<Option<SseEvent>>>(64);
    std::thread::spawn(move || {
        let mut reader = SseReader::new(stream);
        loop {
            let next = reader.next_event();
            let over = !matches!(next, Ok(Some(_)));
            if send.send(next).is_err() || over {
                return;
            }
        }
    });
    loop {
        let event = match events.recv_timeout(IDLE_MAX) {
            Err(_) => return Ok(Ended::Dropped("the node went silent".into())),
            Ok(Err(e)) => return Ok(Ended::Dropped(format!("{e:#}"))),
            Ok(Ok(None)) => return Ok(Ended::Dropped("the node ended the stream".into())),
            Ok(Ok(Some(event))) => event,
        };
        if event.event == "end" {
            return Ok(Ended::Dropped(format!(
                "the node ended the stream: {}",
                event.data
            )));
        }
        let flow = handle(&event)?;
        if event.id.is_some() {
            after.clone_from(&event.id);
        }
        if flow == Flow::Stop {
            return Ok(Ended::Stopped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_events_fields_comments_and_multiline_data() {
        let text = ": keep-alive\n\nid: 3:0\nevent: tx\ndata: {\"a\":1}\n\n\
                    id: 3:1\r\nevent: block\r\ndata: one\r\ndata: two\r\n\r\n\
                    data: bare\n\nid: 4:0\nevent: tx\ndata: cut";
        let mut reader = SseReader::new(text.as_bytes());
        let first = reader.next_event().unwrap().unwrap();
        assert_eq!(
            first,
            SseEvent {
                id: Some("3:0".into()),
                event: "tx".into(),
                data: "{\"a\":1}".into()
            }
        );
        let second = reader.next_event().unwrap().unwrap();
        assert_eq!(second.event, "block");
        assert_eq!(second.data, "one\ntwo");
        let third = reader.next_event().unwrap().unwrap();
        assert_eq!((third.id, third.event.as_str()), (None, "message"));
        // An event cut off by the end of the stream is not delivered.
        assert_eq!(reader.next_event().unwrap(), None);
    }

    #[test]
    fn a_line_without_end_beyond_the_limit_is_refused() {
        let text = vec![b'x'; LINE_BYTES_MAX + 10];
        let mut reader = SseReader::new(&text[..]);
        assert!(reader.next_event().is_err());
    }
}
