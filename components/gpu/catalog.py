"""GPU model catalog: memory, GPU Feature Discovery product label, NVLink and MIG profiles.

Pure data plus two pure functions. The stack config validates MIG layouts with it and
the GPU platform renders mig-manager configs from it, so the public API is small and
stable: `GpuModel`, `spec(model)`, `validate_mig_layout(model, layout)`.

Sources (read 2026-11):
- MIG profiles, instance limits and placements: NVIDIA MIG user guide, "Supported MIG
  Profiles" https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html
  and "Supported GPUs" (every listed model has 7 compute slices and 8 memory slices).
- Product labels: GPU Feature Discovery sets `nvidia.com/gpu.product` to the NVML device
  name with spaces replaced by dashes
  https://github.com/NVIDIA/k8s-device-plugin/blob/main/docs/gpu-feature-discovery/README.md

How a MIG layout fits a GPU (why there are two checks and not one): a GPU has 7 compute
slices and 8 memory slices. Each GPU-instance profile uses `compute_slices` of the 7 and
may only start at fixed memory-slice offsets (its *placements*). NVML rejects a layout
when the compute slices add up to more than 7 or when the instances cannot be placed
without overlapping memory slices (e.g. two `3g.40gb` plus a `1g.10gb` on an H100: 7
compute slices, but the two 3g instances already take all 8 memory slices).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

COMPUTE_SLICES = 7
"""Compute slices of every MIG-capable GPU in the catalog."""
MEMORY_SLICES = 8
"""Memory slices of every MIG-capable GPU in the catalog."""


class GpuModel(StrEnum):
    """GPU models a host or node group can declare (`hosts[].gpu.model`)."""

    A100_40GB = "A100-40GB"
    A100_80GB = "A100-80GB"
    H100_80GB = "H100-80GB"
    """H100 SXM5 80GB HBM3."""
    H100_94GB = "H100-94GB"
    """H100 NVL 94GB (PCIe, NVLink bridge)."""
    H200_141GB = "H200-141GB"
    B200_180GB = "B200-180GB"
    GB200_186GB = "GB200-186GB"
    """GB200 (Grace Blackwell superchip GPU, e.g. in a GB200 NVL72 rack)."""


@dataclass(frozen=True)
class MigProfile:
    """One GPU-instance profile of a model, e.g. `3g.40gb` on an H100-80GB."""

    name: str
    compute_slices: int
    """Compute slices used (the `Ng` prefix)."""
    memory_slices: int
    """Memory slices used (out of `MEMORY_SLICES`)."""
    max_instances: int
    """'Number of Instances Available' in NVIDIA's table."""
    placements: tuple[int, ...]
    """Memory-slice offsets an instance may start at (`nvidia-smi mig -lgipp`)."""


@dataclass(frozen=True)
class GpuSpec:
    """What the platform needs to know about one GPU model."""

    model: GpuModel
    memory_gb: int
    product_label: str
    """Value GPU Feature Discovery reports as `nvidia.com/gpu.product`."""
    multi_node_nvlink: bool
    """True when GPUs of several nodes share one NVLink domain (IMEX / ComputeDomains)."""
    mig_profiles: Mapping[str, MigProfile]
    """Valid MIG profiles by name."""


# The placement geometry is identical on every model in the catalog (A100 through
# GB200): only the memory size in the profile names differs. So each model's table is
# built from one shape and the per-model memory sizes of NVIDIA's table.
_SHAPES: tuple[tuple[str, int, int, int, tuple[int, ...]], ...] = (
    # (kind, compute slices, memory slices, max instances, placements)
    ("1g", 1, 1, 7, (0, 1, 2, 3, 4, 5, 6)),
    ("1g+me", 1, 1, 1, (0, 1, 2, 3, 4, 5, 6)),
    ("1g-2m", 1, 2, 4, (0, 2, 4, 6)),
    ("2g", 2, 2, 3, (0, 2, 4)),
    ("3g", 3, 4, 2, (0, 4)),
    ("4g", 4, 4, 1, (0,)),
    ("7g", 7, 8, 1, (0,)),
)


def _profiles(small: int, double: int, half: int, full: int) -> Mapping[str, MigProfile]:
    """Build a model's profile table from its memory sizes in GB.

    `small` is the 1-memory-slice size (`1g.<small>gb`), `double` the 2-slice size
    (`1g.<double>gb`, `2g.<double>gb`), `half` the 4-slice size (`3g`, `4g`) and `full`
    the whole GPU (`7g`).
    """
    names = {
        "1g": f"1g.{small}gb",
        "1g+me": f"1g.{small}gb+me",
        "1g-2m": f"1g.{double}gb",
        "2g": f"2g.{double}gb",
        "3g": f"3g.{half}gb",
        "4g": f"4g.{half}gb",
        "7g": f"7g.{full}gb",
    }
    table = {
        names[kind]: MigProfile(names[kind], compute, memory, count, placements)
        for kind, compute, memory, count, placements in _SHAPES
    }
    return MappingProxyType(table)


