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
    DcgmField("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (MHz)."),
    DcgmField("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (MHz)."),
    DcgmField("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (C)."),
    DcgmField("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (C)."),
    DcgmField("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (W)."),
    DcgmField(
        "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Energy consumed since boot (mJ)."
    ),
    DcgmField("DCGM_FI_DEV_PCIE_TX_THROUGHPUT", "counter", "Bytes sent over PCIe TX (KB)."),
    DcgmField("DCGM_FI_DEV_PCIE_RX_THROUGHPUT", "counter", "Bytes received over PCIe RX (KB)."),
    DcgmField("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "PCIe retries."),
    DcgmField("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (%)."),
    DcgmField("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (%)."),
    DcgmField("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (%)."),
    DcgmField("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (%)."),
    DcgmField("DCGM_FI_DEV_XID_ERRORS", "gauge", "Last XID error seen."),
    DcgmField("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (MiB)."),
    DcgmField("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (MiB)."),
    DcgmField(
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter", "NVLink bandwidth counters of all lanes."
    ),
    DcgmField("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU license status."),
    DcgmField(
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Rows remapped (uncorrectable)."
    ),
    DcgmField("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Rows remapped (correctable)."),
    DcgmField("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether a row remapping failed."),
)
"""The enabled rows of dcgm-exporter's `etc/default-counters.csv` (NVIDIA/dcgm-exporter
main, the list the image uses without a custom config), in its order."""

_OPTIONAL_COUNTERS: tuple[DcgmField, ...] = (
    DcgmField("DCGM_FI_DEV_POWER_VIOLATION", "counter", "Throttled by power limits (us)."),
    DcgmField("DCGM_FI_DEV_THERMAL_VIOLATION", "counter", "Throttled by temperature (us)."),
    DcgmField("DCGM_FI_DEV_ECC_SBE_VOL_TOTAL", "counter", "Single-bit volatile ECC errors."),
    DcgmField("DCGM_FI_DEV_ECC_DBE_VOL_TOTAL", "counter", "Double-bit volatile ECC errors."),
)
"""Rows commented out in the default list that the alert rules need (same field types
and units as the commented rows there)."""

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
