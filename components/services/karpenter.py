"""Karpenter: one `NodePool` per autoscaled GPU node group (and optionally the controller).

Every NodePool (`karpenter.sh/v1`, validated in tests against the pinned v1.14.1 CRD
in ../shared/crds/karpenter/v1.14.1) is built so that Karpenter never takes a busy
GPU node away:

* `consolidationPolicy: WhenEmpty`: only nodes without workload pods are removed
  (`WhenEmptyOrUnderutilized`, the default, would repack running jobs);
* `consolidateAfter` is always set (required by the v1.14.1 CRD) and defaults to
  30 minutes, longer than a GPU node takes to come back;
* `expireAfter: Never` by default (Karpenter's 720h default would recycle nodes
  mid-training run) and, unless drift replacement is allowed, a `nodes: "0"` budget
  for `Drifted`, so image/config drift is only applied to empty nodes;
* `limits` cap the pool in `nvidia.com/gpu` (the resource that costs money);
* GPU nodes are tainted `nvidia.com/gpu=present:NoSchedule` and labelled with their
  node group and tenant.

The NodeClass (images, networks, BMC pools) belongs to the infrastructure provider and
is referenced by `nodeClassRef`. Docs: https://karpenter.sh/docs/concepts/nodepools/ and
https://karpenter.sh/docs/concepts/disruption/
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import workloads as wl
from components.helm import helm_release
from components.mirrors import Mirrors
from components.naming import GPU_TAINT_KEY, GPU_TAINT_VALUE, LABEL_NODE_GROUP, LABEL_TENANT
from components.placement import apply_tolerations, parse_tolerations
from components.services._common import child_opts, cr_metadata, namespace_metadata
from components.versions import KARPENTER, KARPENTER_PROVIDER_CHARTS

TYPE = "gpu-caas:services:Karpenter"
NAMESPACE = "karpenter"
NODEPOOL_API_VERSION = "karpenter.sh/v1"
NODEPOOL_REPLACE_ON_CHANGES: tuple[str, ...] = (
    "spec.template.spec.nodeClassRef.group",
    "spec.template.spec.nodeClassRef.kind",
)
"""Fields of a NodePool the API server refuses to update (the CRD's CEL rules, checked
by tests/components/test_immutable_fields.py): a change replaces the NodePool."""
GPU_RESOURCE = "nvidia.com/gpu"

GPU_PRODUCT_LABELS: dict[str, str] = {
    # Well-known instance labels each provider publishes for its instance types, so
    # Karpenter can pick an instance type before the node exists.
    # https://karpenter.sh/docs/reference/instance-types/ (AWS)
    "aws": "karpenter.k8s.aws/instance-gpu-name",
    # https://learn.microsoft.com/azure/aks/node-autoprovision (Azure provider labels)
    "azure": "karpenter.azure.com/sku-gpu-name",
}
"""Provider label that carries the GPU product. Other providers (cluster-api, custom)
advertise `nvidia.com/gpu.product` through their instance-type labels (cluster-api:
the `capacity.cluster-autoscaler.kubernetes.io/labels` scale-from-zero annotation)."""
DEFAULT_GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"


@dataclass(frozen=True)
class Taint:
    """A node taint."""

    key: str
    effect: str = "NoSchedule"
    value: str | None = None


@dataclass(frozen=True)
class NodeClassReference:
    """`spec.template.spec.nodeClassRef` (the provider's NodeClass)."""

    group: str
    kind: str
    name: str


@dataclass(frozen=True)
class GpuNodePool:
    """One autoscaled GPU node group."""

    name: str
    """Node group name; the NodePool is named `<tenant>-<name>`."""
    max_nodes: int
    gpus_per_node: int
    node_class_ref: NodeClassReference
    gpu_products: tuple[str, ...] = ()
    """Values of the provider's GPU product label (e.g. `h100` on AWS)."""
    instance_types: tuple[str, ...] = ()
    requirements: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    """Extra `(key, operator, values)` requirements from the node group."""
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Taint, ...] = ()
    gpu_taint: bool = True
    """Add `nvidia.com/gpu=present:NoSchedule`."""
    weight: int | None = None


@dataclass(frozen=True)
class BudgetSpec:
    """One disruption budget."""

    nodes: str
    reasons: tuple[str, ...] = ()
    schedule: str | None = None
    duration: str | None = None


@dataclass(frozen=True)
class DisruptionSettings:
    """Disruption settings shared by every GPU NodePool."""

    consolidate_after: str = "30m"
    expire_after: str = "Never"
    termination_grace_period: str | None = None
    allow_drift_replacement: bool = False
    budgets: tuple[BudgetSpec, ...] = (BudgetSpec(nodes="10%"),)


