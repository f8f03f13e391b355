"""NVIDIA GPU Operator: driver, container toolkit, device plugin, GFD, DCGM, MIG manager.

The operator turns every GPU node into a schedulable one: it installs the driver
container, configures containerd through the container toolkit (with CDI), runs the
device plugin and GPU Feature Discovery, exports DCGM metrics and applies MIG layouts.
https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/overview.html

What this component creates (children of `GpuOperator`):

* `{name}-namespace` - `gpu-operator`, Pod Security `privileged` (the driver, toolkit
  and MIG manager pods need host PID, host paths and privileged containers);
* `{name}-device-plugin-config` - ConfigMap with one device-plugin config per GPU node
  group (exclusive / time-slicing / MPS, and the MIG strategy), selected per node by the
  label `nvidia.com/device-plugin.config=<gpu_config_name(group)>`;
* `{name}-mig-config` - mig-parted ConfigMap (`config.yaml`) with `all-disabled` and one
  named layout per MIG node group, selected per node by the label
  `nvidia.com/mig.config=<gpu_config_name(group)>` (`all-disabled` for other GPU groups);
* `{name}-dcgm-metrics` - dcgm-exporter metrics list (`dcgm-metrics.csv`): the exporter's
  default counters plus every field the GPU alert rules read (`components.dcgm`);
* `{name}-release` - the Helm release (values from `render_gpu_operator_values`).

Config names come from `components.naming.gpu_config_name`, the one function the cluster
side also uses for the node labels (`gpu_node_labels(group)` here,
`stacks.compose.node_group_args` there); kubelet sets them when the nodes register.

All rendering is pure so tests validate it against `shared/crds/gpu-operator/values.yaml`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import yaml

from components import dcgm, naming, versions
from components import workloads as wl
from components.gpu import catalog
from components.helm import helm_release
from components.mirrors import Mirrors
from components.placement import apply_tolerations, parse_tolerations
from components.versions import HelmChart

TYPE = "gpu-caas:gpu:GpuOperator"

NAMESPACE = "gpu-operator"
DEVICE_PLUGIN_CONFIG_MAP = "device-plugin-config"
MIG_CONFIG_MAP = "custom-mig-parted-config"
DCGM_METRICS_CONFIG_MAP = "dcgm-exporter-metrics"
"""ConfigMap (key `dcgm-metrics.csv`) the dcgm-exporter reads (`dcgmExporter.config.name`)."""
DEFAULT_DEVICE_PLUGIN_CONFIG = naming.DEVICE_PLUGIN_CONFIG_DEFAULT
"""Config applied to GPU nodes without the device-plugin label: exclusive, no MIG."""
MIG_ALL_DISABLED = naming.MIG_CONFIG_DISABLED
"""mig-parted layout that turns MIG off; the chart's default (`migManager.config.default`)."""

DEVICE_PLUGIN_CONFIG_LABEL = naming.LABEL_DEVICE_PLUGIN_CONFIG
"""Node label naming the device-plugin config (a key of the ConfigMap) for that node.
https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-sharing.html"""
MIG_CONFIG_LABEL = naming.LABEL_MIG_CONFIG
"""Node label naming the mig-parted layout the MIG manager applies on that node.
https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-operator-mig.html"""

_NVCR = "nvcr.io/nvidia"
_NVCR_CLOUD_NATIVE = "nvcr.io/nvidia/cloud-native"
_NVCR_K8S = "nvcr.io/nvidia/k8s"
_NFD_IMAGE = "registry.k8s.io/nfd/node-feature-discovery"


# --------------------------------------------------------------------------- #
# Inputs
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class DriverUpgradePolicy:
    """`driver.upgradePolicy` of the chart: the GPU Operator's driver upgrade controller.

    Defaults are the chart's (gpu-operator v26.7.0 values.yaml), except
    `pod_deletion_delete_empty_dir` (see `stacks.config.gpu.GpuPodDeletionConfig`).
    Timeouts are seconds, 0 = wait forever; selectors are label selectors, "" = none.
    https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-driver-upgrades.html
    """

    auto_upgrade: bool = True
    max_parallel_upgrades: int = 1
    """Nodes upgraded at once; 0 = no limit."""
    max_unavailable: str = "25%"
    """Count or percentage of the driver nodes."""
    wait_for_completion_pod_selector: str = ""
    wait_for_completion_timeout_seconds: int = 0
    pod_deletion_force: bool = False
    pod_deletion_timeout_seconds: int = 300
    pod_deletion_delete_empty_dir: bool = True
    drain_enable: bool = False
    drain_force: bool = False
    drain_pod_selector: str = ""
    drain_timeout_seconds: int = 300
    drain_delete_empty_dir: bool = False


