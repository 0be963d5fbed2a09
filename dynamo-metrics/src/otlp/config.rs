//! The OTLP exporter's settings, in code ([`OtlpConfig`]) and from the standard OpenTelemetry
//! environment variables ([`OtlpConfig::from_lookup`]).

use std::path::PathBuf;
use std::time::Duration;

use super::decode::percent_decode;
use crate::error::{Error, Result};

/// How the export reaches its receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtlpProtocol {
    /// gRPC (`grpc`): `opentelemetry.proto.collector.metrics.v1.MetricsService/Export` over
    /// HTTP/2; port 4317 by convention.
    Grpc,
    /// Protobuf over HTTP (`http/protobuf`): `POST` to the metrics URL (`/v1/metrics`) over
    /// HTTP/1.1; port 4318 by convention.
    HttpProtobuf,
}

/// Whether counters and histograms are sent as totals since their start or as changes since
/// the last export. Gauges and summaries are always sent as they are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Temporality {
    /// Totals since the series started (the runtime's start): what a scrape shows.
    #[default]
    Cumulative,
    /// Changes since the last export the receiver acknowledged; an export that is not
    /// delivered is merged into the next one.
    Delta,
}

/// The settings of the OTLP export: where, how, how often, and what it says about the
/// process. [`Default`] sends to `http://localhost:4318/v1/metrics` over HTTP/protobuf every
/// 60 s, as the OpenTelemetry specification's defaults do.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpConfig {
    /// The receiver: the full URL for HTTP/protobuf (`http://collector:4318/v1/metrics`),
    /// `http(s)://host:port` for gRPC. `https` means TLS.
    pub endpoint: String,
    /// gRPC or HTTP/protobuf.
    pub protocol: OtlpProtocol,
    /// Headers sent with every export (gRPC metadata for gRPC): authentication tokens, tenant
    /// ids.
    pub headers: Vec<(String, String)>,
    /// The longest one request may take.
    pub timeout: Duration,
    /// Whether requests are compressed with gzip.
    pub gzip: bool,
    /// PEM file of the certificate authorities that sign the receiver's certificate; the
    /// system's roots when `None`.
    pub certificate: Option<PathBuf>,
    /// PEM files of the client's certificate chain and private key, for mutual TLS.
    pub client_certificate: Option<(PathBuf, PathBuf)>,
    /// Time between the start of two exports.
    pub interval: Duration,
    /// The longest one export may take, retries included.
    pub export_timeout: Duration,
    /// Cumulative or delta.
    pub temporality: Temporality,
    /// Attributes of the resource (`service.name` and others), besides those the runtime
    /// adds (`dynamo.namespace`, `service.instance.id` and `dynamo.worker_id`, `host.name`,
    /// `telemetry.sdk.*`). `service.name` defaults to `unknown_service:<executable>`.
    pub resource_attributes: Vec<(String, String)>,
    /// The first wait before a retry; each retry waits about twice the one before, with
    /// jitter, unless the receiver says how long.
    pub retry_backoff: Duration,
}

impl Default for OtlpConfig {
    fn default() -> Self {
        OtlpConfig {
            endpoint: "http://localhost:4318/v1/metrics".to_owned(),
            protocol: OtlpProtocol::HttpProtobuf,
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            gzip: false,
            certificate: None,
            client_certificate: None,
            interval: Duration::from_secs(60),
            export_timeout: Duration::from_secs(30),
            temporality: Temporality::Cumulative,
            resource_attributes: Vec::new(),
            retry_backoff: Duration::from_secs(1),
        }
    }
}

/// One setting's variables: the metrics-specific one first, then the general one.
macro_rules! either {
    ($suffix:literal) => {
        [
            concat!("OTEL_EXPORTER_OTLP_METRICS_", $suffix),
            concat!("OTEL_EXPORTER_OTLP_", $suffix),
        ]
    };
}

