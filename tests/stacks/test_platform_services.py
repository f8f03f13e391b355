"""`stacks/platform_services.py`: config -> component Args, and the install under mocks."""

from __future__ import annotations

import copy
from typing import Any, TypeVar, cast

import pulumi
import pulumi_kubernetes as k8s
import pytest

from components.gpu.advertised import advertised_per_node
from components.services import karpenter
from components.services.kai_scheduler import HOSTNAME_LABEL
from components.services.karpenter import DisruptionSettings
from stacks import compose
from stacks import platform_services as ps
from stacks.config import TenantConfig
from stacks.config.services import karpenter_sharing_warnings, services_rules
from stacks.platform_gpu import node_group_gpus
from stacks.platform_handle import ClusterHandle
from tests.components.services import documented_values as dv
from tests.components.services import schemas
from tests.components.services.conftest import (
    ServiceMocks,
    is_tenant_provider,
    run,
    tenant_provider,
)
from tests.components.services.conftest import mocks as mocks_fixture
from tests.stacks.test_services_config import BASE, CAPI_CLASS
from tests.support.upstream import assert_values_keys_known, validate_custom_resource

FULL_SERVICES = {
    "autoscaling": {"enabled": True},
    "csi": {
        "sharedDatasets": {"driver": "nfs", "nfs": {"server": "nfs.ncp", "share": "/acme"}},
        "localScratch": {"driver": "topolvm"},
    },
    "observability": {"otel": {"exporterEndpoint": "otel.ncp.internal:4317"}},
}
BURST: dict[str, Any] = {
    "name": "burst",
    "labels": {"example.com/pool": "burst"},
    "taints": [{"key": "example.com/burst", "value": "true"}],
    "autoscale": {
        "maxNodes": 4,
        "gpu": {"model": "H100-80GB", "count": 8},
        "nodeClass": CAPI_CLASS,
        "instanceTypes": ["hgx-h100"],
        "requirements": [{"key": "example.com/fabric", "operator": "In", "values": ["ib"]}],
    },
}


def config(services: dict[str, Any] | None = None, groups: tuple[Any, ...] = ()) -> TenantConfig:
    raw = copy.deepcopy(BASE)
    raw["nodeGroups"] = [*raw["nodeGroups"], *groups]
    if services is not None:
        raw["services"] = services
    return TenantConfig.model_validate(raw)


T = TypeVar("T")


def fake_handle() -> ClusterHandle:
    """A handle for the pure builders: they copy `provider` into Args, never call it."""
    return ClusterHandle(
        name="acme",
        provider=cast(k8s.Provider, None),
        parent=cast(pulumi.Resource, None),
        kubernetes_version="1.34.2",
    )


def must(value: T | None) -> T:
    """The builder returned Args (narrows the Optional)."""
    assert value is not None
    return value


