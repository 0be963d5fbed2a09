//! A runtime's OTLP export (feature `otlp`): started from its configuration or by hand,
//! flushed on demand, sent a last time at shutdown.

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Weak};
use std::time::{SystemTime, UNIX_EPOCH};

use super::{DistributedRuntime, RuntimeInner};
use crate::error::{Error, Result};
use crate::exposition::otlp::{self, Context, Resource};
use crate::otlp::{OtlpConfig, OtlpMetrics, Source, exporter};

impl Source for RuntimeInner {
    fn encode_otlp(
        &self,
        resource: &Resource,
        ctx: &mut Context<'_>,
        buffer: &mut Vec<u8>,
    ) -> usize {
        self.refresh();
        otlp::encode_request(&*self.store, resource, ctx, buffer)
    }

    fn started_unix_nanos(&self) -> u64 {
        let started = SystemTime::now()
            .checked_sub(self.started.elapsed())
            .unwrap_or(UNIX_EPOCH);
        exporter::unix_nanos(started)
    }
}

impl DistributedRuntime {
    /// Starts exporting every family of the runtime (what `/metrics` shows) to an OTLP
    /// receiver, every `config.interval`, until [`shutdown`](Self::shutdown) sends a last
    /// export or the runtime is dropped. Must be called inside a tokio runtime.
    /// [`from_config`](Self::from_config) calls it when the configuration has an
    /// [`otlp`](crate::RuntimeConfig::otlp) (from the environment: `OTEL_METRICS_EXPORTER=otlp`).
    ///
    /// The resource carries `service.name` (`OTEL_SERVICE_NAME`, else
    /// `unknown_service:<executable>`), `service.instance.id` and `dynamo.worker_id` (the
    /// runtime's worker id, if any), `dynamo.namespace`, `host.name`, `telemetry.sdk.*`, and
    /// `config.resource_attributes`, which win over the others. The exporter's own families
    /// (`dynamo_metrics_otlp_*`) are created at zero.
    ///
    /// # Errors
    /// [`Error::Otlp`] when an export already runs, the endpoint or a TLS file cannot be used,
    /// or it is called outside a tokio runtime.
    pub fn start_otlp_export(&self, config: &OtlpConfig) -> Result<()> {
        let mut slot = self.inner.otlp.lock();
        if slot.is_some() {
            return Err(Error::Otlp {
                reason: "this runtime already exports".to_owned(),
            });
        }
        let metrics = OtlpMetrics::register(&self.inner.scope)?;
        let resource = Resource {
            attributes: resource_attributes(&self.inner, config),
            scope: scope(),
        };
        let source: Weak<dyn Source> = Arc::downgrade(&self.inner) as Weak<dyn Source>;
        *slot = Some(exporter::start(source, config, resource, metrics)?);
        Ok(())
    }

    /// Exports now, after the export in flight if any; the data points the receiver took.
    ///
    /// # Errors
    /// [`Error::Otlp`] when no export runs, or this one was not delivered (the reason, after
    /// the retries the export timeout allows).
    pub async fn flush_otlp(&self) -> Result<u64> {
        let commands = self
            .inner
            .otlp
            .lock()
            .as_ref()
            .map(exporter::Handle::commands);
        match commands {
            Some(commands) => exporter::flush(&commands).await,
            None => Err(Error::Otlp {
                reason: "no export runs".to_owned(),
            }),
        }
    }

    /// The OTLP `ExportMetricsServiceRequest` (protobuf) of everything `/metrics` shows now,
    /// cumulative, with the resource a default [`OtlpConfig`] gives: what an export would send,
    /// for a transport of your own or to look at.
    pub fn encode_otlp(&self) -> bytes::Bytes {
        // An OTLP request of counters is about the size of their text page.
        let mut buffer = Vec::with_capacity(self.inner.last_render.load(Relaxed) * 5 / 4);
        let start = self.write_otlp(&mut buffer);
        bytes::Bytes::from(buffer).slice(start..)
    }

    /// As [`encode_otlp`](Self::encode_otlp), into `buffer` (cleared first; its allocation is
    /// reused, as [`render_into`](Self::render_into) reuses a `String`); the message, a slice
    /// of it.
    pub fn encode_otlp_into<'a>(&self, buffer: &'a mut Vec<u8>) -> &'a [u8] {
        let start = self.write_otlp(buffer);
        &buffer[start..]
    }

    fn write_otlp(&self, buffer: &mut Vec<u8>) -> usize {
        let resource = self.inner.default_resource.get_or_init(|| Resource {
            attributes: resource_attributes(&self.inner, &OtlpConfig::default()),
            scope: scope(),
        });
        let mut ctx = Context {
            start: self.inner.started_unix_nanos(),
            now: exporter::unix_nanos(SystemTime::now()),
            delta: None,
            points: 0,
        };
        self.inner.encode_otlp(resource, &mut ctx, buffer)
    }

    /// Sends the last export within the shutdown timeout and stops the export, if it runs.
    pub(super) async fn stop_otlp_export(&self) {
        let handle = self.inner.otlp.lock().take();
        if let Some(handle) = handle {
            handle.shutdown(self.inner.shutdown_timeout).await;
        }
    }
}

/// The instrumentation scope of every export: this crate and its version.
fn scope() -> (String, String) {
    (
        "dynamo-metrics".to_owned(),
        env!("CARGO_PKG_VERSION").to_owned(),
    )
}

/// The resource's attributes: what the runtime knows, then the configured ones, which win.
fn resource_attributes(inner: &RuntimeInner, config: &OtlpConfig) -> Vec<(String, String)> {
    let executable = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    let mut attributes = vec![
        (
            "service.name".to_owned(),
            format!("unknown_service:{executable}"),
        ),
        ("telemetry.sdk.name".to_owned(), "dynamo-metrics".to_owned()),
        ("telemetry.sdk.language".to_owned(), "rust".to_owned()),
        (
            "telemetry.sdk.version".to_owned(),
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        ("dynamo.namespace".to_owned(), inner.namespace.clone()),
    ];
    if let Some(id) = &inner.worker_id {
        attributes.push(("service.instance.id".to_owned(), id.clone()));
        attributes.push(("dynamo.worker_id".to_owned(), id.clone()));
    }
    if let Some(host) = host {
        attributes.push(("host.name".to_owned(), host));
    }
    for (k, v) in &config.resource_attributes {
        attributes.retain(|(key, _)| key != k);
        attributes.push((k.clone(), v.clone()));
    }
    attributes
}
