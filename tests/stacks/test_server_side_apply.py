"""Every Kubernetes object the program declares carries `pulumi.com/patchForce`."""

from __future__ import annotations

from typing import Any

import pulumi_kubernetes as k8s
import pytest

from stacks.config import parse_tenant
from stacks.server_side_apply import PATCH_FORCE, with_patch_force
from tests.components.cluster.helpers import command_outputs
from tests.stacks.samples import sample
from tests.support.mocks import RecordingMocks, run


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        (None, {"annotations": {"pulumi.com/patchForce": "true"}}),
        ({"name": "x"}, {"name": "x", "annotations": {"pulumi.com/patchForce": "true"}}),
        (
            {"name": "x", "annotations": {"a": "b"}},
            {"name": "x", "annotations": {"a": "b", "pulumi.com/patchForce": "true"}},
        ),
        (
            k8s.meta.v1.ObjectMetaArgs(name="x", namespace="n", labels={"l": "v"}),
            {
                "name": "x",
                "namespace": "n",
                "labels": {"l": "v"},
                "annotations": {"pulumi.com/patchForce": "true"},
            },
        ),
    ],
)
def test_with_patch_force(metadata: Any, expected: dict[str, Any]) -> None:
    assert with_patch_force(metadata) == expected


@pytest.mark.parametrize("flavor", ["tenant-managed", "ncp-managed", "isv-managed"])
def test_every_kubernetes_object_of_a_flavor_forces_conflicts(flavor: str) -> None:
    import stacks

    mocks = RecordingMocks(command_outputs)

    def program() -> dict[str, Any]:
        return stacks.deploy(parse_tenant(sample(flavor)))

    run(program, mocks)
    objects = [
        r
        for r in mocks.resources
        if r.type.startswith("kubernetes:") and not r.type.startswith("kubernetes:helm.sh/")
    ]
    assert objects
    for resource in objects:
        annotations = resource.inputs.get("metadata", {}).get("annotations", {})
        assert annotations.get("pulumi.com/patchForce") == PATCH_FORCE["pulumi.com/patchForce"], (
            resource.type,
            resource.name,
        )