class TestArgs:
    def test_defaults(self):
        cfg = config()
        handle = fake_handle()
        assert must(ps.cni_args(handle, cfg)).plugin == "cilium"
        assert ps.storage_args(handle, cfg) is None  # no storage named yet
        assert ps.karpenter_args(handle, cfg) is None
        kai = must(ps.kai_args(handle, cfg))
        assert [(t.name, t.gpu_quota) for t in kai.teams] == [
            ("research", 4),
            ("inference", 8),
            ("sandbox", 0),
        ]
        assert kai.topology_labels == (
            "gpu-caas.io/nvlink-domain",
            "gpu-caas.io/rack",
            HOSTNAME_LABEL,
        )
        assert must(ps.node_health_args(handle, cfg)).settings.policy == "drain"

    def test_switches(self):
        cfg = config(
            {
                "cni": {"plugin": "external"},
                "scheduler": {"enabled": False},
                "observability": {"prometheus": {"mode": "off"}, "otel": {"enabled": False}},
                "nodeHealth": {"engine": "off"},
            }
        )
        handle = fake_handle()
        assert ps.cni_args(handle, cfg) is None
        assert ps.kai_args(handle, cfg) is None
        assert ps.observability_args(handle, cfg) is None
        assert ps.node_health_args(handle, cfg) is None

    def test_karpenter_pool_from_node_group(self):
        args = must(ps.karpenter_args(fake_handle(), config(FULL_SERVICES, (BURST,))))
        assert args.controller is None
        (pool,) = args.pools
        assert (pool.name, pool.max_nodes, pool.gpus_per_node) == ("burst", 4, 8)
        assert pool.gpu_products == ("NVIDIA-H100-80GB-HBM3",)
        assert pool.instance_types == ("hgx-h100",)
        assert pool.requirements == (("example.com/fabric", "In", ("ib",)),)
        assert pool.node_class_ref.kind == "ClusterAPINodeClass"
        assert [(t.key, t.value, t.effect) for t in pool.taints] == [
            ("nvidia.com/gpu", "present", "NoSchedule"),
            ("example.com/burst", "true", "NoSchedule"),
        ]

    @pytest.mark.parametrize(
        "sharing",
        [
            None,
            {"mode": "time-slicing", "timeSlicing": {"replicas": 4}},
            {"mode": "mig", "mig": {"layout": {"3g.40gb": 2}}},
        ],
        ids=["exclusive", "time-slicing", "mig"],
    )
    def test_karpenter_nodes_look_like_joined_hosts(self, sharing):
        group = copy.deepcopy(BURST) | ({"sharing": sharing} if sharing else {})
        cfg = config(FULL_SERVICES, (group,))
        (pool,) = must(ps.karpenter_args(fake_handle(), cfg)).pools
        burst = next(g for g in cfg.node_groups if g.name == "burst")
        labels = compose.node_group_labels(cfg, burst)
        assert dict(pool.labels) == labels
        assert labels["gpu-caas.io/tenant"] == "acme"
        assert labels["gpu-caas.io/node-group"] == "burst"
        assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
        assert labels["example.com/pool"] == "burst"
        config_name = "gpu-caas-burst"
        assert labels["nvidia.com/device-plugin.config"] == config_name
        mig = sharing is not None and sharing["mode"] == "mig"
        assert labels["nvidia.com/mig.config"] == (config_name if mig else "all-disabled")
        expected_taints = [
            (t.key, t.value or None, t.effect) for t in compose.node_group_taints(cfg, burst)
        ]
        assert [(t.key, t.value, t.effect) for t in pool.taints] == expected_taints
        # The rendered NodePool carries them verbatim and is a valid v1.14.1 NodePool.
        spec = karpenter.render_node_pool(
            pool, tenant="acme", cloud_provider="cluster-api", disruption=DisruptionSettings()
        )
        template = spec["template"]
        assert template["metadata"]["labels"] == labels
        assert [(t["key"], t.get("value"), t["effect"]) for t in template["spec"]["taints"]] == (
            expected_taints
        )
        validate_custom_resource("karpenter.sh/v1", "NodePool", spec)

    def test_a_group_without_the_gpu_taint_keeps_it_off_its_pool(self):
        group = copy.deepcopy(BURST) | {"gpuTaint": False}
        (pool,) = must(ps.karpenter_args(fake_handle(), config(FULL_SERVICES, (group,)))).pools
        assert [t.key for t in pool.taints] == ["example.com/burst"]

    @pytest.mark.parametrize(("provider", "product"), [("aws", "h100"), ("azure", "H100")])
    def test_gpu_product_per_provider(self, provider, product):
        services = {"autoscaling": {"enabled": True, "provider": provider}}
        args = must(ps.karpenter_args(fake_handle(), config(services, (BURST,))))
        assert args.pools[0].gpu_products == (product,)

    def test_storage(self):
        args = must(ps.storage_args(fake_handle(), config(FULL_SERVICES)))
        assert must(args.nfs).server == "nfs.ncp"
        scratch = must(args.local_scratch)
        assert scratch.provisioner == "topolvm.io"
        assert scratch.volume_binding_mode == "WaitForFirstConsumer"


mocks = mocks_fixture  # re-export the fixture for this module


def install_services(handle: ClusterHandle, cfg: TenantConfig) -> dict[str, Any]:
    """Both services steps, as `stacks.platform.install` runs them: the CNI first, then
    everything else with the handle that carries `network_ready`."""
    handle, outputs = ps.install_network(handle, cfg)
    outputs.update(ps.install(handle, cfg))
    return outputs


