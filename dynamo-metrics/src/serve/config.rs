//! Settings of the system status server: [`SystemServerConfig`], set from code or, through
//! [`RuntimeConfig`](crate::RuntimeConfig), from the environment.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

/// Settings of the system status server (`/metrics`, `/health`, `/live`). It may gain fields:
/// start from [`SystemServerConfig::at`] or `default()` and set the fields you need.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SystemServerConfig {
    /// Address to listen on; `DYN_SYSTEM_HOST`, default `0.0.0.0`.
    pub host: IpAddr,
    /// Port to listen on; `DYN_SYSTEM_PORT`. `0` picks a free port
    /// ([`DistributedRuntime::system_server_addr`](crate::DistributedRuntime::system_server_addr)
    /// tells which). The default, 8081, is the backend port of the Dynamo docs.
    pub port: u16,
    /// The longest a request may take, from its headers to its response; slower ones get 503.
    pub request_timeout: Duration,
    /// The longest a new connection may wait before its first byte, a client may take to send
    /// a request's headers, and a kept-alive connection may sit idle, before it is closed:
    /// slow and idle clients cannot hold connections open.
    pub header_read_timeout: Duration,
    /// How many connections are open at once, at most a quarter of the process's open-file
    /// limit (so one flooded listener leaves descriptors for the others); one more is answered
    /// `503` with `Retry-After` at once. Idle and slow connections count, and are closed by
    /// `header_read_timeout`.
    pub max_connections: usize,
    /// How many requests are handled at once; more are answered `503` with `Retry-After`.
    pub max_requests_in_flight: usize,
    /// How long a graceful shutdown waits for open connections to finish; what is still
    /// running then is cancelled.
    pub shutdown_grace: Duration,
    /// A web configuration file in the format of the Prometheus exporter toolkit (every
    /// official exporter's `--web.config.file`): TLS, client certificates, basic auth and
    /// response headers; `DYN_SYSTEM_WEB_CONFIG_FILE`. Needs the `tls` feature: without it, a
    /// file given here is an error at start.
    ///
    /// ```yaml
    /// tls_server_config:
    ///   cert_file: server.crt          # or `cert:` with the PEM text; relative to this file
    ///   key_file: server.key           # or `key:`
    ///   client_auth_type: RequireAndVerifyClientCert   # default NoClientCert
    ///   client_ca_file: clients-ca.crt # or `client_ca:`
    ///   min_version: TLS12             # TLS12 (default) or TLS13; so is max_version
    ///   cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]  # TLS 1.2 ones; Go's names
    ///   curve_preferences: [X25519, CurveP256]
    /// http_server_config:
    ///   headers:                       # the toolkit's five: Strict-Transport-Security, ...
    ///     X-Content-Type-Options: nosniff
    /// basic_auth_users:
    ///   prometheus: $2y$10$...         # bcrypt: htpasswd -nBC 10 "" | tr -d ':\n'
    /// ```
    ///
    /// TLS is rustls with the ring provider (whatever provider the rest of the process
    /// installs). Plain HTTP sent to the TLS port gets `400`. Basic auth guards every route but
    /// `/health` and `/live`, which probes call without credentials and which tell readiness
    /// and uptime only; a wrong or missing password gets `401` with `WWW-Authenticate`.
    /// Verified credentials are remembered (as a digest) so that a scrape does not cost a
    /// bcrypt check, and checks run one at a time. Refusals are counted in
    /// `dynamo_metrics_refused_total{what="auth"|"tls"}`.
    ///
    /// The file and the files it names are checked for changes at most once a second: rotated
    /// certificates, new users and headers apply to new connections and requests without a
    /// restart; a change that does not load keeps the last good configuration and is logged.
    /// Whether TLS is on is fixed at start. Keys this server cannot honour
    /// (`client_allowed_sans`, `rate_limit`, TLS 1.0 and 1.1, ciphers rustls does not
    /// implement) are errors, never ignored; `http_server_config.http2` is accepted and has no
    /// effect (the server speaks HTTP/1.1). Any other mistake is an [`Error::WebConfig`](crate::Error::WebConfig) at
    /// start naming the file and the key, such as `tls_server_config.client_auth_type`.
    pub web_config_file: Option<std::path::PathBuf>,
}

impl Default for SystemServerConfig {
    fn default() -> Self {
        SystemServerConfig {
            host: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 8081,
            request_timeout: Duration::from_secs(10),
            header_read_timeout: Duration::from_secs(5),
            max_connections: 4096,
            max_requests_in_flight: 64,
            shutdown_grace: Duration::from_secs(5),
            web_config_file: None,
        }
    }
}

impl SystemServerConfig {
    /// The default settings, listening on `addr`: `SystemServerConfig::at(([127, 0, 0, 1], 0))`
    /// listens on a free loopback port.
    pub fn at(addr: impl Into<SocketAddr>) -> Self {
        let addr = addr.into();
        SystemServerConfig {
            host: addr.ip(),
            port: addr.port(),
            ..SystemServerConfig::default()
        }
    }

    /// The socket address to bind.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::new(self.host, self.port)
    }
}
