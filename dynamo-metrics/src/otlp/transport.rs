//! One OTLP request and what its answer means, over HTTP/1.1 (`http/protobuf`) or HTTP/2
//! (`grpc`), plain or with rustls, on one connection kept between exports. See
//! [`Client::send`] for details.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Uri};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;

use super::config::{OtlpConfig, OtlpProtocol};
use super::decode;
use crate::error::{Error, Result};

/// The gRPC method of the OTLP metrics service.
const GRPC_PATH: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";

/// What became of one request.
#[derive(Debug, PartialEq)]
pub(crate) enum Outcome {
    /// Taken: `rejected` points refused by the receiver (partial success), with its message.
    Delivered { rejected: u64, message: String },
    /// Not taken, worth trying again: after `after` if the receiver said so.
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// Not taken, and trying again would not change it.
    Failed { why: String },
}

/// A sender of requests to one receiver.
pub(crate) struct Client {
    protocol: OtlpProtocol,
    uri: Uri,
    host: String,
    port: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    gzip: bool,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    connection: Option<Connection>,
}

enum Connection {
    Http1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    Http2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

fn otlp_error(reason: String) -> Error {
    Error::Otlp { reason }
}

impl Client {
    /// A client for `config`'s receiver; connects on the first request.
    ///
    /// # Errors
    /// [`Error::Otlp`] when the endpoint is not a URL with a host, or a TLS file cannot be
    /// read or used.
    pub(crate) fn new(config: &OtlpConfig) -> Result<Self> {
        let mut uri: Uri = config
            .endpoint
            .parse()
            .map_err(|e| otlp_error(format!("endpoint {:?}: {e}", config.endpoint)))?;
        if config.protocol == OtlpProtocol::Grpc {
            let mut parts = uri.into_parts();
            parts.path_and_query = Some(hyper::http::uri::PathAndQuery::from_static(GRPC_PATH));
            uri = Uri::from_parts(parts).map_err(|e| otlp_error(e.to_string()))?;
        }
        let secure = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => {
                return Err(otlp_error(format!(
                    "endpoint {:?}: expected http:// or https://",
                    config.endpoint
                )));
            }
        };
        let host = uri
            .host()
            .ok_or_else(|| otlp_error(format!("endpoint {:?}: no host", config.endpoint)))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
        let headers = config
            .headers
            .iter()
            .map(|(k, v)| {
                let name = HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes());
                match (name, HeaderValue::from_str(v)) {
                    (Ok(name), Ok(value)) => Ok((name, value)),
                    _ => Err(otlp_error(format!("header {k:?} is not a valid header"))),
                }
            })
            .collect::<Result<_>>()?;
        let tls = if secure {
            let server = ServerName::try_from(host.clone())
                .map_err(|e| otlp_error(format!("TLS server name {host:?}: {e}")))?;
            Some((tls_connector(config)?, server))
        } else {
            None
        };
        Ok(Client {
            protocol: config.protocol,
            uri,
            host,
            port,
            headers,
            gzip: config.gzip,
            tls,
            connection: None,
        })
    }

    /// Sends one `ExportMetricsServiceRequest` (`message`, gzipped already when the client
    /// compresses) and reads the answer: 200 with its partial success, or a retryable or
    /// final failure as the OTLP specification sorts them (HTTP 429, 502, 503, 504, and gRPC
    /// `UNAVAILABLE`, `RESOURCE_EXHAUSTED` with retry information, and the other codes it
    /// lists, are retried). A connection that fails is dropped and made again next time.
    pub(crate) async fn send(&mut self, message: Bytes) -> Outcome {
        match self.try_send(message).await {
            Ok(outcome) => outcome,
            Err(why) => {
                self.connection = None;
                Outcome::Retry { after: None, why }
            }
        }
    }

    async fn try_send(&mut self, message: Bytes) -> std::result::Result<Outcome, String> {
        let connection = match self.connection.take() {
            Some(c) if c.is_ready() => c,
            _ => self.connect().await?,
        };
        let mut request = match &connection {
            // HTTP/1.1: the path, and the authority as `Host` (servers such as Go's refuse a
            // request without it).
            Connection::Http1(_) => {
                let path = self.uri.path_and_query().map_or("/", |p| p.as_str());
                let host = self.uri.authority().map_or("", |a| a.as_str());
                Request::post(path).header("host", host)
            }
            // HTTP/2: the whole URI, for the `:scheme` and `:authority` pseudo-headers.
            Connection::Http2(_) => Request::post(self.uri.clone()),
        };
        request = request.header(
            "user-agent",
            concat!("dynamo-metrics/", env!("CARGO_PKG_VERSION")),
        );
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let body = match self.protocol {
            OtlpProtocol::HttpProtobuf => {
                request = request.header("content-type", "application/x-protobuf");
                if self.gzip {
                    request = request.header("content-encoding", "gzip");
                }
                message
            }
            OtlpProtocol::Grpc => {
                request = request
                    .header("content-type", "application/grpc")
                    .header("te", "trailers");
                if self.gzip {
                    request = request.header("grpc-encoding", "gzip");
                }
                let mut framed = Vec::with_capacity(message.len() + 5);
                framed.push(u8::from(self.gzip));
                framed.extend_from_slice(
                    &u32::try_from(message.len())
                        .unwrap_or(u32::MAX)
                        .to_be_bytes(),
                );
                framed.extend_from_slice(&message);
                Bytes::from(framed)
            }
        };
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let (response, connection) = match connection {
            Connection::Http1(mut send) => {
                let response = send.send_request(request).await;
                (response, Connection::Http1(send))
            }
            Connection::Http2(mut send) => {
                let response = send.send_request(request).await;
                (response, Connection::Http2(send))
            }
        };
        let response = response.map_err(|e| format!("request failed: {e}"))?;
        let (parts, body) = response.into_parts();
        let collected = body
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        self.connection = Some(connection);
        let trailers = collected.trailers().cloned();
        let body = collected.to_bytes();
        Ok(match self.protocol {
            OtlpProtocol::HttpProtobuf => {
                http_outcome(parts.status.as_u16(), &parts.headers, &body)
            }
            OtlpProtocol::Grpc => grpc_outcome(
                parts.status.as_u16(),
                &parts.headers,
                trailers.as_ref(),
                &body,
            ),
        })
    }

    async fn connect(&self) -> std::result::Result<Connection, String> {
        let tcp = TcpStream::connect((self.host.as_str(), self.port))
            .await
            .map_err(|e| format!("connecting to {}:{}: {e}", self.host, self.port))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            Some((connector, server)) => {
                let tls = connector
                    .connect(server.clone(), tcp)
                    .await
                    .map_err(|e| format!("TLS handshake with {}: {e}", self.host))?;
                self.handshake(TokioIo::new(tls)).await
            }
            None => self.handshake(TokioIo::new(tcp)).await,
        }
    }

    async fn handshake<T>(&self, io: TokioIo<T>) -> std::result::Result<Connection, String>
    where
        T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let failed = |e: hyper::Error| format!("HTTP handshake with {}: {e}", self.host);
        Ok(match self.protocol {
            OtlpProtocol::HttpProtobuf => {
                let (send, driver) = hyper::client::conn::http1::handshake(io)
                    .await
                    .map_err(failed)?;
                tokio::spawn(driver);
                Connection::Http1(send)
            }
            OtlpProtocol::Grpc => {
                let (send, driver) =
                    hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                        .await
                        .map_err(failed)?;
                tokio::spawn(driver);
                Connection::Http2(send)
            }
        })
    }
}

