//! GPU gauges from NVML, sampled in the background and exported as `dynamo_gpu_*` (and, in
//! dcgm-exporter compatibility mode, `DCGM_FI_DEV_*`). See [`GpuCollector`] for details.
//!
//! A producer of [`Snapshot`]s like any foreign collector: it imports `exposition` and
//! `error` only.

mod families;
mod nvml;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto;

use crate::exposition::prometheus_model;
use crate::exposition::snapshot::{Kind, SeriesSnapshot, Snapshot, Value};
use families::{DCGM, DCGM_LABELS, Family, INFO, NATIVE, NATIVE_LABELS, UP};

pub use nvml::NvmlSource;

use crate::error::{Error, Result};

/// What one GPU reported in one pass. Readings the device does not support are `None`. It may
/// gain fields: start from `default()` and set the readings you have.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct GpuReadings {
    /// Percent of time a kernel ran (0-100).
    pub utilization_percent: Option<f64>,
    /// Percent of time device memory was read or written (0-100).
    pub memory_utilization_percent: Option<f64>,
    /// Framebuffer memory in use, bytes.
    pub memory_used_bytes: Option<f64>,
    /// Framebuffer memory free, bytes.
    pub memory_free_bytes: Option<f64>,
    /// Framebuffer memory installed, bytes.
    pub memory_total_bytes: Option<f64>,
    /// GPU die temperature, degrees Celsius.
    pub temperature_celsius: Option<f64>,
    /// Memory temperature, degrees Celsius (not every device reports it).
    pub memory_temperature_celsius: Option<f64>,
    /// Power draw, watts.
    pub power_usage_watts: Option<f64>,
    /// Enforced power limit, watts.
    pub power_limit_watts: Option<f64>,
    /// Energy consumed since the driver loaded, joules.
    pub energy_consumed_joules: Option<f64>,
    /// SM clock, hertz.
    pub sm_clock_hertz: Option<f64>,
    /// Memory clock, hertz.
    pub memory_clock_hertz: Option<f64>,
    /// PCIe transmit throughput, bytes per second.
    pub pcie_transmit_bytes_per_second: Option<f64>,
    /// PCIe receive throughput, bytes per second.
    pub pcie_receive_bytes_per_second: Option<f64>,
}

/// One GPU in one pass: its identity, and its readings or why they failed.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuDevice {
    /// The device index, the `gpu` label.
    pub index: u32,
    /// The device UUID.
    pub uuid: String,
    /// The product name, such as `NVIDIA H100 80GB HBM3`.
    pub model_name: String,
    /// The readings, or the error that stopped them.
    pub readings: std::result::Result<GpuReadings, String>,
}

/// Where GPU readings come from: NVML in production, a fixed source in tests.
pub trait GpuSource: Send + 'static {
    /// Reads every device once. `Err` means no device can be read at all (no library, no
    /// driver); a device that fails alone is a `GpuDevice` with an `Err` reading.
    ///
    /// # Errors
    /// A message saying why nothing can be read.
    fn sample(&mut self) -> std::result::Result<Vec<GpuDevice>, String>;
}

/// Settings of the GPU collector. It may gain fields: start from `default()` or
/// [`from_lookup`](Self::from_lookup) and set the fields you need.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GpuConfig {
    /// Time between two NVML passes; `DYN_GPU_SAMPLE_INTERVAL_MS`, default 2 s.
    pub interval: Duration,
    /// A pass older than this is not presented as current: its values are dropped and
    /// `dynamo_gpu_up` reads 0. Default: three intervals.
    pub stale_after: Duration,
    /// Also export the dcgm-exporter names, units and labels; `DYN_GPU_DCGM_COMPAT=1`.
    pub dcgm_compat: bool,
    /// The `Hostname` label of the dcgm-exporter names.
    pub hostname: String,
}

