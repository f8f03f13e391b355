"""GPU model catalog: memory, GPU Feature Discovery product label, NVLink, MIG geometry.

Pure data plus pure functions. The stack config validates MIG layouts with it, the GPU
platform renders mig-manager configs from it and node labels / Karpenter requirements
use its product labels. Public API: `GpuModel`, `GpuSpec`, `MigProfile`, `spec(model)`,
`validate_mig_layout(model, layout)`, `shipped_layouts(model)`, `model_for_device(id)`,
`gfd_product_label(name)` and `DeclaredGpuModel` (a model outside the catalog, or one
whose label the catalog lacks, described by the host config).

Sources. Every fact below is tested against an upstream file or cites one:

- [mig-parted] NVIDIA's default MIG layouts, NVIDIA/mig-parted
  `deployments/systemd/config-default.yaml` @ bd7160f4 (reference copy
  ../shared/crds/mig-parted/config-default.yaml, generated into
  `components/gpu/mig_layouts.py`). Test: every layout in it validates for every
  catalog model it applies to, every device id in it maps to a catalog model, and the
  GPU Operator renders the same entries (tests/components/gpu/test_catalog_mig_parted.py).
- [mig-guide] NVIDIA MIG user guide, "Supported MIG Profiles"
  https://docs.nvidia.com/datacenter/tesla/mig-user-guide/supported-mig-profiles.html:
  the slice geometry mig-parted does not state. A30-24GB: 4 compute and 4 memory
  slices (profiles 1g.6gb 1/4, 2g.12gb 2/4, 4g.24gb full; 4, 2 and 1 instances; one
  `+me` each). A100 (and every 7-slice model below): 7 compute and 8 memory slices,
  1g 1/8 memory x7, 1g 2/8 x4, 2g 2/8 x3, 3g 4/8 x2, 4g 4/8 x1, 7g full x1, one `1g+me`.
  Placements are `nvidia-smi mig -lgipp`'s: 1g at memory slices 0-6, 2-slice profiles
  at 0/2/4(/6), 3g at 0/4, 4g and 7g at 0.
- [driver-names] NVIDIA/open-gpu-kernel-modules
  `src/nvidia/generated/g_nv_name_released.h` @ df1c9a3d (driver 595.45.04): the name
  NVML reports per PCI device/subsystem id (`nvml_names`), and the MIG-backed vGPU types
  `<board>-<slices>-<GB>C[ME]` that name each board's GPU-instance profiles
  (e.g. `H20-1-12CME` .. `H20-7-96C`: 1g.12gb+me .. 7g.96gb).
- [pci-ids] pciutils/pciids `pci.ids` @ c1c12547: what each device id is
  (e.g. `233d GH100 [H100 96GB]`, `20b1 GA100 [A100 PCIe 40GB]`, `2bb5 GB202GL [RTX PRO
  6000 Blackwell Server Edition]`), for ids the driver table does not name.
- [gfd] NVIDIA/k8s-device-plugin `internal/lm/resource.go` `sanitise()` @ 1b826acc:
  `nvidia.com/gpu.product` is the NVML name without characters outside
  `[A-Za-z0-9-_. ]`, whitespace runs replaced by `-` (`gfd_product_label`).

Model names are `<family>-<GB>` with a `-PCIe`/`-NVL` suffix where the same family and
memory also come as SXM; GB is the full-GPU MIG profile's (what the driver exposes,
e.g. B300-269GB for the 288 GB HBM3e B300) and the data-sheet capacity for GPUs
without MIG.

How a MIG layout fits a GPU (why there are two checks and not one): a 7-slice GPU has
7 compute slices and 8 memory slices. Each GPU-instance profile uses `compute_slices`
of the 7 and may only start at fixed memory-slice offsets (its *placements*). NVML
rejects a layout when the compute slices add up to more than 7 or when the instances
cannot be placed without overlapping memory slices (e.g. two `3g.40gb` plus a
`1g.10gb` on an H100: 7 compute slices, but the two 3g instances already take all 8
memory slices).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType

from components.gpu.mig_layouts import MIG_CONFIGS

COMPUTE_SLICES = 7
"""Compute slices of the largest MIG GPUs (A100 through GB300); A30 and RTX PRO 6000
have 4 (`GpuSpec.compute_slices`)."""
MEMORY_SLICES = 8
"""Memory slices of the largest MIG GPUs; per model: `GpuSpec.memory_slices`."""


class Architecture(StrEnum):
    """GPU architecture (GFD's `nvidia.com/gpu.family`, lower-case there)."""

    AMPERE = "Ampere"
    ADA_LOVELACE = "Ada Lovelace"
    HOPPER = "Hopper"
    BLACKWELL = "Blackwell"


class GpuModel(StrEnum):
    """GPU models of the catalog (`hosts[].gpu.model`; other names need stated facts)."""

    A100_40GB = "A100-40GB"
    """A100 SXM4 40GB."""
    A100_40GB_PCIE = "A100-40GB-PCIe"
    A100_80GB = "A100-80GB"
    """A100 SXM4 80GB."""
    A100_80GB_PCIE = "A100-80GB-PCIe"
    A800_40GB_PCIE = "A800-40GB-PCIe"
    """A800 40GB Active (PCIe)."""
    A800_80GB = "A800-80GB"
    """A800 SXM4 80GB."""
    A800_80GB_PCIE = "A800-80GB-PCIe"
    A30_24GB = "A30-24GB"
    PG506_96GB = "PG506-96GB"
    """PG506-232 (GA100 board with 96GB)."""
    A10_24GB = "A10-24GB"
    A40_48GB = "A40-48GB"
    L4_24GB = "L4-24GB"
    L40_48GB = "L40-48GB"
    L40S_48GB = "L40S-48GB"
    H100_80GB = "H100-80GB"
    """H100 SXM5 80GB HBM3."""
    H100_80GB_PCIE = "H100-80GB-PCIe"
    H100_94GB = "H100-94GB"
    """H100 NVL 94GB (PCIe, NVLink bridge)."""
    H100_96GB = "H100-96GB"
    H800_80GB = "H800-80GB"
    """H800 SXM5."""
    H800_80GB_PCIE = "H800-80GB-PCIe"
    H800_94GB = "H800-94GB"
    """H800 NVL."""
    H20_96GB = "H20-96GB"
    GH200_96GB = "GH200-96GB"
    """GH200 superchip with 96GB HBM3 (GH200 480GB / 120GB by its CPU memory)."""
    GH200_144GB = "GH200-144GB"
    """GH200 superchip with 144GB HBM3e."""
    H200_141GB = "H200-141GB"
    """H200 SXM 141GB."""
    H200_141GB_NVL = "H200-141GB-NVL"
    B200_180GB = "B200-180GB"
    GB200_186GB = "GB200-186GB"
    """GB200 (Grace Blackwell superchip GPU, e.g. in a GB200 NVL72 rack)."""
    B300_269GB = "B300-269GB"
    """B300 SXM6 (Blackwell Ultra, 288GB HBM3e; the driver exposes 269GB)."""
    GB300_278GB = "GB300-278GB"
    """GB300 (Blackwell Ultra superchip GPU, e.g. in a GB300 NVL72 rack)."""
    RTX_PRO_6000_96GB = "RTX-PRO-6000-96GB"
    """RTX PRO 6000 Blackwell Server Edition."""


class DeclaredGpuModel(str):
    """A GPU model name plus the facts a host config states about it.

    The config (`hosts[].gpu`, `autoscale.gpu`) hands this to the platform instead of a
    `GpuModel` when the model is not in the catalog (or the catalog lacks its product
    label), so `spec(declared)` answers from what the host stated. Compares and hashes
    like its name.
    """

    product_label: str | None
    memory_gb: int | None
    mig: bool | None

    def __new__(
        cls,
        name: str,
        *,
        product_label: str | None = None,
        memory_gb: int | None = None,
        mig: bool | None = None,
    ) -> DeclaredGpuModel:
        self = super().__new__(cls, name)
        self.product_label = product_label
        self.memory_gb = memory_gb
        self.mig = mig
        return self

    @property
    def value(self) -> str:
        """The model name (like `GpuModel.value`)."""
        return str.__str__(self)

    @property
    def listed(self) -> bool:
        """Whether the name is a catalog model."""
        return self.value in _MODEL_NAMES


ModelName = GpuModel | DeclaredGpuModel
"""What `hosts[].gpu.model` holds after validation."""


@dataclass(frozen=True)
class MigProfile:
    """One GPU-instance profile of a model, e.g. `3g.40gb` on an H100-80GB."""

    name: str
    compute_slices: int
    """Compute slices used (the `Ng` prefix)."""
    memory_slices: int
    """Memory slices used (out of the model's `memory_slices`)."""
    max_instances: int
    """'Number of Instances Available' in NVIDIA's table."""
    placements: tuple[int, ...]
    """Memory-slice offsets an instance may start at (`nvidia-smi mig -lgipp`)."""


@dataclass(frozen=True)
class GpuSpec:
    """What the platform needs to know about one GPU model."""

    model: ModelName
    memory_gb: int
    """GPU memory in GB (the full-GPU MIG profile's for MIG GPUs)."""
    product_label: str
    """Value GPU Feature Discovery reports as `nvidia.com/gpu.product` (the first of
    `product_labels`)."""
    multi_node_nvlink: bool
    """True when GPUs of several nodes share one NVLink domain (IMEX / ComputeDomains)."""
    mig_profiles: Mapping[str, MigProfile]
    """Valid MIG profiles by name (every naming generation, see `profile_sets`)."""
    compute_slices: int = 0
    """MIG compute slices of the GPU (7 or 4); 0 without MIG."""
    memory_slices: int = 0
    """MIG memory slices of the GPU (8 or 4); 0 without MIG."""
    mig_capable: bool = False
    """The GPU supports MIG (GFD's `nvidia.com/mig.capable`)."""
    profile_sets: tuple[frozenset[str], ...] = ()
    """Profile names per naming generation: driver versions that expose a different
    memory size name the same slices differently (GB200: 3g.93gb or 3g.95gb); one
    layout uses the names of one generation."""
    device_ids: tuple[str, ...] = ()
    """PCI ids as mig-parted's `device-filter` writes them (`0x233010DE`)."""
    nvml_names: tuple[str, ...] = ()
    """Names NVML reports for the model's boards ([driver-names])."""
    architecture: Architecture | None = None
    listed: bool = True
    """False for a model described by the host config (`DeclaredGpuModel`)."""
    product_labels: tuple[str, ...] = field(default=())
    """Every `nvidia.com/gpu.product` value of the model's boards."""

    @property
    def open_kernel_modules_only(self) -> bool:
        """Grace Hopper and Blackwell GPUs only work with the open GPU kernel modules.
        https://developer.nvidia.com/blog/nvidia-transitions-fully-towards-open-source-gpu-kernel-modules/
        """
        return self.architecture is Architecture.BLACKWELL or str(self.model).startswith("GH")


def gfd_product_label(nvml_name: str) -> str:
    """`nvidia.com/gpu.product` for an NVML device name, as GPU Feature Discovery makes it.

    >>> gfd_product_label("NVIDIA RTX PRO 6000 Blackwell Server Edition")
    'NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition'
    """
    return "-".join(re.sub(r"[^A-Za-z0-9\-_. ]", "", nvml_name).split())


# --------------------------------------------------------------------------- #
# Geometry ([mig-guide]; names checked against [mig-parted] and [driver-names])
# --------------------------------------------------------------------------- #

_Shape = tuple[int, int, str, int, tuple[int, ...]]
"""(compute slices, memory slices, name suffix, max instances, placements)."""


@dataclass(frozen=True)
class _Geometry:
    compute_slices: int
    memory_slices: int
    shapes: tuple[_Shape, ...]


_SEVEN = _Geometry(
    7,
    8,
    (
        (1, 1, "", 7, (0, 1, 2, 3, 4, 5, 6)),
        (1, 1, "+me", 1, (0, 1, 2, 3, 4, 5, 6)),
        (1, 2, "", 4, (0, 2, 4, 6)),
        (2, 2, "", 3, (0, 2, 4)),
        (3, 4, "", 2, (0, 4)),
        (4, 4, "", 1, (0,)),
        (7, 8, "", 1, (0,)),
    ),
)
"""A100, A800, H100, H800, H20, GH200, H200, B200, GB200, B300, GB300."""

_A30 = _Geometry(
    4,
    4,
    (
        (1, 1, "", 4, (0, 1, 2, 3)),
        (1, 1, "+me", 1, (0, 1, 2, 3)),
        (2, 2, "", 2, (0, 2)),
        (2, 2, "+me", 1, (0, 2)),
        (4, 4, "", 1, (0,)),
    ),
)
"""A30-24GB ([mig-guide] table, quoted in the module docstring)."""

_RTX_PRO = _Geometry(
    4,
    4,
    (
        (1, 1, "", 4, (0, 1, 2, 3)),
        (1, 1, "+gfx", 4, (0, 1, 2, 3)),
        (1, 1, "-me", 4, (0, 1, 2, 3)),
        (1, 1, "+me.all", 1, (0, 1, 2, 3)),
        (2, 2, "", 2, (0, 2)),
        (2, 2, "+gfx", 2, (0, 2)),
        (2, 2, "-me", 2, (0, 2)),
        (2, 2, "+me.all", 1, (0, 2)),
        (4, 4, "", 1, (0,)),
        (4, 4, "+gfx", 1, (0,)),
    ),
)
"""RTX PRO 6000 Blackwell: 4 slices of 24GB; `+gfx` (graphics), `-me` (no media
engines) and `+me.all` (all media engines) variants, whose instance counts are those of
[mig-parted]'s `all-1g.24gb.gfx` (4), `all-1g.24gb-me` (4), `all-1g.24gb.me.all` (1),
`all-2g.48gb*` (2, 2, 1) and `all-4g.96gb.gfx` (1) layouts."""


def _table(
    geometry: _Geometry, sizes: Iterable[tuple[int, ...]]
) -> tuple[Mapping[str, MigProfile], tuple[frozenset[str], ...]]:
    """A model's profiles from its geometry and, per naming generation, the GB of
    1, 2, 4 (and 8) memory slices."""
    table: dict[str, MigProfile] = {}
    sets: list[frozenset[str]] = []
    for generation in sizes:
        gb = dict(zip((1, 2, 4, 8), generation, strict=False))
        names = []
        for compute, memory, suffix, count, placements in geometry.shapes:
            name = f"{compute}g.{gb[memory]}gb{suffix}"
            table.setdefault(name, MigProfile(name, compute, memory, count, placements))
            names.append(name)
        sets.append(frozenset(names))
    return MappingProxyType(table), tuple(sets)


def _gpu(
    model: GpuModel,
    architecture: Architecture,
    memory_gb: int,
    nvml_names: tuple[str, ...],
    device_ids: tuple[str, ...],
    geometry: _Geometry | None = None,
    sizes: tuple[tuple[int, ...], ...] = (),
    *,
    multi_node_nvlink: bool = False,
) -> GpuSpec:
    profiles, sets = _table(geometry, sizes) if geometry else (MappingProxyType({}), ())
    labels = tuple(gfd_product_label(name) for name in nvml_names)
    return GpuSpec(
        model=model,
        memory_gb=memory_gb,
        product_label=labels[0] if labels else "",
        multi_node_nvlink=multi_node_nvlink,
        mig_profiles=profiles,
        compute_slices=geometry.compute_slices if geometry else 0,
        memory_slices=geometry.memory_slices if geometry else 0,
        mig_capable=geometry is not None,
        profile_sets=sets,
        device_ids=device_ids,
        nvml_names=nvml_names,
        architecture=architecture,
        product_labels=labels,
    )


_AMP, _ADA, _HOP, _BW = (
    Architecture.AMPERE,
    Architecture.ADA_LOVELACE,
    Architecture.HOPPER,
    Architecture.BLACKWELL,
)
M = GpuModel

# Device ids: [mig-parted]'s device-filter spelling of [pci-ids]; NVML names:
# [driver-names] (H100-96GB's 0x233D is not in it: its product label must be stated);
# profile sizes: [mig-parted] names, and [driver-names]' vGPU types for each board.
_SPECS: tuple[GpuSpec, ...] = (
    _gpu(
        M.A100_40GB,
        _AMP,
        40,
        ("NVIDIA A100-SXM4-40GB",),
        ("0x20B010DE",),
        _SEVEN,
        ((5, 10, 20, 40),),
    ),
    # 0x20B1 and 0x20F1 are both "A100 PCIe 40GB" in pci.ids; the driver names 0x20F1.
    _gpu(
        M.A100_40GB_PCIE,
        _AMP,
        40,
        ("NVIDIA A100-PCIE-40GB",),
        ("0x20B110DE", "0x20F110DE"),
        _SEVEN,
        ((5, 10, 20, 40),),
    ),
    _gpu(
        M.A100_80GB,
        _AMP,
        80,
        ("NVIDIA A100-SXM4-80GB",),
        ("0x20B210DE",),
        _SEVEN,
        ((10, 20, 40, 80),),
    ),
    _gpu(
        M.A100_80GB_PCIE,
        _AMP,
        80,
        ("NVIDIA A100 80GB PCIe",),
        ("0x20B510DE",),
        _SEVEN,
        ((10, 20, 40, 80),),
    ),
    _gpu(
        M.A800_40GB_PCIE,
        _AMP,
        40,
        ("NVIDIA A800 40GB Active",),
        ("0x20F610DE",),
        _SEVEN,
        ((5, 10, 20, 40),),
    ),
    _gpu(
        M.A800_80GB,
        _AMP,
        80,
        ("NVIDIA A800-SXM4-80GB",),
        ("0x20F310DE",),
        _SEVEN,
        ((10, 20, 40, 80),),
    ),
    _gpu(
        M.A800_80GB_PCIE,
        _AMP,
        80,
        ("NVIDIA A800 80GB PCIe", "NVIDIA A800 80GB PCIe LC"),
        ("0x20F510DE",),
        _SEVEN,
        ((10, 20, 40, 80),),
    ),
    _gpu(M.A30_24GB, _AMP, 24, ("NVIDIA A30",), ("0x20B710DE",), _A30, ((6, 12, 24),)),
    _gpu(
        M.PG506_96GB, _AMP, 96, ("NVIDIA PG506-232",), ("0x20B610DE",), _SEVEN, ((12, 24, 48, 96),)
    ),
    _gpu(M.A10_24GB, _AMP, 24, ("NVIDIA A10",), ("0x223610DE",)),
    _gpu(M.A40_48GB, _AMP, 48, ("NVIDIA A40",), ("0x223510DE",)),
    _gpu(M.L4_24GB, _ADA, 24, ("NVIDIA L4",), ("0x27B810DE",)),
    _gpu(M.L40_48GB, _ADA, 48, ("NVIDIA L40",), ("0x26B510DE",)),
    _gpu(M.L40S_48GB, _ADA, 48, ("NVIDIA L40S",), ("0x26B910DE",)),
    _gpu(
        M.H100_80GB,
        _HOP,
        80,
        ("NVIDIA H100 80GB HBM3",),
        ("0x233010DE",),
        _SEVEN,
        ((10, 20, 40, 80),),
    ),
    _gpu(
        M.H100_80GB_PCIE,
        _HOP,
        80,
        ("NVIDIA H100 PCIe",),
        ("0x233110DE",),
        _SEVEN,
        ((10, 20, 40, 80),),
    ),
    _gpu(M.H100_94GB, _HOP, 94, ("NVIDIA H100 NVL",), ("0x232110DE",), _SEVEN, ((12, 24, 47, 94),)),
    _gpu(M.H100_96GB, _HOP, 96, (), ("0x233D10DE",), _SEVEN, ((12, 24, 48, 96),)),
    _gpu(M.H800_80GB, _HOP, 80, ("NVIDIA H800",), ("0x232410DE",), _SEVEN, ((10, 20, 40, 80),)),
    _gpu(
        M.H800_80GB_PCIE,
        _HOP,
        80,
        ("NVIDIA H800 PCIe",),
        ("0x232210DE",),
        _SEVEN,
        ((10, 20, 40, 80),),
    ),
    _gpu(M.H800_94GB, _HOP, 94, ("NVIDIA H800 NVL",), ("0x233A10DE",), _SEVEN, ((12, 24, 47, 94),)),
    _gpu(M.H20_96GB, _HOP, 96, ("NVIDIA H20",), ("0x232910DE",), _SEVEN, ((12, 24, 48, 96),)),
    _gpu(
        M.GH200_96GB,
        _HOP,
        96,
        ("NVIDIA GH200 480GB", "NVIDIA GH200 120GB"),
        ("0x234210DE",),
        _SEVEN,
        ((12, 24, 48, 96),),
    ),
    _gpu(
        M.GH200_144GB,
        _HOP,
        144,
        ("NVIDIA GH200 144G HBM3e",),
        ("0x234810DE",),
        _SEVEN,
        ((18, 36, 72, 144),),
    ),
    _gpu(M.H200_141GB, _HOP, 141, ("NVIDIA H200",), ("0x233510DE",), _SEVEN, ((18, 35, 71, 141),)),
    _gpu(
        M.H200_141GB_NVL,
        _HOP,
        141,
        ("NVIDIA H200 NVL",),
        ("0x233B10DE",),
        _SEVEN,
        ((18, 35, 71, 141),),
    ),
    _gpu(M.B200_180GB, _BW, 180, ("NVIDIA B200",), ("0x290110DE",), _SEVEN, ((23, 45, 90, 180),)),
    # Two namings: [mig-parted]'s all-balanced for 0x2941 (23/47/93/186, "the setting
    # from the production boards", mig-parted commit ebab1f77) and 24/47/95/189
    # ([driver-names]' GB200-1-24C .. GB200-7-189C; all-3g.95gb, all-7g.189gb).
    _gpu(
        M.GB200_186GB,
        _BW,
        186,
        ("NVIDIA GB200",),
        ("0x294110DE",),
        _SEVEN,
        ((23, 47, 93, 186), (24, 47, 95, 189)),
        multi_node_nvlink=True,
    ),
    _gpu(
        M.B300_269GB,
        _BW,
        269,
        ("NVIDIA B300 SXM6 AC",),
        ("0x318210DE",),
        _SEVEN,
        ((34, 67, 135, 269),),
    ),
    # GB300 has no vGPU types in the driver table: sizes from [mig-parted] only
    # (all-1g.35gb x7 for 0x31C2, all-balanced 1g.35gb/2g.70gb/3g.139gb, all-7g.278gb).
    _gpu(
        M.GB300_278GB,
        _BW,
        278,
        ("NVIDIA GB300",),
        ("0x31C210DE",),
        _SEVEN,
        ((35, 70, 139, 278),),
        multi_node_nvlink=True,
    ),
    _gpu(
        M.RTX_PRO_6000_96GB,
        _BW,
        96,
        ("NVIDIA RTX PRO 6000 Blackwell Server Edition",),
        ("0x2BB510DE",),
        _RTX_PRO,
        ((24, 48, 96),),
    ),
)

_CATALOG: Mapping[GpuModel, GpuSpec] = MappingProxyType({GpuModel(s.model): s for s in _SPECS})
_MODEL_NAMES = frozenset(m.value for m in GpuModel)
_BY_DEVICE: Mapping[str, GpuModel] = MappingProxyType(
    {device: GpuModel(s.model) for s in _SPECS for device in s.device_ids}
)


def models() -> tuple[GpuModel, ...]:
    """Every catalog model, in catalog order."""
    return tuple(GpuModel(s.model) for s in _SPECS)


def spec(model: ModelName | str) -> GpuSpec:
    """Return what the platform knows about `model`.

    A `DeclaredGpuModel` answers from the facts its host stated: an unlisted model
    becomes a spec with `listed=False` (no MIG profiles, no multi-node NVLink); a
    catalog model gets the stated product label when the catalog has none.

    Raises:
        ValueError: `model` is a plain name outside the catalog (the message lists the
            known models).
    """
    if isinstance(model, DeclaredGpuModel):
        return _declared(model)
    try:
        return _CATALOG[GpuModel(model)]
    except ValueError:
        known = ", ".join(m.value for m in GpuModel)
        raise ValueError(f"unknown GPU model {model!r}; known models: {known}") from None


def _declared(model: DeclaredGpuModel) -> GpuSpec:
    if model.listed:
        listed = _CATALOG[GpuModel(model.value)]
        if listed.product_label or not model.product_label:
            return listed
        label = model.product_label
        return replace(listed, model=model, product_label=label, product_labels=(label,))
    if model.product_label is None or model.memory_gb is None or model.mig is None:
        raise ValueError(
            f"GPU model {model.value!r} is not in the catalog and its facts are incomplete"
        )
    return GpuSpec(
        model=model,
        memory_gb=model.memory_gb,
        product_label=model.product_label,
        multi_node_nvlink=False,
        mig_profiles=MappingProxyType({}),
        mig_capable=model.mig,
        listed=False,
        product_labels=(model.product_label,),
    )


def model_for_device(device_id: str) -> GpuModel | None:
    """The catalog model of a PCI id (`0x233010DE`, any case), or None."""
    return _BY_DEVICE.get(device_id.upper().replace("0X", "0x"))


def shipped_layouts(model: ModelName | str) -> dict[str, dict[str, int]]:
    """NVIDIA's default layouts ([mig-parted]) that mig-manager applies to `model`.

    An entry applies when its `device-filter` lists one of the model's PCI ids, or when
    it has no filter and every profile it names is one of the model's (mig-parted
    applies unfiltered entries to every GPU; on others it fails). `all-disabled` and
    `all-enabled` (no instances) are left out.

    Returns:
        Config name -> `{profile: instances per GPU}`, in the file's order.
    """
    gpu = spec(model)
    found: dict[str, dict[str, int]] = {}
    for name, entries in MIG_CONFIGS.items():
        for entry in entries:
            devices = dict(entry.mig_devices)
            if not entry.mig_enabled or not devices:
                continue
            if entry.device_filter:
                applies = bool(set(entry.device_filter) & set(gpu.device_ids))
            else:
                applies = gpu.mig_capable and set(devices) <= set(gpu.mig_profiles)
            if applies:
                found[name] = devices
                break
    return found


def validate_mig_layout(model: ModelName | str, layout: Mapping[str, int]) -> list[str]:
    """Check a per-GPU MIG layout (`{profile: count}`) against `model`.

    Returns one sentence per problem (empty when the layout is valid), each saying what
    is wrong and what is allowed, so callers can prefix a config key path. A model
    outside the catalog (`DeclaredGpuModel` with `mig=True`) gets the checks that need
    no geometry: profile-name syntax, counts, compute slices (at most 7) and memory.

    Examples:
        >>> validate_mig_layout("H100-80GB", {"3g.40gb": 2})
        []
        >>> validate_mig_layout("H100-80GB", {"3g.40gb": 2, "1g.10gb": 1})[0][:40]
        'profiles 3g.40gb x2, 1g.10gb x1 do not f'
        >>> validate_mig_layout("A30-24GB", {"2g.12gb": 2})
        []
    """
    gpu = spec(model)
    name = str(gpu.model)
    if not layout:
        return ["the layout is empty; give at least one profile with a count >= 1"]
    if not gpu.mig_capable:
        if not gpu.listed:
            return [
                f"the host states mig: false for {name}; set mig: true if the GPU supports "
                "MIG, or use sharing mode exclusive, time-slicing or mps"
            ]
        return [f"{name} does not support MIG; use sharing mode exclusive, time-slicing or mps"]
    if not gpu.listed:
        return _unlisted_layout_problems(gpu, layout)
    problems: list[str] = []
    allowed = ", ".join(gpu.mig_profiles)
    for profile_name, count in layout.items():
        profile = gpu.mig_profiles.get(profile_name)
        if profile is None:
            problems.append(f"{profile_name!r} is not a MIG profile of {name}; allowed: {allowed}")
        elif count < 1:
            problems.append(f"{profile_name}: count must be >= 1, got {count}")
        elif count > profile.max_instances:
            problems.append(
                f"{profile_name}: {count} instances requested, one {name} GPU fits at "
                f"most {profile.max_instances}"
            )
    if problems:
        return problems
    if not any(set(layout) <= names for names in gpu.profile_sets):
        return [
            f"profiles {', '.join(layout)} mix the two namings of {name}'s profiles (a "
            "driver shows one of them); use names of one: "
            + "; or ".join(", ".join(_ordered(gpu, names)) for names in gpu.profile_sets)
        ]
    wanted = [(gpu.mig_profiles[n], c) for n, c in layout.items()]
    compute = sum(p.compute_slices * c for p, c in wanted)
    summary = ", ".join(f"{p.name} x{c}" for p, c in wanted)
    if compute > gpu.compute_slices:
        return [f"profiles {summary} use {compute} compute slices; a GPU has {gpu.compute_slices}"]
    if not _placeable([p for p, c in wanted for _ in range(c)], gpu.memory_slices):
        return [
            f"profiles {summary} do not fit the GPU's {gpu.memory_slices} memory slices "
            "(no valid placement, see `nvidia-smi mig -lgipp`)"
        ]
    return []


def _ordered(gpu: GpuSpec, names: frozenset[str]) -> list[str]:
    return [n for n in gpu.mig_profiles if n in names]


_PROFILE_NAME = re.compile(r"^(\d+)g\.(\d+)gb([+-][a-z][a-z.]*)?$")


def _unlisted_layout_problems(gpu: GpuSpec, layout: Mapping[str, int]) -> list[str]:
    """What can be checked of a layout without the model's MIG geometry."""
    problems: list[str] = []
    compute = instances = memory = 0
    for profile_name, count in layout.items():
        match = _PROFILE_NAME.match(profile_name)
        if match is None:
            problems.append(
                f"{profile_name!r} is not a MIG profile name (<compute>g.<memory>gb, "
                "optionally +me, e.g. 1g.12gb or 3g.48gb)"
            )
        elif count < 1:
            problems.append(f"{profile_name}: count must be >= 1, got {count}")
        else:
            compute += int(match[1]) * count
            memory += int(match[2]) * count
            instances += count
    if problems:
        return problems
    summary = ", ".join(f"{n} x{c}" for n, c in layout.items())
    if compute > COMPUTE_SLICES:
        return [
            f"profiles {summary} use {compute} compute slices; no MIG GPU has more than "
            f"{COMPUTE_SLICES}"
        ]
    # Profile names round each instance's memory to a whole GB (+0.5 at most).
    if memory > gpu.memory_gb + instances / 2:
        return [f"profiles {summary} use {memory} GB; the host states memoryGb {gpu.memory_gb}"]
    return []


def _placeable(instances: list[MigProfile], memory_slices: int = MEMORY_SLICES) -> bool:
    """Whether `instances` can be placed on one GPU without overlapping memory slices.

    Backtracking over at most 7 instances with at most 7 placements each: tiny.
    """
    ordered = sorted(instances, key=lambda p: -p.memory_slices)
    used = [False] * memory_slices

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
