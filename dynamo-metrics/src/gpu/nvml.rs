//! The NVML source: `libnvidia-ml.so.1` loaded at run time. See [`NvmlSource`] for details.

use nvml_wrapper::Nvml;
use nvml_wrapper::enum_wrappers::device::{Clock, PcieUtilCounter, TemperatureSensor};
use nvml_wrapper::enums::device::SampleValue;
use nvml_wrapper::structs::device::FieldId;

use super::{GpuDevice, GpuReadings, GpuSource};

/// `NVML_FI_DEV_MEMORY_TEMP`: memory temperature, read through NVML's field values.
const MEMORY_TEMP_FIELD: FieldId = FieldId(82);

/// Reads GPUs through NVML. Loading the library is retried at every pass until it works,
/// so a driver loaded after start-up is picked up.
#[derive(Default)]
pub struct NvmlSource {
    nvml: Option<Nvml>,
}

impl std::fmt::Debug for NvmlSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NvmlSource")
            .field("loaded", &self.nvml.is_some())
            .finish()
    }
}

fn read(device: &nvml_wrapper::Device<'_>) -> GpuReadings {
    let f = |v: Result<u32, _>| v.ok().map(f64::from);
    let utilization = device.utilization_rates().ok();
    let memory = device.memory_info().ok();
    #[allow(clippy::cast_precision_loss)] // byte and millijoule counts stay far below 2^53
    let bytes = |v: u64| v as f64;
    let memory_temperature = device
        .field_values_for(&[MEMORY_TEMP_FIELD])
        .ok()
        .and_then(|mut v| v.pop())
        .and_then(Result::ok)
        .and_then(|s| s.value.ok())
        .and_then(|v| match v {
            SampleValue::U32(t) => Some(f64::from(t)),
            #[allow(clippy::cast_precision_loss)]
            SampleValue::U64(t) => Some(t as f64),
            SampleValue::I64(t) if t >= 0 => Some(t as f64),
            SampleValue::F64(t) => Some(t),
            SampleValue::I64(_) => None,
        })
        .filter(|t| *t > 0.0);
    GpuReadings {
        utilization_percent: utilization.as_ref().map(|u| f64::from(u.gpu)),
        memory_utilization_percent: utilization.as_ref().map(|u| f64::from(u.memory)),
        memory_used_bytes: memory.as_ref().map(|m| bytes(m.used)),
        memory_free_bytes: memory.as_ref().map(|m| bytes(m.free)),
        memory_total_bytes: memory.as_ref().map(|m| bytes(m.total)),
        temperature_celsius: f(device.temperature(TemperatureSensor::Gpu)),
        memory_temperature_celsius: memory_temperature,
        power_usage_watts: f(device.power_usage()).map(|mw| mw / 1000.0),
        power_limit_watts: f(device.enforced_power_limit()).map(|mw| mw / 1000.0),
        energy_consumed_joules: device
            .total_energy_consumption()
            .ok()
            .map(|mj| bytes(mj) / 1000.0),
        sm_clock_hertz: f(device.clock_info(Clock::SM)).map(|mhz| mhz * 1e6),
        memory_clock_hertz: f(device.clock_info(Clock::Memory)).map(|mhz| mhz * 1e6),
        // NVML reports KB/s.
        pcie_transmit_bytes_per_second: f(device.pcie_throughput(PcieUtilCounter::Send))
            .map(|kb| kb * 1024.0),
        pcie_receive_bytes_per_second: f(device.pcie_throughput(PcieUtilCounter::Receive))
            .map(|kb| kb * 1024.0),
    }
}

impl GpuSource for NvmlSource {
    fn sample(&mut self) -> Result<Vec<GpuDevice>, String> {
        if self.nvml.is_none() {
            self.nvml =
                Some(Nvml::init().map_err(|e| format!("NVML cannot be initialised ({e})"))?);
        }
        let Some(nvml) = &self.nvml else {
            return Err("NVML is not initialised".to_owned());
        };
        let count = nvml
            .device_count()
            .map_err(|e| format!("NVML cannot count devices ({e})"))?;
        Ok((0..count)
            .map(|index| match nvml.device_by_index(index) {
                Ok(device) => GpuDevice {
                    index,
                    uuid: device.uuid().unwrap_or_default(),
                    model_name: device.name().unwrap_or_default(),
                    readings: Ok(read(&device)),
                },
                Err(e) => GpuDevice {
                    index,
                    uuid: String::new(),
                    model_name: String::new(),
                    readings: Err(e.to_string()),
                },
            })
            .collect())
    }
}