impl Default for GpuConfig {
    fn default() -> Self {
        let interval = Duration::from_secs(2);
        GpuConfig {
            interval,
            stale_after: interval * 3,
            dcgm_compat: false,
            hostname: hostname(),
        }
    }
}

impl GpuConfig {
    /// The collector settings from the environment, or `None` when `DYN_GPU_METRICS` turns it
    /// off (`0`, `false`, `off`).
    ///
    /// # Errors
    /// [`Error::Env`] for a value that cannot be used.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>> {
        let flag = |var: &'static str| -> Result<Option<bool>> {
            match lookup(var).map(|v| v.trim().to_ascii_lowercase()) {
                None => Ok(None),
                Some(v) => match v.as_str() {
                    "1" | "true" | "on" => Ok(Some(true)),
                    "0" | "false" | "off" => Ok(Some(false)),
                    _ => Err(Error::Env {
                        var,
                        value: v,
                        reason: "expected 1/true/on or 0/false/off",
                    }),
                },
            }
        };
        if flag("DYN_GPU_METRICS")? == Some(false) {
            return Ok(None);
        }
        let mut config = GpuConfig {
            dcgm_compat: flag("DYN_GPU_DCGM_COMPAT")?.unwrap_or(false),
            ..GpuConfig::default()
        };
        if let Some(v) = lookup("DYN_GPU_SAMPLE_INTERVAL_MS") {
            let ms = v
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms > 0)
                .ok_or(Error::Env {
                    var: "DYN_GPU_SAMPLE_INTERVAL_MS",
                    value: v.clone(),
                    reason: "expected a whole number of milliseconds above 0",
                })?;
            config.interval = Duration::from_millis(ms);
            config.stale_after = config.interval * 3;
        }
        Ok(Some(config))
    }
}

/// This machine's host name, for the `Hostname` label.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned())
}

/// The latest pass of the sampler.
struct Pass {
    taken: Instant,
    result: std::result::Result<Vec<GpuDevice>, String>,
}

struct Shared {
    latest: Mutex<Option<Arc<Pass>>>,
    /// Devices seen in the last successful pass, for `up 0` when passes stop coming.
    known: Mutex<Vec<(u32, String, String)>>,
    /// Conditions already logged, so each is logged once while it lasts.
    logged: Mutex<HashSet<String>>,
    stop: AtomicBool,
}

impl Shared {
    /// Logs `condition` once while it holds; `active` false logs its end once.
    fn condition(&self, key: &str, active: bool, message: &str) {
        let mut logged = self.logged.lock();
        if active && logged.insert(key.to_owned()) {
            tracing::warn!("GPU metrics: {message}");
        } else if !active && logged.remove(key) {
            tracing::info!("GPU metrics: {message}");
        }
    }

    fn record(&self, result: std::result::Result<Vec<GpuDevice>, String>) {
        match &result {
            Err(why) => self.condition(
                "unavailable",
                true,
                &format!("no GPU can be read: {why}; no GPU series are exported"),
            ),
            Ok(devices) => {
                self.condition("unavailable", false, "GPUs can be read again");
                self.condition("none", devices.is_empty(), "NVML reports no GPUs");
                for d in devices {
                    let key = format!("gpu {} ({})", d.index, d.uuid);
                    match &d.readings {
                        Err(why) => self.condition(
                            &key,
                            true,
                            &format!("{key} cannot be read: {why}; its values are left out"),
                        ),
                        Ok(_) => self.condition(&key, false, &format!("{key} can be read again")),
                    }
                }
                *self.known.lock() = devices
                    .iter()
                    .map(|d| (d.index, d.uuid.clone(), d.model_name.clone()))
                    .collect();
            }
        }
        *self.latest.lock() = Some(Arc::new(Pass {
            taken: Instant::now(),
            result,
        }));
    }
}

