"""`tenant.gpu` config model and `gpu_rules` (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from components import versions
from stacks.config import TenantConfig
from stacks.config.gpu import (
    GpuPlatformConfig,
    KernelModuleType,
    gpu_platform_rules,
    gpu_rules,
    gpu_warnings,
    node_group_gpu_model,
    node_group_mig_layout,
    tenant_components,
)

NODE_CLASS = {"group": "karpenter.example", "kind": "NodeClass", "name": "gpu"}


def _group(
    name: str, model: str | None = None, sharing: dict[str, Any] | None = None
) -> dict[str, Any]:
    group: dict[str, Any]
    group = {"name": name, "autoscale": {"maxNodes": 4, "nodeClass": NODE_CLASS}}
    if model:
        group["autoscale"]["gpu"] = {"model": model, "count": 8}
    if sharing:
        group["sharing"] = sharing
    return group


def _tenant(
    gpu: dict[str, Any] | None = None,
    groups: list[dict[str, Any]] | None = None,
    version: str = "1.34.2",
    hosts: list[dict[str, Any]] | None = None,
) -> TenantConfig:
    raw: dict[str, Any] = {
        "name": "acme",
        "flavor": "ncp-managed",
        "kubernetes": {"version": version},
        "nodeGroups": groups if groups is not None else [_group("h100", "H100-80GB")],
        "teams": [{"name": "team-a", "gpuQuota": 8}],
    }
    if hosts:
        raw["hosts"] = hosts
    if gpu is not None:
        raw["gpu"] = gpu
    return TenantConfig.model_validate(raw)


class TestModel:
    def test_defaults(self):
        gpu = GpuPlatformConfig()
        assert gpu.enabled and gpu.operator.cdi and gpu.operator.mig_manager
        assert gpu.operator.driver.kernel_module_type is KernelModuleType.AUTO
        assert gpu.operator.driver.upgrade_policy.max_unavailable == "25%"
        assert gpu.operator.dcgm_exporter.service_monitor is None  # follows the Prometheus mode
        assert not gpu.dra.enabled and not gpu.network.enabled

    def test_camel_case_keys(self):
        gpu = GpuPlatformConfig.model_validate(
            {
                "operator": {
                    "driver": {
                        "kernelModuleType": "open",
                        "usePrecompiled": True,
                        "upgradePolicy": {"maxParallelUpgrades": 0, "drain": {"enable": True}},
                    },
                    "dcgmExporter": {"serviceMonitor": False},
                },
                "dra": {
                    "enabled": True,
                    "computeDomains": True,
                    "domains": [{"name": "cd", "namespace": "team-a", "nodeGroup": "gb200"}],
                },
            }
        )
        assert gpu.operator.driver.kernel_module_type is KernelModuleType.OPEN
        assert gpu.operator.driver.upgrade_policy.drain.enable
        assert gpu.dra.domains[0].allocation_mode.value == "Single"

    @pytest.mark.parametrize(
        "raw",
        [
            {"operator": {"drvier": {}}},  # typo
            {"operator": {"driver": {"kernelModuleType": "closed"}}},
            {"operator": {"driver": {"upgradePolicy": {"maxUnavailable": "lots"}}}},
            {"operator": {"driver": {"version": "latest"}}},
            {"operator": {"dcgmExporter": {"interval": "15"}}},
            {"dra": {"domains": [{"name": "Bad_Name", "namespace": "a", "nodeGroup": "g"}]}},
            {
                "dra": {
                    "domains": [{"name": "cd", "namespace": "a", "nodeGroup": "g", "numNodes": -1}]
                }
            },
        ],
    )
    def test_invalid_input_is_rejected(self, raw):
        with pytest.raises(ValidationError):
            GpuPlatformConfig.model_validate(raw)


class TestAccessors:
    def test_model_and_layout_of_autoscaled_group(self):
        tenant = _tenant(
            groups=[_group("mig", "A100-80GB", {"mode": "mig", "mig": {"layout": {"3g.40gb": 2}}})]
        )
        group = tenant.node_groups[0]
        assert node_group_gpu_model(tenant, group) == "A100-80GB"
        assert node_group_mig_layout(group) == {"3g.40gb": 2}

    def test_model_of_host_group(self):
        ssh = {"user": "root", "privateKey": {"secure": "v1:abc"}}
        hosts = [
            {
                "name": "gpu-0",
                "address": "10.0.0.1",
                "ssh": ssh,
                "gpu": {"model": "GB200-186GB", "count": 4},
            }
        ]
        tenant = _tenant(groups=[{"name": "gb200", "hosts": ["gpu-0"]}], hosts=hosts)
        assert node_group_gpu_model(tenant, tenant.node_groups[0]) == "GB200-186GB"

    def test_cpu_group(self):
        tenant = _tenant(groups=[_group("system")])
        assert node_group_gpu_model(tenant, tenant.node_groups[0]) is None
        assert node_group_mig_layout(tenant.node_groups[0]) is None


GB200 = ("GB200-186GB", None)
H100 = ("H100-80GB", None)
H100_MIG = ("H100-80GB", {"3g.40gb": 2})


@pytest.mark.parametrize(
    ("gpu", "k8s", "groups", "expected"),
    [
        pytest.param({}, "1.34.2", {"h100": H100}, [], id="defaults-ok"),
        # GPU platform off: the DRA driver is not installed, so its 1.34.2 floor is not
        # checked (the platform's 1.34.0 floor still is).
        pytest.param({"enabled": False, "dra": {"enabled": True}}, "1.34.0", {}, [], id="disabled"),
        pytest.param(
            {"operator": {"toolkit": {"version": "1.17.7"}}},
            "1.34.2",
            {},
            [("gpu-caas:tenant.gpu.operator.toolkit.version", "CVE-2025-23266")],
            id="toolkit-cve",
        ),
        pytest.param(
            {"operator": {"version": "v25.3.0"}},
            "1.34.2",
            {},
            [("gpu-caas:tenant.gpu.operator.version", "CVE-2025-23266")],
            id="operator-cve",
        ),
        pytest.param(
            {"dra": {"enabled": True}},
            "1.33.4",
            {},
            [
                (
                    "gpu-caas:tenant.kubernetes.version",
                    "older than 1.34.2, the oldest version DRA driver for NVIDIA GPUs 0.4.0",
                )
            ],
            id="dra-old-k8s",
        ),
        pytest.param(
            {"dra": {"enabled": True}},
            "1.34.1",
            {},
            [
                (
                    "gpu-caas:tenant.kubernetes.version",
                    "Kubernetes 1.34.1 is older than 1.34.2, the oldest version DRA driver for "
                    "NVIDIA GPUs 0.4.0 supports",
                )
            ],
            id="dra-driver-needs-1.34.2",
        ),
        pytest.param({"dra": {"enabled": True}}, "1.34.2", {}, [], id="dra-on-1.34.2-ok"),
        pytest.param({}, "1.35.9", {}, [], id="k8s-newest-inside"),
        pytest.param(
            {},
            "1.36.0",
            {},
            [
                (
                    "gpu-caas:tenant.kubernetes.version",
                    "Kubernetes 1.36.0 is newer than 1.35, the newest minor Kyverno v1.19.0 "
                    "supports: Kyverno v1.19.0 supports 1.33-1.35 (https://kyverno.io/",
                )
            ],
            id="k8s-too-new",
        ),
        pytest.param(
            {"network": {"enabled": True}},
            "1.37.1",
            {},
            [
                (
                    "gpu-caas:tenant.kubernetes.version",
                    "newer than 1.35, the newest minor NVIDIA Network Operator 26.7.0 and "
                    "Kyverno v1.19.0 support",
                )
            ],
            id="k8s-too-new-network-operator-named",
        ),
        pytest.param(
            {"enabled": False},
            "1.36.0",
            {},
            [("gpu-caas:tenant.kubernetes.version", "the newest minor Kyverno v1.19.0 supports")],
            id="k8s-window-checked-with-gpu-platform-off",
        ),
        pytest.param(
            {"operator": {"version": "v24.9.2"}, "network": {"enabled": True}},
            "1.34.2",
            {},
            [
                ("gpu-caas:tenant.gpu.operator.version", "CVE-2025-23266"),
                ("gpu-caas:tenant.gpu.network.enabled", "known-bad pair"),
            ],
            id="rdma-known-bad-pair",
        ),
        pytest.param(
            {"operator": {"migManager": False}},
            "1.34.2",
            {"mig": H100_MIG, "plain": H100},
            [("gpu-caas:tenant.gpu.operator.migManager", "node group mig uses MIG")],
            id="mig-needs-manager",
        ),
        pytest.param(
            {"operator": {"migManager": False}},
            "1.34.2",
            {"mig": H100_MIG, "mig2": H100_MIG},
            [
                (
                    "gpu-caas:tenant.gpu.operator.migManager",
                    "node groups mig, mig2 use MIG; the MIG manager must be enabled to apply "
                    "their layouts",
                )
            ],
            id="mig-needs-manager-plural",
        ),
        pytest.param(
            {
                "dra": {
                    "enabled": True,
                    "computeDomains": True,
                    "domains": [{"name": "cd", "namespace": "t", "nodeGroup": "gb200"}],
                }
            },
            "1.34.2",
            {"gb200": GB200},
            [],
            id="compute-domain-on-gb200",
        ),
        pytest.param(
            {
                "dra": {
                    "enabled": True,
                    "computeDomains": True,
                    "domains": [
                        {"name": "ok", "namespace": "t", "nodeGroup": "gb200"},
                        {"name": "cd", "namespace": "t", "nodeGroup": "h100"},
                    ],
                }
            },
            "1.34.2",
            {"gb200": GB200, "h100": H100},
            [("gpu-caas:tenant.gpu.dra.domains[1].nodeGroup", "need multi-node NVLink GPUs")],
            id="compute-domain-on-h100",
        ),
        pytest.param(
            {
                "dra": {
                    "enabled": True,
                    "computeDomains": True,
                    "domains": [
                        {"name": "cd", "namespace": "t", "nodeGroup": "nope"},
                        {"name": "x", "namespace": "t", "nodeGroup": "cpu"},
                    ],
                }
            },
            "1.34.2",
            {"cpu": (None, None)},
            [
                ("gpu-caas:tenant.gpu.dra.domains[1].nodeGroup", "a CPU-only node group has no"),
                ("gpu-caas:tenant.gpu.dra.domains[0].nodeGroup", "no node group named 'nope'"),
            ],
            id="compute-domain-unknown-and-cpu-groups",
        ),
        pytest.param(
            {"enabled": False},
            "1.34.2",
            {"mig": H100_MIG, "plain": H100},
            [("gpu-caas:tenant.gpu.enabled", "node group mig sets a MIG layout")],
            id="mig-layout-with-gpu-platform-off",
        ),
        pytest.param(
            {"operator": {"driver": {"version": "595"}}},
            "1.34.2",
            {},
            [("gpu-caas:tenant.gpu.operator.driver.version", "'595' is a driver branch")],
            id="branch-without-precompiled",
        ),
        pytest.param(
            {"operator": {"driver": {"version": "595", "usePrecompiled": True}}},
            "1.34.2",
            {},
            [],
            id="branch-with-precompiled",
        ),
        pytest.param(
            {"operator": {"driver": {"version": "595.91.07", "usePrecompiled": True}}},
            "1.34.2",
            {},
            [],
            id="full-version-with-precompiled-becomes-the-branch",
        ),
        pytest.param(
            {"operator": {"driver": {"version": "595", "enabled": False}}},
            "1.34.2",
            {},
            [],
            id="host-driver-version-unused",
        ),
        pytest.param(
            {"dra": {"enabled": True, "gpuResources": True}},
            "1.34.2",
            {},
            [("gpu-caas:tenant.gpu.dra.gpuResources", "both DRA and the device plugin")],
            id="dra-gpus-and-device-plugin",
        ),
        pytest.param(
            {"dra": {"enabled": True, "gpuResources": True}, "operator": {"devicePlugin": False}},
            "1.34.2",
            {},
            [],
            id="dra-only-gpus",
        ),
        pytest.param(
            {"dra": {"gpuResources": True}, "operator": {"devicePlugin": False}},
            "1.34.2",
            {},
            [("gpu-caas:tenant.gpu.dra.gpuResources", "need dra.enabled: true")],
            id="dra-gpus-without-dra",
        ),
        pytest.param(
            {"dra": {"computeDomains": True}},
            "1.34.2",
            {},
            [("gpu-caas:tenant.gpu.dra.computeDomains", "need dra.enabled: true")],
            id="compute-domains-without-dra",
        ),
        pytest.param(
            {
                "dra": {
                    "enabled": True,
                    "domains": [{"name": "cd", "namespace": "t", "nodeGroup": "gb200"}],
                }
            },
            "1.34.2",
            {"gb200": GB200},
            [("gpu-caas:tenant.gpu.dra.domains", "set dra.computeDomains: true")],
            id="domains-without-compute-domains",
        ),
        pytest.param(
            {
                "dra": {
                    "enabled": True,
                    "computeDomains": True,
                    "domains": [
                        {"name": "cd", "namespace": "t", "nodeGroup": "gb200"},
                        {"name": "cd", "namespace": "t", "nodeGroup": "gb200"},
                    ],
                }
            },
            "1.34.2",
            {"gb200": GB200},
            [("gpu-caas:tenant.gpu.dra.domains[1].name", "t/cd is already dra.domains[0]")],
            id="duplicate-domain",
        ),
    ],
)
def test_gpu_platform_rules(gpu, k8s, groups, expected):
    problems = gpu_platform_rules(
        GpuPlatformConfig.model_validate(gpu), kubernetes_version=k8s, node_groups=groups
    )
    assert len(problems) == len(expected), problems
    for (path, message), (want_path, fragment) in zip(problems, expected, strict=True):
        assert path == want_path
        assert fragment in message


@pytest.mark.parametrize(
    ("namespaces", "expected"),
    [
        (["team-a", "team-b"], []),
        (
            ["team-b"],
            [
                (
                    "gpu-caas:tenant.gpu.dra.domains[0].namespace",
                    "'team-a' is not a team namespace, and nothing else creates it; "
                    "team namespaces: team-b",
                )
            ],
        ),
        ([], [("gpu-caas:tenant.gpu.dra.domains[0].namespace", "team namespaces: none")]),
    ],
)
def test_compute_domain_namespace_must_be_a_team_namespace(namespaces, expected):
    gpu = GpuPlatformConfig.model_validate(
        {
            "dra": {
                "enabled": True,
                "computeDomains": True,
                "domains": [{"name": "cd", "namespace": "team-a", "nodeGroup": "gb200"}],
            }
        }
    )
    problems = gpu_platform_rules(
        gpu, kubernetes_version="1.34.2", node_groups={"gb200": GB200}, team_namespaces=namespaces
    )
    assert len(problems) == len(expected), problems
    for (path, message), (want_path, fragment) in zip(problems, expected, strict=True):
        assert path == want_path
        assert fragment in message


def test_gpu_rules_on_a_whole_tenant():
    tenant = _tenant(
        gpu={
            "dra": {
                "enabled": True,
                "computeDomains": True,
                "domains": [{"name": "cd", "namespace": "team-a", "nodeGroup": "h100"}],
            }
        },
        groups=[_group("h100", "H100-80GB")],
    )
    assert gpu_rules(tenant) == [
        (
            "gpu-caas:tenant.gpu.dra.domains[0].nodeGroup",
            "ComputeDomains need multi-node NVLink GPUs (GB200, GB300); H100-80GB has no "
            "multi-node NVLink domain",
        )
    ]
    assert gpu_rules(_tenant()) == []


@pytest.mark.parametrize(
    ("kernel_modules", "model", "expected"),
    [
        ("proprietary", "B200-180GB", ["B200-180GB need the open GPU kernel modules"]),
        ("proprietary", "GB200-186GB", ["GB200-186GB need the open GPU kernel modules"]),
        ("proprietary", "H100-80GB", []),
        ("auto", "GB200-186GB", []),
        ("open", "B200-180GB", []),
    ],
)
def test_blackwell_needs_open_kernel_modules(kernel_modules, model, expected):
    gpu = GpuPlatformConfig.model_validate(
        {"operator": {"driver": {"kernelModuleType": kernel_modules}}}
    )
    problems = gpu_platform_rules(
        gpu, kubernetes_version="1.34.2", node_groups={"g": (model, None)}
    )
    assert len(problems) == len(expected), problems
    for (path, message), fragment in zip(problems, expected, strict=True):
        assert path == "gpu-caas:tenant.gpu.operator.driver.kernelModuleType"
        assert fragment in message


def test_host_driver_skips_the_kernel_module_rule():
    gpu = GpuPlatformConfig.model_validate(
        {"operator": {"driver": {"enabled": False, "kernelModuleType": "proprietary"}}}
    )
    assert (
        gpu_platform_rules(
            gpu, kubernetes_version="1.34.2", node_groups={"g": ("B200-180GB", None)}
        )
        == []
    )


# --------------------------------------------------------------------------- #
# The Kubernetes window of the whole tenant (components/versions.py)
# --------------------------------------------------------------------------- #

K8S = "gpu-caas:tenant.kubernetes.version"


@pytest.mark.parametrize(
    ("components", "k8s", "fragments"),
    [
        pytest.param((versions.GPU_OPERATOR,), "1.36.4", [], id="gpu-operator-only-1.36-ok"),
        pytest.param(
            (versions.GPU_OPERATOR,),
            "1.37.0",
            ["newer than 1.36, the newest minor NVIDIA GPU Operator v26.7.0 supports"],
            id="gpu-operator-only-1.37-refused",
        ),
        pytest.param(
            (versions.GPU_OPERATOR, versions.KAMAJI),
            "1.37.0",
            ["the newest minor NVIDIA GPU Operator v26.7.0 and Kamaji 26.8.2-edge support"],
            id="kamaji-named",
        ),
        pytest.param(
            (versions.GPU_OPERATOR, versions.CALICO),
            "1.36.0",
            ["the newest minor Calico (Tigera operator) v3.31.0 supports"],
            id="calico-named",
        ),
        pytest.param(
            (versions.GPU_OPERATOR, versions.DPF),
            "1.34.2",
            [],
            id="dpf-range-not-enforced",
        ),
        pytest.param(
            (versions.GPU_OPERATOR,),
            "1.33.9",
            ["older than 1.34.0, the oldest version gpu-caas supports"],
            id="platform-floor",
        ),
    ],
)
def test_gpu_platform_rules_use_the_given_components(components, k8s, fragments):
    problems = gpu_platform_rules(
        GpuPlatformConfig(), kubernetes_version=k8s, node_groups={}, components=components
    )
    assert [path for path, _ in problems] == [K8S] * len(fragments)
    for (_, message), fragment in zip(problems, fragments, strict=True):
        assert fragment in message


def _names(tenant: TenantConfig) -> set[str]:
    return {c.name for c in tenant_components(tenant)}


@pytest.mark.parametrize(
    ("changes", "present", "absent"),
    [
        pytest.param(
            {},
            {"NVIDIA GPU Operator", "Kyverno", "KAI scheduler", "Cilium", "Kamaji"},
            {"NVIDIA Network Operator", "Karpenter (core APIs)", "Calico (Tigera operator)"},
            id="ncp-managed-defaults-hosted-kamaji",
        ),
        pytest.param(
            {"gpu": {"network": {"enabled": True}, "nim": {"enabled": True}}},
            {"NVIDIA Network Operator", "NVIDIA NIM Operator"},
            set(),
            id="network-and-nim-when-enabled",
        ),
        pytest.param(
            {"services": {"autoscaling": {"enabled": True}, "cni": {"plugin": "calico"}}},
            {"Karpenter (core APIs)", "Calico (Tigera operator)"},
            {"Cilium"},
            id="autoscaling-and-calico",
        ),
        pytest.param(
            {
                "services": {
                    "cni": {"plugin": "external"},
                    "scheduler": {"enabled": False},
                    "nodeHealth": {"engine": "nhc"},
                    "observability": {"prometheus": {"mode": "off"}, "otel": {"enabled": False}},
                }
            },
            {"Node Health Check operator (medik8s)", "Kyverno"},
            {
                "Cilium",
                "Calico (Tigera operator)",
                "KAI scheduler",
                "NVIDIA NVSentinel",
                "kube-prometheus-stack",
                "OpenTelemetry Collector",
            },
            id="services-off",
        ),
        pytest.param(
            {"gpu": {"enabled": False}},
            {"Kyverno"},
            {"NVIDIA GPU Operator"},
            id="gpu-platform-off",
        ),
    ],
)
def test_tenant_components_follow_the_config(changes, present, absent):
    raw: dict[str, Any] = _tenant().model_dump(mode="json", by_alias=True, exclude_none=True)
    for key, value in changes.items():
        raw[key] = {**raw.get(key, {}), **value}
    names = _names(TenantConfig.model_validate(raw))
    assert present <= names
    assert not absent & names


def test_gpu_rules_refuse_a_version_outside_the_tenant_window():
    # A 1.36 cluster: refused by Kyverno (installed by every config), at kubernetes.version.
    problems = gpu_rules(_tenant(version="1.36.0"))
    assert [path for path, _ in problems] == [K8S]
    assert "the newest minor Kyverno v1.19.0 supports" in problems[0][1]
    assert gpu_rules(_tenant(version="1.35.4")) == []


def test_gpu_warnings_report_the_unenforced_dpf_range():
    tenant = _tenant(gpu={"dpu": {"enabled": True}})
    assert gpu_rules(tenant) == []
    ((path, message),) = gpu_warnings(tenant)
    assert path == K8S
    assert message.startswith(
        "Kubernetes 1.34.2 is outside the range NVIDIA DOCA Platform Framework v24.10.0-rc.6 "
        "documents (1.30 only, per NVIDIA/doca-platform@v24.10.0-rc.6 "
    )
    assert "), and is allowed because that range lies below the platform floor 1.34.0" in message
    assert message.endswith("Platform-Support).") and "not refused" not in message
    assert gpu_warnings(_tenant()) == []