class TestInstall:
    def test_everything_enabled(self, mocks: ServiceMocks) -> None:
        outputs: dict[str, Any] = {}

        def build():
            parent = pulumi.ComponentResource("gpu-caas:cluster:TenantCluster", "acme")
            handle = ClusterHandle(
                name="acme", provider=tenant_provider(), parent=parent, kubernetes_version="1.34.2"
            )
            outputs.update(install_services(handle, config(FULL_SERVICES, (BURST,))))
            return pulumi.Output.all(**outputs).apply(lambda resolved: outputs.update(resolved))

        run(mocks, build)
        components = {r.name: r for r in mocks.resources if r.type.startswith("gpu-caas:services:")}
        cluster = mocks.one("gpu-caas:cluster:TenantCluster", "acme")
        assert set(components) == {
            "acme-cni",
            "acme-storage",
            "acme-kai-scheduler",
            "acme-karpenter",
            "acme-observability",
            "acme-node-health",
        }
        for component in components.values():
            assert component.parent == cluster.urn, component.name
        for resource in mocks.kubernetes_resources():
            assert is_tenant_provider(resource), resource.name
        assert outputs["cni"] == "cilium"
        assert outputs["nodePools"] == ["acme-burst"]
        assert outputs["storageClasses"] == ["shared-datasets", "local-scratch"]
        assert outputs["schedulerQueues"] == ["acme", "research", "inference", "sandbox"]
        assert outputs["schedulerTopology"] == "gpu-caas"
        assert outputs["gpuAlertRules"] == "monitoring/gpu-health"
        assert outputs["nodeHealth"] == {"engine": "nvsentinel", "remediation": "drain"}


# --------------------------------------------------------------------------- #
# Every custom resource and every Helm values object the services emit is valid
# --------------------------------------------------------------------------- #

CHART_CHECKS: dict[str, Any] = {
    "kai-scheduler": lambda values: assert_values_keys_known(
        values, "aicr/recipes/components/kai-scheduler/values.yaml", allow=dv.KAI_UPSTREAM_KEYS
    ),
    "cilium": lambda values: dv.assert_keys_documented(values, dv.CILIUM_KEYS),
    "tigera-operator": lambda values: dv.assert_keys_documented(values, dv.CALICO_KEYS),
    "csi-driver-nfs": lambda values: dv.assert_keys_documented(values, dv.CSI_NFS_KEYS),
    "kube-prometheus-stack": lambda values: dv.assert_keys_documented(
        values, dv.KUBE_PROMETHEUS_STACK_KEYS, dv.KUBE_PROMETHEUS_STACK_LEAVES
    ),
    "opentelemetry-collector": lambda values: dv.assert_keys_documented(
        values, dv.OTEL_KEYS, dv.OTEL_LEAVES
    ),
    "nvsentinel": lambda values: dv.assert_keys_documented(values, dv.NVSENTINEL_KEYS),
    "karpenter": lambda values: dv.assert_keys_documented(
        values, dv.KARPENTER_AWS_KEYS, {"serviceAccount.annotations"}
    ),
}
"""Chart name -> the strictest values check we have for it."""

UPSTREAM_CRD_KINDS = {"Queue", "Topology", "NodePool", "NodeOverlay"}
OWN_SCHEMAS = {
    "PrometheusRule": schemas.PROMETHEUS_RULE_SPEC,
    "NodeHealthCheck": schemas.NODE_HEALTH_CHECK_SPEC,
    "MachineDeletionRemediationTemplate": schemas.MACHINE_DELETION_TEMPLATE_SPEC,
}

ALTERNATIVE_SERVICES = {
    "cni": {"plugin": "calico", "encapsulation": "native"},
    "csi": {"sharedDatasets": {"driver": "external", "provisioner": "csi.weka.io"}},
    "autoscaling": {
        "enabled": True,
        "provider": "custom",
        "consolidation": {
            "allowDriftReplacement": True,
            "budgets": [{"nodes": "0", "schedule": "0 8 * * mon-fri", "duration": "10h"}],
        },
    },
    "observability": {"prometheus": {"mode": "external"}, "otel": {"enabled": False}},
    "nodeHealth": {"engine": "nhc", "remediation": "replace"},
}
AWS_SERVICES = {
    "autoscaling": {"enabled": True, "provider": "aws", "controller": {"install": True}},
    "nodeHealth": {"remediation": "replace", "janitorProvider": "aws"},
}
AWS_BURST = {
    **BURST,
    "autoscale": {
        **BURST["autoscale"],
        "nodeClass": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu"},
    },
}


COMMON = {"kai-scheduler", "Queue", "Topology", "NodePool", "PrometheusRule"}
STACK = {"cilium", "kube-prometheus-stack", "opentelemetry-collector", "nvsentinel"}