impl OtlpConfig {
    /// The settings from the OpenTelemetry environment variables, when
    /// `OTEL_METRICS_EXPORTER` names `otlp`; `None` when it is unset or names only
    /// `prometheus` or `none` (this crate exports only when asked to, while the specification's
    /// default is `otlp`). See [`from_lookup`](Self::from_lookup).
    ///
    /// # Errors
    /// As [`from_lookup`](Self::from_lookup).
    pub fn from_env() -> Result<Option<Self>> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// The settings from variables read through `lookup`, with the specification's
    /// precedence (a `OTEL_EXPORTER_OTLP_METRICS_*` variable wins over its
    /// `OTEL_EXPORTER_OTLP_*` twin; `OTEL_SERVICE_NAME` over a `service.name` in
    /// `OTEL_RESOURCE_ATTRIBUTES`) and defaults; an empty variable counts as unset.
    ///
    /// `OTEL_METRICS_EXPORTER` (`otlp`, `prometheus`, `none`, separated by commas);
    /// `OTEL_EXPORTER_OTLP_{,METRICS_}ENDPOINT` (the general one gets `/v1/metrics` appended
    /// for HTTP), `_PROTOCOL` (`grpc`, `http/protobuf`; default `http/protobuf`), `_HEADERS`
    /// (`key=value` pairs, percent-encoded, separated by commas), `_TIMEOUT` (milliseconds,
    /// default 10000), `_COMPRESSION` (`gzip`, `none`), `_CERTIFICATE`, `_CLIENT_KEY`,
    /// `_CLIENT_CERTIFICATE` (PEM files), `_INSECURE` (for a gRPC endpoint without a scheme);
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE` (`cumulative`, `delta`,
    /// `lowmemory`: delta for counters and histograms here); `OTEL_METRIC_EXPORT_INTERVAL`
    /// (milliseconds, default 60000), `OTEL_METRIC_EXPORT_TIMEOUT` (default 30000);
    /// `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_SERVICE_NAME`.
    ///
    /// # Errors
    /// [`Error::Env`] naming the variable and its value for a value that cannot be used (an
    /// unknown exporter or protocol, `http/json`, an endpoint that is not an `http(s)` URL,
    /// a malformed header or attribute, a duration that is not a positive number of
    /// milliseconds, a client key without its certificate): never a silent default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let get = |var: &'static str| {
            lookup(var)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
                .map(|v| (var, v))
        };
        let first = |vars: [&'static str; 2]| vars.into_iter().find_map(get);
        let bad = |var: &'static str, value: &str, reason: &'static str| Error::Env {
            var,
            value: value.to_owned(),
            reason,
        };
        let Some((var, exporters)) = get("OTEL_METRICS_EXPORTER") else {
            return Ok(None);
        };
        let mut otlp = false;
        for exporter in exporters.split(',').map(str::trim) {
            match exporter {
                "otlp" => otlp = true,
                "prometheus" | "none" => {}
                _ => return Err(bad(var, &exporters, "expected otlp, prometheus or none")),
            }
        }
        if !otlp {
            return Ok(None);
        }
        let mut config = OtlpConfig::default();
        if let Some((var, value)) = first(either!("PROTOCOL")) {
            config.protocol = match value.as_str() {
                "grpc" => OtlpProtocol::Grpc,
                "http/protobuf" => OtlpProtocol::HttpProtobuf,
                "http/json" => {
                    return Err(bad(
                        var,
                        &value,
                        "http/json is not supported: use grpc or http/protobuf",
                    ));
                }
                _ => return Err(bad(var, &value, "expected grpc or http/protobuf")),
            };
        }
        let insecure = match first(either!("INSECURE")) {
            Some((var, value)) => {
                parse_bool(&value).ok_or_else(|| bad(var, &value, "expected true or false"))?
            }
            None => false,
        };
        config.endpoint = match (get(either!("ENDPOINT")[0]), get(either!("ENDPOINT")[1])) {
            (Some((var, value)), _) => check_endpoint(&value, config.protocol, insecure)
                .ok_or_else(|| bad(var, &value, "expected an http:// or https:// URL"))?,
            (None, Some((var, value))) => {
                let base = check_endpoint(&value, config.protocol, insecure)
                    .ok_or_else(|| bad(var, &value, "expected an http:// or https:// URL"))?;
                match config.protocol {
                    OtlpProtocol::HttpProtobuf => {
                        format!("{}/v1/metrics", base.trim_end_matches('/'))
                    }
                    OtlpProtocol::Grpc => base,
                }
            }
            (None, None) => match config.protocol {
                OtlpProtocol::HttpProtobuf => "http://localhost:4318/v1/metrics".to_owned(),
                OtlpProtocol::Grpc => "http://localhost:4317".to_owned(),
            },
        };
        if let Some((var, value)) = first(either!("HEADERS")) {
            config.headers = parse_pairs(&value)
                .filter(|pairs| pairs.iter().all(|(k, v)| valid_header(k, v)))
                .ok_or_else(|| bad(var, &value, "expected key=value pairs separated by commas, percent-encoded, each a valid header"))?;
        }
        if let Some((var, value)) = first(either!("TIMEOUT")) {
            config.timeout = parse_millis(&value).ok_or_else(|| bad(var, &value, MILLIS))?;
        }
        if let Some((var, value)) = first(either!("COMPRESSION")) {
            config.gzip = match value.as_str() {
                "gzip" => true,
                "none" => false,
                _ => return Err(bad(var, &value, "expected gzip or none")),
            };
        }
        config.certificate = first(either!("CERTIFICATE")).map(|(_, v)| PathBuf::from(v));
        config.client_certificate = match (
            first(either!("CLIENT_CERTIFICATE")),
            first(either!("CLIENT_KEY")),
        ) {
            (Some((_, cert)), Some((_, key))) => Some((cert.into(), key.into())),
            (None, None) => None,
            (Some((var, value)), None) | (None, Some((var, value))) => {
                return Err(bad(
                    var,
                    &value,
                    "a client certificate and its key go together: set both",
                ));
            }
        };
        if let Some((var, value)) = get("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE") {
            config.temporality = match value.to_ascii_lowercase().as_str() {
                "cumulative" => Temporality::Cumulative,
                "delta" | "lowmemory" => Temporality::Delta,
                _ => return Err(bad(var, &value, "expected cumulative, delta or lowmemory")),
            };
        }
        if let Some((var, value)) = get("OTEL_METRIC_EXPORT_INTERVAL") {
            config.interval = parse_millis(&value).ok_or_else(|| bad(var, &value, MILLIS))?;
        }
        if let Some((var, value)) = get("OTEL_METRIC_EXPORT_TIMEOUT") {
            config.export_timeout = parse_millis(&value).ok_or_else(|| bad(var, &value, MILLIS))?;
        }
        if let Some((var, value)) = get("OTEL_RESOURCE_ATTRIBUTES") {
            config.resource_attributes = parse_pairs(&value).ok_or_else(|| {
                bad(
                    var,
                    &value,
                    "expected key=value pairs separated by commas, percent-encoded",
                )
            })?;
        }
        if let Some((_, name)) = get("OTEL_SERVICE_NAME") {
            config
                .resource_attributes
                .retain(|(k, _)| k != "service.name");
            config
                .resource_attributes
                .push(("service.name".to_owned(), name));
        }
        Ok(Some(config))
    }
}

const MILLIS: &str = "expected a whole number of milliseconds greater than zero";

fn parse_bool(value: &str) -> Option<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn parse_millis(value: &str) -> Option<Duration> {
    value
        .parse::<u64>()
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// The endpoint as an `http(s)` URL with a host: a gRPC endpoint without a scheme gets
/// `https://` (`http://` when `insecure`).
fn check_endpoint(value: &str, protocol: OtlpProtocol, insecure: bool) -> Option<String> {
    let url = if !value.contains("://") && protocol == OtlpProtocol::Grpc {
        format!("{}://{value}", if insecure { "http" } else { "https" })
    } else {
        value.to_owned()
    };
    let uri: hyper::Uri = url.parse().ok()?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    (scheme_ok && uri.host().is_some_and(|h| !h.is_empty())).then_some(url)
}

/// `key=value` pairs separated by commas, keys and values percent-decoded and trimmed.
fn parse_pairs(value: &str) -> Option<Vec<(String, String)>> {
    value
        .split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=')?;
            let (k, v) = (percent_decode(k.trim())?, percent_decode(v.trim())?);
            (!k.is_empty()).then_some((k, v))
        })
        .collect()
}

