//! The typed error of every fallible operation. See [`Error`] for details.

use std::net::SocketAddr;

use dynamo_metrics_naming::NameError;

/// What went wrong, with the offending text and the rule it broke.
///
/// Library code never panics on user input: every refusal is one of these variants.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A metric, label, subsystem or hierarchy name breaks a naming rule.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        /// What the name is for: `metric name`, `label name`, `subsystem`, ...
        what: &'static str,
        /// The name as the caller wrote it.
        name: String,
        /// The rule it breaks.
        reason: NameError,
    },
    /// A name of the runtime hierarchy (namespace, component, endpoint) breaks the rule of
    /// [`check_hierarchy_name`](crate::naming::check_hierarchy_name).
    #[error("invalid {level} name {name:?}: {reason}")]
    InvalidHierarchyName {
        /// `namespace`, `component` or `endpoint`.
        level: &'static str,
        /// The name as given.
        name: String,
        /// The rule it breaks.
        reason: NameError,
    },
    /// The same label name appears twice in one metric.
    #[error("duplicate label name {label:?} in metric {family:?}: each label may appear once")]
    DuplicateLabel {
        /// The full metric name.
        family: String,
        /// The repeated label name.
        label: String,
    },
    /// A metric was declared without HELP text.
    #[error("metric {family:?} has empty help text: describe what it measures")]
    EmptyHelp {
        /// The full metric name.
        family: String,
    },
    /// Histogram buckets are empty, not finite or not strictly increasing.
    #[error("invalid buckets for {family:?}: {reason}")]
    InvalidBuckets {
        /// The full metric name, or the helper that built the buckets.
        family: String,
        /// What is wrong with them.
        reason: String,
    },
    /// A family was declared again with another type, help text, label names or buckets.
    #[error(
        "metric family {family:?} is already declared differently: existing {existing}; new {new}"
    )]
    Conflict {
        /// The full metric name.
        family: String,
        /// The first declaration, with where it was made.
        existing: String,
        /// The refused declaration, with where it was made.
        new: String,
    },
    /// A labelled family was given the wrong number of label values.
    #[error("metric {family:?} takes {expected} label values ({labels}), got {got}")]
    LabelCount {
        /// The full metric name.
        family: String,
        /// How many values the family takes.
        expected: usize,
        /// The variable label names, comma separated.
        labels: String,
        /// How many were given.
        got: usize,
    },
    /// A foreign collector cannot be registered.
    #[error("cannot register collector: {reason}")]
    Collector {
        /// Why not.
        reason: String,
    },
    /// An environment variable holds a value that cannot be used.
    #[error("invalid value {value:?} for environment variable {var}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// Its value.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
    /// A relayed source cannot be attached.
    #[error("relayed source {source_name:?}: {reason}")]
    Relay {
        /// The source's name.
        source_name: String,
        /// Why not.
        reason: String,
    },
    /// The OTLP export cannot start (an endpoint or TLS file it cannot use, an export
    /// already running) or an export asked for did not get through.
    #[error("OTLP export: {reason}")]
    Otlp {
        /// Why.
        reason: String,
    },
    /// The system status server could not bind its address (a port in use, for example).
    #[error("system status server cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A `DynamoMetrics` struct that names a level was registered at another.
    #[error("{metrics} is declared for the {} level but was registered at the {} level", expected.as_str(), got.as_str())]
    WrongLevel {
        /// The struct.
        metrics: &'static str,
        /// The level it declares.
        expected: crate::Level,
        /// The level it was registered at.
        got: crate::Level,
    },
    /// The system status server's web configuration file cannot be used.
    #[error("web configuration file {}: {}{reason}", path.display(), key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
    WebConfig {
        /// The file.
        path: std::path::PathBuf,
        /// The key at fault, as a dotted path (`tls_server_config.cert_file`); `None` when the
        /// file as a whole cannot be read or parsed.
        key: Option<String>,
        /// What is wrong.
        reason: String,
    },
    /// Labels given to an endpoint cannot be used: a name that is not one of the runtime's
    /// endpoint labels, a value too long, or more labelled endpoints than the cap.
    #[error("labels {labels} of endpoint {endpoint:?}: {reason}")]
    EndpointLabels {
        /// `namespace/component/endpoint`.
        endpoint: String,
        /// The labels as given, `{k="v", ..}`.
        labels: String,
        /// What is wrong.
        reason: String,
    },
    /// The system status server was started twice on one runtime.
    #[error("the system status server is already running on {addr}")]
    ServerRunning {
        /// Where it listens.
        addr: SocketAddr,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
