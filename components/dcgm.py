"""DCGM fields: what dcgm-exporter exports, and what the GPU alert rules need (pure data).

A neutral module between the two components that share these facts: the GPU Operator
(`components/gpu/gpu_operator.py`) ships dcgm-exporter's metrics list, the
observability component (`components/services/observability.py`) alerts on the series;
neither imports the other.

dcgm-exporter reads ONE metrics CSV (`DCGM FIELD, Prometheus metric type, help`); a
custom list replaces its default list, it does not extend it. Its default list
(`etc/default-counters.csv` in NVIDIA/dcgm-exporter) comments out the ECC and
throttling counters, so `metrics_fields()` is that default list plus every field of
`REQUIRED_DCGM_FIELDS`. Field ids and units:
https://docs.nvidia.com/datacenter/dcgm/latest/dcgm-api/dcgm-api-field-ids.html
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

METRICS_CSV_KEY = "dcgm-metrics.csv"
"""Key the GPU Operator mounts from the ConfigMap named in `dcgmExporter.config.name`."""


@dataclass(frozen=True)
class DcgmField:
    """One row of a dcgm-exporter metrics CSV."""

    name: str
    """DCGM field, e.g. `DCGM_FI_DEV_GPU_TEMP` (also the Prometheus series name)."""
    type: str
    """Prometheus metric type: `gauge`, `counter` or `label`."""
    help: str
    """HELP text of the series."""


DEFAULT_COUNTERS: tuple[DcgmField, ...] = (
    DcgmField("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz)."),
    DcgmField("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz)."),
    DcgmField("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C)."),
    DcgmField("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C)."),
    DcgmField("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W)."),
    DcgmField(
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
        "counter",
        "Total energy consumption since boot (in mJ).",
    ),
    DcgmField("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries."),
    DcgmField("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %)."),
    DcgmField("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %)."),
    DcgmField("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %)."),
    DcgmField("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %)."),
    DcgmField("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered."),
    DcgmField("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB)."),
    DcgmField("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB)."),
    DcgmField("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB)."),
    DcgmField(
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        "counter",
        "Total number of NVLink bandwidth counters for all lanes.",
    ),
    DcgmField("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status"),
    DcgmField(
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for uncorrectable errors",
    ),
    DcgmField(
        "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
        "counter",
        "Number of remapped rows for correctable errors",
    ),
    DcgmField("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed"),
    DcgmField("DCGM_FI_DRIVER_VERSION", "label", "Driver Version"),
    # Profiling (DCP) fields: what tenants read as real utilisation (Volta and newer).
    DcgmField(
        "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active."
    ),
    DcgmField(
        "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
        "gauge",
        "Ratio of cycles the tensor (HMMA) pipe is active.",
    ),
    DcgmField(
        "DCGM_FI_PROF_DRAM_ACTIVE",
        "gauge",
        "Ratio of cycles the device memory interface is active sending or receiving data.",
    ),
    DcgmField(
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        "gauge",
        "The rate of data transmitted over the PCIe bus - including both protocol headers "
        "and data payloads - in bytes per second.",
    ),
    DcgmField(
        "DCGM_FI_PROF_PCIE_RX_BYTES",
        "gauge",
        "The rate of data received over the PCIe bus - including both protocol headers "
        "and data payloads - in bytes per second.",
    ),
)
"""The enabled rows of dcgm-exporter's `etc/default-counters.csv` (NVIDIA/dcgm-exporter
d5e5f510, the list the image uses without a custom config; its
`etc/dcp-metrics-included.csv` enables the same rows), in its order and with its help
texts. `tests/components/test_dcgm.py` compares this tuple with the upstream file in
`../shared/crds/dcgm-exporter/`: change both together."""

_OPTIONAL_COUNTERS: tuple[DcgmField, ...] = (
    DcgmField(
        "DCGM_FI_DEV_POWER_VIOLATION",
        "counter",
        "Throttling duration due to power constraints (in ns).",
    ),
    DcgmField(
        "DCGM_FI_DEV_THERMAL_VIOLATION",
        "counter",
        "Throttling duration due to thermal constraints (in ns).",
    ),
    DcgmField(
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
        "counter",
        "Total number of single-bit volatile ECC errors.",
    ),
    DcgmField(
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        "counter",
        "Total number of double-bit volatile ECC errors.",
    ),
)
"""Rows commented out in the default list that the alert rules need, exactly as the
commented rows there read (type and help text, units included)."""

VIOLATION_COUNTER_UNITS_PER_SECOND = 1_000_000_000
"""`DCGM_FI_DEV_*_VIOLATION` counters count nanoseconds of throttling ("(in ns)" in
dcgm-exporter's default-counters.csv, checked by the tests), so `rate()` of one is in
ns per second and a GPU throttled all the time reads 1e9."""

REQUIRED_DCGM_FIELDS: tuple[str, ...] = (
    "DCGM_FI_DEV_XID_ERRORS",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_MEMORY_TEMP",
    "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
    "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    "DCGM_FI_DEV_THERMAL_VIOLATION",
    "DCGM_FI_DEV_POWER_VIOLATION",
)
"""DCGM fields the GPU alert rules read (`components/services/observability.py`). The
ECC and violation counters are commented out in dcgm-exporter's default list, so the
GPU Operator's metrics config (`metrics_fields()`) adds them."""

_FIELD_RE = re.compile(r"^\s*(DCGM_[A-Z0-9_]+)\s*,")


def metrics_fields(required: Iterable[str] = REQUIRED_DCGM_FIELDS) -> tuple[DcgmField, ...]:
    """dcgm-exporter's default counters, then every `required` field they lack.

    Raises:
        ValueError: a required field this module has no definition (type, help) for.
    """
    known = {f.name: f for f in (*DEFAULT_COUNTERS, *_OPTIONAL_COUNTERS)}
    fields = list(DEFAULT_COUNTERS)
    names = {f.name for f in fields}
    for name in required:
        if name in names:
            continue
        if name not in known:
            raise ValueError(f"no dcgm-exporter definition for DCGM field {name!r}")
        fields.append(known[name])
        names.add(name)
    return tuple(fields)


def render_metrics_csv(fields: Iterable[DcgmField]) -> str:
    """The dcgm-exporter metrics CSV (`DCGM FIELD, Prometheus metric type, help message`)."""
    lines = [
        "# Rendered by gpu-caas (components/dcgm.py): dcgm-exporter's default counters",
        "# plus the fields the GPU alert rules read.",
        "# DCGM FIELD, Prometheus metric type, help message",
    ]
    for field in fields:
        if "," in field.help:
            raise ValueError(f"{field.name}: the help text cannot contain a comma")
        lines.append(f"{field.name}, {field.type}, {field.help}")
    return "\n".join(lines) + "\n"


def csv_field_names(csv: str) -> list[str]:
    """The DCGM fields a metrics CSV enables (comment lines and blanks skipped)."""
    names = []
    for line in csv.splitlines():
        if line.lstrip().startswith("#"):
            continue
        match = _FIELD_RE.match(line)
        if match:
            names.append(match.group(1))
    return names
