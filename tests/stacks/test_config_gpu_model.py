"""`hosts[].gpu` / `autoscale.gpu`: catalog models, models outside it, stated facts.

Issue 9 item 1: the catalog was a closed list (GB300, B300, GH200, H20, A30, L40S...
were refused). Each case below is an input that failed before, or the error that now
names exactly what to add.
"""

from __future__ import annotations

from typing import Any

import pytest

from components.gpu.catalog import DeclaredGpuModel, GpuModel, spec
from stacks.config import ConfigError, TenantConfig, parse_tenant
from stacks.config.rules import warnings
from tests.stacks.samples import sample

T = "gpu-caas:tenant"
X_FACTS = {"productLabel": "NVIDIA-X", "memoryGb": 96, "mig": False}


def tenant(**gpu: Any) -> dict[str, Any]:
    """tenant-managed with host gpu-1 (hosts[2], node group nodeGroups[1]) set to `gpu`,
    its group exclusive (no MIG layout)."""
    data = sample("tenant-managed")
    data["hosts"][2]["gpu"] = {"count": 8, **gpu}
    data["nodeGroups"][1]["sharing"] = {"mode": "exclusive"}
    return data


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as error:
        parse_tenant(data)
    return [(p.path, p.message) for p in error.value.problems]


def warned(config: TenantConfig) -> list[tuple[str, str]]:
    return [(w.path, w.message) for w in warnings(config)]


@pytest.mark.parametrize(
    "model",
    ["GB300-278GB", "B300-269GB", "GH200-96GB", "H200-141GB-NVL", "H20-96GB", "A30-24GB"]
    + ["RTX-PRO-6000-96GB", "L40S-48GB", "L40-48GB", "L4-24GB", "A10-24GB", "A40-48GB"],
)
def test_models_refused_before_are_accepted(model: str) -> None:
    data = tenant(model=model)
    if model.startswith("GB"):
        data["hosts"][2]["topology"] = {"nvlinkDomain": "nvl72-a"}
    config = parse_tenant(data)
    assert config.hosts[2].gpu is not None and config.hosts[2].gpu.model is GpuModel(model)
    assert not [w for w in warned(config) if "not in the catalog" in w[1]]


def test_a30_mig_layout_uses_its_four_slices() -> None:
    data = tenant(model="A30-24GB")
    data["nodeGroups"][1]["sharing"] = {
        "mode": "mig",
        "mig": {"layout": {"2g.12gb": 1, "1g.6gb": 2}},
    }
    parse_tenant(data)
    data["nodeGroups"][1]["sharing"]["mig"]["layout"] = {"2g.12gb": 2, "1g.6gb": 1}
    assert problems(data) == [
        (
            f"{T}.nodeGroups[1].sharing.mig.layout",
            "profiles 2g.12gb x2, 1g.6gb x1 use 5 compute slices; a GPU has 4",
        )
    ]


def test_mig_layout_on_a_gpu_without_mig_is_refused() -> None:
    data = tenant(model="L40S-48GB")
    data["nodeGroups"][1]["sharing"] = {"mode": "mig", "mig": {"layout": {"1g.12gb": 4}}}
    assert problems(data) == [
        (
            f"{T}.nodeGroups[1].sharing.mig.layout",
            "L40S-48GB does not support MIG; use sharing mode exclusive, time-slicing or mps",
        )
    ]


def test_unlisted_model_with_its_facts_is_accepted_with_a_warning() -> None:
    config = parse_tenant(tenant(model="X-96GB", **X_FACTS))
    gpu = config.hosts[2].gpu
    assert gpu is not None and isinstance(gpu.model, DeclaredGpuModel)
    assert spec(gpu.model).product_label == "NVIDIA-X"  # what node labels and Karpenter use
    assert gpu.model_dump(by_alias=True)["model"] == "X-96GB"
    assert (
        f"{T}.hosts[2].gpu.model",
        "GPU model 'X-96GB' is not in the catalog; accepted with the stated facts "
        "(productLabel NVIDIA-X, memoryGb 96, mig false). Skipped: checking those facts "
        "against NVIDIA's data, MIG profile names, instance counts and placements, "
        "multi-node NVLink (assumed none: no nvlinkDomain, no ComputeDomains) and whether "
        "it needs the open GPU kernel modules",
    ) in warned(config)


@pytest.mark.parametrize(
    ("facts", "missing"),
    [
        (
            {},
            "productLabel (the nvidia.com/gpu.product its nodes report), memoryGb (memory "
            "per GPU), mig (true if the GPU supports MIG)",
        ),
        ({"productLabel": "NVIDIA-X", "mig": True}, "memoryGb (memory per GPU)"),
        ({"productLabel": "NVIDIA-X", "memoryGb": 96}, "mig (true if the GPU supports MIG)"),
    ],
)
def test_unlisted_model_without_facts_names_what_to_add(
    facts: dict[str, Any], missing: str
) -> None:
    [(path, message)] = problems(tenant(model="X-96GB", **facts))
    assert path == f"{T}.hosts[2].gpu"
    assert message.startswith("GPU model 'X-96GB' is not in the catalog")
    assert f"; to use it anyway, add {missing}; catalog models: A100-40GB, " in message