@dataclass(frozen=True)
class DriverSettings:
    """NVIDIA driver container settings."""

    enabled: bool = True
    version: str = versions.NVIDIA_DRIVER.version
    kernel_module_type: str = "auto"
    """`auto`, `open` or `proprietary`."""
    use_precompiled: bool = False
    os_tags: tuple[str, ...] = ("ubuntu24.04",)
    """OS suffixes of the driver images, for the mirror list."""
    upgrade_policy: DriverUpgradePolicy = field(default_factory=DriverUpgradePolicy)
    rdma: bool = False
    """Load nvidia-peermem for GPUDirect RDMA (with the Network Operator)."""
    use_host_mofed: bool = False
    """The host ships DOCA-OFED/MOFED instead of the Network Operator's driver container."""


@dataclass(frozen=True)
class Sharing:
    """Device-plugin sharing of one node group's GPUs."""

    mode: str = "exclusive"
    """`exclusive`, `time-slicing` or `mps`."""
    replicas: int = 1
    rename_by_default: bool = False
    fail_requests_greater_than_one: bool = True


@dataclass(frozen=True)
class NodeGroupGpu:
    """GPU settings of one node group."""

    name: str
    """Node-group name; its configs are keyed `naming.gpu_config_name(name)`."""
    gpu_model: str | None = None
    """Catalog model (`components.gpu.catalog.GpuModel`), None for CPU-only groups."""
    sharing: Sharing = field(default_factory=Sharing)
    mig_layout: Mapping[str, int] | None = None
    """Per-GPU MIG layout `{profile: count}` applied to every GPU of the group."""


@dataclass(frozen=True)
class GpuOperatorSettings:
    """Everything that shapes the GPU Operator's values and ConfigMaps (pure data)."""

    chart: HelmChart = field(default_factory=lambda: versions.GPU_OPERATOR.helm)
    driver: DriverSettings = field(default_factory=DriverSettings)
    toolkit_enabled: bool = True
    toolkit_version: str = versions.CONTAINER_TOOLKIT.version
    cdi: bool = True
    device_plugin: bool = True
    gfd: bool = True
    nfd: bool = True
    dcgm_exporter: bool = True
    service_monitor: bool = True
    service_monitor_labels: Mapping[str, str] = field(default_factory=dict)
    """Extra ServiceMonitor labels, for a central Prometheus's `serviceMonitorSelector`."""
    scrape_interval: str = "15s"
    mig_manager: bool = True
    node_groups: tuple[NodeGroupGpu, ...] = ()


@dataclass(frozen=True)
class GpuOperatorArgs:
    """Inputs of `GpuOperator`."""

    provider: k8s.Provider
    """The tenant cluster's provider; every child uses it."""
    mirrors: Mirrors
    settings: GpuOperatorSettings = field(default_factory=GpuOperatorSettings)
    namespace: str = NAMESPACE
    depends_on: tuple[pulumi.Resource, ...] = ()
    """Resources the Helm release waits for: the CNI (operands are pods, and Helm waits
    for them to be ready)."""
    tolerations: tuple[dict[str, str], ...] = ()
    """The tenant's system tolerations (`stacks.config.placement.system_tolerations`),
    added per workload to the chart's own at its values key (`components.workloads`)."""
    gpu_node_tolerations: tuple[dict[str, str], ...] = ()
    """Tolerations of the GPU node groups' own taints (`stacks.config.placement.
    gpu_node_tolerations`): the agents every GPU node needs get them."""


# --------------------------------------------------------------------------- #
# Pure rendering
# --------------------------------------------------------------------------- #


def gpu_node_labels(group: NodeGroupGpu) -> dict[str, str]:
    """Node labels that select `group`'s device-plugin config and MIG layout.

    The GPU Operator watches these labels: changing `nvidia.com/mig.config` makes the
    MIG manager repartition the node's GPUs (after draining GPU pods).
    """
    if group.gpu_model is None:
        return {}
    return naming.gpu_config_labels(group.name, mig=bool(group.mig_layout))


