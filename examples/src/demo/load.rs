//! The load generator: concurrent streaming and unary requests with varied prompt and output
//! lengths, some invalid, some for an unknown model, and some cancelled mid-stream.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What the load generator sent, by kind, and how many answers were not what it expected.
#[derive(Debug, Default)]
pub struct LoadSummary {
    /// Streaming chat completions read to the end.
    pub stream: u64,
    /// Unary completions.
    pub unary: u64,
    /// Bodies that are not JSON.
    pub invalid_json: u64,
    /// Requests without a required field.
    pub missing_field: u64,
    /// Requests for a model that is not served.
    pub unknown_model: u64,
    /// Streams the client dropped after the first event.
    pub cancelled: u64,
    /// Prompts longer than the model's context, refused by the engine.
    pub too_long: u64,
    /// Answers with another status than expected.
    pub unexpected: u64,
}

impl LoadSummary {
    /// All requests sent.
    pub fn sent(&self) -> u64 {
        self.stream
            + self.unary
            + self.invalid_json
            + self.missing_field
            + self.unknown_model
            + self.cancelled
            + self.too_long
    }
}

impl std::fmt::Display for LoadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "load: sent {} requests: {} streaming, {} unary, {} invalid JSON, {} missing a field, \
             {} unknown model, {} cancelled mid-stream, {} over the context length; {} unexpected answers",
            self.sent(),
            self.stream,
            self.unary,
            self.invalid_json,
            self.missing_field,
            self.unknown_model,
            self.cancelled,
            self.too_long,
            self.unexpected
        )
    }
}

/// One kind of request the generator sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A streaming chat completion, read to `[DONE]`.
    Stream,
    /// A unary completion.
    Unary,
    /// A body that is not JSON.
    InvalidJson,
    /// A chat completion without `messages`.
    MissingField,
    /// A model that is not served.
    UnknownModel,
    /// A streaming chat completion dropped after its first event.
    Cancelled,
    /// A unary completion whose prompt exceeds the model's context.
    TooLong,
}

impl Kind {
    /// The mix: three streaming, three unary, one of each failure, one cancellation (every
    /// twentieth request, one of the unary ones is over the context length instead).
    pub fn of(i: u64) -> Kind {
        if i % 20 == 15 {
            return Kind::TooLong;
        }
        match i % 10 {
            0..=2 => Kind::Stream,
            3..=5 => Kind::Unary,
            6 => Kind::InvalidJson,
            7 => Kind::UnknownModel,
            8 => Kind::MissingField,
            _ => Kind::Cancelled,
        }
    }
}

/// The instructions every request starts with, as an application's requests do: the prefix
/// that a KV cache shares between them (two blocks of the mock models).
pub const SYSTEM_PROMPT: &str = "You are a helpful assistant for a team that runs large language \
    models in production. Answer briefly and precisely, say when you are not sure, and never \
    invent facts, numbers or sources. Prefer plain words over jargon.";

/// Sends one request of `kind`, number `i`, and checks the answer's status.
///
/// # Errors
/// Connection errors.
pub async fn send(frontend: SocketAddr, model: &str, kind: Kind, i: u64) -> std::io::Result<bool> {
    let words = 5 + (i * 37) % 120;
    let prompt: Vec<String> = (0..words)
        .map(|w| format!("word{}", (w * 7 + i) % 97))
        .collect();
    let prompt = prompt.join(" ");
    let max_tokens = 4 + (i * 13) % 60;
    let chat = |stream: bool, model: &str| {
        json!({ "model": model, "stream": stream, "max_tokens": max_tokens, "messages": [
            { "role": "system", "content": SYSTEM_PROMPT },
            { "role": "user", "content": prompt },
        ] })
        .to_string()
    };
    let (path, body, expect) = match kind {
        Kind::Stream | Kind::Cancelled => ("/v1/chat/completions", chat(true, model), 200),
        Kind::Unary => (
            "/v1/completions",
            json!({ "model": model, "max_tokens": max_tokens, "prompt": format!("{SYSTEM_PROMPT}\n{prompt}") })
                .to_string(),
            200,
        ),
        Kind::InvalidJson => ("/v1/chat/completions", "{\"model\": ".to_owned(), 400),
        Kind::MissingField => (
            "/v1/chat/completions",
            json!({ "model": model }).to_string(),
            400,
        ),
        Kind::UnknownModel => ("/v1/chat/completions", chat(false, "no-such-model"), 404),
        Kind::TooLong => {
            let long = vec!["token"; super::engine::CONTEXT_LENGTH + 1].join(" ");
            (
                "/v1/completions",
                json!({ "model": model, "max_tokens": 4, "prompt": long }).to_string(),
                400,
            )
        }
    };
    let mut stream = TcpStream::connect(frontend).await?;
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {frontend}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        seen.extend_from_slice(&buf[..n]);
        if kind == Kind::Cancelled && seen.windows(6).any(|w| w == b"data: ") {
            // Drop the connection mid-stream.
            return Ok(status(&seen) == Some(expect));
        }
    }
    let ok = status(&seen) == Some(expect)
        && (kind != Kind::Stream || seen.windows(12).any(|w| w == b"data: [DONE]"));
    Ok(ok)
}

fn status(response: &[u8]) -> Option<u16> {
    let text = std::str::from_utf8(response.get(..12)?).ok()?;
    text.split(' ').nth(1)?.parse().ok()
}

/// The slot of unexpected answers after the kinds' counts.
const UNEXPECTED: usize = 7;

/// Sends `requests` requests, `concurrency` at a time, and summarises them.
pub async fn run(
    frontend: SocketAddr,
    model: String,
    concurrency: usize,
    requests: u64,
) -> LoadSummary {
    let next = Arc::new(AtomicU64::new(0));
    let counts: Arc<[AtomicU64; 8]> = Arc::new(Default::default());
    let tasks: Vec<_> = (0..concurrency.max(1))
        .map(|_| {
            let (next, counts, model) = (next.clone(), counts.clone(), model.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Relaxed);
                    if i >= requests {
                        return;
                    }
                    let kind = Kind::of(i);
                    let ok = send(frontend, &model, kind, i).await.unwrap_or(false);
                    counts[kind as usize].fetch_add(1, Relaxed);
                    if !ok {
                        counts[UNEXPECTED].fetch_add(1, Relaxed);
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let c = |k: usize| counts[k].load(Relaxed);
    LoadSummary {
        stream: c(Kind::Stream as usize),
        unary: c(Kind::Unary as usize),
        invalid_json: c(Kind::InvalidJson as usize),
        missing_field: c(Kind::MissingField as usize),
        unknown_model: c(Kind::UnknownModel as usize),
        cancelled: c(Kind::Cancelled as usize),
        too_long: c(Kind::TooLong as usize),
        unexpected: c(UNEXPECTED),
    }
}
