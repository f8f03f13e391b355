"""`tenant.gpu` config model and `gpu_rules` (table-driven)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from stacks.config import TenantConfig
from stacks.config.gpu import (
    GpuPlatformConfig,
    KernelModuleType,
    gpu_platform_rules,
    gpu_rules,
    node_group_gpu_model,
    node_group_mig_layout,
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
        assert gpu.operator.dcgm_exporter.service_monitor
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
        pytest.param({"enabled": False, "dra": {"enabled": True}}, "1.33.0", {}, [], id="disabled"),
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
            [("gpu-caas:tenant.kubernetes.version", "DRA driver needs Kubernetes 1.34.0")],
            id="dra-old-k8s",
        ),
        pytest.param(
            {},
            "1.36.0",
            {},
            [("gpu-caas:tenant.kubernetes.version", "newer than 1.35")],
            id="k8s-too-new",
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
            [("gpu-caas:tenant.gpu.operator.migManager", "node groups mig use MIG")],
            id="mig-needs-manager",
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
            [("gpu-caas:tenant.gpu.enabled", "node groups mig set a MIG layout")],
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