_CATALOG: Mapping[GpuModel, GpuSpec] = MappingProxyType(
    {
        GpuModel.A100_40GB: GpuSpec(
            GpuModel.A100_40GB, 40, "NVIDIA-A100-SXM4-40GB", False, _profiles(5, 10, 20, 40)
        ),
        GpuModel.A100_80GB: GpuSpec(
            GpuModel.A100_80GB, 80, "NVIDIA-A100-SXM4-80GB", False, _profiles(10, 20, 40, 80)
        ),
        GpuModel.H100_80GB: GpuSpec(
            GpuModel.H100_80GB, 80, "NVIDIA-H100-80GB-HBM3", False, _profiles(10, 20, 40, 80)
        ),
        GpuModel.H100_94GB: GpuSpec(
            GpuModel.H100_94GB, 94, "NVIDIA-H100-NVL", False, _profiles(12, 24, 47, 94)
        ),
        GpuModel.H200_141GB: GpuSpec(
            GpuModel.H200_141GB, 141, "NVIDIA-H200", False, _profiles(18, 35, 71, 141)
        ),
        GpuModel.B200_180GB: GpuSpec(
            GpuModel.B200_180GB, 180, "NVIDIA-B200", False, _profiles(23, 45, 90, 180)
        ),
        GpuModel.GB200_186GB: GpuSpec(
            GpuModel.GB200_186GB, 186, "NVIDIA-GB200", True, _profiles(23, 47, 93, 186)
        ),
    }
)


def spec(model: GpuModel | str) -> GpuSpec:
    """Return the catalog entry of `model`.

    Raises:
        ValueError: `model` is not in the catalog (the message lists the known models).
    """
    try:
        return _CATALOG[GpuModel(model)]
    except ValueError:
        known = ", ".join(m.value for m in GpuModel)
        raise ValueError(f"unknown GPU model {model!r}; known models: {known}") from None


def validate_mig_layout(model: GpuModel | str, layout: Mapping[str, int]) -> list[str]:
    """Check a per-GPU MIG layout (`{profile: count}`) against `model`.

    Returns one sentence per problem (empty when the layout is valid), each saying what
    is wrong and what is allowed, so callers can prefix a config key path.

    Examples:
        >>> validate_mig_layout("H100-80GB", {"3g.40gb": 2})
        []
        >>> validate_mig_layout("H100-80GB", {"3g.40gb": 2, "1g.10gb": 1})[0][:40]
        'profiles 3g.40gb x2, 1g.10gb x1 do not f'
    """
    gpu = spec(model)
    problems: list[str] = []
    if not layout:
        return ["the layout is empty; give at least one profile with a count >= 1"]
    allowed = ", ".join(gpu.mig_profiles)
    for name, count in layout.items():
        profile = gpu.mig_profiles.get(name)
        if profile is None:
            problems.append(
                f"{name!r} is not a MIG profile of {gpu.model.value}; allowed: {allowed}"
            )
        elif count < 1:
            problems.append(f"{name}: count must be >= 1, got {count}")
        elif count > profile.max_instances:
            problems.append(
                f"{name}: {count} instances requested, one {gpu.model.value} GPU fits at "
                f"most {profile.max_instances}"
            )
    if problems:
        return problems
    wanted = [(gpu.mig_profiles[n], c) for n, c in layout.items()]
    compute = sum(p.compute_slices * c for p, c in wanted)
    summary = ", ".join(f"{p.name} x{c}" for p, c in wanted)
    if compute > COMPUTE_SLICES:
        return [f"profiles {summary} use {compute} compute slices; a GPU has {COMPUTE_SLICES}"]
    if not _placeable([p for p, c in wanted for _ in range(c)]):
        return [
            f"profiles {summary} do not fit the GPU's {MEMORY_SLICES} memory slices "
            "(no valid placement, see `nvidia-smi mig -lgipp`)"
        ]
    return []


def _placeable(instances: list[MigProfile]) -> bool:
    """Whether `instances` can be placed on one GPU without overlapping memory slices.

    Backtracking over at most 7 instances with at most 7 placements each: tiny.
    """
    ordered = sorted(instances, key=lambda p: -p.memory_slices)
    used = [False] * MEMORY_SLICES

    def place(i: int) -> bool:
        if i == len(ordered):
            return True
        profile = ordered[i]
        for start in profile.placements:
            span = range(start, start + profile.memory_slices)
            if any(used[s] for s in span):
                continue
            for s in span:
                used[s] = True
            if place(i + 1):
                return True
            for s in span:
                used[s] = False
        return False

    return place(0)