@pytest.mark.parametrize(
    ("services", "groups", "expected"),
    [
        (FULL_SERVICES, (BURST,), COMMON | STACK | {"csi-driver-nfs"}),
        (
            ALTERNATIVE_SERVICES,
            (BURST,),
            COMMON | {"tigera-operator", "NodeHealthCheck", "MachineDeletionRemediationTemplate"},
        ),
        (AWS_SERVICES, (AWS_BURST,), COMMON | STACK | {"karpenter"}),
    ],
    ids=["cilium-nfs-nvsentinel", "calico-external-nhc", "aws-controller"],
)
def test_everything_emitted_is_validated(
    mocks: ServiceMocks, services: dict[str, Any], groups: tuple[Any, ...], expected: set[str]
) -> None:
    cfg = config(services, groups)
    assert services_rules(cfg) == []

    def build() -> None:
        parent = pulumi.ComponentResource("gpu-caas:cluster:TenantCluster", "acme")
        handle = ClusterHandle(
            name="acme", provider=tenant_provider(), parent=parent, kubernetes_version="1.34.2"
        )
        install_services(handle, cfg)

    run(mocks, build)
    checked: set[str] = set()
    for resource in mocks.kubernetes_resources():
        kind = resource.type.rsplit(":", 1)[-1]
        if kind == "Release":
            chart = resource.inputs["chart"].rsplit("/", 1)[-1]
            assert chart in CHART_CHECKS, f"no values check for chart {chart}"
            CHART_CHECKS[chart](resource.inputs.get("values", {}))
            checked.add(chart)
        elif kind in UPSTREAM_CRD_KINDS:
            validate_custom_resource(resource.inputs["apiVersion"], kind, resource.inputs)
            checked.add(kind)
        elif kind in OWN_SCHEMAS:
            schemas.validate(resource.inputs["spec"], OWN_SCHEMAS[kind])
            checked.add(kind)
        else:
            # Only core Kubernetes objects are left (typed by pulumi-kubernetes).
            assert kind in {"Namespace", "StorageClass"}, f"unvalidated kind {kind}"
    assert checked == expected


@pytest.mark.parametrize(
    ("services", "cni", "health"),
    [
        (FULL_SERVICES, "acme-cni-cilium", "acme-node-health-nvsentinel"),
        (ALTERNATIVE_SERVICES, "acme-cni-calico", "acme-node-health-nhc"),
        (AWS_SERVICES, "acme-cni-cilium", "acme-node-health-nvsentinel"),
    ],
    ids=["cilium-nvsentinel", "calico-nhc", "aws-controller"],
)
def test_every_release_waits_for_the_cni_and_node_health_for_the_gpu_operator(
    mocks: ServiceMocks, services: dict[str, Any], cni: str, health: str
) -> None:
    groups = (AWS_BURST,) if services is AWS_SERVICES else (BURST,)
    cfg = config(services, groups)

    def build() -> None:
        parent = pulumi.ComponentResource("gpu-caas:cluster:TenantCluster", "acme")
        provider = tenant_provider()
        gpu_operator = k8s.core.v1.ConfigMap(
            "acme-gpu-operator-stand-in", opts=pulumi.ResourceOptions(provider=provider)
        )
        handle = ClusterHandle(
            name="acme",
            provider=provider,
            parent=parent,
            kubernetes_version="1.34.2",
            gpu_ready=(gpu_operator,),
        )
        after, _ = ps.install_network(handle, cfg)
        assert [type(r).__name__ for r in after.network_ready] == ["Release"]
        ps.install(after, cfg)

    run(mocks, build)
    cni_release = mocks.one("kubernetes:helm.sh/v3:Release", cni)
    releases = [r for r in mocks.of_type("kubernetes:helm.sh/v3:Release") if r.name != cni]
    assert releases
    for release in releases:
        assert cni_release.urn in release.dependencies, release.name
    gpu_operator = mocks.named("acme-gpu-operator-stand-in")
    node_health = mocks.named(health)
    assert {cni_release.urn, gpu_operator.urn} <= set(node_health.dependencies)
    if services is not ALTERNATIVE_SERVICES:  # our Prometheus stack: its CRDs come first
        stack = mocks.one("kubernetes:helm.sh/v3:Release", "acme-observability-prometheus")
        assert stack.urn in node_health.dependencies
    # Only node health waits for the GPU Operator.
    waiting = [r.name for r in mocks.resources if gpu_operator.urn in r.dependencies]
    assert waiting == [health]