/// Exports GPU gauges: `dynamo_gpu_info` and `dynamo_gpu_up` per GPU, then one family per
/// reading, labelled `gpu` (index), `uuid` and `model_name`.
///
/// A background thread reads every GPU each [`GpuConfig::interval`]; a scrape only reads its
/// latest pass, so an NVML call that is slow or hangs never delays `/metrics`, and a scrape
/// never pays for an NVML pass. A pass older than [`GpuConfig::stale_after`] is not shown as
/// current: values are left out and `dynamo_gpu_up` reads 0. Without NVML, a driver, or GPUs
/// there are no GPU series; each such condition is logged once, when it starts (and once when
/// it ends).
///
/// It is a `prometheus::core::Collector`: register it at any level with
/// [`MetricsRegistry::register_collector`](crate::MetricsRegistry::register_collector), which
/// adds that level's hierarchy labels. In dcgm-exporter compatibility mode it also exports
/// `DCGM_FI_DEV_*` with dcgm-exporter's units and labels (`gpu`, `UUID`, `device`,
/// `modelName`, `Hostname`). The DCGM profiling fields (`DCGM_FI_PROF_*`: graphics engine and
/// tensor pipe activity, PCIe and NVLink bytes) come from DCGM's profiling module, not NVML,
/// and are not exported.
pub struct GpuCollector {
    shared: Arc<Shared>,
    config: GpuConfig,
    descs: Vec<Desc>,
}

impl std::fmt::Debug for GpuCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuCollector")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl GpuCollector {
    /// Starts sampling `source` in a background thread.
    pub fn start(source: impl GpuSource, config: GpuConfig) -> Self {
        let shared = Arc::new(Shared {
            latest: Mutex::new(None),
            known: Mutex::new(Vec::new()),
            logged: Mutex::new(HashSet::new()),
            stop: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&shared);
        let interval = config.interval;
        let spawned = std::thread::Builder::new()
            .name("dynamo-gpu-sampler".to_owned())
            .spawn(move || sample_loop(source, &weak, interval));
        if let Err(e) = spawned {
            shared.condition(
                "thread",
                true,
                &format!("cannot start the sampler thread: {e}"),
            );
        }
        let descs = descs(&config);
        GpuCollector {
            shared,
            config,
            descs,
        }
    }

    /// Starts sampling NVML: no GPU series (and one log line) where NVML cannot be loaded.
    pub fn nvml(config: GpuConfig) -> Self {
        Self::start(NvmlSource::default(), config)
    }

    /// Conditions logged and still holding.
    #[cfg(test)]
    pub(crate) fn conditions(&self) -> Vec<String> {
        let mut c: Vec<String> = self.shared.logged.lock().iter().cloned().collect();
        c.sort();
        c
    }
}

impl Drop for GpuCollector {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }
}

fn sample_loop(mut source: impl GpuSource, shared: &Weak<Shared>, interval: Duration) {
    loop {
        let result = source.sample();
        let Some(shared) = shared.upgrade() else {
            return;
        };
        if shared.stop.load(Ordering::Relaxed) {
            return;
        }
        shared.record(result);
        drop(shared);
        std::thread::sleep(interval);
    }
}

fn descs(config: &GpuConfig) -> Vec<Desc> {
    let native = NATIVE
        .iter()
        .map(|f| (f.name, f.help, &NATIVE_LABELS[..]))
        .chain([
            (
                INFO,
                "GPU identity: 1 per GPU, labelled with its index, UUID and model",
                &NATIVE_LABELS[..],
            ),
            (
                UP,
                "1 when the GPU's latest readings are current, 0 when they failed or are stale",
                &NATIVE_LABELS[..],
            ),
        ]);
    let dcgm = DCGM
        .iter()
        .filter(|_| config.dcgm_compat)
        .map(|f| (f.name, f.help, &DCGM_LABELS[..]));
    native
        .chain(dcgm)
        .filter_map(|(name, help, labels)| {
            let labels = labels.iter().map(|l| (*l).to_owned()).collect();
            Desc::new(name.to_owned(), help.to_owned(), labels, HashMap::new()).ok()
        })
        .collect()
}

