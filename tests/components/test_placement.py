"""`components/placement.py`: the scheduler's taint, selector and affinity rules, table-driven."""

from __future__ import annotations

import pytest

from components import workloads as wl
from components.placement import (
    CONTROL_PLANE_TOLERATION,
    GPU_TOLERATION,
    NodePool,
    Reach,
    Requirement,
    Taint,
    Toleration,
    Workload,
    apply_tolerations,
    effective,
    fits,
    place,
    tolerate,
)

GPU = Taint("nvidia.com/gpu", "present", "NoSchedule")
CP = Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")
DEDICATED = Taint("dedicated", "team-a", "NoExecute")
SOFT = Taint("soft", "", "PreferNoSchedule")


@pytest.mark.parametrize(
    ("toleration", "taint", "expected"),
    [
        (Toleration("", "Exists"), GPU, True),
        (Toleration("", "Exists", "", "NoExecute"), GPU, False),
        (GPU_TOLERATION, GPU, True),
        (Toleration("nvidia.com/gpu", "Equal", "present", "NoSchedule"), GPU, True),
        (Toleration("nvidia.com/gpu", "Equal", "absent", "NoSchedule"), GPU, False),
        (Toleration("nvidia.com/gpu", "Exists", "", "NoExecute"), GPU, False),
        (Toleration("nvidia.com/gpu", "Exists"), GPU, True),
        (CONTROL_PLANE_TOLERATION, CP, True),
        (Toleration(CP.key, "Equal", "", "NoSchedule"), CP, True),
        (CONTROL_PLANE_TOLERATION, GPU, False),
        (Toleration("CriticalAddonsOnly", "Exists"), GPU, False),
        (tolerate(DEDICATED), DEDICATED, True),
        (tolerate(CP), CP, True),
    ],
)
def test_toleration_matches_like_the_scheduler(toleration, taint, expected):
    assert toleration.tolerates(taint) is expected


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"operator": "Exists"}, Toleration("", "Exists")),
        (
            {"key": "a", "operator": "Equal", "value": "b", "effect": "NoSchedule"},
            Toleration("a", "Equal", "b", "NoSchedule"),
        ),
        ({"key": "a"}, Toleration("a", "Equal", "", "")),
    ],
)
def test_tolerations_round_trip(item, expected):
    parsed = Toleration.from_k8s(item)
    assert parsed == expected
    assert Toleration.from_k8s(parsed.to_k8s()) == parsed


def _pool(
    name: str, *taints: Taint, gpu: bool = False, labels: dict[str, str] | None = None
) -> NodePool:
    return NodePool(name, labels or {}, taints, gpu=gpu, key_path=name, gpu_labels_unknown=gpu)


CONTROL_PLANE = _pool("cp", CP, labels={"node-role.kubernetes.io/control-plane": ""})
GPU_NODES = _pool("gpu", GPU, gpu=True)
GPU_UNTAINTED = _pool("gpu-open", gpu=True)
CPU = _pool("cpu")
CPU_DEDICATED = _pool("cpu-dedicated", DEDICATED)
CPU_SOFT = _pool("cpu-soft", SOFT)
KARPENTER_GPU = _pool("karpenter", GPU, gpu=True, labels={"karpenter.sh/nodepool": "burst"})

# flavor x taint combination: the node pools of each kind of cluster.
CLUSTERS = {
    "kubeadm, GPU nodes tainted": (CONTROL_PLANE, GPU_NODES),
    "kubeadm, CPU group": (CONTROL_PLANE, CPU, GPU_NODES),
    "kubeadm, gpuTaint false": (CONTROL_PLANE, GPU_UNTAINTED),
    "hosted, GPU nodes only": (GPU_NODES,),
    "hosted, CPU group": (CPU, GPU_NODES),
    "hosted, tainted CPU group": (CPU_DEDICATED, GPU_NODES),
    "hosted, soft-tainted CPU group": (CPU_SOFT, GPU_NODES),
    "external, provided nodes + Karpenter GPUs": (CPU, KARPENTER_GPU),
    "external, Karpenter GPUs only": (KARPENTER_GPU,),
}