def mig_strategy(group: NodeGroupGpu) -> str:
    """Device-plugin MIG strategy of a group.

    `single` when every GPU is split into one profile (pods keep requesting
    `nvidia.com/gpu`), `mixed` when the layout has several profiles (pods request
    `nvidia.com/mig-<profile>`), `none` without MIG.
    https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-operator-mig.html
    """
    if not group.mig_layout:
        return "none"
    return "single" if len(group.mig_layout) == 1 else "mixed"


def _shared_resources(group: NodeGroupGpu) -> list[str]:
    if mig_strategy(group) == "mixed" and group.mig_layout:
        return [f"nvidia.com/mig-{profile}" for profile in sorted(group.mig_layout)]
    return ["nvidia.com/gpu"]


def render_device_plugin_config(group: NodeGroupGpu) -> dict[str, Any]:
    """The k8s-device-plugin config file (`version: v1`) of one node group.

    https://github.com/NVIDIA/k8s-device-plugin#configuration-file
    """
    config: dict[str, Any] = {"version": "v1", "flags": {"migStrategy": mig_strategy(group)}}
    sharing = group.sharing
    if sharing.mode == "exclusive":
        return config
    resources = [{"name": name, "replicas": sharing.replicas} for name in _shared_resources(group)]
    if sharing.mode == "time-slicing":
        config["sharing"] = {
            "timeSlicing": {
                "renameByDefault": sharing.rename_by_default,
                "failRequestsGreaterThanOne": sharing.fail_requests_greater_than_one,
                "resources": resources,
            }
        }
    elif sharing.mode == "mps":
        if group.mig_layout:
            raise ValueError(f"node group {group.name!r}: MPS cannot be combined with MIG")
        # MPS always rejects requests for more than one replica; the field is implicit.
        config["sharing"] = {
            "mps": {"renameByDefault": sharing.rename_by_default, "resources": resources}
        }
    else:
        raise ValueError(f"node group {group.name!r}: unknown sharing mode {sharing.mode!r}")
    return config


def render_device_plugin_config_map(groups: Sequence[NodeGroupGpu]) -> dict[str, str]:
    """`data` of the device-plugin ConfigMap: one YAML document per GPU node group,
    keyed `naming.gpu_config_name(group)`.

    Includes `default` (exclusive, no MIG) for GPU nodes without the label.
    """
    data = {DEFAULT_DEVICE_PLUGIN_CONFIG: _dump(render_device_plugin_config(NodeGroupGpu("")))}
    for group in groups:
        if group.gpu_model is None:
            continue
        _add_unique(data, group, _dump(render_device_plugin_config(group)))
    return data


def _add_unique(configs: dict[str, Any], group: NodeGroupGpu, value: Any) -> None:
    key = naming.gpu_config_name(group.name)
    if key in configs:
        raise ValueError(f"node group {group.name!r}: GPU config name {key!r} is used twice")
    configs[key] = value


def render_mig_config(groups: Sequence[NodeGroupGpu]) -> dict[str, Any]:
    """The mig-parted config (`version: v1`, `mig-configs`): `all-disabled` (GPU groups
    without MIG) and one layout per MIG group, keyed `naming.gpu_config_name(group)`.

    Layouts are validated against the GPU catalog; an invalid one raises (config
    validation reports it earlier with its key path).
    https://github.com/NVIDIA/mig-parted#configuration
    """
    configs: dict[str, Any] = {MIG_ALL_DISABLED: [{"devices": "all", "mig-enabled": False}]}
    for group in groups:
        if not group.mig_layout:
            continue
        if group.gpu_model is None:
            raise ValueError(f"node group {group.name!r} has a MIG layout but no GPU model")
        problems = catalog.validate_mig_layout(group.gpu_model, group.mig_layout)
        if problems:
            raise ValueError(f"node group {group.name!r}: " + "; ".join(problems))
        layout = [
            {
                "devices": "all",
                "mig-enabled": True,
                "mig-devices": {profile: count for profile, count in group.mig_layout.items()},
            }
        ]
        _add_unique(configs, group, layout)
    return {"version": "v1", "mig-configs": configs}


def render_mig_config_map(groups: Sequence[NodeGroupGpu]) -> dict[str, str]:
    """`data` of the mig-parted ConfigMap; the MIG manager reads the key `config.yaml`."""
    return {"config.yaml": _dump(render_mig_config(groups))}


