"""`components/workloads.py`: the chart defaults the placement model relies on are the
upstream ones, and every values renderer puts the system tolerations where the model
says."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import yaml

from components import workloads as wl
from components.cluster.kamaji import tenant_control_plane_spec
from components.cluster.sizing import hosted_sizing
from components.cluster.types import ControlPlaneSize
from components.gpu import dra_driver, gpu_operator, network_operator, nim_operator
from components.isolation import kyverno
from components.mirrors import Mirrors
from components.placement import (
    GPU_TOLERATION,
    Toleration,
    Workload,
    parse_tolerations,
    values_tolerations,
)
from components.services import csi, kai_scheduler, karpenter, observability
from tests.support.upstream import CRDS_ROOT

SYSTEM = (Toleration("dedicated", "Equal", "system", "NoSchedule"),)
SYSTEM_K8S = tuple(t.to_k8s() for t in SYSTEM)


def _upstream(chart: str, dotted: str) -> Any:
    node: Any = yaml.safe_load((CRDS_ROOT / chart / "values.yaml").read_text())
    for part in dotted.split("."):
        node = node[part]
    return node


@pytest.mark.parametrize(
    ("workload", "chart"),
    [
        *((w, "kyverno") for w in wl.KYVERNO),
        (wl.GPU_OPERATOR, "gpu-operator"),
        (wl.GPU_OPERANDS, "gpu-operator"),
        (wl.NFD_WORKER, "gpu-operator"),
        (wl.NIM_OPERATOR, "k8s-nim-operator/v3.1.2"),
        *((w, "kube-prometheus-stack") for w in wl.PROMETHEUS_STACK[:4]),
    ],
    ids=lambda x: x.label if isinstance(x, Workload) else x,
)
def test_chart_default_tolerations_are_upstreams(workload, chart):
    assert workload.values_key is not None
    assert parse_tolerations(_upstream(chart, workload.values_key)) == workload.tolerations


def test_kyverno_and_gpu_operator_node_selectors_are_upstreams():
    assert _upstream("kyverno", "global.nodeSelector") == wl.KYVERNO[0].node_selector
    assert _upstream("gpu-operator", "operator.nodeSelector") == wl.GPU_OPERATOR.node_selector


def test_network_operator_chart_default_is_recorded():
    assert (
        parse_tolerations(_upstream("network-operator", "operator.tolerations"))
        == wl.NETWORK_OPERATOR_CHART_DEFAULT
    )


def test_konnectivity_agent_default_is_the_crd_default():
    crd = yaml.safe_load(
        (CRDS_ROOT / "kamaji" / "kamaji.clastix.io_tenantcontrolplanes.yaml").read_text()
    )
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    agent = spec["properties"]["addons"]["properties"]["konnectivity"]["properties"]["agent"]
    default = agent["properties"]["tolerations"]["default"]
    assert parse_tolerations(default) == wl.KONNECTIVITY_AGENT_DEFAULT


def _get(values: dict[str, Any], dotted: str) -> Any:
    node: Any = values
    for part in dotted.split("."):
        node = node[part]
    return node


MIRRORS = Mirrors()
RENDERERS: dict[
    str, tuple[Callable[[tuple[dict[str, str], ...]], dict[str, Any]], tuple[Workload, ...]]
] = {
    "kyverno": (lambda t: kyverno.render_values(3, MIRRORS, t), wl.KYVERNO),
    "kai": (
        lambda t: kai_scheduler.render_values(
            MIRRORS, placement_strategy="binpack", create_default_queue=True, tolerations=t
        ),
        wl.KAI_SCHEDULER,
    ),
    "karpenter": (
        lambda t: karpenter.render_controller_values(
            karpenter.ControllerSettings(provider_name="aws", cluster_name="acme"), MIRRORS, t
        ),
        wl.KARPENTER,
    ),
    "csi-nfs": (lambda t: csi.render_nfs_values(MIRRORS, t), wl.CSI_NFS),
    "prometheus": (
        lambda t: observability.render_prometheus_stack_values(
            observability.PrometheusSettings(grafana=True), MIRRORS, t
        ),
        (*wl.PROMETHEUS_STACK, wl.GRAFANA),
    ),
    "otel": (
        lambda t: observability.render_otel_values(observability.OtelSettings(), MIRRORS, t),
        (wl.OTEL_COLLECTOR,),
    ),
    "gpu-operator": (
        lambda t: gpu_operator.render_gpu_operator_values(
            gpu_operator.GpuOperatorSettings(nfd=True), MIRRORS, tolerations=t
        ),
        (wl.GPU_OPERATOR, wl.NFD_MASTER, wl.NFD_GC),
    ),
    "nim-operator": (
        lambda t: nim_operator.render_nim_operator_values(MIRRORS, "v3.1.2", t),
        (wl.NIM_OPERATOR,),
    ),
    "dra-driver": (
        lambda t: dra_driver.render_dra_driver_values(dra_driver.DraDriverSettings(), MIRRORS, t),
        (wl.DRA_CONTROLLER,),
    ),
}


@pytest.mark.parametrize("chart", RENDERERS)
def test_renderers_add_system_tolerations_after_the_chart_default(chart):
    render, workloads = RENDERERS[chart]
    values = render(SYSTEM_K8S)
    for workload in workloads:
        if not workload.system:
            continue
        assert workload.values_key is not None
        got = _get(values, workload.values_key)
        assert got == values_tolerations(workload, SYSTEM), workload.label
        assert got[-1] == SYSTEM_K8S[0]
        assert {"operator": "Exists"} not in got, "never a blanket Exists"


@pytest.mark.parametrize("chart", RENDERERS)
def test_renderers_keep_chart_defaults_without_system_tolerations(chart):
    render, workloads = RENDERERS[chart]
    values = render(())
    for workload in workloads:
        if workload.system and workload.values_key and not workload.ours:
            with pytest.raises(KeyError):
                _get(values, workload.values_key)


def test_network_operator_keeps_its_tolerations_and_adds_the_system_ones():
    values = network_operator.render_network_operator_values(MIRRORS, "26.7.0", SYSTEM_K8S)
    assert values["operator"]["tolerations"] == [
        *(t.to_k8s() for t in wl.NETWORK_OPERATOR_BASE),
        SYSTEM_K8S[0],
    ]


def test_gpu_node_agents_tolerate_the_gpu_groups_own_taints():
    extra = ({"key": "dedicated", "operator": "Equal", "value": "a", "effect": "NoExecute"},)
    values = gpu_operator.render_gpu_operator_values(
        gpu_operator.GpuOperatorSettings(nfd=True), MIRRORS, gpu_node_tolerations=extra
    )
    assert values["daemonsets"]["tolerations"] == [GPU_TOLERATION.to_k8s(), extra[0]]
    assert values["node-feature-discovery"]["worker"]["tolerations"][-1] == extra[0]
    dra = dra_driver.render_dra_driver_values(
        dra_driver.DraDriverSettings(), MIRRORS, gpu_node_tolerations=extra
    )
    assert dra["kubeletPlugin"]["tolerations"] == [GPU_TOLERATION.to_k8s(), extra[0]]


def test_dra_kubelet_plugin_always_tolerates_the_gpu_taint():
    values = dra_driver.render_dra_driver_values(dra_driver.DraDriverSettings(), MIRRORS)
    assert values["kubeletPlugin"]["tolerations"] == [GPU_TOLERATION.to_k8s()]


def test_konnectivity_agent_tolerations_in_the_tenant_control_plane():
    tolerations = (
        {"key": "CriticalAddonsOnly", "operator": "Exists"},
        GPU_TOLERATION.to_k8s(),
    )
    spec = tenant_control_plane_spec(
        name="acme",
        version="1.34.2",
        sizing=hosted_sizing(ControlPlaneSize.SMALL, False),
        service_type="LoadBalancer",
        pod_cidr="10.244.0.0/16",
        service_cidr="10.96.0.0/12",
        konnectivity_tolerations=tolerations,
    )
    agent = spec["addons"]["konnectivity"]["agent"]
    assert agent == {"mode": "DaemonSet", "tolerations": list(tolerations)}
    plain = tenant_control_plane_spec(
        name="acme",
        version="1.34.2",
        sizing=hosted_sizing(ControlPlaneSize.SMALL, False),
        service_type="LoadBalancer",
        pod_cidr="10.244.0.0/16",
        service_cidr="10.96.0.0/12",
    )
    assert "agent" not in plain["addons"]["konnectivity"]