def test_an_external_cni_leaves_nothing_to_wait_for(mocks: ServiceMocks) -> None:
    cfg = config({"cni": {"plugin": "external"}})

    def build() -> None:
        parent = pulumi.ComponentResource("gpu-caas:cluster:TenantCluster", "acme")
        handle = ClusterHandle(
            name="acme", provider=tenant_provider(), parent=parent, kubernetes_version="1.34.2"
        )
        after, outputs = ps.install_network(handle, cfg)
        assert after is handle and outputs == {}

    run(mocks, build)
    assert not mocks.of_type("gpu-caas:services:Cni")


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("H100-80GB", "H100"),
        ("H200-141GB-NVL", "H200"),
        ("H100-80GB-PCIe", "H100"),
        ("RTX-PRO-6000-96GB", "RTX-PRO-6000"),
        ("L40S-48GB", "L40S"),
        ("GB300-278GB", "GB300"),
        ("custom", "custom"),
    ],
)
def test_gpu_family(model: str, family: str) -> None:
    assert ps.gpu_family(model) == family


# --------------------------------------------------------------------------- #
# Autoscaling counts the way the device plugin advertises (issue 10)
# --------------------------------------------------------------------------- #

TIME_SLICED_BURST: dict[str, Any] = {
    **AWS_BURST,
    "name": "shared",
    "team": "research",
    "sharing": {"mode": "time-slicing", "timeSlicing": {"replicas": 4}},
    "autoscale": {**AWS_BURST["autoscale"], "maxNodes": 2},
}
# aws/karpenter-provider-aws@v1.14.1 charts/karpenter/values.yaml `settings.featureGates.
# nodeOverlay` (false by default; templates/deployment.yaml: FEATURE_GATES NodeOverlay=).
KARPENTER_AWS_KEYS_WITH_GATE = dv.KARPENTER_AWS_KEYS | {"settings.featureGates.nodeOverlay"}


class TestSharedAutoscaledGroups:
    def test_the_pool_gets_what_the_gpu_operator_gets(self):
        cfg = config(AWS_SERVICES, (TIME_SLICED_BURST,))
        (pool,) = must(ps.karpenter_args(fake_handle(), cfg)).pools
        (gpu,) = [g for g in node_group_gpus(cfg) if g.name == "shared"]
        assert pool.gpu == gpu
        # 8 GPUs x 4 replicas per node, renamed: 32 nvidia.com/gpu.shared per node.
        assert karpenter.advertised(pool) == {"nvidia.com/gpu.shared": 32}
        assert karpenter.render_limits(pool) == {"nodes": "2", "nvidia.com/gpu.shared": "64"}

    def test_everything_emitted_is_validated(self, mocks: ServiceMocks) -> None:
        cfg = config(AWS_SERVICES, (AWS_BURST, TIME_SLICED_BURST))
        assert services_rules(cfg) == []

        def build() -> None:
            parent = pulumi.ComponentResource("gpu-caas:cluster:TenantCluster", "acme")
            handle = ClusterHandle(
                name="acme", provider=tenant_provider(), parent=parent, kubernetes_version="1.34.2"
            )
            install_services(handle, cfg)

        run(mocks, build)
        kinds: dict[str, list[dict[str, Any]]] = {}
        for resource in mocks.kubernetes_resources():
            kind = resource.type.rsplit(":", 1)[-1]
            if kind in ("NodePool", "NodeOverlay"):
                validate_custom_resource(resource.inputs["apiVersion"], kind, resource.inputs)
                kinds.setdefault(kind, []).append(resource.inputs)
        # Registration order under mocks follows output resolution, not source order.
        assert sorted(p["metadata"]["name"] for p in kinds["NodePool"]) == [
            "acme-burst",
            "acme-shared",
        ]
        (overlay,) = kinds["NodeOverlay"]
        assert overlay["metadata"]["name"] == "acme-shared"
        assert overlay["spec"]["requirements"] == [
            {"key": "karpenter.sh/nodepool", "operator": "In", "values": ["acme-shared"]}
        ]
        assert overlay["spec"]["capacity"] == {
            "nvidia.com/gpu": "0",
            "nvidia.com/gpu.shared": "32",
        }
        (release,) = [r for r in mocks.resources if r.name == "acme-karpenter-controller"]
        values = release.inputs["values"]
        dv.assert_keys_documented(
            values, KARPENTER_AWS_KEYS_WITH_GATE, {"serviceAccount.annotations"}
        )
        assert values["settings"]["featureGates"] == {"nodeOverlay": True}


