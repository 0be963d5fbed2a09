//! The families the GPU collector exports: the native `dynamo_gpu_*` ones and the
//! dcgm-exporter compatible ones, each with how to read it from a [`GpuReadings`].

use super::GpuReadings;
use crate::exposition::snapshot::Kind;

/// One family the collector exports: name, help, type and how to read it.
pub(super) struct Family {
    pub(super) name: &'static str,
    pub(super) help: &'static str,
    pub(super) kind: Kind,
    pub(super) read: fn(&GpuReadings) -> Option<f64>,
}

pub(super) const MIB: f64 = 1024.0 * 1024.0;

pub(super) const NATIVE: &[Family] = &[
    Family {
        name: "dynamo_gpu_utilization_percent",
        help: "GPU utilisation: percent of time a kernel ran",
        kind: Kind::Gauge,
        read: |r| r.utilization_percent,
    },
    Family {
        name: "dynamo_gpu_memory_utilization_percent",
        help: "Percent of time device memory was read or written",
        kind: Kind::Gauge,
        read: |r| r.memory_utilization_percent,
    },
    Family {
        name: "dynamo_gpu_memory_used_bytes",
        help: "Framebuffer memory in use, in bytes",
        kind: Kind::Gauge,
        read: |r| r.memory_used_bytes,
    },
    Family {
        name: "dynamo_gpu_memory_free_bytes",
        help: "Framebuffer memory free, in bytes",
        kind: Kind::Gauge,
        read: |r| r.memory_free_bytes,
    },
    Family {
        name: "dynamo_gpu_memory_total_bytes",
        help: "Framebuffer memory installed, in bytes",
        kind: Kind::Gauge,
        read: |r| r.memory_total_bytes,
    },
    Family {
        name: "dynamo_gpu_temperature_celsius",
        help: "GPU die temperature in degrees Celsius",
        kind: Kind::Gauge,
        read: |r| r.temperature_celsius,
    },
    Family {
        name: "dynamo_gpu_memory_temperature_celsius",
        help: "GPU memory temperature in degrees Celsius",
        kind: Kind::Gauge,
        read: |r| r.memory_temperature_celsius,
    },
    Family {
        name: "dynamo_gpu_power_usage_watts",
        help: "GPU power draw in watts",
        kind: Kind::Gauge,
        read: |r| r.power_usage_watts,
    },
    Family {
        name: "dynamo_gpu_power_limit_watts",
        help: "Enforced GPU power limit in watts",
        kind: Kind::Gauge,
        read: |r| r.power_limit_watts,
    },
    Family {
        name: "dynamo_gpu_energy_consumed_joules_total",
        help: "Energy consumed by the GPU since the driver loaded, in joules",
        kind: Kind::Counter,
        read: |r| r.energy_consumed_joules,
    },
    Family {
        name: "dynamo_gpu_sm_clock_hertz",
        help: "GPU SM clock in hertz",
        kind: Kind::Gauge,
        read: |r| r.sm_clock_hertz,
    },
    Family {
        name: "dynamo_gpu_memory_clock_hertz",
        help: "GPU memory clock in hertz",
        kind: Kind::Gauge,
        read: |r| r.memory_clock_hertz,
    },
    Family {
        name: "dynamo_gpu_pcie_transmit_bytes_per_second",
        help: "PCIe transmit throughput in bytes per second",
        kind: Kind::Gauge,
        read: |r| r.pcie_transmit_bytes_per_second,
    },
    Family {
        name: "dynamo_gpu_pcie_receive_bytes_per_second",
        help: "PCIe receive throughput in bytes per second",
        kind: Kind::Gauge,
        read: |r| r.pcie_receive_bytes_per_second,
    },
];

/// The dcgm-exporter names and units the shipped DCGM dashboards query.
pub(super) const DCGM: &[Family] = &[
    Family {
        name: "DCGM_FI_DEV_GPU_UTIL",
        help: "GPU utilization (in %).",
        kind: Kind::Gauge,
        read: |r| r.utilization_percent,
    },
    Family {
        name: "DCGM_FI_DEV_MEM_COPY_UTIL",
        help: "Memory utilization (in %).",
        kind: Kind::Gauge,
        read: |r| r.memory_utilization_percent,
    },
    Family {
        name: "DCGM_FI_DEV_FB_USED",
        help: "Framebuffer memory used (in MiB).",
        kind: Kind::Gauge,
        read: |r| r.memory_used_bytes.map(|b| b / MIB),
    },
    Family {
        name: "DCGM_FI_DEV_FB_FREE",
        help: "Framebuffer memory free (in MiB).",
        kind: Kind::Gauge,
        read: |r| r.memory_free_bytes.map(|b| b / MIB),
    },
    Family {
        name: "DCGM_FI_DEV_GPU_TEMP",
        help: "GPU temperature (in C).",
        kind: Kind::Gauge,
        read: |r| r.temperature_celsius,
    },
    Family {
        name: "DCGM_FI_DEV_MEMORY_TEMP",
        help: "Memory temperature (in C).",
        kind: Kind::Gauge,
        read: |r| r.memory_temperature_celsius,
    },
    Family {
        name: "DCGM_FI_DEV_POWER_USAGE",
        help: "Power draw (in W).",
        kind: Kind::Gauge,
        read: |r| r.power_usage_watts,
    },
    Family {
        name: "DCGM_FI_DEV_SM_CLOCK",
        help: "SM clock frequency (in MHz).",
        kind: Kind::Gauge,
        read: |r| r.sm_clock_hertz.map(|h| h / 1e6),
    },
    Family {
        name: "DCGM_FI_DEV_MEM_CLOCK",
        help: "Memory clock frequency (in MHz).",
        kind: Kind::Gauge,
        read: |r| r.memory_clock_hertz.map(|h| h / 1e6),
    },
    Family {
        name: "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        help: "Total energy consumption since boot (in mJ).",
        kind: Kind::Counter,
        read: |r| r.energy_consumed_joules.map(|j| j * 1000.0),
    },
];

pub(super) const INFO: &str = "dynamo_gpu_info";
pub(super) const UP: &str = "dynamo_gpu_up";
pub(super) const NATIVE_LABELS: [&str; 3] = ["gpu", "uuid", "model_name"];
pub(super) const DCGM_LABELS: [&str; 5] = ["gpu", "UUID", "device", "modelName", "Hostname"];
