//! Settings of the runtime, from code or from the environment. See [`RuntimeConfig`] for
//! details.

use std::collections::BTreeMap;
use std::time::Duration;

use dynamo_metrics_naming as naming;

use crate::error::{Error, Result};
use crate::serve::config::SystemServerConfig;

/// Settings of a [`DistributedRuntime`](crate::DistributedRuntime). It may gain fields: start
/// from `default()` or [`from_env`](Self::from_env) and set the fields you need.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// The system status server to start, if any. From the environment: started when
    /// `DYN_SYSTEM_PORT` is set.
    pub system_server: Option<SystemServerConfig>,
    /// The namespace of the endpoints instrumented with `#[instrument_endpoint]`;
    /// `DYN_NAMESPACE`, default `dynamo`.
    pub namespace: String,
    /// The GPU collector, on by default; `DYN_GPU_METRICS=0` turns it off (see
    /// [`GpuConfig::from_lookup`](crate::GpuConfig::from_lookup)).
    #[cfg(feature = "gpu")]
    pub gpu: Option<crate::GpuConfig>,
    /// Whether the metrics of the tokio runtime the `DistributedRuntime` is made in are
    /// exported (`dynamo_tokio_*`, sampled at each scrape); on by default,
    /// `DYN_METRICS_TOKIO=0` turns them off. A runtime made outside tokio has none.
    pub tokio_metrics: bool,
    /// Whether `/health` and `/live` report ready from the start;
    /// `DYN_SYSTEM_STARTING_HEALTH_STATUS` = `ready` (default) or `notready`.
    pub starting_ready: bool,
    /// Names this runtime gives the endpoints of `#[instrument_endpoint]` functions in place
    /// of the names their attributes give: `"backend" -> "prefill"` renames a component
    /// (every endpoint of it), `"backend/generate" -> "prefill/generate"` one endpoint, which
    /// wins over a component rename. `DYN_METRICS_RENAME`, as `from=to` pairs separated by
    /// commas: `backend=prefill,router/route=router-b/route`.
    pub renames: BTreeMap<String, String>,
    /// How many series with variable labels all families of the runtime may hold together;
    /// past it, new label combinations fold into their family's overflow series and are
    /// counted. `DYN_METRICS_MAX_SERIES`, default 100,000.
    pub max_series_total: usize,
    /// The `worker_id` label on every series of the runtime, at every level, as Dynamo
    /// injects it: generated at start by default; `DYN_WORKER_ID`, an id of letters, digits,
    /// `_` and `-`, or `off` for none. A frontend that describes other workers
    /// by their ids turns it off.
    pub worker_id: WorkerId,
    /// The names of the labels endpoints of this runtime may carry beside the hierarchy
    /// labels, as Dynamo's `metrics_labels` (`model`, `model_name`), for
    /// [`Component::endpoint_with_labels`](crate::Component::endpoint_with_labels);
    /// `DYN_METRICS_ENDPOINT_LABELS`, names separated by commas, default none. The labels the
    /// program's `#[instrument_endpoint(.., labels(..))]` functions give are added to them.
    /// Every endpoint family then has them: an endpoint without a value for one does not
    /// write it. A runtime without any pays nothing for them.
    pub endpoint_labels: Vec<String>,
    /// Labels on every series of the runtime, ours, foreign and relayed, after `worker_id`
    /// (Dynamo's open #10801): `DYN_METRICS_CONST_LABELS`, `name=value` pairs separated by
    /// commas (`cluster=a,region=b`), default none. Each name is checked by the one rule table
    /// at startup (not a hierarchy label, `worker_id`, an endpoint label, `le`, `quantile`, a
    /// reserved or invalid name). A family's own label of the same name wins.
    pub const_labels: Vec<(String, String)>,
    /// How long a graceful shutdown lets in-flight requests and streams finish;
    /// `DYN_SHUTDOWN_TIMEOUT_SECS`, default 30. From the environment it is also the system
    /// status server's `shutdown_grace`.
    pub shutdown_timeout: Duration,
    /// The OTLP export to start with the runtime, if any (feature `otlp`); from the
    /// environment when `OTEL_METRICS_EXPORTER` names `otlp` (see
    /// [`OtlpConfig::from_lookup`](crate::OtlpConfig::from_lookup)).
    #[cfg(feature = "otlp")]
    pub otlp: Option<crate::OtlpConfig>,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            system_server: None,
            namespace: "dynamo".to_owned(),
            #[cfg(feature = "gpu")]
            gpu: Some(crate::GpuConfig::default()),
            starting_ready: true,
            tokio_metrics: true,
            renames: BTreeMap::new(),
            max_series_total: naming::DEFAULT_SERIES_BUDGET,
            worker_id: WorkerId::Generated,
            endpoint_labels: Vec::new(),
            const_labels: Vec::new(),
            shutdown_timeout: Duration::from_secs(30),
            #[cfg(feature = "otlp")]
            otlp: None,
        }
    }
}