def sharing_group(sharing: dict[str, Any] | None) -> dict[str, Any]:
    group: dict[str, Any] = {**BURST, "name": "burst"}
    if sharing is not None:
        group["sharing"] = sharing
        if sharing["mode"] in ("time-slicing", "mps"):
            group["team"] = "research"
    return group


GATE_WARNING = "gpu-caas:tenant.nodeGroups[1].sharing.mode"


@pytest.mark.parametrize(
    ("sharing", "autoscaling", "expected"),
    [
        (None, {"enabled": True}, []),
        (
            {"mode": "time-slicing", "timeSlicing": {"replicas": 4}},
            {"enabled": True},
            [GATE_WARNING],
        ),
        ({"mode": "mps", "mps": {"replicas": 2}}, {"enabled": True}, [GATE_WARNING]),
        ({"mode": "mig", "mig": {"layout": {"3g.40gb": 2}}}, {"enabled": True}, [GATE_WARNING]),
        ({"mode": "mig", "mig": {"layout": {"7g.80gb": 1}}}, {"enabled": True}, []),
        (
            {"mode": "mig", "mig": {"layout": {"3g.40gb": 1, "1g.10gb": 2}}},
            {"enabled": True},
            [GATE_WARNING],
        ),
        # gpu-caas installs the controller and turns the gate on itself.
        (
            {"mode": "time-slicing", "timeSlicing": {"replicas": 4}},
            {"enabled": True, "provider": "aws", "controller": {"install": True}},
            [],
        ),
        # No Karpenter: an error already (services_rules), not a second warning.
        ({"mode": "time-slicing", "timeSlicing": {"replicas": 4}}, {"enabled": False}, []),
    ],
    ids=[
        "exclusive",
        "time-slicing",
        "mps",
        "mig-single",
        "mig-single-whole-gpu",
        "mig-mixed",
        "gate-set-by-gpu-caas",
        "autoscaling-off",
    ],
)
def test_karpenter_sharing_warnings(sharing, autoscaling, expected):
    group = sharing_group(sharing)
    if autoscaling.get("provider") == "aws":
        group["autoscale"] = {**AWS_BURST["autoscale"]}
    cfg = config({"autoscaling": autoscaling}, (group,))
    warnings = karpenter_sharing_warnings(cfg)
    assert [path for path, _ in warnings] == expected
    if expected:
        (gpu,) = [g for g in node_group_gpus(cfg) if g.name == "burst"]
        message = warnings[0][1]
        # The message names exactly what the nodes advertise.
        for resource in advertised_per_node(gpu, group["autoscale"]["gpu"]["count"]):
            assert resource in message
        assert "NodeOverlay=true" in message
        assert "kubernetes-sigs/karpenter#729" in message


@pytest.mark.parametrize(
    ("dra", "expected"),
    [
        ({"enabled": True}, []),
        (
            {"enabled": True, "gpuResources": True},
            ["gpu-caas:tenant.gpu.dra.gpuResources"],
        ),
        (
            {
                "enabled": True,
                "computeDomains": True,
                "domains": [{"name": "imex", "namespace": "research", "nodeGroup": "burst"}],
            },
            ["gpu-caas:tenant.gpu.dra.domains[0].nodeGroup"],
        ),
        (
            {
                "enabled": True,
                "computeDomains": True,
                "domains": [{"name": "imex", "namespace": "research", "nodeGroup": "gb200"}],
            },
            [],
        ),
    ],
    ids=["dra-driver-only", "dra-gpus", "compute-domain-on-autoscaled", "compute-domain-inventory"],
)
def test_karpenter_cannot_scale_up_for_dra_claims(dra, expected):
    raw = copy.deepcopy(BASE)
    raw["nodeGroups"] = [*raw["nodeGroups"], BURST]
    raw["services"] = {"autoscaling": {"enabled": True}}
    # DRA GPUs replace the device plugin (gpu_rules refuses both).
    operator = {"devicePlugin": False} if dra.get("gpuResources") else {}
    raw["gpu"] = {"dra": dra, "operator": operator}
    warnings = karpenter_sharing_warnings(TenantConfig.model_validate(raw))
    assert [path for path, _ in warnings] == expected
    for _, message in warnings:
        assert "ignores pods' DRA requests" in message
