"""TenantNamespaces and KyvernoPolicies under mocks: names, parents, providers, and
what they register passes both policy packs (no false positives on our own output)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.isolation import kyverno as ky
from components.isolation import tenant_namespaces as tn
from components.mirrors import Mirrors
from policies.gpu_caas_policies import platform_safety, tenant_isolation
from stacks.config.isolation import DEFAULT_PLATFORM_NAMESPACES, DEFAULT_PRIVILEGED_NAMESPACES
from tests.policies.helpers import analyze
from tests.support.mocks import RecordingMocks
from tests.support.mocks import run as run_program

TEAMS = (
    tn.TeamNamespace("vision", "vision-train", (("requests.nvidia.com/gpu", 8),), ("oidc:vision",)),
    tn.TeamNamespace("vision", "vision-serve", (), ()),
)
PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0=\n-----END PUBLIC KEY-----\n"


def _program(mocks: RecordingMocks) -> dict[str, Any]:
    provider = k8s.Provider("acme-k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1"))
    namespaces = tn.TenantNamespaces(
        "acme-ns",
        tn.TenantNamespacesArgs(
            tenant="acme", namespaces=TEAMS, provider=provider, pod_security_version="v1.34"
        ),
    )
    kyverno = ky.KyvernoPolicies(
        "acme-kyverno",
        ky.KyvernoPoliciesArgs(
            tenant="acme",
            provider=provider,
            platform_namespaces=DEFAULT_PLATFORM_NAMESPACES,
            privileged_namespaces={
                ns: tuple(str(c) for c in controls)
                for ns, controls in DEFAULT_PRIVILEGED_NAMESPACES.items()
            },
            allowed_registries=("nvcr.io",),
            verification=ky.ImageVerification(PUBLIC_KEY),
            mirrors=Mirrors(),
        ),
    )
    return {"namespaces": namespaces.namespaces, "policies": kyverno.policy_names}


@pytest.fixture(scope="module")
def recorded() -> tuple[RecordingMocks, dict[str, Any]]:
    mocks = RecordingMocks()
    results = run_program(lambda: _program(mocks), mocks)
    return mocks, results


def test_outputs(recorded: tuple[RecordingMocks, dict[str, Any]]) -> None:
    _, results = recorded
    assert results["namespaces"].value == ["vision-train", "vision-serve"]
    assert "gpu-caas-verify-nvidia-images" in results["policies"].value


def test_every_kubernetes_resource_uses_the_tenant_provider(
    recorded: tuple[RecordingMocks, dict[str, Any]],
) -> None:
    mocks, _ = recorded
    provider = mocks.one("pulumi:providers:kubernetes", "acme-k8s").urn
    kube = [r for r in mocks.resources if r.type.startswith("kubernetes:")]
    assert kube
    for resource in kube:
        assert resource.provider_urn == provider, f"{resource.type} {resource.name}"


def test_names_and_parents(recorded: tuple[RecordingMocks, dict[str, Any]]) -> None:
    mocks, _ = recorded
    component = mocks.one(tn.TYPE, "acme-ns")
    ns = mocks.one("kubernetes:core/v1:Namespace", "acme-ns-vision-train")
    assert ns.parent == component.urn
    for type_, name in [
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "acme-ns-vision-train-default-deny"),
        ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "acme-ns-vision-train-allow-dns"),
        ("kubernetes:core/v1:ResourceQuota", "acme-ns-vision-train-quota"),
        ("kubernetes:core/v1:LimitRange", "acme-ns-vision-train-limits"),
        ("kubernetes:rbac.authorization.k8s.io/v1:Role", "acme-ns-vision-train-tenant-admin"),
        ("kubernetes:core/v1:ServiceAccountPatch", "acme-ns-vision-train-default-sa"),
    ]:
        child = mocks.one(type_, name)
        assert child.parent == ns.urn, name
        assert child.inputs["metadata"]["namespace"] == "vision-train"
    kyverno = mocks.one(ky.TYPE, "acme-kyverno")
    release = mocks.one("kubernetes:helm.sh/v3:Release", "acme-kyverno-kyverno")
    assert release.parent == kyverno.urn
    policy = mocks.one(
        "kubernetes:kyverno.io/v1:ClusterPolicy", "acme-kyverno-gpu-caas-host-access"
    )
    assert release.urn in policy.dependencies


def test_default_service_account_automount_off(
    recorded: tuple[RecordingMocks, dict[str, Any]],
) -> None:
    mocks, _ = recorded
    patch = mocks.one("kubernetes:core/v1:ServiceAccountPatch", "acme-ns-vision-serve-default-sa")
    assert patch.inputs["metadata"]["name"] == "default"
    assert patch.inputs["automountServiceAccountToken"] is False


def test_binding_only_for_teams_with_idp_groups(
    recorded: tuple[RecordingMocks, dict[str, Any]],
) -> None:
    mocks, _ = recorded
    bindings = mocks.of_type("kubernetes:rbac.authorization.k8s.io/v1:RoleBinding")
    assert [b.name for b in bindings] == ["acme-ns-vision-train-tenant-admin-binding"]
    assert bindings[0].inputs["subjects"] == [
        {"kind": "Group", "name": "oidc:vision", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    assert bindings[0].inputs["roleRef"]["kind"] == "Role"


def test_quota_only_with_gpu_quota(recorded: tuple[RecordingMocks, dict[str, Any]]) -> None:
    mocks, _ = recorded
    train = mocks.one("kubernetes:core/v1:ResourceQuota", "acme-ns-vision-train-quota")
    serve = mocks.one("kubernetes:core/v1:ResourceQuota", "acme-ns-vision-serve-quota")
    assert train.inputs["spec"]["hard"]["requests.nvidia.com/gpu"] == "8"
    assert "requests.nvidia.com/gpu" not in serve.inputs["spec"]["hard"]


# --------------------------------------------------------------------------- #
# What the components register, fed to the packs as the engine would
# --------------------------------------------------------------------------- #


def test_registered_resources_pass_both_packs(
    recorded: tuple[RecordingMocks, dict[str, Any]],
) -> None:
    """Everything the components register passes every resource and stack policy."""
    mocks, _ = recorded
    assert analyze(mocks.resources, tenant_isolation.POLICIES + platform_safety.POLICIES) == []