@dataclass(frozen=True)
class ControllerSettings:
    """The provider's Karpenter controller chart, when we install it."""

    provider_name: str
    """Key of `KARPENTER_PROVIDER_CHARTS`, e.g. `aws`."""
    cluster_name: str
    replicas: int = 2
    service_account_annotations: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class KarpenterArgs:
    """Inputs of `Karpenter`."""

    provider: k8s.Provider
    mirrors: Mirrors
    tenant: str
    cloud_provider: str
    """Karpenter provider (`aws`, `azure`, `cluster-api`, `custom`)."""
    pools: tuple[GpuNodePool, ...] = ()
    disruption: DisruptionSettings = DisruptionSettings()
    controller: ControllerSettings | None = None
    """None: the provider runs the controller (and its CRDs) already."""
    depends_on: tuple[pulumi.Resource, ...] = ()
    """Resources the controller's Helm release waits for (the CNI:
    `ClusterHandle.network_ready`)."""
    tolerations: tuple[dict[str, str], ...] = ()
    """The tenant's system tolerations (`stacks.config.placement.system_tolerations`),
    added per workload to the chart's own at its values key (`components.workloads`)."""


# --------------------------------------------------------------------------- #
# Pure rendering
# --------------------------------------------------------------------------- #


def node_pool_name(tenant: str, group: str) -> str:
    """Cluster-scoped NodePool name of a node group."""
    return f"{tenant}-{group}"


def _is_restricted_label(key: str) -> bool:
    """Label keys the NodePool CRD's CEL rules reject in `template.metadata.labels`."""
    domain = key.split("/", 1)[0] if "/" in key else ""
    if key == "kubernetes.io/hostname" or key == "karpenter.sh/nodepool":
        return True
    return domain.endswith("karpenter.sh") and key != "karpenter.sh/capacity-type"


def render_disruption(settings: DisruptionSettings) -> dict[str, Any]:
    """`spec.disruption`: empty-only consolidation, budgets that protect busy nodes."""
    budgets: list[dict[str, Any]] = []
    for budget in settings.budgets:
        entry: dict[str, Any] = {"nodes": budget.nodes}
        if budget.reasons:
            entry["reasons"] = list(budget.reasons)
        if budget.schedule is not None and budget.duration is not None:
            entry["schedule"] = budget.schedule
            entry["duration"] = budget.duration
        budgets.append(entry)
    if not settings.allow_drift_replacement:
        # Drift is disruption of a node that is still running pods; "0" blocks it, so a
        # drifted GPU node is only replaced after its jobs finish (it then is Empty).
        budgets.append({"nodes": "0", "reasons": ["Drifted"]})
    return {
        "consolidationPolicy": "WhenEmpty",
        "consolidateAfter": settings.consolidate_after,
        "budgets": budgets,
    }


