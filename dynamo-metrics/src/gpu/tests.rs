//! The collector driven by a deterministic source.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::families::MIB;
use super::*;

/// Hands out the passes it is given, one per `sample`; when the list runs out it blocks until
/// `release` is dropped (a hanging NVML call). Each `sample` first reports how many passes it
/// handed out before: the sampler records a pass before it asks for the next, so those are
/// recorded.
struct Script {
    passes: Vec<std::result::Result<Vec<GpuDevice>, String>>,
    handed_out: usize,
    recorded: mpsc::Sender<usize>,
    hang: mpsc::Receiver<()>,
}

impl GpuSource for Script {
    fn sample(&mut self) -> std::result::Result<Vec<GpuDevice>, String> {
        let _ = self.recorded.send(self.handed_out);
        if self.passes.is_empty() {
            let _ = self.hang.recv();
            return Err("released".to_owned());
        }
        self.handed_out += 1;
        self.passes.remove(0)
    }
}

pub(crate) fn h100(index: u32) -> GpuDevice {
    GpuDevice {
        index,
        uuid: format!("GPU-0000000{index}"),
        model_name: "NVIDIA H100 80GB HBM3".to_owned(),
        readings: Ok(GpuReadings {
            utilization_percent: Some(37.0),
            memory_utilization_percent: Some(12.0),
            memory_used_bytes: Some(1024.0 * MIB),
            memory_free_bytes: Some(80_000.0 * MIB),
            memory_total_bytes: Some(81_024.0 * MIB),
            temperature_celsius: Some(41.0 + f64::from(index)),
            memory_temperature_celsius: if index == 0 { Some(39.0) } else { None },
            power_usage_watts: Some(120.5),
            power_limit_watts: Some(700.0),
            energy_consumed_joules: Some(5000.25),
            sm_clock_hertz: Some(1_980e6),
            memory_clock_hertz: Some(2_619e6),
            pcie_transmit_bytes_per_second: None,
            pcie_receive_bytes_per_second: None,
        }),
    }
}

fn start(
    passes: Vec<std::result::Result<Vec<GpuDevice>, String>>,
    config: GpuConfig,
) -> (GpuCollector, mpsc::Receiver<usize>, mpsc::Sender<()>) {
    let (taken_tx, taken) = mpsc::channel();
    let (release, hang) = mpsc::channel();
    let collector = GpuCollector::start(
        Script {
            passes,
            handed_out: 0,
            recorded: taken_tx,
            hang,
        },
        config,
    );
    (collector, taken, release)
}

fn config(dcgm: bool) -> GpuConfig {
    GpuConfig {
        interval: Duration::from_millis(10),
        stale_after: Duration::from_secs(60),
        dcgm_compat: dcgm,
        hostname: "node-1".to_owned(),
    }
}

/// Waits until every pass of the script has been recorded (the sampler asks for one more),
/// failing after a generous deadline.
fn wait_for_all(recorded: &mpsc::Receiver<usize>, passes: usize) {
    while recorded
        .recv_timeout(Duration::from_secs(30))
        .expect("the sampler recorded its passes")
        != passes
    {}
}

fn render(collector: GpuCollector) -> (String, crate::DistributedRuntime) {
    let rt = crate::DistributedRuntime::with_config(
        &crate::RuntimeConfig::default().with_worker_id(crate::WorkerId::Off),
    )
    .unwrap();
    crate::MetricsRegistry::register_collector(&rt, Box::new(collector)).unwrap();
    let text = rt.render();
    let kept: Vec<&str> = text
        .split_inclusive('\n')
        // The runtime's own metrics: uptime, and the exporter's.
        .filter(|l| !l.contains("uptime_seconds") && !l.contains("dynamo_metrics_"))
        .collect();
    (kept.concat(), rt)
}