impl Connection {
    fn is_ready(&self) -> bool {
        match self {
            Connection::Http1(send) => send.is_ready(),
            Connection::Http2(send) => send.is_ready(),
        }
    }
}

/// The TLS settings of `config`: its CA file or the system's roots, its client certificate.
fn tls_connector(config: &OtlpConfig) -> Result<tokio_rustls::TlsConnector> {
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).map_err(|e| otlp_error(format!("{what} {}: {e}", path.display())))
    };
    let certificates =
        |path: &std::path::Path, what: &str| -> Result<Vec<CertificateDer<'static>>> {
            let pem = read(path, what)?;
            let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
                .collect::<std::result::Result<_, _>>()
                .map_err(|e| otlp_error(format!("{what} {}: {e}", path.display())))?;
            if certs.is_empty() {
                return Err(otlp_error(format!(
                    "{what} {}: no certificate in it",
                    path.display()
                )));
            }
            Ok(certs)
        };
    let mut roots = rustls::RootCertStore::empty();
    match &config.certificate {
        Some(path) => {
            for cert in certificates(path, "certificate authority file")? {
                roots.add(cert).map_err(|e| {
                    otlp_error(format!(
                        "certificate authority file {}: {e}",
                        path.display()
                    ))
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| otlp_error(e.to_string()))?
        .with_root_certificates(roots);
    let mut tls = match &config.client_certificate {
        Some((cert, key)) => {
            let chain = certificates(cert, "client certificate file")?;
            let key = PrivateKeyDer::from_pem_slice(&read(key, "client key file")?)
                .map_err(|e| otlp_error(format!("client key file {}: {e}", key.display())))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| otlp_error(format!("client certificate: {e}")))?
        }
        None => builder.with_no_client_auth(),
    };
    tls.alpn_protocols = match config.protocol {
        OtlpProtocol::Grpc => vec![b"h2".to_vec()],
        OtlpProtocol::HttpProtobuf => vec![b"http/1.1".to_vec()],
    };
    Ok(tokio_rustls::TlsConnector::from(Arc::new(tls)))
}

/// The seconds of a `Retry-After` header (its date form is not used).
fn retry_after(headers: &hyper::HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn http_outcome(status: u16, headers: &hyper::HeaderMap, body: &[u8]) -> Outcome {
    match status {
        200..=299 => delivered(body),
        429 | 502 | 503 | 504 => Outcome::Retry {
            after: retry_after(headers),
            why: format!("HTTP {status}"),
        },
        _ => Outcome::Failed {
            why: format!("HTTP {status}{}", status_message(body)),
        },
    }
}

/// `: message` of a `google.rpc.Status` body, if it has one.
fn status_message(body: &[u8]) -> String {
    decode::status(body)
        .map(|s| s.message)
        .filter(|m| !m.is_empty())
        .map_or_else(String::new, |m| format!(": {m}"))
}

/// The partial success of an `ExportMetricsServiceResponse`.
fn delivered(body: &[u8]) -> Outcome {
    let (rejected, message) = decode::partial_success(body).unwrap_or_default();
    Outcome::Delivered { rejected, message }
}

fn grpc_outcome(
    status: u16,
    headers: &hyper::HeaderMap,
    trailers: Option<&hyper::HeaderMap>,
    body: &[u8],
) -> Outcome {
    // A trailers-only answer carries the status in its headers.
    let field = |name: &str| {
        trailers
            .and_then(|t| t.get(name))
            .or_else(|| headers.get(name))
            .and_then(|v| v.to_str().ok())
    };
    let Some(code) = field("grpc-status").and_then(|c| c.parse::<u32>().ok()) else {
        return match status {
            429 | 502 | 503 | 504 => Outcome::Retry {
                after: None,
                why: format!("HTTP {status} without a gRPC status"),
            },
            _ => Outcome::Failed {
                why: format!("HTTP {status} without a gRPC status"),
            },
        };
    };
    let message = field("grpc-message")
        .map(|m| decode::percent_decode(m).unwrap_or_else(|| m.to_owned()))
        .unwrap_or_default();
    let why = format!(
        "gRPC status {code}{}",
        if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        }
    );
    let retry_info = field("grpc-status-details-bin").and_then(decode::retry_delay);
    match code {
        0 => delivered(body.get(5..).unwrap_or_default()),
        // RESOURCE_EXHAUSTED only when the server says when to come back.
        8 => match retry_info {
            Some(after) => Outcome::Retry {
                after: Some(after),
                why,
            },
            None => Outcome::Failed { why },
        },
        // CANCELLED, DEADLINE_EXCEEDED, ABORTED, OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS.
        1 | 4 | 10 | 11 | 14 | 15 => Outcome::Retry {
            after: retry_info,
            why,
        },
        _ => Outcome::Failed { why },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_answers_are_sorted_as_the_specification_says() {
        let mut headers = hyper::HeaderMap::new();
        headers.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(
            http_outcome(503, &headers, b""),
            Outcome::Retry {
                after: Some(Duration::from_secs(7)),
                why: "HTTP 503".into()
            }
        );
        for status in [429, 502, 504] {
            assert!(matches!(
                http_outcome(status, &hyper::HeaderMap::new(), b""),
                Outcome::Retry { after: None, .. }
            ));
        }
        for status in [400, 401, 404, 500] {
            assert!(
                matches!(http_outcome(status, &headers, b""), Outcome::Failed { .. }),
                "{status}"
            );
        }
        // partial_success { rejected_data_points: 3, error_message: "no" }
        let body = [0x0A, 6, 0x08, 3, 0x12, 2, b'n', b'o'];
        assert_eq!(
            http_outcome(200, &headers, &body),
            Outcome::Delivered {
                rejected: 3,
                message: "no".into()
            }
        );
        assert_eq!(
            http_outcome(200, &headers, b""),
            Outcome::Delivered {
                rejected: 0,
                message: String::new()
            }
        );
    }

    #[test]
    fn grpc_codes_are_sorted_as_the_specification_says() {
        let with = |code: &str| {
            let mut t = hyper::HeaderMap::new();
            t.insert("grpc-status", HeaderValue::from_str(code).unwrap());
            t.insert("grpc-message", HeaderValue::from_static("try%20later"));
            t
        };
        let empty = hyper::HeaderMap::new();
        assert_eq!(
            grpc_outcome(200, &empty, Some(&with("14")), b""),
            Outcome::Retry {
                after: None,
                why: "gRPC status 14: try later".into()
            }
        );
        assert!(matches!(
            grpc_outcome(200, &with("8"), None, b""),
            Outcome::Failed { .. }
        ));
        assert!(matches!(
            grpc_outcome(200, &empty, Some(&with("3")), b""),
            Outcome::Failed { .. }
        ));
        assert!(matches!(
            grpc_outcome(200, &empty, Some(&with("0")), b""),
            Outcome::Delivered { rejected: 0, .. }
        ));
        assert!(matches!(
            grpc_outcome(503, &empty, None, b""),
            Outcome::Retry { .. }
        ));
    }
}
