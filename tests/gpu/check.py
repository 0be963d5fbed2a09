#!/usr/bin/env python3
"""The GPU check: run on a machine with an NVIDIA GPU and driver (CI has none).

Builds the demo (which has the `gpu` feature), starts it on free loopback ports, scrapes the
worker's status server, and compares every `dynamo_gpu_*` gauge of every GPU with what
`nvidia-smi --query-gpu` reads at the same moment, within the tolerances below. Prints one line
per gauge and GPU, and exits 1 when any gauge is missing or out of tolerance.

    python3 tests/gpu/check.py            # builds with cargo first
    python3 tests/gpu/check.py --no-build # uses target/release/dynamo-demo as it is

The unit test `the_real_nvml_source_reads_the_gpus_or_reports_unavailable` (dynamo-metrics,
feature `gpu`) reads the real library on such a machine too: run
`cargo test -p dynamo-metrics --features gpu --lib gpu` beside this script.
"""

import argparse
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MIB = 1024 * 1024

# (our family, nvidia-smi field, factor from nvidia-smi's unit to ours, tolerance, what the
# tolerance is). Readings that move between two reads a moment apart (utilisation, power,
# temperature, clocks under boost) get a tolerance of what they move by; memory is exact to a
# MiB, as nvidia-smi prints it.
GAUGES = [
    ("dynamo_gpu_memory_total_bytes", "memory.total", MIB, ("abs", MIB), "1 MiB"),
    ("dynamo_gpu_memory_used_bytes", "memory.used", MIB, ("abs", 64 * MIB), "64 MiB"),
    ("dynamo_gpu_memory_free_bytes", "memory.free", MIB, ("abs", 64 * MIB), "64 MiB"),
    ("dynamo_gpu_utilization_percent", "utilization.gpu", 1.0, ("abs", 25.0), "25 points"),
    ("dynamo_gpu_memory_utilization_percent", "utilization.memory", 1.0, ("abs", 25.0), "25 points"),
    ("dynamo_gpu_temperature_celsius", "temperature.gpu", 1.0, ("abs", 3.0), "3 C"),
    ("dynamo_gpu_memory_temperature_celsius", "temperature.memory", 1.0, ("abs", 3.0), "3 C"),
    ("dynamo_gpu_power_usage_watts", "power.draw", 1.0, ("rel", 0.15), "15 %"),
    ("dynamo_gpu_power_limit_watts", "power.limit", 1.0, ("rel", 0.01), "1 %"),
    ("dynamo_gpu_sm_clock_hertz", "clocks.sm", 1e6, ("rel", 0.15), "15 %"),
    ("dynamo_gpu_memory_clock_hertz", "clocks.mem", 1e6, ("rel", 0.02), "2 %"),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smi():
    """Every GPU's readings by index: {index: {field: float or None}}, plus uuid and name."""
    fields = ["index", "uuid", "name"] + [g[1] for g in GAUGES]
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={','.join(fields)}", "--format=csv,noheader,nounits"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    gpus = {}
    for line in out.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        row = dict(zip(fields, values))
        for f in fields[3:]:
            try:
                row[f] = float(row[f])
            except ValueError:  # "[N/A]", "[Not Supported]"
                row[f] = None
        gpus[row["index"]] = row
    return gpus


SAMPLE = re.compile(r'^(\w+)\{([^}]*)\} (\S+)$')


def scrape(port):
    """{(family, gpu index): (value, labels)} of the page's dynamo_gpu_* samples."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    samples = {}
    for line in body.splitlines():
        m = SAMPLE.match(line)
        if not m or not m.group(1).startswith("dynamo_gpu_"):
            continue
        labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2)))
        samples[(m.group(1), labels.get("gpu"))] = (float(m.group(3)), labels)
    return samples


def within(ours, theirs, tolerance):
    kind, limit = tolerance
    if kind == "abs":
        return abs(ours - theirs) <= limit
    return abs(ours - theirs) <= limit * max(abs(theirs), 1e-9)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not args.no_build:
        subprocess.run(
            ["cargo", "build", "--release", "-p", "dynamo-examples", "--bin", "dynamo-demo"],
            cwd=ROOT,
            check=True,
        )
    frontend, system = free_port(), free_port()
    env = dict(os.environ, DYN_GPU_SAMPLE_INTERVAL_MS="200")
    demo = subprocess.Popen(
        [
            os.path.join(ROOT, "target/release/dynamo-demo"),
            "--host", "127.0.0.1",
            "--port", str(frontend),
            "--system-port", str(system),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    failures = 0
    try:
        deadline = time.time() + 60
        samples = {}
        while time.time() < deadline:
            try:
                samples = scrape(system)
                if any(k[0] == "dynamo_gpu_up" for k in samples):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        else:
            print("FAIL no dynamo_gpu_up on the worker's page within 60 s")
            return 1
        # Read both sides once more, as close together as they can be.
        time.sleep(0.5)
        samples, gpus = scrape(system), smi()
        for index, gpu in sorted(gpus.items()):
            up = samples.get(("dynamo_gpu_up", index))
            ok = up is not None and up[0] == 1.0 and up[1].get("uuid") == gpu["uuid"]
            failures += not ok
            print(f"{'ok  ' if ok else 'FAIL'} gpu {index} dynamo_gpu_up {up and up[0]} uuid {gpu['uuid']}")
            for family, field, factor, tolerance, said in GAUGES:
                theirs = gpu[field]
                got = samples.get((family, index))
                if theirs is None:
                    # nvidia-smi cannot read it here: we must not invent a value either.
                    ok = got is None
                    print(f"{'ok  ' if ok else 'FAIL'} gpu {index} {family}: nvidia-smi {field} N/A, ours {got and got[0]}")
                elif got is None:
                    ok = False
                    print(f"FAIL gpu {index} {family}: missing (nvidia-smi {field} = {theirs})")
                else:
                    ok = within(got[0], theirs * factor, tolerance)
                    print(f"{'ok  ' if ok else 'FAIL'} gpu {index} {family} = {got[0]:.6g}, nvidia-smi {field} = {theirs * factor:.6g} (within {said})")
                failures += not ok
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=30)
        except subprocess.TimeoutExpired:
            demo.kill()
    print(f"{failures} gauge(s) failed" if failures else "every GPU gauge agrees with nvidia-smi")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
