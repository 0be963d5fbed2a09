//! One `GET` of an engine's `/metrics` over plain HTTP/1.1, blocking, within a deadline and a
//! byte cap: what a relayed URL costs a scrape at most. See [`get`] for details.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::Failure;

/// Where a relayed exposition is read: host, port, path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
}

impl Target {
    /// `http://host[:port][/path]`; `None` for anything else (TLS is not spoken here).
    pub(crate) fn parse(url: &str) -> Option<Target> {
        let rest = url.strip_prefix("http://")?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                (host, port.parse().ok()?)
            }
            _ => (authority, 80),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        (!host.is_empty() && !path.contains(char::is_whitespace)).then(|| Target {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }
}

/// The body of `GET target`, read within `deadline` and `max_bytes`.
///
/// # Errors
/// [`Failure::Unreachable`] when no connection is made, [`Failure::Timeout`] past the
/// deadline, [`Failure::Status`] for an answer other than 200, [`Failure::TooLarge`] past the
/// cap, [`Failure::Garbage`] for an answer that is not HTTP.
pub(crate) fn get(
    target: &Target,
    deadline: Duration,
    max_bytes: usize,
) -> Result<Vec<u8>, Failure> {
    let end = Instant::now() + deadline;
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|e| Failure::Unreachable(e.to_string()))?
        .collect();
    let mut stream = None;
    let mut last = String::from("no address");
    for addr in addrs {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::Timeout);
        }
        match TcpStream::connect_timeout(&addr, left) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return Err(Failure::Timeout),
            Err(e) => last = e.to_string(),
        }
    }
    let mut stream = stream.ok_or(Failure::Unreachable(last))?;
    let left = |end: Instant| {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(Failure::Timeout)
        } else {
            Ok(left)
        }
    };
    stream
        .set_write_timeout(Some(left(end)?))
        .map_err(|e| Failure::Unreachable(e.to_string()))?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nAccept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\nUser-Agent: dynamo-metrics-relay\r\nConnection: close\r\n\r\n",
        target.path, target.host, target.port
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| io_failure(&e))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    // The head's size counts against the cap too.
    let cap = max_bytes.saturating_add(16 * 1024);
    loop {
        stream
            .set_read_timeout(Some(left(end)?))
            .map_err(|e| Failure::Unreachable(e.to_string()))?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                raw.extend_from_slice(&chunk[..n]);
                if raw.len() > cap {
                    return Err(Failure::TooLarge);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_failure(&e)),
        }
    }
    let body = response_body(&raw)?;
    if body.len() > max_bytes {
        return Err(Failure::TooLarge);
    }
    Ok(body)
}

fn io_failure(e: &std::io::Error) -> Failure {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => Failure::Timeout,
        _ => Failure::Unreachable(e.to_string()),
    }
}

/// The body of a whole HTTP/1.x answer, de-chunked; an error unless the status is 200.
fn response_body(raw: &[u8]) -> Result<Vec<u8>, Failure> {
    let garbage = |why: &str| Failure::Garbage(why.to_owned());
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| garbage("no end of the HTTP head"))?;
    let head = std::str::from_utf8(&raw[..head_end])
        .map_err(|_| garbage("an HTTP head that is not text"))?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.strip_prefix("HTTP/1."))
        .and_then(|l| l.get(2..5))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| garbage("not an HTTP answer"))?;
    if status != 200 {
        return Err(Failure::Status(status));
    }
    let chunked = lines.any(|l| {
        let l = l.to_ascii_lowercase();
        l.starts_with("transfer-encoding:") && l.contains("chunked")
    });
    let body = &raw[head_end + 4..];
    if !chunked {
        return Ok(body.to_vec());
    }
    let mut out = Vec::with_capacity(body.len());
    let mut rest = body;
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| garbage("a cut chunk"))?;
        let size = std::str::from_utf8(&rest[..line_end])
            .ok()
            .map(|s| s.split(';').next().unwrap_or("").trim())
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or_else(|| garbage("an invalid chunk size"))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        let data = rest.get(..size).ok_or_else(|| garbage("a cut chunk"))?;
        out.extend_from_slice(data);
        rest = rest.get(size + 2..).ok_or_else(|| garbage("a cut chunk"))?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = Target::parse("http://127.0.0.1:8000/metrics").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("127.0.0.1", 8000, "/metrics")
        );
        let t = Target::parse("http://engine").unwrap();
        assert_eq!((t.port, t.path.as_str()), (80, "/"));
        let t = Target::parse("http://[::1]:9/m").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", 9));
        assert!(Target::parse("https://engine/metrics").is_none());
        assert!(Target::parse("http://:80/").is_none());
        assert!(Target::parse("http://e:port/").is_none());
    }

    #[test]
    fn answers() {
        let ok = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\na 1\n";
        assert_eq!(response_body(ok).unwrap(), b"a 1\n");
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\na 1\n\r\n2\r\nb \r\n0\r\n\r\n";
        assert_eq!(response_body(chunked).unwrap(), b"a 1\nb ");
        assert_eq!(
            response_body(b"HTTP/1.0 503 Busy\r\n\r\n"),
            Err(Failure::Status(503))
        );
        assert!(matches!(
            response_body(b"SSH-2.0\r\n\r\n"),
            Err(Failure::Garbage(_))
        ));
        assert!(matches!(
            response_body(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
            Err(Failure::Garbage(_))
        ));
    }
}