impl RuntimeConfig {
    /// This configuration with [`worker_id`](Self::worker_id) set to `id`.
    #[must_use]
    pub fn with_worker_id(mut self, id: WorkerId) -> Self {
        self.worker_id = id;
        self
    }

    /// The component and endpoint names of the instrumented function declared as
    /// `component/endpoint`, after [`renames`](Self::renames).
    ///
    /// # Errors
    /// [`Error::InvalidHierarchyName`] when a rename gives a name that breaks the rule of
    /// [`check_hierarchy_name`](crate::naming::check_hierarchy_name), or renames an endpoint
    /// to something other than `component/endpoint`.
    pub fn instrumented_names<'a>(
        &'a self,
        component: &'a str,
        endpoint: &'a str,
    ) -> Result<(&'a str, &'a str)> {
        let check = |level, name: &str| {
            naming::check_hierarchy_name(name).map_err(|reason| Error::InvalidHierarchyName {
                level,
                name: name.to_owned(),
                reason,
            })
        };
        let names = if let Some(to) = self.renames.get(&format!("{component}/{endpoint}")) {
            to.split_once('/')
                .ok_or_else(|| Error::InvalidHierarchyName {
                    level: "endpoint",
                    name: to.clone(),
                    reason: naming::NameError::InvalidHierarchyChar {
                        ch: '/',
                        index: to.len(),
                    },
                })?
        } else if let Some(to) = self.renames.get(component) {
            (to.as_str(), endpoint)
        } else {
            (component, endpoint)
        };
        check("component", names.0)?;
        check("endpoint", names.1)?;
        Ok(names)
    }

    /// Reads `DYN_SYSTEM_PORT`, `DYN_SYSTEM_HOST`, `DYN_SYSTEM_WEB_CONFIG_FILE`,
    /// `DYN_SYSTEM_STARTING_HEALTH_STATUS`, `DYN_NAMESPACE`, `DYN_WORKER_ID`,
    /// `DYN_METRICS_ENDPOINT_LABELS`, `DYN_METRICS_CONST_LABELS`, `DYN_METRICS_MAX_SERIES`,
    /// `DYN_METRICS_RENAME` and `DYN_METRICS_TOKIO`; and
    /// the OpenTelemetry variables when `OTEL_METRICS_EXPORTER` names `otlp`.
    ///
    /// # Errors
    /// [`Error::Env`] naming the variable when a value cannot be used (a port outside
    /// `0..=65535`, a host that is not an IP address, an unknown health status, an OTLP
    /// setting the exporter cannot use, `OTEL_METRICS_EXPORTER=otlp` in a build without the
    /// `otlp` feature).
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|var| std::env::var(var).ok())
    }

    /// Like [`from_env`](Self::from_env), reading variables through `lookup`.
    ///
    /// # Errors
    /// As [`from_env`](Self::from_env).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let env = |var: &'static str| lookup(var).map(|v| (var, v.trim().to_owned()));
        let bad = |var, value: String, reason| Error::Env { var, value, reason };
        let mut config = RuntimeConfig::default();
        #[cfg(feature = "otlp")]
        {
            config.otlp = crate::OtlpConfig::from_lookup(&lookup)?;
        }
        #[cfg(not(feature = "otlp"))]
        if let Some((var, value)) = env("OTEL_METRICS_EXPORTER")
            && value.split(',').any(|e| e.trim() == "otlp")
        {
            return Err(bad(
                var,
                value,
                "dynamo-metrics was built without its `otlp` feature",
            ));
        }
        if let Some((var, value)) = env("DYN_SYSTEM_PORT") {
            let port = value
                .parse::<u16>()
                .map_err(|_| bad(var, value.clone(), "expected a port number from 0 to 65535"))?;
            let mut server = SystemServerConfig {
                port,
                ..SystemServerConfig::default()
            };
            if let Some((var, value)) = env("DYN_SYSTEM_HOST") {
                server.host = value
                    .parse()
                    .map_err(|_| bad(var, value.clone(), "expected an IPv4 or IPv6 address"))?;
            }
            if let Some((_, file)) =
                env("DYN_SYSTEM_WEB_CONFIG_FILE").filter(|(_, f)| !f.is_empty())
            {
                server.web_config_file = Some(file.into());
            }
            config.system_server = Some(server);
        }
        #[cfg(feature = "gpu")]
        {
            config.gpu = crate::GpuConfig::from_lookup(&lookup)?;
        }
        if let Some((var, value)) = env("DYN_NAMESPACE") {
            if naming::check_hierarchy_name(&value).is_err() {
                return Err(bad(
                    var,
                    value,
                    "expected a namespace name of letters, digits, `_` and `-`",
                ));
            }
            config.namespace = value;
        }
        if let Some((var, value)) = env("DYN_WORKER_ID") {
            config.worker_id = match value.as_str() {
                "off" => WorkerId::Off,
                id if naming::check_hierarchy_name(id).is_ok() => WorkerId::Fixed(value.clone()),
                _ => {
                    return Err(bad(
                        var,
                        value,
                        "expected `off` or an id of letters, digits, `_` and `-`",
                    ));
                }
            };
        }
        if let Some((var, value)) = env("DYN_METRICS_ENDPOINT_LABELS") {
            let names: Vec<String> = value
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect();
            if crate::registry::identity::Identity::new(None, &names, &[]).is_err() {
                return Err(bad(
                    var,
                    value,
                    "expected label names separated by commas, each once, none of dynamo_namespace, dynamo_component, dynamo_endpoint, worker_id, le or quantile",
                ));
            }
            config.endpoint_labels = names;
        }
        if let Some((var, value)) = env("DYN_METRICS_CONST_LABELS") {
            let pairs: Option<Vec<(String, String)>> = value
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k.trim().to_owned(), v.trim().to_owned()))
                })
                .collect();
            let Some(pairs) = pairs else {
                return Err(bad(
                    var,
                    value,
                    "expected name=value pairs separated by commas",
                ));
            };
            // The name and the rule it breaks, at startup.
            crate::registry::identity::Identity::new(None, &config.endpoint_labels, &pairs)?;
            config.const_labels = pairs;
        }
        if let Some((var, value)) = env("DYN_SHUTDOWN_TIMEOUT_SECS") {
            let secs: f64 = value
                .parse()
                .ok()
                .filter(|s: &f64| s.is_finite() && *s >= 0.0 && *s <= 86_400.0)
                .ok_or_else(|| bad(var, value.clone(), "expected seconds from 0 to 86400"))?;
            config.shutdown_timeout = Duration::from_secs_f64(secs);
        }
        if let Some(server) = &mut config.system_server {
            server.shutdown_grace = config.shutdown_timeout;
        }
        if let Some((var, value)) = env("DYN_METRICS_MAX_SERIES") {
            config.max_series_total = value
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(var, value.clone(), "expected a whole number above 0"))?;
        }
        if let Some((var, value)) = env("DYN_METRICS_RENAME") {
            for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                let (from, to) = pair
                    .split_once('=')
                    .filter(|(from, to)| rename_shape_ok(from, to))
                    .ok_or_else(|| {
                        bad(
                            var,
                            value.clone(),
                            "expected from=to pairs separated by commas, each side a component or component/endpoint of letters, digits, `_` and `-`",
                        )
                    })?;
                config.renames.insert(from.to_owned(), to.to_owned());
            }
        }
        if let Some((var, value)) = env("DYN_METRICS_TOKIO") {
            config.tokio_metrics = match value.as_str() {
                "1" | "true" | "on" => true,
                "0" | "false" | "off" => false,
                _ => return Err(bad(var, value, "expected 1, true, on, 0, false or off")),
            };
        }
        if let Some((var, value)) = env("DYN_SYSTEM_STARTING_HEALTH_STATUS") {
            config.starting_ready = match value.as_str() {
                "ready" => true,
                "notready" => false,
                _ => return Err(bad(var, value, "expected `ready` or `notready`")),
            };
        }
        Ok(config)
    }
}