def _dump(document: Mapping[str, Any]) -> str:
    return yaml.safe_dump(dict(document), sort_keys=False, default_flow_style=False)


def render_dcgm_metrics_config_map() -> dict[str, str]:
    """`data` of the dcgm-exporter metrics ConfigMap (key `dcgm-metrics.csv`).

    dcgm-exporter's default counters plus every field the GPU alert rules read
    (`components.dcgm.REQUIRED_DCGM_FIELDS`): without it the ECC and throttling alerts
    never fire, because those counters are commented out of the default list.
    """
    return {dcgm.METRICS_CSV_KEY: dcgm.render_metrics_csv(dcgm.metrics_fields())}


def render_gpu_operator_values(
    settings: GpuOperatorSettings,
    mirrors: Mirrors,
    *,
    device_plugin_config_map: str = DEVICE_PLUGIN_CONFIG_MAP,
    mig_config_map: str = MIG_CONFIG_MAP,
    dcgm_metrics_config_map: str = DCGM_METRICS_CONFIG_MAP,
    tolerations: Sequence[Mapping[str, str]] = (),
    gpu_node_tolerations: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    """Helm values of the gpu-operator chart (keys as in its values.yaml).

    `tolerations` (the tenant's system tolerations) go to the operator (and its
    CRD-upgrade hook) and NFD's master and garbage collector, after the chart's own.

    Every image repository key goes through `mirrors.image_registry`, so an
    air-gapped cluster pulls from the mirror. Image versions are the chart defaults
    except where the config overrides driver or toolkit.
    """
    driver = settings.driver
    policy = driver.upgrade_policy
    strategies = {mig_strategy(g) for g in settings.node_groups}
    values: dict[str, Any] = {
        "operator": {"repository": mirrors.image_registry(_NVCR)},
        "validator": {"repository": mirrors.image_registry(_NVCR)},
        "nfd": {"enabled": settings.nfd},
        "cdi": {"enabled": settings.cdi},
        # The cluster-wide default; each node's device-plugin config sets its own.
        "mig": {"strategy": "mixed" if "mixed" in strategies else "single"},
        "driver": {
            "enabled": driver.enabled,
            "repository": mirrors.image_registry(_NVCR),
            "version": driver_version_value(driver.version, driver.use_precompiled),
            "kernelModuleType": driver.kernel_module_type,
            "usePrecompiled": driver.use_precompiled,
            "rdma": {"enabled": driver.rdma, "useHostMofed": driver.use_host_mofed},
            "upgradePolicy": render_upgrade_policy(policy),
            "manager": {"repository": mirrors.image_registry(_NVCR_CLOUD_NATIVE)},
        },
        "toolkit": {
            "enabled": settings.toolkit_enabled,
            "repository": mirrors.image_registry(_NVCR_K8S),
            "version": settings.toolkit_version,
        },
        "devicePlugin": {
            "enabled": settings.device_plugin,
            "repository": mirrors.image_registry(_NVCR),
            "config": {
                # Our own ConfigMap (not chart-created), so Pulumi owns its lifecycle.
                "create": False,
                "name": device_plugin_config_map,
                "default": DEFAULT_DEVICE_PLUGIN_CONFIG,
            },
        },
        "dcgmExporter": {
            "enabled": settings.dcgm_exporter,
            "repository": mirrors.image_registry(_NVCR_K8S),
            "serviceMonitor": {
                "enabled": settings.dcgm_exporter and settings.service_monitor,
                "interval": settings.scrape_interval,
                # dcgmExporter.serviceMonitor.additionalLabels in the chart's values.yaml.
                "additionalLabels": dict(settings.service_monitor_labels),
            },
        },
        "gfd": {"enabled": settings.gfd, "repository": mirrors.image_registry(_NVCR)},
        "migManager": {
            "enabled": settings.mig_manager,
            "repository": mirrors.image_registry(_NVCR_CLOUD_NATIVE),
            "config": {
                "create": False,
                # Always ours: every GPU node's `nvidia.com/mig.config` label (a MIG
                # group's layout, or `all-disabled`) is a key of this ConfigMap.
                "name": mig_config_map if settings.mig_manager else "",
                "default": MIG_ALL_DISABLED,
            },
        },
    }
    if settings.dcgm_exporter:
        # Our metrics list (ClusterPolicy `dcgmExporter.config.name`; the operator mounts
        # its `dcgm-metrics.csv` key), created by the component, not by the chart.
        values["dcgmExporter"]["config"] = {"name": dcgm_metrics_config_map}
    if settings.nfd:
        # Subchart value (node-feature-discovery chart, `image.repository`); the tag is
        # the subchart's default.
        values["node-feature-discovery"] = {
            "image": {"repository": mirrors.image_registry(_NFD_IMAGE)}
        }
    workloads = (
        wl.GPU_OPERATOR,
        wl.GPU_OPERANDS,
        *((wl.NFD_MASTER, wl.NFD_GC, wl.NFD_WORKER) if settings.nfd else ()),
    )
    return apply_tolerations(
        values,
        workloads,
        parse_tolerations(tolerations),
        parse_tolerations(gpu_node_tolerations),
    )


def render_upgrade_policy(policy: DriverUpgradePolicy) -> dict[str, Any]:
    """The chart's `driver.upgradePolicy`: every key of its values.yaml, so nothing is
    left to a chart default we did not choose.

    The chart's clusterpolicy.yaml template copies it into the ClusterPolicy's
    `spec.driver.upgradePolicy`, renaming `gpuPodDeletion` to the CRD's `podDeletion`
    and leaving out empty `podSelector`s (NVIDIA/gpu-operator@v26.7.0
    deployments/gpu-operator/templates/clusterpolicy.yaml).
    """
    return {
        "autoUpgrade": policy.auto_upgrade,
        "maxParallelUpgrades": policy.max_parallel_upgrades,
        "maxUnavailable": policy.max_unavailable,
        "waitForCompletion": {
            "timeoutSeconds": policy.wait_for_completion_timeout_seconds,
            "podSelector": policy.wait_for_completion_pod_selector,
        },
        "gpuPodDeletion": {
            "force": policy.pod_deletion_force,
            "timeoutSeconds": policy.pod_deletion_timeout_seconds,
            "deleteEmptyDir": policy.pod_deletion_delete_empty_dir,
        },
        "drain": {
            "enable": policy.drain_enable,
            "force": policy.drain_force,
            "podSelector": policy.drain_pod_selector,
            "timeoutSeconds": policy.drain_timeout_seconds,
            "deleteEmptyDir": policy.drain_delete_empty_dir,
        },
    }


def driver_branch(version: str) -> str:
    """The driver branch of a driver version: `595.91.07` -> `595`, `595` -> `595`."""
    return version.removeprefix("v").split("-")[0].split(".")[0]


def driver_version_value(version: str, use_precompiled: bool) -> str:
    """The chart's `driver.version` for the driver `version` in the chosen mode.

    With `usePrecompiled: true` the GPU Operator composes the image tag as
    `<driver.version>-<kernel>-<os>`, so `driver.version` must be the branch (`595`);
    the full version (`595.91.07`) names an image that does not exist.
    https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/precompiled-drivers.html
    """
    return driver_branch(version) if use_precompiled else version


def gpu_operator_images(settings: GpuOperatorSettings) -> list[str]:
    """Upstream images the GPU Operator pulls with `settings` (for the mirror list)."""
    chart_version = settings.chart.version
    images = [
        f"{_NVCR}/gpu-operator:{chart_version}",  # operator and validator
        f"{_NVCR}/k8s-device-plugin:{versions.DEVICE_PLUGIN.version}",  # plugin and GFD
    ]
    driver = settings.driver
    if driver.enabled:
        images.append(f"{_NVCR_CLOUD_NATIVE}/k8s-driver-manager:{versions.DRIVER_MANAGER.version}")
        if not driver.use_precompiled:
            images += [f"{_NVCR}/driver:{driver.version}-{os_tag}" for os_tag in driver.os_tags]
        else:
            # Precompiled tags are `<branch>-<kernel>-<os>`; the kernel is only known on
            # the node, so list the branch for the mirror operator to expand.
            branch = driver_branch(driver.version)
            images += [f"{_NVCR}/driver:{branch}-{os_tag}" for os_tag in driver.os_tags]
    if settings.toolkit_enabled:
        images.append(f"{_NVCR_K8S}/container-toolkit:{settings.toolkit_version}")
    if settings.dcgm_exporter:
        images.append(f"{_NVCR_K8S}/dcgm-exporter:{versions.DCGM_EXPORTER.version}")
    if settings.mig_manager:
        images.append(f"{_NVCR_CLOUD_NATIVE}/k8s-mig-manager:{versions.MIG_MANAGER.version}")
    if settings.nfd:
        images.append(f"{_NFD_IMAGE}:{versions.NODE_FEATURE_DISCOVERY.version}")
    return images


def summary(settings: GpuOperatorSettings, namespace: str) -> dict[str, Any]:
    """Stack-output summary (`gpuOperator`)."""
    return {
        "namespace": namespace,
        "chartVersion": settings.chart.version,
        "driverVersion": settings.driver.version if settings.driver.enabled else "host",
        "toolkitVersion": settings.toolkit_version if settings.toolkit_enabled else "host",
        "devicePluginConfigs": sorted(
            g.name for g in settings.node_groups if g.gpu_model is not None
        ),
        "migLayouts": sorted(g.name for g in settings.node_groups if g.mig_layout),
    }


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class GpuOperator(pulumi.ComponentResource):
    """The NVIDIA GPU Operator with per-node-group sharing and MIG configs."""

    namespace: pulumi.Output[str]
    """Namespace the operator runs in."""
    release: k8s.helm.v3.Release
    """The Helm release; depend on it to wait for the operator (e.g. before GPU workloads)."""
    config_maps: list[k8s.core.v1.ConfigMap]
    """Device-plugin config, the mig-parted config (MIG manager on) and the
    dcgm-exporter metrics list (DCGM exporter on)."""
    release_name: pulumi.Output[str]
    """Helm release name."""
    summary: pulumi.Output[dict[str, Any]]
    """Versions and configs, for the `gpuOperator` stack output."""

    def __init__(
        self, name: str, args: GpuOperatorArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        settings = args.settings

        namespace = _namespace(name, args.namespace, child)
        in_namespace = pulumi.ResourceOptions(
            parent=self, provider=args.provider, depends_on=[namespace]
        )
        plugin_config = k8s.core.v1.ConfigMap(
            f"{name}-device-plugin-config",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=DEVICE_PLUGIN_CONFIG_MAP, namespace=args.namespace
            ),
            data=render_device_plugin_config_map(settings.node_groups),
            opts=in_namespace,
        )
        config_maps: list[k8s.core.v1.ConfigMap] = [plugin_config]
        if settings.mig_manager:
            config_maps.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-mig-config",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=MIG_CONFIG_MAP, namespace=args.namespace
                    ),
                    data=render_mig_config_map(settings.node_groups),
                    opts=in_namespace,
                )
            )
        if settings.dcgm_exporter:
            config_maps.append(
                k8s.core.v1.ConfigMap(
                    f"{name}-dcgm-metrics",
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        name=DCGM_METRICS_CONFIG_MAP, namespace=args.namespace
                    ),
                    data=render_dcgm_metrics_config_map(),
                    opts=in_namespace,
                )
            )
        release = helm_release(
            f"{name}-release",
            settings.chart,
            render_gpu_operator_values(
                settings,
                args.mirrors,
                tolerations=args.tolerations,
                gpu_node_tolerations=args.gpu_node_tolerations,
            ),
            args.namespace,
            args.mirrors,
            pulumi.ResourceOptions(
                parent=self,
                provider=args.provider,
                # Pods need the CNI (`depends_on`, e.g. `ClusterHandle.network_ready`).
                depends_on=[namespace, *config_maps, *args.depends_on],
            ),
            images=gpu_operator_images(settings),
            release_name="gpu-operator",
        )

        self.release = release
        self.config_maps = config_maps
        ns_name = args.namespace
        self.namespace = namespace.metadata.apply(lambda m: m.name or ns_name)
        self.release_name = release.name.apply(lambda n: n or "gpu-operator")
        # Resolved once the release is registered, so dependents of the summary wait
        # for the operator.
        summary_data = summary(settings, args.namespace)
        self.summary = release.name.apply(lambda _: summary_data)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "release_name": self.release_name,
                "summary": self.summary,
            }
        )


def _namespace(name: str, namespace: str, opts: pulumi.ResourceOptions) -> k8s.core.v1.Namespace:
    return k8s.core.v1.Namespace(
        f"{name}-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace, labels=naming.POD_SECURITY_PRIVILEGED),
        opts=opts,
    )
