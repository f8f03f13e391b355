"""stacks/platform_isolation.py and stacks/config/isolation.py: config -> Args, install,
and the cross-field isolation rules."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pytest
from pydantic import ValidationError

from stacks import platform_isolation
from stacks.config import TenantConfig
from stacks.config.gpu_quota import team_quota
from stacks.config.isolation import (
    DEFAULT_PLATFORM_NAMESPACES,
    IsolationConfig,
    isolation_rules,
)
from stacks.platform_handle import ClusterHandle
from tests.support.mocks import RecordingMocks, run

PUBLIC_KEY = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0=\n-----END PUBLIC KEY-----\n"

TENANT: dict[str, Any] = {
    "name": "acme",
    "flavor": "isv-managed",
    "kubernetes": {"version": "1.35.1"},
    "mirrors": {"imageRegistries": {"nvcr.io": "mirror.ncp.internal/nvcr"}},
    "teams": [
        {
            "name": "vision",
            "namespaces": ["vision-train", "vision-serve"],
            "gpuQuota": 8,
            "idpGroups": ["oidc:vision"],
        },
        {"name": "nlp", "gpuQuota": 4},
    ],
    "isolation": {"imageVerification": {"publicKey": PUBLIC_KEY}},
}


def config(**overrides: Any) -> TenantConfig:
    raw = {**TENANT, **overrides}
    return TenantConfig.model_validate(raw)


class _Parent(pulumi.ComponentResource):
    def __init__(self) -> None:
        super().__init__("gpu-caas:cluster:TenantCluster", "acme", None)


def handle() -> ClusterHandle:
    provider = k8s.Provider("acme-k8s", kubeconfig=pulumi.Output.secret("apiVersion: v1"))
    return ClusterHandle(
        name="acme", provider=provider, parent=_Parent(), kubernetes_version="1.35.1"
    )


class TestArgs:
    def test_one_namespace_per_team_namespace(self) -> None:
        teams = platform_isolation.team_namespaces(config())
        assert [(t.team, t.namespace) for t in teams] == [
            ("vision", "vision-train"),
            ("vision", "vision-serve"),
            ("nlp", "nlp"),
        ]
        assert teams[0].idp_groups == ("oidc:vision",)

    def test_every_namespace_of_a_team_gets_the_team_quota_lines(self) -> None:
        mig = {
            "name": "notebooks",
            "autoscale": {
                "maxNodes": 2,
                "gpu": {"model": "H100-80GB", "count": 8},
                "nodeClass": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "g"},
            },
            "sharing": {"mode": "mig", "mig": {"layout": {"1g.10gb": 4, "3g.40gb": 1}}},
        }
        cfg = config(nodeGroups=[mig])
        vision, _, nlp = platform_isolation.team_namespaces(cfg)
        assert dict(vision.gpu_quota) == team_quota(cfg, cfg.teams[0])
        assert dict(nlp.gpu_quota) == {
            "gpu.nvidia.com.deviceclass.resource.k8s.io/devices": 0,
            "mig.nvidia.com.deviceclass.resource.k8s.io/devices": 0,
            "requests.nvidia.com/gpu": 4,
            "requests.nvidia.com/mig-1g.10gb": 16,
            "requests.nvidia.com/mig-3g.40gb": 4,
        }

    def test_psa_version_follows_the_cluster_unless_configured(self) -> None:
        stub: Any = ClusterHandle("acme", None, None, "1.35.1")  # type: ignore[arg-type]
        assert (
            platform_isolation.tenant_namespaces_args(stub, config()).pod_security_version
            == "v1.35"
        )
        pinned = config(isolation={**TENANT["isolation"], "podSecurityVersion": "v1.34"})
        assert (
            platform_isolation.tenant_namespaces_args(stub, pinned).pod_security_version == "v1.34"
        )

    def test_kyverno_args_carry_mirror_and_verification(self) -> None:
        stub: Any = ClusterHandle("acme", None, None, "1.35.1")  # type: ignore[arg-type]
        args = platform_isolation.kyverno_args(stub, config())
        assert args.mirrors.image_registries == {"nvcr.io": "mirror.ncp.internal/nvcr"}
        assert args.verification is not None and args.verification.public_key == PUBLIC_KEY
        assert args.privileged_namespaces["gpu-operator"] == (
            "privileged",
            "hostPath",
            "hostNetwork",
            "hostPID",
            "hostIPC",
        )
        off = config(isolation={"imageVerification": {"enabled": False}})
        assert platform_isolation.kyverno_args(stub, off).verification is None


def test_install_creates_both_components_under_the_cluster() -> None:
    mocks = RecordingMocks()
    ready: list[ClusterHandle] = []

    def program() -> dict[str, Any]:
        after, outputs = platform_isolation.install(handle(), config())
        ready.append(after)
        return outputs

    outputs = run(program, mocks)
    parent = mocks.one("gpu-caas:cluster:TenantCluster", "acme").urn
    assert mocks.one("gpu-caas:isolation:KyvernoPolicies", "acme-kyverno").parent == parent
    namespaces = mocks.one("gpu-caas:isolation:TenantNamespaces", "acme-tenant-namespaces")
    assert namespaces.parent == parent
    assert outputs["tenantNamespaces"].value == ["vision-train", "vision-serve", "nlp"]
    assert "gpu-caas-pod-security" in outputs["kyvernoPolicies"].value
    # Tenant workloads wait for the namespaces (and so for Kyverno's policies).
    [after] = ready
    assert [type(r).__name__ for r in after.tenant_ready] == ["TenantNamespaces"]


def test_kyverno_waits_for_the_cni_and_the_namespaces_wait_for_kyverno() -> None:
    mocks = RecordingMocks()

    def program() -> None:
        base = handle()
        cni = k8s.core.v1.ConfigMap(
            "acme-cni-stand-in", opts=pulumi.ResourceOptions(provider=base.provider)
        )
        platform_isolation.install(replace(base, network_ready=(cni,)), config())

    run(program, mocks)
    cni = mocks.one("kubernetes:core/v1:ConfigMap", "acme-cni-stand-in")
    kyverno = mocks.one("kubernetes:helm.sh/v3:Release", "acme-kyverno-kyverno")
    assert cni.urn in kyverno.dependencies
    policies = [r for r in mocks.of_type("kubernetes:kyverno.io/v1:ClusterPolicy")]
    assert policies and all(kyverno.urn in p.dependencies for p in policies)
    # Every tenant namespace waits for every policy (a component dependency expands).
    namespaces = mocks.of_type("kubernetes:core/v1:Namespace")
    tenant = [n for n in namespaces if n.name.startswith("acme-tenant-namespaces")]
    assert tenant
    for namespace in tenant:
        assert {p.urn for p in policies} <= set(namespace.dependencies), namespace.name


class TestIsolationRules:
    def test_sound_config_has_no_problems(self) -> None:
        assert isolation_rules(config()) == []

    def test_team_in_platform_namespace(self) -> None:
        teams = [{"name": "x", "namespaces": ["ok", "kube-system"]}, {"name": "monitoring"}]
        problems = isolation_rules(config(teams=teams))
        assert "gpu-caas:tenant.teams[0].namespaces[1]" in [p for p, _ in problems]
        assert "gpu-caas:tenant.teams[1].name" in [p for p, _ in problems]
        assert all("platform namespace" in m for _, m in problems)

    @pytest.mark.parametrize(
        ("team", "path", "fragment"),
        [
            ({"name": "default"}, "teams[0].name", "exists in every cluster"),
            ({"name": "x", "namespaces": ["default"]}, "teams[0].namespaces[0]", "exists in"),
            ({"name": "x", "namespaces": ["ok", "kube-ml"]}, "teams[0].namespaces[1]", "reserved"),
            ({"name": "kubeflow"}, None, None),
        ],
    )
    def test_team_namespaces_kubernetes_creates_or_reserves(
        self, team: dict[str, Any], path: str | None, fragment: str | None
    ) -> None:
        problems = isolation_rules(config(teams=[team]))
        if path is None:
            assert problems == []
        else:
            [(where, message)] = problems
            assert where == f"gpu-caas:tenant.{path}"
            assert fragment is not None and fragment in message

    def test_missing_key_asks_for_key_or_explicit_opt_out(self) -> None:
        [(path, message)] = isolation_rules(config(isolation={}))
        assert path == "gpu-caas:tenant.isolation.imageVerification.publicKey"
        assert "enabled: false" in message

    def test_exemption_outside_platform_namespaces(self) -> None:
        iso = {**TENANT["isolation"], "privilegedNamespaces": {"team-x": ["privileged"]}}
        [(path, _)] = isolation_rules(config(isolation=iso))
        assert path == "gpu-caas:tenant.isolation.privilegedNamespaces.team-x"

    def test_additional_platform_namespaces_extend_the_defaults(self) -> None:
        iso = IsolationConfig.model_validate({"additionalPlatformNamespaces": ["vendor-x"]})
        assert iso.all_platform_namespaces == [*DEFAULT_PLATFORM_NAMESPACES, "vendor-x"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ({"imageVerification": {"publicKey": "ssh-rsa AAAA"}}, "PEM"),
        ({"limitRange": {"defaultLimitCpu": "two"}}, "quantity"),
        ({"platformNamespaces": ["Bad_NS"]}, "DNS-1123"),
        ({"privilegedNamespaces": {"gpu-operator": ["root"]}}, "privileged"),
        ({"podSecurityVersion": "1.34"}, "v1.34"),
        ({"unknownKey": 1}, "Extra inputs"),
    ],
)
def test_invalid_isolation_config_is_rejected(field: dict[str, Any], value: str) -> None:
    with pytest.raises(ValidationError, match=value):
        IsolationConfig.model_validate(field)
