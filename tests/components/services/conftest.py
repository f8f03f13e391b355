"""Helpers for the services component tests, on top of the shared `tests.support.mocks`.

`mocks` is a fresh `ServiceMocks` per test; `run(mocks, build)` runs `build` under the
mock engine and returns once every registration has completed.
`assert_component_children` checks the house rules for one component: children named
`<component>-<suffix>`, parented to the component, every kubernetes resource on the
tenant cluster's explicit provider.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi_kubernetes as k8s
import pytest

from components import mirrors
from tests.support import mocks as shared
from tests.support.mocks import Registered

PROVIDER_NAME = "tenant-k8s"
"""Name of the explicit tenant provider the tests create."""


class ServiceMocks(shared.RecordingMocks):
    """Shared recording mocks plus the queries these tests use."""

    def named(self, name: str) -> Registered:
        """The single registration called `name` (any type)."""
        matches = [r for r in self.resources if r.name == name]
        assert len(matches) == 1, (name, self.names())
        return matches[0]

    def kubernetes_resources(self) -> list[Registered]:
        """Every kubernetes resource (providers excluded)."""
        return [r for r in self.resources if r.type.startswith("kubernetes:")]


@pytest.fixture
def mocks() -> ServiceMocks:
    mirrors.reset_stack_mirror_list()
    return ServiceMocks()


def tenant_provider() -> k8s.Provider:
    """The explicit tenant cluster provider components must use."""
    return k8s.Provider(PROVIDER_NAME, kubeconfig="{}")


def run(mocks: ServiceMocks, build: Callable[[], Any]) -> None:
    """Run `build` under the mock engine; return once every registration is done."""

    def program() -> dict[str, Any]:
        result = build()
        return {"result": result} if result is not None else {}

    shared.run(program, mocks)


def is_tenant_provider(resource: Registered) -> bool:
    """Whether `resource` uses the explicit tenant provider (never the default one)."""
    return resource.provider_urn.endswith(f"pulumi:providers:kubernetes::{PROVIDER_NAME}")


def assert_component_children(
    mocks: ServiceMocks, component_type: str, component_name: str
) -> list[Registered]:
    """Assert the house rules for one component and return its direct children."""
    component = mocks.one(component_type, component_name)
    children = [r for r in mocks.resources if r.parent == component.urn]
    assert children, f"no children of {component_type} {component_name}"
    for child in children:
        assert child.name.startswith(f"{component_name}-"), child.name
    for resource in mocks.kubernetes_resources():
        assert is_tenant_provider(resource), f"{resource.name} uses {resource.provider!r}"
    return children