fn valid_header(name: &str, value: &str) -> bool {
    hyper::header::HeaderName::from_bytes(name.as_bytes()).is_ok()
        && hyper::header::HeaderValue::from_str(value).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<Option<OtlpConfig>> {
        OtlpConfig::from_lookup(|var| {
            vars.iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    fn var_of(result: Result<Option<OtlpConfig>>) -> (&'static str, String) {
        match result {
            Err(Error::Env { var, value, .. }) => (var, value),
            other => panic!("expected an Env error, got {other:?}"),
        }
    }

    #[test]
    fn off_unless_asked_for() {
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(
            parse(&[("OTEL_METRICS_EXPORTER", "prometheus")]).unwrap(),
            None
        );
        assert_eq!(parse(&[("OTEL_METRICS_EXPORTER", "none")]).unwrap(), None);
        assert_eq!(parse(&[("OTEL_METRICS_EXPORTER", "")]).unwrap(), None);
        let c = parse(&[("OTEL_METRICS_EXPORTER", "prometheus,otlp")]).unwrap();
        assert_eq!(c, Some(OtlpConfig::default()));
    }

    #[test]
    fn endpoints_and_their_precedence() {
        let on = ("OTEL_METRICS_EXPORTER", "otlp");
        let c = parse(&[
            on,
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "http://collector:4318/v1/metrics");
        let c = parse(&[
            on,
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
                "https://other:9000/custom",
            ),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "https://other:9000/custom");
        let c = parse(&[on, ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")])
            .unwrap()
            .unwrap();
        assert_eq!(
            (c.protocol, c.endpoint.as_str()),
            (OtlpProtocol::Grpc, "http://localhost:4317")
        );
        let c = parse(&[
            on,
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "true"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "http://collector:4317");
        let c = parse(&[
            on,
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.endpoint, "https://collector:4317");
    }

    #[test]
    fn every_setting() {
        let c = parse(&[
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "a=1,authorization=Bearer%20x"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "tenant=t%2C1"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip"),
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", "/ca.pem"),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "/c.pem"),
            ("OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", "/k.pem"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "1000"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "5000"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=a,deployment.environment=prod%20eu",
            ),
            ("OTEL_SERVICE_NAME", "worker"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(c.headers, [("tenant".to_owned(), "t,1".to_owned())]);
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert!(c.gzip);
        assert_eq!(c.certificate, Some(PathBuf::from("/ca.pem")));
        assert_eq!(
            c.client_certificate,
            Some(("/c.pem".into(), "/k.pem".into()))
        );
        assert_eq!(c.temporality, Temporality::Delta);
        assert_eq!(
            (c.interval, c.export_timeout),
            (Duration::from_secs(1), Duration::from_secs(5))
        );
        assert_eq!(
            c.resource_attributes,
            [
                ("deployment.environment".to_owned(), "prod eu".to_owned()),
                ("service.name".to_owned(), "worker".to_owned()),
            ]
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let on = ("OTEL_METRICS_EXPORTER", "otlp");
        let cases: &[(&str, &str)] = &[
            ("OTEL_METRICS_EXPORTER", "console"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "udp"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "not a url"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "bad header=1"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "0"),
            ("OTEL_EXPORTER_OTLP_METRICS_TIMEOUT", "10s"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd"),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", "/k.pem"),
            ("OTEL_EXPORTER_OTLP_INSECURE", "yes"),
            (
                "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
                "sometimes",
            ),
            ("OTEL_METRIC_EXPORT_INTERVAL", "-1"),
            ("OTEL_METRIC_EXPORT_TIMEOUT", "x"),
            ("OTEL_RESOURCE_ATTRIBUTES", "a=%zz"),
        ];
        for (var, value) in cases {
            let vars: Vec<(&str, &str)> = if *var == "OTEL_METRICS_EXPORTER" {
                vec![(var, value)]
            } else {
                vec![on, (var, value)]
            };
            assert_eq!(
                var_of(parse(&vars)),
                (*var, (*value).to_owned()),
                "{var}={value}"
            );
        }
    }
}
