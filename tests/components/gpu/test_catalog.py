"""GPU catalog: MIG profile tables (NVIDIA MIG user guide) and layout validation."""

from __future__ import annotations

import pytest

from components.gpu.catalog import (
    COMPUTE_SLICES,
    GpuModel,
    spec,
    validate_mig_layout,
)

# Profile names per model, from the MIG user guide's "Supported MIG Profiles" tables.
PROFILES = {
    GpuModel.A100_40GB: [
        "1g.5gb",
        "1g.5gb+me",
        "1g.10gb",
        "2g.10gb",
        "3g.20gb",
        "4g.20gb",
        "7g.40gb",
    ],
    GpuModel.A100_80GB: [
        "1g.10gb",
        "1g.10gb+me",
        "1g.20gb",
        "2g.20gb",
        "3g.40gb",
        "4g.40gb",
        "7g.80gb",
    ],
    GpuModel.H100_80GB: [
        "1g.10gb",
        "1g.10gb+me",
        "1g.20gb",
        "2g.20gb",
        "3g.40gb",
        "4g.40gb",
        "7g.80gb",
    ],
    GpuModel.H100_94GB: [
        "1g.12gb",
        "1g.12gb+me",
        "1g.24gb",
        "2g.24gb",
        "3g.47gb",
        "4g.47gb",
        "7g.94gb",
    ],
    GpuModel.H200_141GB: [
        "1g.18gb",
        "1g.18gb+me",
        "1g.35gb",
        "2g.35gb",
        "3g.71gb",
        "4g.71gb",
        "7g.141gb",
    ],
    GpuModel.B200_180GB: [
        "1g.23gb",
        "1g.23gb+me",
        "1g.45gb",
        "2g.45gb",
        "3g.90gb",
        "4g.90gb",
        "7g.180gb",
    ],
    GpuModel.GB200_186GB: [
        "1g.23gb",
        "1g.23gb+me",
        "1g.47gb",
        "2g.47gb",
        "3g.93gb",
        "4g.93gb",
        "7g.186gb",
    ],
}


@pytest.mark.parametrize("model", list(GpuModel))
def test_profile_names_match_nvidia_tables(model: GpuModel) -> None:
    assert list(spec(model).mig_profiles) == PROFILES[model]


@pytest.mark.parametrize(
    ("model", "label", "memory", "mnnvl"),
    [
        ("A100-40GB", "NVIDIA-A100-SXM4-40GB", 40, False),
        ("A100-80GB", "NVIDIA-A100-SXM4-80GB", 80, False),
        ("H100-80GB", "NVIDIA-H100-80GB-HBM3", 80, False),
        ("H100-94GB", "NVIDIA-H100-NVL", 94, False),
        ("H200-141GB", "NVIDIA-H200", 141, False),
        ("B200-180GB", "NVIDIA-B200", 180, False),
        ("GB200-186GB", "NVIDIA-GB200", 186, True),
    ],
)
def test_spec(model: str, label: str, memory: int, mnnvl: bool) -> None:
    gpu = spec(model)
    assert (gpu.product_label, gpu.memory_gb, gpu.multi_node_nvlink) == (label, memory, mnnvl)


def test_unknown_model_lists_known_models() -> None:
    with pytest.raises(ValueError, match="unknown GPU model 'V100'; known models: A100-40GB"):
        spec("V100")


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
    ],
)
def test_invalid_layouts(model: str, layout: dict[str, int], expected: str) -> None:
    assert validate_mig_layout(model, layout) == [expected]


@pytest.mark.parametrize("model", list(GpuModel))
def test_every_profile_alone_at_max_count_fits(model: GpuModel) -> None:
    for profile in spec(model).mig_profiles.values():
        assert validate_mig_layout(model, {profile.name: profile.max_instances}) == []
        assert profile.compute_slices * 1 <= COMPUTE_SLICES
