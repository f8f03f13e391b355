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
* GPU nodes are tainted `nvidia.com/gpu=present:NoSchedule` and labelled with their
  node group and tenant.

`maxNodes` means nodes in every sharing mode (kubernetes-sigs/karpenter#729 is why this
needs care: a time-sliced or MIG node advertises other resources, in other counts, than
the physical GPUs its instance type reports):

* `limits` hold `nodes: maxNodes` (a limit key since Karpenter v1.11, kubernetes-sigs/
  karpenter#2526; the v1.14.1 CRD and https://karpenter.sh/v1.14/concepts/nodepools/#speclimits
  document it) and, for every resource the pool's nodes advertise
  (`components.gpu.advertised.advertised_per_node`), maxNodes x that count. The
  resource limits all allow exactly maxNodes nodes too, so none stops growth early;
  they are kept because Karpenter subtracts a new NodeClaim's resources from them
  within one provisioning batch, and not its node (v1.14.1
  pkg/controllers/provisioning/scheduling/scheduler.go `subtractMax`).
* A `NodeOverlay` (`karpenter.sh/v1alpha1`, validated in tests against the pinned
  v1.14.1 CRD) per pool whose nodes advertise anything but one `nvidia.com/gpu` per
  GPU (MIG, time-slicing, MPS): it tells Karpenter's scheduling simulation what a node
  of this pool will advertise before the node exists, so a pending pod asking for a
  MIG slice or a shared GPU triggers a scale-up
  (https://karpenter.sh/v1.14/concepts/nodeoverlays/). NodeOverlay is alpha: the
  controller needs the `NodeOverlay` feature gate, which `render_controller_values`
  turns on when an overlay exists and we install the controller.

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
from components.gpu.advertised import advertised_per_node
from components.gpu.gpu_operator import NodeGroupGpu
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
NODE_LIMIT = "nodes"
"""`spec.limits` key that counts nodes, not resources (Karpenter >= v1.11: every node
counts 1, pkg/controllers/state/statenode.go `Capacity`)."""
NODEOVERLAY_API_VERSION = "karpenter.sh/v1alpha1"
NODEPOOL_LABEL = "karpenter.sh/nodepool"
"""Label Karpenter puts on every node of a NodePool (value: the NodePool name); the one
`karpenter.sh` key a NodeOverlay requirement may use besides the capacity type (CRD CEL
rule)."""
OVERLAY_WEIGHT = 1000
"""`spec.weight` of our NodeOverlays (CRD: 1-10000; unset counts as 0). Two overlays of
equal weight that set the same resource for one instance type conflict and one is not
applied (v1.14.1 pkg/controllers/nodeoverlay/store.go `isCapacityUpdateConflicting`);
above the default, ours (what the device plugin config of these very nodes advertises)
wins over a hand-written overlay, and room is left above for a deliberate override."""
NODE_OVERLAY_GATE_VALUE = "nodeOverlay"
"""AWS chart value `settings.featureGates.nodeOverlay` (false by default), rendered into
the controller's `FEATURE_GATES` as `NodeOverlay=<value>`
(aws/karpenter-provider-aws@v1.14.1 charts/karpenter/values.yaml and
templates/deployment.yaml; https://karpenter.sh/v1.14/reference/settings/#feature-gates)."""
LABEL_VALUE_MAX = 63

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
    gpu: NodeGroupGpu | None = None
    """The group's GPU model, sharing mode and MIG layout (what `stacks.platform_gpu.
    node_group_gpus` gives the GPU Operator), from which the resources a node advertises
    are derived. None: whole GPUs, one `nvidia.com/gpu` each."""


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
    if key == "kubernetes.io/hostname" or key == NODEPOOL_LABEL:
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


def advertised(pool: GpuNodePool) -> dict[str, int]:
    """`{extended resource: count}` one node of the pool advertises once its device
    plugin runs (`advertised_per_node` of its `gpu`; whole GPUs when `gpu` is None).

    Raises:
        ValueError: `gpu` has no GPU model (a GPU pool needs one), or bad replicas.
    """
    if pool.gpu is None:
        return {GPU_RESOURCE: pool.gpus_per_node}
    resources = advertised_per_node(pool.gpu, pool.gpus_per_node)
    if not resources:
        raise ValueError(f"node group {pool.name}: autoscaled GPU pools need a GPU model")
    return resources


def needs_node_overlay(resources: Mapping[str, int], gpus_per_node: int) -> bool:
    """Whether a node advertising `resources` (`advertised_per_node`) needs a NodeOverlay
    for Karpenter to launch it for pods asking for them: anything but one
    `nvidia.com/gpu` per GPU, the only GPU resource a provider's instance type reports."""
    return dict(resources) != {GPU_RESOURCE: gpus_per_node}


def render_limits(pool: GpuNodePool) -> dict[str, str]:
    """`spec.limits`: `nodes: maxNodes`, and maxNodes x each advertised resource.

    Every entry allows exactly `max_nodes` nodes of this pool, so whichever Karpenter
    checks first, growth stops at `maxNodes` nodes and not before. A resource the
    pool's nodes never advertise (`nvidia.com/gpu` of a time-sliced or mixed-MIG pool)
    gets no limit: Karpenter would count it only on nodes still starting.
    Quantities are strings, as the API server stores them.
    """
    limits = {NODE_LIMIT: str(pool.max_nodes)}
    for resource, count in sorted(advertised(pool).items()):
        limits[resource] = str(pool.max_nodes * count)
    return limits


def render_node_overlay(pool: GpuNodePool, tenant: str) -> dict[str, Any] | None:
    """The `spec` of the pool's NodeOverlay (karpenter.sh/v1alpha1, v1.14.1 CRD), or None
    when its nodes advertise whole GPUs only, one `nvidia.com/gpu` each (what the
    cloud provider's instance type already reports).

    * `requirements`: `karpenter.sh/nodepool In [<NodePool>]` selects the instance types
      of this NodePool only (Karpenter adds that requirement to every instance type of a
      NodePool when it matches overlays: v1.14.1 pkg/controllers/nodeoverlay/
      controller.go `getOverlaidOfferings`).
    * `capacity`: `advertised(pool)`. The overlay's values replace the instance type's
      for the same resource (`InstanceType.ApplyCapacityOverlay`), and where the nodes
      advertise no `nvidia.com/gpu` at all (time-slicing and MPS rename their replicas
      to `nvidia.com/gpu.shared`; mixed MIG advertises `nvidia.com/mig-*`),
      `nvidia.com/gpu: "0"` stops Karpenter from launching a node of this pool for a
      pod asking for whole GPUs, which it could never run (the provider's instance type
      still reports its physical GPUs as `nvidia.com/gpu`).
    * `weight`: `OVERLAY_WEIGHT`.

    Raises:
        ValueError: the NodePool name is longer than a label value (63 characters);
            Karpenter labels every node with it.
    """
    resources = advertised(pool)
    if not needs_node_overlay(resources, pool.gpus_per_node):
        return None
    name = node_pool_name(tenant, pool.name)
    if len(name) > LABEL_VALUE_MAX:
        raise ValueError(
            f"node group {pool.name}: NodePool name {name!r} is longer than "
            f"{LABEL_VALUE_MAX} characters, the limit of the {NODEPOOL_LABEL} label value; "
            "shorten the tenant or node group name"
        )
    capacity = {resource: str(count) for resource, count in sorted(resources.items())}
    capacity.setdefault(GPU_RESOURCE, "0")
    return {
        "weight": OVERLAY_WEIGHT,
        "requirements": [{"key": NODEPOOL_LABEL, "operator": "In", "values": [name]}],
        "capacity": capacity,
    }


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
        # Nodes are the unit of scale and of spend; see `render_limits`.
        "limits": render_limits(pool),
    }
    if pool.weight is not None:
        spec["weight"] = pool.weight
    return spec


