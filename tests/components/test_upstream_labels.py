"""Label keys, taint keys, resource names, API versions, image repositories and config
keys of the register (`components/upstream_facts.py`) compared with the upstream files
in ../shared/crds at the pinned versions.

Each test reads the facts whose `checked_by` names it, so a fact registered against a
test is checked by that test (`test_upstream_facts.py` makes sure the test exists).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import dcgm, naming, upstream_facts
from components.cluster import labels
from components.gpu import network_operator
from components.services import karpenter
from stacks.config import node_groups
from tests.support.upstream import CRDS_ROOT

_THIS = "tests/components/test_upstream_labels.py::"


def _facts(test: str) -> list[upstream_facts.Fact]:
    facts = [f for f in upstream_facts.FACTS if f.checked_by == _THIS + test]
    assert facts, f"no fact in components/upstream_facts.py is checked by {test}"
    return facts


@functools.cache
def _documents(relative: str) -> tuple[Any, ...]:
    path = CRDS_ROOT / relative
    with Path(path).open(encoding="utf-8") as handle:
        return tuple(doc for doc in yaml.safe_load_all(handle) if doc is not None)


def _walk(node: Any) -> Iterator[Any]:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _strings(node: Any) -> Iterator[str]:
    return (item for item in _walk(node) if isinstance(item, str))


def _normalised(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- #
# API group/versions
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "fact", _facts("test_api_version_is_served_by_the_upstream_crd"), ids=lambda f: f.value
)
def test_api_version_is_served_by_the_upstream_crd(fact):
    """`group/version` is a served version of the CRD in `fact.upstream`; a bare
    `group/` (a prefix we match resource types on) only needs the group."""
    group, _, version = fact.value.partition("/")
    (crd,) = _documents(fact.upstream)
    assert crd["kind"] == "CustomResourceDefinition"
    assert crd["spec"]["group"] == group, f"{fact.upstream} serves {crd['spec']['group']}"
    if version:
        served = [v["name"] for v in crd["spec"]["versions"] if v.get("served")]
        assert version in served, f"{fact.upstream} serves {served}, we use {version}"


def test_an_api_version_the_crd_does_not_serve_fails():
    fact = upstream_facts.Fact(
        "karpenter.sh/v1beta1",
        "Karpenter",
        "x",
        (),
        upstream="karpenter/v1.14.1/karpenter.sh_nodepools.yaml",
    )
    with pytest.raises(AssertionError, match="serves"):
        test_api_version_is_served_by_the_upstream_crd(fact)


# --------------------------------------------------------------------------- #
# Image repositories
# --------------------------------------------------------------------------- #


def _image_repositories(relative: str) -> set[str]:
    """Every image repository a values or recipe file names: `repository` (joined with a
    sibling `registry` / `defaultRegistry`) and OCI `source` / `defaultRepository`."""
    found: set[str] = set()
    for document in _documents(relative):
        for node in _walk(document):
            if not isinstance(node, dict):
                continue
            repository = node.get("repository")
            if isinstance(repository, str) and repository:
                found.add(repository)
                for registry_key in ("registry", "defaultRegistry"):
                    registry = node.get(registry_key)
                    if isinstance(registry, str) and registry:
                        found.add(f"{registry}/{repository}")
            for key in ("source", "defaultRepository"):
                value = node.get(key)
                if isinstance(value, str) and value.startswith("oci://"):
                    found.add(value.removeprefix("oci://"))
    return found


def _names_repository(value: str, repositories: set[str]) -> bool:
    """`value` is one of `repositories`, or (ending in `/`) the prefix of one."""
    if value.endswith("/"):
        return any(repo.startswith(value) for repo in repositories)
    return value in repositories


@pytest.mark.parametrize(
    "fact", _facts("test_image_repository_is_the_upstream_default"), ids=lambda f: f.value
)
def test_image_repository_is_the_upstream_default(fact):
    repositories = _image_repositories(fact.upstream)
    assert _names_repository(fact.value, repositories), (
        f"{fact.value!r} is not an image repository of {fact.upstream}: {sorted(repositories)}"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nvcr.io/nvidia/k8s", True),
        ("nvcr.io/nvidia/", True),
        ("nvcr.io/nvidia/k8", False),  # a prefix without the slash must match whole
        ("nvcr.io/nvidia/cloudnative", False),
    ],
)
def test_image_repository_matching(value, expected):
    repositories = _image_repositories("gpu-operator/values.yaml")
    assert _names_repository(value, repositories) is expected


def test_kyverno_registry_is_joined_with_the_repository():
    assert "reg.kyverno.io/kyverno/kyverno" in _image_repositories("kyverno/values.yaml")


# --------------------------------------------------------------------------- #
# Labels, taints and resource names
# --------------------------------------------------------------------------- #


def _toleration_keys(node: Any) -> set[str]:
    keys = set()
    for item in _walk(node):
        if isinstance(item, dict) and isinstance(item.get("tolerations"), list):
            keys |= {t["key"] for t in item["tolerations"] if isinstance(t, dict) and "key" in t}
    return keys


def test_control_plane_taint_keys_are_the_operators_tolerations():
    facts = _facts("test_control_plane_taint_keys_are_the_operators_tolerations")
    (values,) = {f.upstream for f in facts}
    upstream_keys = _toleration_keys(_documents(values)[0])
    for fact in facts:
        assert fact.value in upstream_keys, (fact.value, sorted(upstream_keys))
    ours = {t["key"] for t in network_operator._CONTROL_PLANE_TOLERATIONS}
    assert ours == {f.value for f in facts}
    assert labels.CONTROL_PLANE_TAINT.key in upstream_keys


def test_gpu_resource_name_and_taint_key():
    """`nvidia.com/gpu` is the taint key the GPU Operator's operands tolerate and the
    resource the device plugin advertises (AICR's DRA recipe: pods request it in
    `resources.limits`)."""
    (fact,) = _facts("test_gpu_resource_name_and_taint_key")
    assert fact.value in _toleration_keys(_documents(fact.upstream)[0])
    recipe = (CRDS_ROOT / "aicr/recipes/components/nvidia-dra-driver-gpu/values.yaml").read_text(
        encoding="utf-8"
    )
    assert f"request {fact.value} in resources.limits" in recipe
    assert fact.value == naming.GPU_TAINT_KEY
    assert fact.value == karpenter.GPU_RESOURCE


def test_mig_config_label_is_the_cluster_policys():
    (fact,) = _facts("test_mig_config_label_is_the_cluster_policys")
    descriptions = {_normalised(s) for s in _strings(_documents(fact.upstream)[0])}
    assert any(f"the node label {fact.value}" in text for text in descriptions)
    assert fact.value == naming.LABEL_MIG_CONFIG


_KARPENTER_ALLOWED_RULE = re.compile(r'x in \[((?:"[^"]+",?\s*)+)\]')


def test_karpenter_labels_are_the_node_pool_crds():
    """The NodePool CRD lets templates use exactly these karpenter.sh labels (its CEL
    rule on `spec.template.metadata.labels`)."""
    facts = _facts("test_karpenter_labels_are_the_node_pool_crds")
    (crd_file,) = {f.upstream for f in facts}
    text = (CRDS_ROOT / str(crd_file)).read_text(encoding="utf-8")
    match = _KARPENTER_ALLOWED_RULE.search(text)
    assert match, f"no karpenter.sh label rule in {crd_file}"
    allowed = set(re.findall(r'"([^"]+)"', match.group(1)))
    assert {f.value for f in facts} == allowed
    assert allowed >= node_groups._KARPENTER_ALLOWED


def test_dcgm_metrics_config_map_key():
    (fact,) = _facts("test_dcgm_metrics_config_map_key")
    text = _normalised((CRDS_ROOT / str(fact.upstream)).read_text(encoding="utf-8"))
    assert f"listed under a key called `{fact.value}`" in text
    assert fact.value == dcgm.METRICS_CSV_KEY
