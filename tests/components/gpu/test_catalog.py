"""GPU catalog: models, product labels, MIG geometry and layout validation.

The upstream checks (every layout NVIDIA ships in mig-parted's config-default.yaml
validates and renders identically) are in test_catalog_mig_parted.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components import versions
from components.gpu.catalog import (
    COMPUTE_SLICES,
    MEMORY_SLICES,
    Architecture,
    DeclaredGpuModel,
    GpuModel,
    gfd_product_label,
    model_for_device,
    models,
    shipped_layouts,
    spec,
    validate_mig_layout,
)

# Profile names per model: the MIG user guide's tables for A30/A100, and for the rest
# the driver's MIG-backed vGPU types (`<board>-<g>-<GB>C[ME]`, g_nv_name_released.h
# @ 595.45.04) or, for GB300 and the RTX PRO 6000 variants, mig-parted's layouts.
SEVEN = ("1g.{0}gb", "1g.{0}gb+me", "1g.{1}gb", "2g.{1}gb", "3g.{2}gb", "4g.{2}gb", "7g.{3}gb")
PROFILES = {
    GpuModel.A100_40GB: [p.format(5, 10, 20, 40) for p in SEVEN],
    GpuModel.A100_80GB: [p.format(10, 20, 40, 80) for p in SEVEN],
    GpuModel.H100_80GB: [p.format(10, 20, 40, 80) for p in SEVEN],
    GpuModel.H100_94GB: [p.format(12, 24, 47, 94) for p in SEVEN],
    GpuModel.H20_96GB: [p.format(12, 24, 48, 96) for p in SEVEN],
    GpuModel.GH200_144GB: [p.format(18, 36, 72, 144) for p in SEVEN],
    GpuModel.H200_141GB: [p.format(18, 35, 71, 141) for p in SEVEN],
    GpuModel.B200_180GB: [p.format(23, 45, 90, 180) for p in SEVEN],
    GpuModel.GB200_186GB: [p.format(23, 47, 93, 186) for p in SEVEN]
    + ["1g.24gb", "1g.24gb+me", "3g.95gb", "4g.95gb", "7g.189gb"],
    GpuModel.B300_269GB: [p.format(34, 67, 135, 269) for p in SEVEN],
    GpuModel.GB300_278GB: [p.format(35, 70, 139, 278) for p in SEVEN],
    GpuModel.A30_24GB: ["1g.6gb", "1g.6gb+me", "2g.12gb", "2g.12gb+me", "4g.24gb"],
    GpuModel.RTX_PRO_6000_96GB: [
        "1g.24gb",
        "1g.24gb+gfx",
        "1g.24gb-me",
        "1g.24gb+me.all",
        "2g.48gb",
        "2g.48gb+gfx",
        "2g.48gb-me",
        "2g.48gb+me.all",
        "4g.96gb",
        "4g.96gb+gfx",
    ],
}
NO_MIG = [
    GpuModel.L40S_48GB,
    GpuModel.L40_48GB,
    GpuModel.L4_24GB,
    GpuModel.A10_24GB,
    GpuModel.A40_48GB,
]


@pytest.mark.parametrize("model", list(PROFILES))
def test_profile_names_match_nvidia_tables(model: GpuModel) -> None:
    assert list(spec(model).mig_profiles) == PROFILES[model]


@pytest.mark.parametrize(
    ("model", "compute", "memory"),
    [
        ("A30-24GB", 4, 4),
        ("RTX-PRO-6000-96GB", 4, 4),
        *[(m, 7, 8) for m in ("A100-40GB", "A100-80GB", "H100-80GB", "H200-141GB")],
        *[(m, 7, 8) for m in ("B200-180GB", "GB200-186GB", "B300-269GB", "GB300-278GB")],
        *[(m.value, 0, 0) for m in NO_MIG],
    ],
)
def test_slices_per_model(model: str, compute: int, memory: int) -> None:
    gpu = spec(model)
    assert (gpu.compute_slices, gpu.memory_slices, gpu.mig_capable) == (
        compute,
        memory,
        compute > 0,
    )


@pytest.mark.parametrize("model", models())
def test_geometry_is_consistent(model: GpuModel) -> None:
    """Each profile's `Ng` prefix is its compute slices, its GB that share of the GPU's
    memory (rounded), and it fits the GPU alone at its instance limit."""
    gpu = spec(model)
    assert gpu.compute_slices <= COMPUTE_SLICES
    assert gpu.memory_slices <= MEMORY_SLICES
    sizes = {int(p.name.split(".")[1].split("gb")[0]) for p in gpu.mig_profiles.values()}
    for profile in gpu.mig_profiles.values():
        assert profile.name.startswith(f"{profile.compute_slices}g.")
        share = gpu.memory_gb * profile.memory_slices / gpu.memory_slices
        gb = int(profile.name.split(".")[1].split("gb")[0])
        # GB200's second naming (189GB) is up to 3 GB above the 186GB share.
        assert abs(gb - share) <= (3.5 if model is GpuModel.GB200_186GB else 0.5), profile
        assert all(
            0 <= start <= gpu.memory_slices - profile.memory_slices for start in profile.placements
        )
        assert validate_mig_layout(model, {profile.name: profile.max_instances}) == []
        assert validate_mig_layout(model, {profile.name: profile.max_instances + 1}) != []
    assert bool(sizes) == gpu.mig_capable


@pytest.mark.parametrize(
    ("model", "label", "memory", "mnnvl"),
    [
        ("A100-40GB", "NVIDIA-A100-SXM4-40GB", 40, False),
        ("A100-80GB", "NVIDIA-A100-SXM4-80GB", 80, False),
        ("A100-80GB-PCIe", "NVIDIA-A100-80GB-PCIe", 80, False),
        ("A30-24GB", "NVIDIA-A30", 24, False),
        ("H100-80GB", "NVIDIA-H100-80GB-HBM3", 80, False),
        ("H100-94GB", "NVIDIA-H100-NVL", 94, False),
        ("H20-96GB", "NVIDIA-H20", 96, False),
        ("GH200-96GB", "NVIDIA-GH200-480GB", 96, False),
        ("GH200-144GB", "NVIDIA-GH200-144G-HBM3e", 144, False),
        ("H200-141GB", "NVIDIA-H200", 141, False),
        ("H200-141GB-NVL", "NVIDIA-H200-NVL", 141, False),
        ("B200-180GB", "NVIDIA-B200", 180, False),
        ("GB200-186GB", "NVIDIA-GB200", 186, True),
        ("B300-269GB", "NVIDIA-B300-SXM6-AC", 269, False),
        ("GB300-278GB", "NVIDIA-GB300", 278, True),
        ("RTX-PRO-6000-96GB", "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition", 96, False),
        ("L40S-48GB", "NVIDIA-L40S", 48, False),
        ("L40-48GB", "NVIDIA-L40", 48, False),
        ("L4-24GB", "NVIDIA-L4", 24, False),
    ],
)
def test_spec(model: str, label: str, memory: int, mnnvl: bool) -> None:
    gpu = spec(model)
    assert (gpu.product_label, gpu.memory_gb, gpu.multi_node_nvlink) == (label, memory, mnnvl)


@pytest.mark.parametrize(
    ("name", "label"),
    [
        ("NVIDIA H100 80GB HBM3", "NVIDIA-H100-80GB-HBM3"),
        ("NVIDIA A100-SXM4-40GB", "NVIDIA-A100-SXM4-40GB"),
        ("NVIDIA GH200 144G HBM3e", "NVIDIA-GH200-144G-HBM3e"),
        ("  NVIDIA  L40S ", "NVIDIA-L40S"),  # runs of blanks become one dash
        ("NVIDIA (R) X/Y", "NVIDIA-R-XY"),  # GFD drops characters outside [A-Za-z0-9-_. ]
    ],
)
def test_gfd_product_label_is_gfds_sanitise(name: str, label: str) -> None:
    assert gfd_product_label(name) == label


@pytest.mark.parametrize("model", models())
def test_every_model_has_device_ids_and_labels(model: GpuModel) -> None:
    gpu = spec(model)
    assert gpu.device_ids and all(model_for_device(d) is model for d in gpu.device_ids)
    assert gpu.product_labels == tuple(gfd_product_label(n) for n in gpu.nvml_names)
    # H100-96GB (0x233D) is not in NVIDIA's driver name table: hosts state its label.
    assert bool(gpu.product_label) == (model is not GpuModel.H100_96GB)
    assert isinstance(gpu.architecture, Architecture)


def test_model_names_are_unique_per_device_and_legacy_names_stay() -> None:
    assert model_for_device("0x233010de") is GpuModel.H100_80GB
    assert model_for_device("0x000010DE") is None
    legacy = ["A100-40GB", "A100-80GB", "H100-80GB", "H100-94GB", "H200-141GB"]
    assert all(GpuModel(name) for name in [*legacy, "B200-180GB", "GB200-186GB"])


@pytest.mark.parametrize(
    ("model", "open_only"),
    [
        ("H100-80GB", False),
        ("A30-24GB", False),
        ("L40S-48GB", False),
        ("GH200-96GB", True),
        ("B200-180GB", True),
        ("GB300-278GB", True),
        ("RTX-PRO-6000-96GB", True),  # a Blackwell without a B in its name
    ],
)
def test_open_kernel_modules(model: str, open_only: bool) -> None:
    assert spec(model).open_kernel_modules_only is open_only
    assert versions.requires_open_kernel_modules(model) is open_only


def test_unknown_model_lists_known_models() -> None:
    with pytest.raises(ValueError, match="unknown GPU model 'V100'; known models: A100-40GB"):
        spec("V100")


def test_declared_models() -> None:
    x = DeclaredGpuModel("X-96GB", product_label="NVIDIA-X", memory_gb=96, mig=False)
    gpu = spec(x)
    assert (gpu.listed, gpu.product_label, gpu.memory_gb, gpu.mig_capable) == (
        False,
        "NVIDIA-X",
        96,
        False,
    )
    assert (x == "X-96GB", x.value, x.listed, gpu.multi_node_nvlink) == (
        True,
        "X-96GB",
        False,
        False,
    )
    # A catalog model whose label NVIDIA's table lacks takes the stated one.
    h = spec(DeclaredGpuModel("H100-96GB", product_label="NVIDIA-H100-96GB-HBM3"))
    assert (h.listed, h.product_label, h.mig_capable) == (True, "NVIDIA-H100-96GB-HBM3", True)
    assert (
        validate_mig_layout(DeclaredGpuModel("H100-96GB", product_label="L"), {"3g.48gb": 2}) == []
    )
    with pytest.raises(ValueError, match="facts are incomplete"):
        spec(DeclaredGpuModel("X-96GB", memory_gb=96))


@pytest.mark.parametrize(
    "layout",
    [
        {"7g.80gb": 1},
        {"1g.10gb": 7},
        {"1g.20gb": 4},
        {"2g.20gb": 3, "1g.10gb": 1},
        {"3g.40gb": 2},
        {"4g.40gb": 1, "3g.40gb": 1},
        {"4g.40gb": 1, "1g.10gb": 3},
        {"3g.40gb": 1, "2g.20gb": 1, "1g.10gb": 2},
        {"1g.10gb+me": 1, "1g.10gb": 6},
        {"1g.20gb": 1, "1g.10gb": 5},
    ],
)
def test_valid_h100_layouts(layout: dict[str, int]) -> None:
    assert validate_mig_layout("H100-80GB", layout) == []


@pytest.mark.parametrize(
    ("model", "layout"),
    [
        ("A30-24GB", {"1g.6gb": 4}),
        ("A30-24GB", {"2g.12gb": 1, "1g.6gb": 2}),
        ("A30-24GB", {"2g.12gb+me": 1, "2g.12gb": 1}),
        ("RTX-PRO-6000-96GB", {"2g.48gb": 1, "1g.24gb+gfx": 2}),
        ("RTX-PRO-6000-96GB", {"1g.24gb+me.all": 1, "1g.24gb-me": 3}),
        ("GB200-186GB", {"3g.95gb": 1, "2g.47gb": 1, "1g.24gb": 2}),
        ("GB300-278GB", {"1g.35gb": 7}),
        ("B300-269GB", {"3g.135gb": 1, "2g.67gb": 1, "1g.34gb": 2}),
    ],
)
def test_valid_layouts_of_new_models(model: str, layout: dict[str, int]) -> None:
    assert validate_mig_layout(model, layout) == []


@pytest.mark.parametrize(
    ("model", "layout", "expected"),
    [
        (
            "H100-80GB",
            {"1g.5gb": 1},
            "'1g.5gb' is not a MIG profile of H100-80GB; allowed: 1g.10gb, 1g.10gb+me, "
            "1g.20gb, 2g.20gb, 3g.40gb, 4g.40gb, 7g.80gb",
        ),
        (
            "H100-80GB",
            {"7g.80gb": 2},
            "7g.80gb: 2 instances requested, one H100-80GB GPU fits at most 1",
        ),
        (
            "H100-80GB",
            {"1g.10gb+me": 2},
            "1g.10gb+me: 2 instances requested, one H100-80GB GPU fits at most 1",
        ),
        (
            "GB200-186GB",
            {"1g.23gb": 8},
            "1g.23gb: 8 instances requested, one GB200-186GB GPU fits at most 7",
        ),
        ("H100-80GB", {"1g.10gb": 0}, "1g.10gb: count must be >= 1, got 0"),
        ("H100-80GB", {}, "the layout is empty; give at least one profile with a count >= 1"),
        (
            "B200-180GB",
            {"4g.90gb": 1, "2g.45gb": 2},
            "profiles 4g.90gb x1, 2g.45gb x2 use 8 compute slices; a GPU has 7",
        ),
        (
            "H100-80GB",
            {"3g.40gb": 2, "1g.10gb": 1},
            "profiles 3g.40gb x2, 1g.10gb x1 do not fit the GPU's 8 memory slices "
            "(no valid placement, see `nvidia-smi mig -lgipp`)",
        ),
        (
            "H200-141GB",
            {"1g.35gb": 4, "1g.18gb": 1},
            "profiles 1g.35gb x4, 1g.18gb x1 do not fit the GPU's 8 memory slices "
            "(no valid placement, see `nvidia-smi mig -lgipp`)",
        ),
        # The A30 has 4 compute slices, not 7 (the old catalog assumed 7 everywhere).
        (
            "A30-24GB",
            {"2g.12gb": 2, "1g.6gb": 1},
            "profiles 2g.12gb x2, 1g.6gb x1 use 5 compute slices; a GPU has 4",
        ),
        (
            "A30-24GB",
            {"1g.6gb": 5},
            "1g.6gb: 5 instances requested, one A30-24GB GPU fits at most 4",
        ),
        (
            "RTX-PRO-6000-96GB",
            {"1g.24gb+me.all": 2},
            "1g.24gb+me.all: 2 instances requested, one RTX-PRO-6000-96GB GPU fits at most 1",
        ),
        (
            "L40S-48GB",
            {"1g.6gb": 1},
            "L40S-48GB does not support MIG; use sharing mode exclusive, time-slicing or mps",
        ),
        (
            "GB200-186GB",
            {"3g.93gb": 1, "3g.95gb": 1},
            "profiles 3g.93gb, 3g.95gb mix the two namings of GB200-186GB's profiles (a "
            "driver shows one of them); use names of one: 1g.23gb, 1g.23gb+me, 1g.47gb, "
            "2g.47gb, 3g.93gb, 4g.93gb, 7g.186gb; or 1g.47gb, 2g.47gb, 1g.24gb, "
            "1g.24gb+me, 3g.95gb, 4g.95gb, 7g.189gb",
        ),
    ],
)
def test_invalid_layouts(model: str, layout: dict[str, int], expected: str) -> None:
    assert validate_mig_layout(model, layout) == [expected]


UNLISTED_MIG = DeclaredGpuModel("X-96GB", product_label="NVIDIA-X", memory_gb=96, mig=True)


@pytest.mark.parametrize(
    ("model", "layout", "expected"),
    [
        (UNLISTED_MIG, {"3g.48gb": 2}, []),
        (UNLISTED_MIG, {"1g.12gb+me": 1, "1g.12gb": 6}, []),
        (
            UNLISTED_MIG,
            {"half": 2},
            [
                "'half' is not a MIG profile name (<compute>g.<memory>gb, optionally +me, "
                "e.g. 1g.12gb or 3g.48gb)"
            ],
        ),
        (UNLISTED_MIG, {"1g.12gb": 0}, ["1g.12gb: count must be >= 1, got 0"]),
        (
            UNLISTED_MIG,
            {"4g.48gb": 2},
            ["profiles 4g.48gb x2 use 8 compute slices; no MIG GPU has more than 7"],
        ),
        (
            UNLISTED_MIG,
            {"2g.48gb": 3},
            ["profiles 2g.48gb x3 use 144 GB; the host states memoryGb 96"],
        ),
        (
            DeclaredGpuModel("Y", product_label="NVIDIA-Y", memory_gb=24, mig=False),
            {"1g.6gb": 1},
            [
                "the host states mig: false for Y; set mig: true if the GPU supports MIG, "
                "or use sharing mode exclusive, time-slicing or mps"
            ],
        ),
    ],
)
def test_layouts_of_unlisted_models_get_the_checks_without_geometry(
    model: DeclaredGpuModel, layout: dict[str, int], expected: list[str]
) -> None:
    assert validate_mig_layout(model, layout) == expected


def test_shipped_layouts() -> None:
    assert shipped_layouts("A30-24GB")["all-balanced"] == {"1g.6gb": 2, "2g.12gb": 1}
    # all-1g.10gb has one entry per device group: 7 on 80GB GPUs, 4 on 40GB ones.
    assert shipped_layouts("A100-80GB")["all-1g.10gb"] == {"1g.10gb": 7}
    assert shipped_layouts("A100-40GB-PCIe")["all-1g.10gb"] == {"1g.10gb": 4}
    assert shipped_layouts("GB300-278GB")["all-1g.35gb"] == {"1g.35gb": 7}
    assert shipped_layouts("H200-141GB")["all-1g.35gb"] == {"1g.35gb": 4}
    assert "all-1g.35gb" not in shipped_layouts("H200-141GB-NVL")  # filtered to 0x2335
    assert shipped_layouts("L40S-48GB") == {}


def test_docs_catalog_table_lists_every_model() -> None:
    """docs/gpu-platform.md's catalog table names every model with its facts."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "gpu-platform.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[2:-1]]
        for line in docs.split("## GPU catalog", 1)[1].split("\n\n", 3)[2].splitlines()[2:]
    }
    assert list(rows) == [m.value for m in models()]
    for model in models():
        gpu = spec(model)
        _arch, memory, slices, label = rows[model.value][:4]
        assert int(memory) == gpu.memory_gb
        assert slices == (f"{gpu.compute_slices}/{gpu.memory_slices}" if gpu.mig_capable else "no")
        assert all(f"`{label_}`" in label for label_ in gpu.product_labels)