def render_controller_values(
    settings: ControllerSettings,
    mirrors: Mirrors,
    tolerations: Sequence[Mapping[str, str]] = (),
    *,
    node_overlay: bool = False,
) -> dict[str, Any]:
    """Values of the AWS provider chart (`oci://public.ecr.aws/karpenter/karpenter`).

    Keys from https://karpenter.sh/docs/reference/settings/ and the chart README; the
    chart's values.yaml is not in ../shared/crds. `node_overlay`: turn the alpha
    `NodeOverlay` feature gate on (`NODE_OVERLAY_GATE_VALUE`); only when we create a
    NodeOverlay, so an alpha controller path runs only where it is needed. The other
    gates keep the chart's defaults (Helm merges values).
    """
    chart_settings: dict[str, Any] = {"clusterName": settings.cluster_name}
    if node_overlay:
        chart_settings["featureGates"] = {NODE_OVERLAY_GATE_VALUE: True}
    values: dict[str, Any] = {
        "replicas": settings.replicas,
        "settings": chart_settings,
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


def render_node_overlays(args: KarpenterArgs) -> dict[str, dict[str, Any]]:
    """NodeOverlay name (its NodePool's name) -> spec, for the pools that need one (pure)."""
    overlays: dict[str, dict[str, Any]] = {}
    for pool in args.pools:
        spec = render_node_overlay(pool, args.tenant)
        if spec is not None:
            overlays[node_pool_name(args.tenant, pool.name)] = spec
    return overlays


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class Karpenter(pulumi.ComponentResource):
    """GPU NodePools (and the provider's controller when asked)."""

    node_pool_names: list[str]
    """NodePools created, one per autoscaled node group."""
    node_overlay_names: list[str]
    """NodeOverlays created, one per pool whose nodes advertise MIG slices or shared
    GPUs (`render_node_overlay`)."""
    controller_installed: bool

    def __init__(
        self, name: str, args: KarpenterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        pools = render_node_pools(args)
        overlays = render_node_overlays(args)
        controller = _create_controller(self, name, args, node_overlay=bool(overlays))
        # The controller's chart installs the CRDs, so our objects wait for it.
        after_controller = [controller] if controller else []

        for pool_name, spec in pools.items():
            group = pool_name.removeprefix(f"{args.tenant}-")
            k8s.apiextensions.CustomResource(
                f"{name}-nodepool-{group}",
                api_version=NODEPOOL_API_VERSION,
                kind="NodePool",
                metadata=cr_metadata(pool_name, args.tenant),
                spec=spec,
                opts=pulumi.ResourceOptions.merge(
                    child_opts(self, args.provider, *after_controller),
                    # The API server refuses an update of these (CRD CEL rules), so a
                    # change replaces the NodePool; same name, so delete it first.
                    pulumi.ResourceOptions(
                        replace_on_changes=list(NODEPOOL_REPLACE_ON_CHANGES),
                        delete_before_replace=True,
                    ),
                ),
            )

        for overlay_name, spec in overlays.items():
            # No CEL transition rule in the NodeOverlay CRD: every field updates in place.
            k8s.apiextensions.CustomResource(
                f"{name}-nodeoverlay-{overlay_name.removeprefix(f'{args.tenant}-')}",
                api_version=NODEOVERLAY_API_VERSION,
                kind="NodeOverlay",
                metadata=cr_metadata(overlay_name, args.tenant),
                spec=spec,
                opts=child_opts(self, args.provider, *after_controller),
            )

        self.node_pool_names = list(pools)
        self.node_overlay_names = list(overlays)
        self.controller_installed = controller is not None
        self.register_outputs(
            {
                "nodePoolNames": self.node_pool_names,
                "nodeOverlayNames": self.node_overlay_names,
                "controllerInstalled": self.controller_installed,
                "karpenterVersion": KARPENTER.version,
            }
        )


def _create_controller(
    parent: pulumi.Resource, name: str, args: KarpenterArgs, *, node_overlay: bool
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
        render_controller_values(
            settings, args.mirrors, args.tolerations, node_overlay=node_overlay
        ),
        namespace.metadata.name,
        args.mirrors,
        child_opts(parent, args.provider, namespace, *args.depends_on),
        images=[f"public.ecr.aws/karpenter/controller:{chart.version}"],
    )