/// The `worker_id` of a runtime's series. See [`RuntimeConfig::worker_id`].
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WorkerId {
    /// A random 64-bit id in hexadecimal, made when the runtime starts (Dynamo writes its
    /// instance ids so).
    #[default]
    Generated,
    /// This id: a word of letters, digits, `_` and `-`.
    Fixed(String),
    /// No `worker_id` label: a process that is not a worker, or one whose ids come from
    /// elsewhere (a relabelling scrape).
    Off,
}

impl WorkerId {
    /// The label value this setting gives a runtime starting now; `None` when off.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a fixed id that is not a word of letters, digits, `_` and
    /// `-` (the rule of [`check_hierarchy_name`](crate::naming::check_hierarchy_name)).
    pub(crate) fn resolve(&self) -> Result<Option<String>> {
        match self {
            WorkerId::Generated => Ok(Some(format!(
                "{:x}",
                crate::registry::identity::random_u64()
            ))),
            WorkerId::Fixed(id) => match naming::check_hierarchy_name(id) {
                Ok(()) => Ok(Some(id.clone())),
                Err(reason) => Err(Error::InvalidName {
                    what: "worker id",
                    name: id.clone(),
                    reason,
                }),
            },
            WorkerId::Off => Ok(None),
        }
    }
}

/// Whether `from=to` renames a component to a component or an endpoint to an endpoint, each
/// part a valid hierarchy name.
fn rename_shape_ok(from: &str, to: &str) -> bool {
    let parts = |s: &str| -> Option<usize> {
        s.split('/')
            .map(|p| naming::check_hierarchy_name(p).ok())
            .try_fold(0, |n, ok| ok.map(|()| n + 1))
    };
    matches!((parts(from), parts(to)), (Some(a), Some(b)) if a == b && a <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(vars: &[(&str, &str)]) -> Result<RuntimeConfig> {
        RuntimeConfig::from_lookup(|k| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn no_port_no_server() {
        assert_eq!(parse(&[]).unwrap(), RuntimeConfig::default());
        assert!(
            parse(&[("DYN_SYSTEM_HOST", "127.0.0.1")])
                .unwrap()
                .system_server
                .is_none()
        );
    }

    #[test]
    fn port_and_host() {
        let c = parse(&[("DYN_SYSTEM_PORT", "0"), ("DYN_SYSTEM_HOST", "::1")]).unwrap();
        let server = c.system_server.unwrap();
        assert_eq!(server.addr(), "[::1]:0".parse().unwrap());
        let c = parse(&[("DYN_SYSTEM_PORT", "40000")]).unwrap();
        assert_eq!(
            c.system_server.unwrap().addr(),
            "0.0.0.0:40000".parse().unwrap()
        );
    }

    #[test]
    fn renames_of_instrumented_names() {
        let c = parse(&[(
            "DYN_METRICS_RENAME",
            "backend=prefill, router/route=router-b/route2",
        )])
        .unwrap();
        assert_eq!(
            c.instrumented_names("backend", "generate").unwrap(),
            ("prefill", "generate")
        );
        assert_eq!(
            c.instrumented_names("router", "route").unwrap(),
            ("router-b", "route2")
        );
        assert_eq!(
            c.instrumented_names("router", "other").unwrap(),
            ("router", "other")
        );
        for bad in [
            "backend",
            "a=b=c",
            "a=b/c",
            "a/b=c",
            "a=Back End",
            "a/b/c=d/e/f",
            "=x",
        ] {
            assert!(
                matches!(
                    parse(&[("DYN_METRICS_RENAME", bad)]),
                    Err(Error::Env {
                        var: "DYN_METRICS_RENAME",
                        ..
                    })
                ),
                "{bad}"
            );
        }
        let mut c = RuntimeConfig::default();
        c.renames.insert("backend".into(), "Back End".into());
        assert_eq!(
            c.instrumented_names("backend", "generate")
                .unwrap_err()
                .to_string(),
            "invalid component name \"Back End\": character ' ' at byte 4 is not allowed; namespace, component and endpoint names use letters, digits, `_` and `-`"
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = parse(&[("DYN_SYSTEM_PORT", "70000")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "invalid value \"70000\" for environment variable DYN_SYSTEM_PORT: expected a port number from 0 to 65535"
        );
        let err = parse(&[("DYN_SYSTEM_PORT", "1"), ("DYN_SYSTEM_HOST", "example.com")]);
        assert!(matches!(
            err,
            Err(Error::Env {
                var: "DYN_SYSTEM_HOST",
                ..
            })
        ));
        let err = parse(&[("DYN_SYSTEM_STARTING_HEALTH_STATUS", "maybe")]);
        assert!(matches!(
            err,
            Err(Error::Env {
                var: "DYN_SYSTEM_STARTING_HEALTH_STATUS",
                ..
            })
        ));
        assert!(
            !parse(&[("DYN_SYSTEM_STARTING_HEALTH_STATUS", "notready")])
                .unwrap()
                .starting_ready
        );
    }
}
