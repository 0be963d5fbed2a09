//! The export task: one export at a time, on a timer or when asked, off the request path.
//! See [`start`] for details.

use std::io::Write;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;

use super::config::{OtlpConfig, Temporality};
use super::transport::{Client, Outcome};
use super::{OtlpMetrics, Source};
use crate::error::{Error, Result};
use crate::exposition::otlp::{Context, DeltaState, Resource};

/// What the task is asked to do besides exporting on its timer.
pub(crate) enum Command {
    /// Export now; the points delivered, or why not.
    Flush(oneshot::Sender<std::result::Result<u64, String>>),
    /// Export a last time within the given time, then stop.
    Shutdown(Duration, oneshot::Sender<()>),
}

/// The running export of one runtime.
pub(crate) struct Handle {
    commands: mpsc::Sender<Command>,
}

/// Asks the task behind `commands` to export now (after the export in flight, if any); the
/// points delivered.
pub(crate) async fn flush(commands: &mpsc::Sender<Command>) -> Result<u64> {
    let (reply, answer) = oneshot::channel();
    let gone = || Error::Otlp {
        reason: "the export task has stopped".to_owned(),
    };
    commands
        .send(Command::Flush(reply))
        .await
        .map_err(|_| gone())?;
    answer
        .await
        .map_err(|_| gone())?
        .map_err(|reason| Error::Otlp { reason })
}

impl Handle {
    /// Where to send the task commands.
    pub(crate) fn commands(&self) -> mpsc::Sender<Command> {
        self.commands.clone()
    }

    /// Sends a last export within `limit`, then stops the task.
    pub(crate) async fn shutdown(&self, limit: Duration) {
        let (reply, done) = oneshot::channel();
        if self
            .commands
            .send(Command::Shutdown(limit, reply))
            .await
            .is_ok()
        {
            let _ = tokio::time::timeout(limit + Duration::from_millis(100), done).await;
        }
    }
}

/// Starts exporting `source` as `config` says, every `config.interval` from now. The task
/// ends when the handle is dropped or the source is gone.
///
/// Each export encodes what a scrape would read at that moment and sends it; an export that
/// is not taken is retried (retryable answers only, after the receiver's `Retry-After` or
/// retry information, else after an exponential backoff with jitter) until the export
/// timeout, then given up and counted. Exports never overlap: the next waits for the one in
/// flight, so a slow or absent receiver costs one encoded request and the delta state, and
/// never blocks recording or scrapes.
///
/// # Errors
/// [`Error::Otlp`] when the endpoint or the TLS files cannot be used, or no tokio runtime
/// runs here.
pub(crate) fn start(
    source: Weak<dyn Source>,
    config: &OtlpConfig,
    resource: Resource,
    metrics: OtlpMetrics,
) -> Result<Handle> {
    let resource = Arc::new(resource);
    let Ok(tokio) = tokio::runtime::Handle::try_current() else {
        return Err(Error::Otlp {
            reason: "the export must be started inside a tokio runtime".to_owned(),
        });
    };
    let client = Client::new(config)?;
    let (commands, mut requests) = mpsc::channel(8);
    let mut exporter = Exporter {
        source,
        client,
        resource,
        metrics,
        gzip: config.gzip,
        timeout: config.timeout,
        export_timeout: config.export_timeout,
        backoff: config.retry_backoff,
        delta: (config.temporality == Temporality::Delta).then(DeltaState::default),
        last_failure: None,
        buffer: Vec::new(),
    };
    let interval = config.interval;
    tokio.spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticker.tick() => {
                    if exporter.source.strong_count() == 0 {
                        return;
                    }
                    let _ = exporter.export(exporter.export_timeout).await;
                }
                command = requests.recv() => match command {
                    Some(Command::Flush(reply)) => {
                        let _ = reply.send(exporter.export(exporter.export_timeout).await);
                    }
                    Some(Command::Shutdown(limit, reply)) => {
                        let _ = exporter.export(limit.min(exporter.export_timeout)).await;
                        let _ = reply.send(());
                        return;
                    }
                    None => return,
                },
            }
        }
    });
    Ok(Handle { commands })
}

struct Exporter {
    source: Weak<dyn Source>,
    client: Client,
    resource: Arc<Resource>,
    metrics: OtlpMetrics,
    gzip: bool,
    timeout: Duration,
    export_timeout: Duration,
    backoff: Duration,
    delta: Option<DeltaState>,
    /// Why the last export failed, to log each new reason once.
    last_failure: Option<String>,
    /// The last request's buffer, reused.
    buffer: Vec<u8>,
}