def test_a_misspelt_catalog_model_gets_a_did_you_mean() -> None:
    [(_, message)] = problems(tenant(model="H100-80G"))
    assert message.startswith(
        "GPU model 'H100-80G' is not in the catalog (did you mean 'H100-80GB'?)"
    )


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        (
            {"memoryGb": 94},
            "memoryGb 94 contradicts the catalog: H100-80GB has 80 GB; remove the key (the "
            "catalog knows it) or fix `model`",
        ),
        (
            {"productLabel": "NVIDIA-H100-PCIe", "mig": False},
            "productLabel 'NVIDIA-H100-PCIe' contradicts the catalog: H100-80GB reports "
            "NVIDIA-H100-80GB-HBM3; mig: false contradicts the catalog: H100-80GB supports "
            "MIG; remove the key (the catalog knows it) or fix `model`",
        ),
    ],
)
def test_stated_facts_of_a_catalog_model_must_match(facts: dict[str, Any], message: str) -> None:
    assert problems(tenant(model="H100-80GB", **facts)) == [(f"{T}.hosts[2].gpu", message)]


def test_matching_facts_of_a_catalog_model_are_fine() -> None:
    facts = {"productLabel": "NVIDIA-GH200-120GB", "memoryGb": 96, "mig": True}
    config = parse_tenant(tenant(model="GH200-96GB", **facts))
    assert config.hosts[2].gpu is not None and config.hosts[2].gpu.model is GpuModel.GH200_96GB


def test_h100_96gb_needs_its_product_label() -> None:
    assert problems(tenant(model="H100-96GB")) == [
        (
            f"{T}.hosts[2].gpu",
            "add productLabel: NVIDIA's driver name table does not list H100-96GB, so the "
            "catalog does not know the nvidia.com/gpu.product its nodes report "
            "(`nvidia-smi --query-gpu=name`, spaces as dashes)",
        )
    ]
    config = parse_tenant(tenant(model="H100-96GB", productLabel="NVIDIA-H100-96GB-HBM3"))
    gpu = config.hosts[2].gpu
    assert gpu is not None and spec(gpu.model).product_label == "NVIDIA-H100-96GB-HBM3"
    assert spec(gpu.model).mig_capable


def test_product_label_must_be_a_label_value() -> None:
    [(path, message)] = problems(tenant(model="X", productLabel="NVIDIA X", memoryGb=8, mig=False))
    assert path == f"{T}.hosts[2].gpu.productLabel" and message.startswith(
        "'NVIDIA X' must be a label value"
    )


def test_mig_layout_on_an_unlisted_model() -> None:
    data = tenant(model="X-96GB", **{**X_FACTS, "mig": True})
    data["nodeGroups"][1]["sharing"] = {"mode": "mig", "mig": {"layout": {"3g.48gb": 2}}}
    config = parse_tenant(data)
    [(path, message)] = [w for w in warned(config) if w[0].endswith("mig.layout")]
    assert path == f"{T}.nodeGroups[1].sharing.mig.layout"
    assert message.startswith("checked only for profile-name syntax, counts, at most 7 compute")
    data["nodeGroups"][1]["sharing"]["mig"]["layout"] = {"4g.48gb": 2}
    assert problems(data) == [
        (
            f"{T}.nodeGroups[1].sharing.mig.layout",
            "profiles 4g.48gb x2 use 8 compute slices; no MIG GPU has more than 7",
        )
    ]
    data["hosts"][2]["gpu"]["mig"] = False
    assert problems(data) == [
        (
            f"{T}.nodeGroups[1].sharing.mig.layout",
            "the host states mig: false for X-96GB; set mig: true if the GPU supports MIG, "
            "or use sharing mode exclusive, time-slicing or mps",
        )
    ]


def test_hosts_of_one_unlisted_model_state_the_same_facts() -> None:
    data = tenant(model="X-96GB", **X_FACTS)
    data["hosts"][1]["gpu"] = {"model": "X-96GB", "count": 8, **X_FACTS, "memoryGb": 80}
    assert problems(data) == [
        (
            f"{T}.hosts[2].gpu.model",
            f"states other facts for GPU model 'X-96GB' than {T}.hosts[1].gpu.model "
            "(productLabel NVIDIA-X, memoryGb 80, mig false); one model has one set of "
            "facts: make them equal, or give the other GPU another model name",
        )
    ]


def test_autoscaled_group_with_an_unlisted_model() -> None:
    data = sample("isv-managed")
    data["nodeGroups"][0]["autoscale"]["gpu"] = {"model": "L20-48GB", "count": 8}
    [(path, message)] = problems(data)
    assert path == f"{T}.nodeGroups[0].autoscale.gpu"
    assert "to use it anyway, add productLabel" in message
    data["nodeGroups"][0]["autoscale"]["gpu"].update(
        productLabel="NVIDIA-L20", memoryGb=48, mig=False
    )
    found = warned(parse_tenant(data))
    assert any(p == f"{T}.nodeGroups[0].autoscale.gpu.model" for p, _ in found), found