BY_LABEL = {
    w.label: w
    for w in (wl.COREDNS, wl.KYVERNO[0], wl.KARPENTER[0], wl.DRA_CONTROLLER, wl.CILIUM[1])
}

# component -> cluster -> fits some node (without system tolerations).
EXPECTED_ONE = {
    wl.COREDNS.label: {
        "kubeadm, GPU nodes tainted": True,
        "kubeadm, CPU group": True,
        "kubeadm, gpuTaint false": True,
        "hosted, GPU nodes only": False,
        "hosted, CPU group": True,
        "hosted, tainted CPU group": False,
        "hosted, soft-tainted CPU group": True,
        "external, provided nodes + Karpenter GPUs": True,
        "external, Karpenter GPUs only": False,
    },
    wl.KYVERNO[0].label: {
        "kubeadm, GPU nodes tainted": False,
        "kubeadm, CPU group": True,
        "kubeadm, gpuTaint false": True,
        "hosted, GPU nodes only": False,
        "hosted, CPU group": True,
        "hosted, tainted CPU group": False,
        "hosted, soft-tainted CPU group": True,
        "external, provided nodes + Karpenter GPUs": True,
        "external, Karpenter GPUs only": False,
    },
    wl.KARPENTER[0].label: {
        "kubeadm, GPU nodes tainted": False,
        "kubeadm, CPU group": True,
        "kubeadm, gpuTaint false": True,
        "hosted, GPU nodes only": False,
        "hosted, CPU group": True,
        "hosted, tainted CPU group": False,
        "hosted, soft-tainted CPU group": True,
        "external, provided nodes + Karpenter GPUs": True,
        "external, Karpenter GPUs only": False,
    },
    wl.DRA_CONTROLLER.label: {  # required control-plane affinity
        "kubeadm, GPU nodes tainted": True,
        "kubeadm, CPU group": True,
        "kubeadm, gpuTaint false": True,
        "hosted, GPU nodes only": False,
        "hosted, CPU group": False,
        "hosted, tainted CPU group": False,
        "hosted, soft-tainted CPU group": False,
        "external, provided nodes + Karpenter GPUs": False,
        "external, Karpenter GPUs only": False,
    },
    wl.CILIUM[1].label: dict.fromkeys(CLUSTERS, True),
}


@pytest.mark.parametrize("cluster", CLUSTERS)
@pytest.mark.parametrize("label", EXPECTED_ONE)
def test_controllers_fit_where_the_scheduler_would_place_them(label, cluster):
    (placement,) = place([BY_LABEL[label]], CLUSTERS[cluster])
    assert placement.placeable is EXPECTED_ONE[label][cluster]


@pytest.mark.parametrize(
    ("system", "cluster", "placeable", "gpu_only"),
    [
        ((CONTROL_PLANE_TOLERATION,), "kubeadm, GPU nodes tainted", True, False),
        ((GPU_TOLERATION,), "hosted, GPU nodes only", True, True),
        ((tolerate(DEDICATED),), "hosted, tainted CPU group", True, False),
        ((), "hosted, GPU nodes only", False, False),
        ((GPU_TOLERATION,), "external, Karpenter GPUs only", True, True),
    ],
)
def test_system_tolerations_give_controllers_a_node(system, cluster, placeable, gpu_only):
    for workload in (*wl.KYVERNO, *wl.KAI_SCHEDULER, wl.GPU_OPERATOR, wl.NFD_MASTER):
        (placement,) = place([workload], CLUSTERS[cluster], system)
        assert placement.placeable is placeable, workload.label
        assert placement.gpu_only is gpu_only, workload.label


def test_karpenter_never_runs_on_nodes_it_launched():
    (placement,) = place(wl.KARPENTER, CLUSTERS["external, Karpenter GPUs only"], (GPU_TOLERATION,))
    assert not placement.placeable


