"""Fields the API server refuses to update are replaced, not updated.

A CRD marks a field immutable with a CEL transition rule (`self == oldSelf`, or
`self.f == oldSelf.f` on its parent). Pulumi updates in place by default, so a config
change to such a field would fail `pulumi up` with the server's refusal. Every custom
resource kind we create lists those fields in `replace_on_changes`; this test derives
them from the pinned CRDs in ../shared/crds, so a new immutable field upstream fails
here first.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml

from components.gpu import dra_driver
from components.services import karpenter
from tests.support.upstream import CRDS_ROOT

_WHOLE = re.compile(r"^\s*self\s*==\s*oldSelf\s*$")
_CHILD = re.compile(r"^\s*self\.(\w+)\s*==\s*oldSelf\.\1\s*$")

# kind -> (CRD file, served version we create, our replace_on_changes)
KINDS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "ComputeDomain": (
        "gpu-operator/resource.nvidia.com_computedomains.yaml",
        "v1beta1",
        dra_driver.COMPUTE_DOMAIN_REPLACE_ON_CHANGES,
    ),
    "NodePool": (
        "karpenter/v1.14.1/karpenter.sh_nodepools.yaml",
        "v1",
        karpenter.NODEPOOL_REPLACE_ON_CHANGES,
    ),
}


def immutable_paths(schema: Mapping[str, Any], path: str = "") -> Iterator[str]:
    """Dotted paths the schema's CEL transition rules make immutable."""
    for rule in schema.get("x-kubernetes-validations") or []:
        text = str(rule.get("rule", ""))
        if _WHOLE.match(text):
            yield path
        elif child := _CHILD.match(text):
            yield f"{path}.{child.group(1)}" if path else child.group(1)
    for key, sub in (schema.get("properties") or {}).items():
        yield from immutable_paths(sub, f"{path}.{key}" if path else key)


def _schema(crd_file: str, version: str) -> Mapping[str, Any]:
    crd = yaml.safe_load((CRDS_ROOT / crd_file).read_text(encoding="utf-8"))
    served = {v["name"]: v for v in crd["spec"]["versions"]}
    schema: Mapping[str, Any] = served[version]["schema"]["openAPIV3Schema"]
    return schema


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"x-kubernetes-validations": [{"rule": "self == oldSelf"}]}, [""]),
        (
            {"properties": {"spec": {"x-kubernetes-validations": [{"rule": "self == oldSelf"}]}}},
            ["spec"],
        ),
        (
            {
                "properties": {
                    "ref": {"x-kubernetes-validations": [{"rule": "self.kind == oldSelf.kind"}]}
                }
            },
            ["ref.kind"],
        ),
        # Not immutability: a rule about presence, or comparing different fields.
        ({"x-kubernetes-validations": [{"rule": "has(self.a) == has(oldSelf.a)"}]}, []),
        ({"x-kubernetes-validations": [{"rule": "self.a == oldSelf.b"}]}, []),
    ],
)
def test_immutable_paths(schema, expected):
    assert list(immutable_paths(schema)) == expected


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_immutable_field_is_replaced_on_change(kind: str) -> None:
    crd_file, version, replace_on_changes = KINDS[kind]
    immutable = sorted(set(immutable_paths(_schema(crd_file, version))))
    assert immutable, f"{kind}: no immutable field found; is the CRD right?"
    uncovered = [
        path
        for path in immutable
        if not any(path == r or path.startswith(f"{r}.") for r in replace_on_changes)
    ]
    assert not uncovered, f"{kind}: add {uncovered} to replace_on_changes"