const TWO_GPUS_NATIVE: &str = r#"# HELP dynamo_gpu_energy_consumed_joules_total Energy consumed by the GPU since the driver loaded, in joules
# TYPE dynamo_gpu_energy_consumed_joules_total counter
dynamo_gpu_energy_consumed_joules_total{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 5000.25
dynamo_gpu_energy_consumed_joules_total{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 5000.25
# HELP dynamo_gpu_info GPU identity: 1 per GPU, labelled with its index, UUID and model
# TYPE dynamo_gpu_info gauge
dynamo_gpu_info{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 1
dynamo_gpu_info{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 1
# HELP dynamo_gpu_memory_clock_hertz GPU memory clock in hertz
# TYPE dynamo_gpu_memory_clock_hertz gauge
dynamo_gpu_memory_clock_hertz{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 2619000000
dynamo_gpu_memory_clock_hertz{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 2619000000
# HELP dynamo_gpu_memory_free_bytes Framebuffer memory free, in bytes
# TYPE dynamo_gpu_memory_free_bytes gauge
dynamo_gpu_memory_free_bytes{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 83886080000
dynamo_gpu_memory_free_bytes{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 83886080000
# HELP dynamo_gpu_memory_temperature_celsius GPU memory temperature in degrees Celsius
# TYPE dynamo_gpu_memory_temperature_celsius gauge
dynamo_gpu_memory_temperature_celsius{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 39
# HELP dynamo_gpu_memory_total_bytes Framebuffer memory installed, in bytes
# TYPE dynamo_gpu_memory_total_bytes gauge
dynamo_gpu_memory_total_bytes{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 84959821824
dynamo_gpu_memory_total_bytes{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 84959821824
# HELP dynamo_gpu_memory_used_bytes Framebuffer memory in use, in bytes
# TYPE dynamo_gpu_memory_used_bytes gauge
dynamo_gpu_memory_used_bytes{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 1073741824
dynamo_gpu_memory_used_bytes{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 1073741824
# HELP dynamo_gpu_memory_utilization_percent Percent of time device memory was read or written
# TYPE dynamo_gpu_memory_utilization_percent gauge
dynamo_gpu_memory_utilization_percent{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 12
dynamo_gpu_memory_utilization_percent{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 12
# HELP dynamo_gpu_power_limit_watts Enforced GPU power limit in watts
# TYPE dynamo_gpu_power_limit_watts gauge
dynamo_gpu_power_limit_watts{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 700
dynamo_gpu_power_limit_watts{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 700
# HELP dynamo_gpu_power_usage_watts GPU power draw in watts
# TYPE dynamo_gpu_power_usage_watts gauge
dynamo_gpu_power_usage_watts{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 120.5
dynamo_gpu_power_usage_watts{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 120.5
# HELP dynamo_gpu_sm_clock_hertz GPU SM clock in hertz
# TYPE dynamo_gpu_sm_clock_hertz gauge
dynamo_gpu_sm_clock_hertz{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 1980000000
dynamo_gpu_sm_clock_hertz{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 1980000000
# HELP dynamo_gpu_temperature_celsius GPU die temperature in degrees Celsius
# TYPE dynamo_gpu_temperature_celsius gauge
dynamo_gpu_temperature_celsius{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 41
dynamo_gpu_temperature_celsius{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 42
# HELP dynamo_gpu_up 1 when the GPU's latest readings are current, 0 when they failed or are stale
# TYPE dynamo_gpu_up gauge
dynamo_gpu_up{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 1
dynamo_gpu_up{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 1
# HELP dynamo_gpu_utilization_percent GPU utilisation: percent of time a kernel ran
# TYPE dynamo_gpu_utilization_percent gauge
dynamo_gpu_utilization_percent{gpu="0",uuid="GPU-00000000",model_name="NVIDIA H100 80GB HBM3"} 37
dynamo_gpu_utilization_percent{gpu="1",uuid="GPU-00000001",model_name="NVIDIA H100 80GB HBM3"} 37
"#;

#[test]
fn two_gpus_native_names_exact_text() {
    let (collector, taken, _release) = start(vec![Ok(vec![h100(0), h100(1)])], config(false));
    wait_for_all(&taken, 1);
    let (text, _rt) = render(collector);
    assert_eq!(text, TWO_GPUS_NATIVE);
}

#[test]
fn dcgm_mode_adds_dcgm_names_units_and_labels() {
    let (collector, taken, _release) = start(vec![Ok(vec![h100(0)])], config(true));
    wait_for_all(&taken, 1);
    let (text, _rt) = render(collector);
    let dcgm: Vec<&str> = text.lines().filter(|l| l.starts_with("DCGM_")).collect();
    let l = r#"{gpu="0",UUID="GPU-00000000",device="nvidia0",modelName="NVIDIA H100 80GB HBM3",Hostname="node-1"}"#;
    assert_eq!(
        dcgm,
        [
            format!("DCGM_FI_DEV_FB_FREE{l} 80000"),
            format!("DCGM_FI_DEV_FB_USED{l} 1024"),
            format!("DCGM_FI_DEV_GPU_TEMP{l} 41"),
            format!("DCGM_FI_DEV_GPU_UTIL{l} 37"),
            format!("DCGM_FI_DEV_MEMORY_TEMP{l} 39"),
            format!("DCGM_FI_DEV_MEM_CLOCK{l} 2619"),
            format!("DCGM_FI_DEV_MEM_COPY_UTIL{l} 12"),
            format!("DCGM_FI_DEV_POWER_USAGE{l} 120.5"),
            format!("DCGM_FI_DEV_SM_CLOCK{l} 1980"),
            format!("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{l} 5000250"),
        ]
    );
    assert!(text.contains("# TYPE DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION counter\n"));
    assert!(
        text.contains("dynamo_gpu_temperature_celsius{"),
        "native names stay"
    );
}

#[test]
fn a_gpu_that_starts_failing_loses_its_values_not_its_identity() {
    let mut failing = h100(1);
    failing.readings = Err("GPU is lost".to_owned());
    let (collector, taken, _release) = start(
        vec![
            Ok(vec![h100(0), h100(1)]),
            Ok(vec![h100(0), failing.clone()]),
            Ok(vec![h100(0), failing]),
        ],
        config(false),
    );
    wait_for_all(&taken, 3);
    assert_eq!(
        collector.conditions(),
        ["gpu 1 (GPU-00000001)"],
        "logged once, still holding"
    );
    let (text, _rt) = render(collector);
    assert!(text.contains(
        "dynamo_gpu_up{gpu=\"1\",uuid=\"GPU-00000001\",model_name=\"NVIDIA H100 80GB HBM3\"} 0\n"
    ));
    assert!(text.contains(
        "dynamo_gpu_up{gpu=\"0\",uuid=\"GPU-00000000\",model_name=\"NVIDIA H100 80GB HBM3\"} 1\n"
    ));
    assert!(
        !text.contains("dynamo_gpu_temperature_celsius{gpu=\"1\""),
        "no stale value for the lost GPU"
    );
    assert!(text.contains("dynamo_gpu_temperature_celsius{gpu=\"0\""));
}

#[test]
fn a_source_unavailable_from_the_start_exports_nothing_and_logs_once() {
    let passes = (0..5)
        .map(|_| Err("libnvidia-ml.so.1: cannot open shared object file".to_owned()))
        .collect();
    let (collector, taken, _release) = start(passes, config(true));
    wait_for_all(&taken, 5);
    assert_eq!(collector.conditions(), ["unavailable"]);
    let (text, _rt) = render(collector);
    assert!(!text.contains("gpu"), "{text}");
    assert!(!text.contains("DCGM"), "{text}");
}

#[test]
fn a_hanging_source_never_blocks_the_scrape_and_its_values_go_stale() {
    let config = GpuConfig {
        stale_after: Duration::from_millis(200),
        ..config(false)
    };
    // One good pass, then the source hangs until released.
    let (collector, taken, release) = start(vec![Ok(vec![h100(0)])], config);
    wait_for_all(&taken, 1);
    let rt = crate::DistributedRuntime::with_config(
        &crate::RuntimeConfig::default().with_worker_id(crate::WorkerId::Off),
    )
    .unwrap();
    let shared = collector.shared.clone();
    crate::MetricsRegistry::register_collector(&rt, Box::new(collector)).unwrap();
    assert!(
        rt.render()
            .contains("dynamo_gpu_temperature_celsius{gpu=\"0\"")
    );
    // The source hangs until released, so every render here returns without it. Once the
    // pass is older than `stale_after`, its values are left out.
    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        let text = rt.render();
        if !text.contains("dynamo_gpu_temperature_celsius") {
            break text;
        }
        assert!(Instant::now() < deadline, "stale values shown as current");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(text.contains(
        "dynamo_gpu_up{gpu=\"0\",uuid=\"GPU-00000000\",model_name=\"NVIDIA H100 80GB HBM3\"} 0\n"
    ));
    assert!(shared.logged.lock().contains("stale"));
    drop(release);
}

/// The real NVML source: on a machine with an NVIDIA driver it reads every GPU with plausible
/// values (`tests/gpu/check.py` compares them with `nvidia-smi`); elsewhere it reports that
/// NVML cannot be initialised.
#[test]
fn the_real_nvml_source_reads_the_gpus_or_reports_unavailable() {
    let mut source = NvmlSource::default();
    if !std::path::Path::new("/dev/nvidiactl").exists() {
        let err = source.sample().unwrap_err();
        assert!(err.starts_with("NVML cannot be initialised"), "{err}");
        return;
    }
    let devices = source
        .sample()
        .expect("NVML reads the GPUs of a machine with a driver");
    assert!(!devices.is_empty(), "a driver and no GPU");
    for (i, d) in devices.iter().enumerate() {
        assert_eq!(d.index as usize, i);
        assert!(d.uuid.starts_with("GPU-"), "{}", d.uuid);
        assert!(!d.model_name.is_empty());
        let r = d.readings.as_ref().expect("readings");
        let total = r.memory_total_bytes.expect("memory total");
        let used = r.memory_used_bytes.expect("memory used");
        assert!(total > 0.0 && used <= total, "{used} of {total}");
        let temperature = r.temperature_celsius.expect("temperature");
        assert!(temperature > 0.0 && temperature < 150.0, "{temperature}");
        let utilization = r.utilization_percent.expect("utilization");
        assert!((0.0..=100.0).contains(&utilization), "{utilization}");
        assert!(r.power_usage_watts.expect("power") > 0.0);
        assert!(r.sm_clock_hertz.expect("SM clock") > 0.0);
    }
}

#[test]
fn config_from_the_environment() {
    let get = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    assert!(GpuConfig::from_lookup(get(&[])).unwrap().is_some());
    assert!(
        GpuConfig::from_lookup(get(&[("DYN_GPU_METRICS", "off")]))
            .unwrap()
            .is_none()
    );
    let c = GpuConfig::from_lookup(get(&[
        ("DYN_GPU_DCGM_COMPAT", "1"),
        ("DYN_GPU_SAMPLE_INTERVAL_MS", "500"),
    ]))
    .unwrap()
    .unwrap();
    assert!(c.dcgm_compat);
    assert_eq!(c.interval, Duration::from_millis(500));
    assert!(matches!(
        GpuConfig::from_lookup(get(&[("DYN_GPU_METRICS", "maybe")])),
        Err(Error::Env {
            var: "DYN_GPU_METRICS",
            ..
        })
    ));
    assert!(GpuConfig::from_lookup(get(&[("DYN_GPU_SAMPLE_INTERVAL_MS", "0")])).is_err());
}