/// Nanoseconds since the epoch (0 before it).
pub(crate) fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Exporter {
    /// One export within `limit`: encode, deliver with retries, commit or discard the delta
    /// state, count. The points delivered, or why not.
    async fn export(&mut self, limit: Duration) -> std::result::Result<u64, String> {
        let started = Instant::now();
        let deadline = started + limit;
        let Some(source) = self.source.upgrade() else {
            return Err("the runtime is gone".to_owned());
        };
        // Encoded on a blocking thread: a relayed URL may make it wait, and an engine served
        // by this same tokio runtime must be able to answer meanwhile.
        let resource = self.resource.clone();
        let (mut delta, mut buffer) = (self.delta.take(), std::mem::take(&mut self.buffer));
        let delta_mode = delta.is_some();
        let encoded = tokio::task::spawn_blocking(move || {
            let mut ctx = Context {
                start: source.started_unix_nanos(),
                now: unix_nanos(SystemTime::now()),
                delta: delta.as_mut(),
                points: 0,
            };
            let start = source.encode_otlp(&resource, &mut ctx, &mut buffer);
            let points = ctx.points;
            (start, points, delta, buffer)
        })
        .await;
        let Ok((start, points, delta, buffer)) = encoded else {
            // The encoding panicked: its state is lost, a delta export starts over.
            self.delta = delta_mode.then(DeltaState::default);
            self.metrics.failure.inc();
            return Err("encoding the export failed".to_owned());
        };
        (self.delta, self.buffer) = (delta, buffer);
        let message = &self.buffer[start..];
        let body = if self.gzip {
            let mut gz = flate2::write::GzEncoder::new(
                Vec::with_capacity(message.len() / 4),
                flate2::Compression::fast(),
            );
            let _ = gz.write_all(message);
            Bytes::from(gz.finish().unwrap_or_default())
        } else {
            Bytes::copy_from_slice(message)
        };
        let result = self.deliver(body, deadline).await;
        self.metrics
            .duration
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok((rejected, message)) => {
                if let Some(delta) = &mut self.delta {
                    delta.commit();
                }
                if rejected > 0 {
                    self.metrics.partial.inc();
                    self.metrics.rejected.inc_by(rejected);
                    tracing::warn!(rejected, message, "OTLP receiver rejected data points");
                } else {
                    self.metrics.success.inc();
                }
                self.metrics.sent.inc_by(points.saturating_sub(rejected));
                if self.last_failure.take().is_some() {
                    tracing::info!("OTLP export delivered again");
                }
                Ok(points.saturating_sub(rejected))
            }
            Err(why) => {
                if let Some(delta) = &mut self.delta {
                    delta.discard();
                }
                self.metrics.failure.inc();
                self.metrics.dropped.inc_by(points);
                if self.last_failure.as_deref() != Some(why.as_str()) {
                    tracing::warn!(points, "OTLP export failed: {why}");
                    self.last_failure = Some(why.clone());
                }
                Err(why)
            }
        }
    }

    /// Sends `body` until it is taken, a final answer comes, or no time is left.
    async fn deliver(
        &mut self,
        body: Bytes,
        deadline: Instant,
    ) -> std::result::Result<(u64, String), String> {
        for attempt in 0u32.. {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err("the export timeout passed".to_owned());
            }
            let wait = self.timeout.min(left);
            let outcome = match tokio::time::timeout(wait, self.client.send(body.clone())).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Retry {
                    after: None,
                    why: format!("no answer within {} ms", wait.as_millis()),
                },
            };
            match outcome {
                Outcome::Delivered { rejected, message } => return Ok((rejected, message)),
                Outcome::Failed { why } => return Err(why),
                Outcome::Retry { after, why } => {
                    let pause = after.unwrap_or_else(|| backoff(self.backoff, attempt));
                    if Instant::now() + pause >= deadline {
                        return Err(format!("{why} (no time left to retry)"));
                    }
                    self.metrics.retries.inc();
                    tokio::time::sleep(pause).await;
                }
            }
        }
        Err("too many retries".to_owned())
    }
}

/// The wait before retry `attempt` (from 0): `first · 2^attempt`, at most 30 s, with half of
/// it random, so that many exporters refused at once do not come back at once.
fn backoff(first: Duration, attempt: u32) -> Duration {
    let full = first
        .saturating_mul(1 << attempt.min(16))
        .min(Duration::from_secs(30));
    let half = full / 2;
    let random = crate::registry::identity::random_u64() % 1024;
    half + half.mul_f64(random as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let first = Duration::from_millis(100);
        for attempt in 0..8 {
            let full = Duration::from_millis(100 << attempt).min(Duration::from_secs(30));
            let b = backoff(first, attempt);
            assert!(b >= full / 2 && b <= full, "{attempt}: {b:?}");
        }
        assert!(backoff(first, 40) <= Duration::from_secs(30));
    }
}