def render_requirements(pool: GpuNodePool, cloud_provider: str) -> list[dict[str, Any]]:
    """Scheduling requirements: GPU product and instance types (when given)."""
    requirements: list[dict[str, Any]] = []
    if pool.gpu_products:
        requirements.append(
            {
                "key": GPU_PRODUCT_LABELS.get(cloud_provider, DEFAULT_GPU_PRODUCT_LABEL),
                "operator": "In",
                "values": list(pool.gpu_products),
            }
        )
    if pool.instance_types:
        requirements.append(
            {"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": list(pool.instance_types)}
        )
    for key, operator, values in pool.requirements:
        requirement: dict[str, Any] = {"key": key, "operator": operator}
        if values:
            requirement["values"] = list(values)
        requirements.append(requirement)
    if not requirements:
        # The CRD requires the list; a pool with neither constraint still launches
        # only Linux nodes.
        requirements.append({"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]})
    return requirements


def render_taints(pool: GpuNodePool, gpu_taint: bool) -> list[dict[str, Any]]:
    """Taints of the pool's nodes: the GPU taint first, then the group's own."""
    taints: list[dict[str, Any]] = []
    if gpu_taint:
        taints.append({"key": GPU_TAINT_KEY, "value": GPU_TAINT_VALUE, "effect": "NoSchedule"})
    for taint in pool.taints:
        if gpu_taint and taint.key == GPU_TAINT_KEY:
            continue
        entry: dict[str, Any] = {"key": taint.key, "effect": taint.effect}
        if taint.value is not None:
            entry["value"] = taint.value
        taints.append(entry)
    return taints


def render_node_pool(
    pool: GpuNodePool,
    *,
    tenant: str,
    cloud_provider: str,
    disruption: DisruptionSettings,
) -> dict[str, Any]:
    """The `spec` of one NodePool (karpenter.sh/v1, v1.14.1 CRD).

    Raises:
        ValueError: when the pool cannot hold a single GPU.
    """
    if pool.max_nodes < 1 or pool.gpus_per_node < 1:
        raise ValueError(
            f"node group {pool.name}: max_nodes and gpus_per_node must be >= 1 "
            f"(got {pool.max_nodes} and {pool.gpus_per_node})"
        )
    restricted = sorted(key for key in pool.labels if _is_restricted_label(key))
    if restricted:
        # NodePool CEL rules: Karpenter owns karpenter.sh/* and kubernetes.io/hostname.
        raise ValueError(f"node group {pool.name}: labels {restricted} are reserved by Karpenter")
    labels = {**dict(pool.labels), LABEL_NODE_GROUP: pool.name, LABEL_TENANT: tenant}
    template_spec: dict[str, Any] = {
        "nodeClassRef": {
            "group": pool.node_class_ref.group,
            "kind": pool.node_class_ref.kind,
            "name": pool.node_class_ref.name,
        },
        "requirements": render_requirements(pool, cloud_provider),
        "taints": render_taints(pool, pool.gpu_taint),
        "expireAfter": disruption.expire_after,
    }
    if disruption.termination_grace_period is not None:
        template_spec["terminationGracePeriod"] = disruption.termination_grace_period
    spec: dict[str, Any] = {
        "template": {"metadata": {"labels": labels}, "spec": template_spec},
        "disruption": render_disruption(disruption),
        # Cap spend in GPUs, the resource that is billed; nodes are the unit of scale.
        "limits": {GPU_RESOURCE: str(pool.max_nodes * pool.gpus_per_node)},
    }
    if pool.weight is not None:
        spec["weight"] = pool.weight
    return spec


def render_controller_values(
    settings: ControllerSettings, mirrors: Mirrors, tolerations: Sequence[Mapping[str, str]] = ()
) -> dict[str, Any]:
    """Values of the AWS provider chart (`oci://public.ecr.aws/karpenter/karpenter`).

    Keys from https://karpenter.sh/docs/reference/settings/ and the chart README; the
    chart's values.yaml is not in ../shared/crds.
    """
    values: dict[str, Any] = {
        "replicas": settings.replicas,
        "settings": {"clusterName": settings.cluster_name},
        "controller": {
            "image": {"repository": mirrors.image_registry("public.ecr.aws/karpenter/controller")}
        },
    }
    if settings.service_account_annotations:
        values["serviceAccount"] = {"annotations": dict(settings.service_account_annotations)}
    return apply_tolerations(values, wl.KARPENTER, parse_tolerations(tolerations))


def render_node_pools(args: KarpenterArgs) -> dict[str, dict[str, Any]]:
    """NodePool name -> spec for every pool (pure)."""
    names = [pool.name for pool in args.pools]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"node pool names must be unique; repeated: {', '.join(duplicates)}")
    return {
        node_pool_name(args.tenant, pool.name): render_node_pool(
            pool,
            tenant=args.tenant,
            cloud_provider=args.cloud_provider,
            disruption=args.disruption,
        )
        for pool in args.pools
    }


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class Karpenter(pulumi.ComponentResource):
    """GPU NodePools (and the provider's controller when asked)."""

    node_pool_names: list[str]
    """NodePools created, one per autoscaled node group."""
    controller_installed: bool

    def __init__(
        self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        pools = render_node_pools(args)
        controller = _create_controller(self, name, args)

        for pool_name, spec in pools.items():
            group = pool_name.removeprefix(f"{args.tenant}-")
            k8s.apiextensions.CustomResource(
                f"{name}-nodepool-{group}",
                api_version=NODEPOOL_API_VERSION,
                kind="NodePool",
                metadata=cr_metadata(pool_name, args.tenant),
                spec=spec,
                opts=pulumi.ResourceOptions.merge(
                    child_opts(self, args.provider, *([controller] if controller else [])),
                    # The API server refuses an update of these (CRD CEL rules), so a
                    # change replaces the NodePool; same name, so delete it first.
                    pulumi.ResourceOptions(
                        replace_on_changes=list(NODEPOOL_REPLACE_ON_CHANGES),
                        delete_before_replace=True,
                    ),
                ),
            )

        self.node_pool_names = list(pools)
        self.controller_installed = controller is not None
        self.register_outputs(
            {
                "nodePoolNames": self.node_pool_names,
                "controllerInstalled": self.controller_installed,
                "karpenterVersion": KARPENTER.version,
            }
        )


def _create_controller(
    parent: pulumi.Resource, name: str, args: KarpenterArgs
) -> pulumi.Resource | None:
    settings = args.controller
    if settings is None:
        return None
    chart = KARPENTER_PROVIDER_CHARTS.get(settings.provider_name)
    if chart is None:
        raise ValueError(
            f"no Karpenter controller chart is pinned for provider {settings.provider_name!r}"
        )
    namespace = k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=namespace_metadata(NAMESPACE, args.tenant, "restricted"),
        opts=child_opts(parent, args.provider),
    )
    return helm_release(
        f"{name}-controller",
        chart,
        render_controller_values(settings, args.mirrors, args.tolerations),
        namespace.metadata.name,
        args.mirrors,
        child_opts(parent, args.provider, namespace, *args.depends_on),
        images=[f"public.ecr.aws/karpenter/controller:{chart.version}"],
    )