@pytest.mark.parametrize("cluster", CLUSTERS)
def test_every_node_agents_reach_every_node(cluster):
    pools = CLUSTERS[cluster]
    agents = [
        w for w in (*wl.CILIUM, *wl.CALICO, wl.KUBE_PROXY, *wl.CSI_NFS) if w.reach is Reach.EVERY
    ]
    assert len(agents) == 4
    for workload in agents:
        (placement,) = place([workload], pools)
        assert placement.placeable, (workload.label, cluster)


def test_node_exporter_misses_a_no_execute_taint():
    node_exporter = wl.PROMETHEUS_STACK[-1]
    (placement,) = place([node_exporter], (CPU, CPU_DEDICATED))
    assert not placement.placeable
    assert placement.missing == (CPU_DEDICATED,)


@pytest.mark.parametrize(
    ("workload", "gpu_nodes", "placeable"),
    [
        (wl.GPU_OPERANDS, (), True),
        (wl.NFD_WORKER, (), True),
        (wl.DRA_KUBELET_PLUGIN, (), True),
        (wl.NIC_CLUSTER_POLICY, (), True),
        # A GPU group with its own taint: agents tolerate it once it is passed on.
        (wl.GPU_OPERANDS, (tolerate(DEDICATED),), True),
        (wl.DRA_KUBELET_PLUGIN, (tolerate(DEDICATED),), True),
        (wl.NIC_CLUSTER_POLICY, (tolerate(DEDICATED),), True),
    ],
)
def test_gpu_agents_reach_every_gpu_node(workload, gpu_nodes, placeable):
    tainted = _pool("gpu-dedicated", GPU, *((DEDICATED,) if gpu_nodes else ()), gpu=True)
    (placement,) = place([workload], (CPU, tainted), (), gpu_nodes)
    assert placement.placeable is placeable
    # GPU agents never need the CPU pool.
    assert CPU not in placement.missing


def test_the_dra_kubelet_plugin_chart_default_misses_gpu_nodes():
    chart_default = Workload(
        "DRA driver",
        "kubelet plugin",
        "DaemonSet",
        Reach.GPU,
        (),
        required=wl.DRA_KUBELET_PLUGIN.required,
    )
    (placement,) = place([chart_default], (GPU_NODES,))
    assert not placement.placeable


@pytest.mark.parametrize(
    ("requirement", "labels", "expected"),
    [
        (Requirement("a", "Exists"), {"a": ""}, True),
        (Requirement("a", "Exists"), {}, False),
        (Requirement("a", "DoesNotExist"), {}, True),
        (Requirement("a", "In", ("x",)), {"a": "x"}, True),
        (Requirement("a", "In", ("x",)), {"a": "y"}, False),
        (Requirement("a", "NotIn", ("x",)), {}, True),
        (Requirement("a", "NotIn", ("x",)), {"a": "x"}, False),
    ],
)
def test_node_affinity_operators(requirement, labels, expected):
    assert requirement.matches(labels) is expected


def test_unsupported_affinity_operator_is_an_error():
    with pytest.raises(ValueError, match="unsupported"):
        Requirement("a", "Gt", ("1",)).matches({"a": "2"})


def test_node_selector_must_match():
    selective = Workload("x", "y", "Deployment", Reach.ONE, node_selector={"role": "system"})
    assert not fits(selective, CPU)
    assert fits(selective, _pool("sys", labels={"role": "system"}))


def test_apply_tolerations_sets_chart_default_then_ours_only_when_adding():
    values: dict[str, object] = {}
    assert apply_tolerations(values, wl.KYVERNO, ()) == {}
    apply_tolerations(values, (wl.GPU_OPERATOR,), (GPU_TOLERATION,))
    assert values == {
        "operator": {
            "tolerations": [
                {"key": CP.key, "operator": "Equal", "effect": "NoSchedule"},
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            ]
        }
    }


def test_effective_does_not_duplicate_a_toleration():
    assert effective(wl.DRA_CONTROLLER, (CONTROL_PLANE_TOLERATION,)) == wl.DRA_CONTROLLER
