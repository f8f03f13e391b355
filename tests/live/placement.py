"""The real scheduler against the placement model (issue 15), on a live tenant cluster.

For every platform workload of the stack that needs one node (Deployments, StatefulSets,
hook Jobs), a probe pod carries exactly the scheduling constraints the model says the
workload's pods get (tolerations, node selector, required node affinity), once as
deployed (the chart default plus the tenant's system tolerations) and once with the
chart default alone. The local cluster's kube-scheduler then places each probe on the
stack's simulated nodes, which carry the stack's labels and taints. The model and the
scheduler must agree on every probe: scheduled exactly when the model finds a fitting
node, on a node the model accepts; Pending (Unschedulable) otherwise.

The stand-in charts run no pods, so this is where the placement model meets a real
scheduler.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from components.placement import (
    NodePool,
    Reach,
    Taint,
    Workload,
    effective,
    fits,
    tolerations_k8s,
)
from sandbox.cluster import LocalCluster
from stacks.config import TenantConfig
from stacks.config.placement import gpu_node_tolerations, platform_workloads, system_tolerations

NAMESPACE = "gpu-caas-placement-probe"


@dataclass(frozen=True)
class Probe:
    """One probe pod and the model's verdict on the live nodes."""

    name: str
    workload: Workload
    fitting_nodes: frozenset[str]
    """Live nodes the model says the pod fits."""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.workload.label})"


def node_pools(cluster: LocalCluster) -> dict[str, NodePool]:
    """Every live node as a one-node pool of its real labels and taints."""
    listed = cluster.kubectl("get", "nodes", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    pools = {}
    for node in json.loads(listed.stdout)["items"]:
        name = node["metadata"]["name"]
        labels = dict(node["metadata"].get("labels") or {})
        taints = tuple(
            Taint(t["key"], str(t.get("value") or ""), t["effect"])
            for t in node.get("spec", {}).get("taints") or []
        )
        pools[name] = NodePool(name, labels, taints, gpu=False, key_path=name)
    return pools


def probes(config: TenantConfig, nodes: dict[str, NodePool]) -> list[Probe]:
    """A deployed and a chart-default probe of every one-node workload of `config`."""
    system = system_tolerations(config)
    gpu_nodes = gpu_node_tolerations(config)
    found = []
    for i, workload in enumerate(platform_workloads(config)):
        if workload.reach is not Reach.ONE:
            continue
        variants = {"deployed": effective(workload, system, gpu_nodes), "default": workload}
        for variant, probed in variants.items():
            fitting = frozenset(n for n, pool in nodes.items() if fits(probed, pool))
            found.append(Probe(f"probe-{i}-{variant}", probed, fitting))
    return found


def _affinity(workload: Workload) -> dict[str, Any] | None:
    if not workload.required:
        return None
    terms = [
        {
            "matchExpressions": [
                {
                    "key": r.key,
                    "operator": r.operator,
                    **({"values": list(r.values)} if r.values else {}),
                }
                for r in term
            ]
        }
        for term in workload.required
    ]
    return {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": terms}
        }
    }


def pod_manifest(probe: Probe) -> dict[str, Any]:
    """The probe pod: the workload's tolerations, node selector and affinity, nothing else."""
    spec: dict[str, Any] = {
        "containers": [{"name": "probe", "image": "registry.invalid/placement-probe:0"}],
        "tolerations": tolerations_k8s(probe.workload.tolerations),
        "nodeSelector": dict(probe.workload.node_selector),
        "automountServiceAccountToken": False,
    }
    affinity = _affinity(probe.workload)
    if affinity:
        spec["affinity"] = affinity
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": probe.name, "namespace": NAMESPACE},
        "spec": spec,
    }


def scheduled_nodes(
    cluster: LocalCluster, names: list[str], timeout: float = 120
) -> dict[str, str | None]:
    """Pod -> node it was bound to, or None once the scheduler called it Unschedulable."""
    deadline = time.monotonic() + timeout
    decided: dict[str, str | None] = {}
    while time.monotonic() < deadline:
        listed = cluster.kubectl("get", "pods", "-n", NAMESPACE, "-o", "json")
        assert listed.returncode == 0, listed.stderr
        for pod in json.loads(listed.stdout)["items"]:
            name = pod["metadata"]["name"]
            node = pod.get("spec", {}).get("nodeName")
            conditions = pod.get("status", {}).get("conditions") or []
            unschedulable = any(
                c.get("type") == "PodScheduled"
                and c.get("status") == "False"
                and c.get("reason") == "Unschedulable"
                for c in conditions
            )
            if node:
                decided[name] = node
            elif unschedulable:
                decided[name] = None
        if all(name in decided for name in names):
            return decided
        time.sleep(1)
    missing = sorted(set(names) - set(decided))
    raise AssertionError(f"the scheduler decided nothing for {missing} in {timeout:.0f} s")


def scheduler_agrees_with_the_model(cluster: LocalCluster, config: TenantConfig) -> list[Probe]:
    """Create the probes, let the scheduler place them, and return them after asserting
    that every placement (or Pending) is the model's; the probes are deleted after."""
    nodes = node_pools(cluster)
    assert nodes, "no nodes in the live cluster"
    found = probes(config, nodes)
    namespace: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE},
    }
    cluster.apply([namespace, *(pod_manifest(p) for p in found)])
    try:
        placed = scheduled_nodes(cluster, [p.name for p in found])
        disagreements = []
        for probe in found:
            node = placed[probe.name]
            if node is None and probe.fitting_nodes:
                disagreements.append(
                    f"{probe.label}: Pending, the model fits {sorted(probe.fitting_nodes)}"
                )
            elif node is not None and node not in probe.fitting_nodes:
                disagreements.append(f"{probe.label}: scheduled on {node}, the model refuses it")
        assert not disagreements, "\n".join(disagreements)
    finally:
        # Wait until the probes are gone: deleting a namespace is asynchronous, and a
        # drain (the next test's `destroy`, a rollout) refuses pods without a
        # controller that are still there.
        deleted = cluster.kubectl(
            "delete", "namespace", NAMESPACE, "--wait=true", "--timeout=120s", timeout=180
        )
        assert deleted.returncode == 0, deleted.stderr
    return found