fn labels(names: &[&str], values: &[&str]) -> Vec<(String, String)> {
    names
        .iter()
        .zip(values)
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

fn scalar(labels: Vec<(String, String)>, v: f64) -> SeriesSnapshot {
    SeriesSnapshot {
        labels,
        value: Value::Scalar(v),
        exemplars: Vec::new(),
    }
}

fn family(name: &str, help: &str, kind: Kind, series: Vec<SeriesSnapshot>) -> Snapshot {
    Snapshot {
        name: name.to_owned(),
        help: help.to_owned(),
        kind,
        series,
    }
}

impl Collector for GpuCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<proto::MetricFamily> {
        self.snapshots()
            .iter()
            .map(prometheus_model::to_proto)
            .collect()
    }
}

impl GpuCollector {
    /// Every family of the latest pass, in our own model.
    fn snapshots(&self) -> Vec<Snapshot> {
        let pass = self.shared.latest.lock().clone();
        let Some(pass) = pass else { return Vec::new() };
        let stale = pass.taken.elapsed() > self.config.stale_after;
        self.shared.condition(
            "stale",
            stale,
            &format!(
                "no NVML pass completed in the last {:?} (a hanging call?); GPU values are left out until one does",
                self.config.stale_after
            ),
        );
        let devices: Vec<(u32, String, String, Option<&GpuReadings>)> = match (&pass.result, stale)
        {
            (Ok(devices), false) => devices
                .iter()
                .map(|d| {
                    (
                        d.index,
                        d.uuid.clone(),
                        d.model_name.clone(),
                        d.readings.as_ref().ok(),
                    )
                })
                .collect(),
            (Err(_), false) => return Vec::new(),
            (_, true) => self
                .shared
                .known
                .lock()
                .iter()
                .map(|(i, u, m)| (*i, u.clone(), m.clone(), None))
                .collect(),
        };
        if devices.is_empty() {
            return Vec::new();
        }
        let ids: Vec<(String, &str, &str)> = devices
            .iter()
            .map(|(i, u, m, _)| (i.to_string(), u.as_str(), m.as_str()))
            .collect();
        let native_labels = |k: usize| labels(&NATIVE_LABELS, &[&ids[k].0, ids[k].1, ids[k].2]);
        let mut out = vec![
            family(
                INFO,
                "GPU identity: 1 per GPU, labelled with its index, UUID and model",
                Kind::Gauge,
                (0..devices.len())
                    .map(|k| scalar(native_labels(k), 1.0))
                    .collect(),
            ),
            family(
                UP,
                "1 when the GPU's latest readings are current, 0 when they failed or are stale",
                Kind::Gauge,
                devices
                    .iter()
                    .enumerate()
                    .map(|(k, d)| scalar(native_labels(k), if d.3.is_some() { 1.0 } else { 0.0 }))
                    .collect(),
            ),
        ];
        let mut emit = |families: &[Family], label_set: &dyn Fn(usize) -> Vec<(String, String)>| {
            for f in families {
                let series: Vec<SeriesSnapshot> = devices
                    .iter()
                    .enumerate()
                    .filter_map(|(k, d)| d.3.and_then(f.read).map(|v| scalar(label_set(k), v)))
                    .collect();
                if !series.is_empty() {
                    out.push(family(f.name, f.help, f.kind, series));
                }
            }
        };
        emit(NATIVE, &native_labels);
        if self.config.dcgm_compat {
            let host = self.config.hostname.as_str();
            emit(DCGM, &|k| {
                let device = format!("nvidia{}", ids[k].0);
                labels(
                    &DCGM_LABELS,
                    &[&ids[k].0, ids[k].1, &device, ids[k].2, host],
                )
            });
        }
        out
    }
}

#[cfg(test)]
mod tests;
