"""The catalog against NVIDIA's own MIG layouts: mig-parted's config-default.yaml.

Read from the reference copy (../shared/crds/mig-parted/config-default.yaml, NVIDIA/
mig-parted bd7160f4), not from the generated module, so these tests check the upstream
file itself: every device id in it is a catalog model, every layout validates for each
model it applies to (so each profile it uses is in that model's table, within the
instance limits and placeable), and the GPU Operator renders it to the same entries.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from components import naming
from components.gpu.catalog import (
    GpuModel,
    model_for_device,
    models,
    shipped_layouts,
    spec,
    validate_mig_layout,
)
from components.gpu.gpu_operator import MIG_ALL_DISABLED, NodeGroupGpu, render_mig_config
from tests.support.upstream import CRDS_ROOT

UPSTREAM: dict[str, Any] = yaml.safe_load(
    (CRDS_ROOT / "mig-parted" / "config-default.yaml").read_text(encoding="utf-8")
)
CONFIGS: dict[str, list[dict[str, Any]]] = UPSTREAM["mig-configs"]


def _filter(entry: dict[str, Any]) -> list[str]:
    raw = entry.get("device-filter", [])
    return [raw] if isinstance(raw, str) else list(raw)


def _models(entry: dict[str, Any]) -> list[GpuModel]:
    """The catalog models an entry applies to (mig-parted: the filter, else every GPU
    whose profiles include the entry's)."""
    if _filter(entry):
        return [m for i in _filter(entry) if (m := model_for_device(i)) is not None]
    profiles = set(entry.get("mig-devices") or {})
    return [m for m in models() if spec(m).mig_capable and profiles <= set(spec(m).mig_profiles)]


CASES = [
    pytest.param(name, index, model, id=f"{name}[{index}]-{model.value}")
    for name, entries in CONFIGS.items()
    for index, entry in enumerate(entries)
    if entry.get("mig-enabled") and entry.get("mig-devices")
    for model in _models(entry)
]


def test_every_device_id_is_a_catalog_model() -> None:
    ids = {i for entries in CONFIGS.values() for entry in entries for i in _filter(entry)}
    assert len(ids) == 27
    assert {i: model_for_device(i) for i in ids if model_for_device(i) is None} == {}


def test_every_layout_applies_to_some_model() -> None:
    orphans = [
        (name, index)
        for name, entries in CONFIGS.items()
        for index, entry in enumerate(entries)
        if entry.get("mig-devices") and not _models(entry)
    ]
    assert orphans == []


def test_every_mig_model_of_the_file_gets_layouts() -> None:
    """Each model with a device id in the file has NVIDIA layouts, all-balanced among them."""
    ids = {i for entries in CONFIGS.values() for entry in entries for i in _filter(entry)}
    for model in {model_for_device(i) for i in ids}:
        assert model is not None
        assert "all-balanced" in shipped_layouts(model), model


@pytest.mark.parametrize(("name", "index", "model"), CASES)
def test_nvidia_layout_validates(name: str, index: int, model: GpuModel) -> None:
    layout = CONFIGS[name][index]["mig-devices"]
    assert validate_mig_layout(model, layout) == []


@pytest.mark.parametrize(("name", "index", "model"), CASES)
def test_gpu_operator_renders_nvidia_layout_unchanged(
    name: str, index: int, model: GpuModel
) -> None:
    upstream = CONFIGS[name][index]
    group = NodeGroupGpu(name="g", gpu_model=model, mig_layout=upstream["mig-devices"])
    rendered = render_mig_config([group])["mig-configs"][naming.gpu_config_name("g")]
    expected = {k: v for k, v in upstream.items() if k != "device-filter"}
    assert rendered == [expected]


def test_gpu_operator_renders_all_disabled_unchanged() -> None:
    group = NodeGroupGpu(name="g", gpu_model=GpuModel.L40S_48GB)
    assert render_mig_config([group])["mig-configs"][MIG_ALL_DISABLED] == CONFIGS["all-disabled"]


@pytest.mark.parametrize("model", [m for m in models() if spec(m).mig_capable])
def test_shipped_layouts_are_the_files(model: GpuModel) -> None:
    found = shipped_layouts(model)
    assert found, model
    for name, layout in found.items():
        assert any(dict(e.get("mig-devices") or {}) == layout for e in CONFIGS[name])
