"""The register of upstream facts: every label key, annotation, taint key, resource name,
API group/version, image repository, metric field and config key gpu-caas hard-codes
about a component it does not own, each with how it is checked (pure data).

Kubernetes, Helm and the operators accept an unknown label or a misspelt resource name
without a word, so every such literal is either

* `checked_by` a test (`tests/<file>.py::<test>` or `::<Class>.<method>`) that compares
  it with an upstream file under `../shared/crds` (`tests.support.upstream.CRDS_ROOT`;
  `upstream` names that file), or
* backed by a `citation` a reviewer can open: an `https://` URL or
  `owner/repo@ref:path`, or
* listed as `unverified`, with the reason, until one of the two exists.

Exactly one of the three. `tests/components/test_upstream_facts.py` scans the product
source (components/, stacks/, policies/gpu_caas_policies/) for literals that look like
upstream facts and fails on any that is not registered here (or in `OWN_OR_EXAMPLE`),
on entries whose value no longer occurs where they say, and on `checked_by` tests that
do not exist. `FAMILIES` name the checks that cover whole classes of facts no scan can
find (every Helm values key, every custom-resource field).

`python -m components.upstream_facts` writes docs/upstream-facts.md from this module;
`--check` exits 1 when the file is stale.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from components import dcgm


@dataclass(frozen=True)
class Fact:
    """One literal about an upstream component, where we use it and how it is checked."""

    value: str
    """The literal as it occurs in the product source (a prefix for f-string parts,
    e.g. `nvidia.com/mig-`)."""
    component: str
    """Upstream component that defines it, e.g. `NVIDIA GPU Operator`."""
    what: str
    """What it is, e.g. `node label (GFD)`."""
    used_in: tuple[str, ...]
    """Product modules (repository-relative paths) whose string constants hold it."""
    checked_by: str | None = None
    """`tests/<path>.py::<test>` comparing it with `upstream` under ../shared/crds."""
    upstream: str | None = None
    """File under ../shared/crds the `checked_by` test reads (only with `checked_by`)."""
    citation: str | None = None
    """`https://...` or `owner/repo@ref:path` saying the same as our literal."""
    unverified: str | None = None
    """Why neither a check nor a citation exists yet (stays visible in the docs)."""


@dataclass(frozen=True)
class Family:
    """A class of facts checked as a whole (no scan can list its members)."""

    name: str
    component: str
    what: str
    checked_by: tuple[str, ...]


_K8S_LABELS = "https://kubernetes.io/docs/reference/labels-annotations-taints/"
_K8S_QUOTA = "https://kubernetes.io/docs/concepts/policy/resource-quotas/"
_K8S_OPENAPI = "kubernetes/kubernetes@v1.34.2:api/openapi-spec/v3/apis__{}__{}_openapi.json"
_GFD_README = "NVIDIA/k8s-device-plugin@v0.20.0:docs/gpu-feature-discovery/README.md"
_LABELS_TEST = "tests/components/test_upstream_labels.py::"
_API_TEST = _LABELS_TEST + "test_api_version_is_served_by_the_upstream_crd"
_IMAGE_TEST = _LABELS_TEST + "test_image_repository_is_the_upstream_default"

_NODE_GROUPS = "stacks/config/node_groups.py"
_KARPENTER = "components/services/karpenter.py"
_NAMING = "components/naming.py"
_CSI = "components/services/csi.py"
_CNI = "components/services/cni.py"
_NODE_HEALTH = "components/services/node_health.py"
_NIM = "components/gpu/nim_operator.py"
_GPU_OPERATOR = "components/gpu/gpu_operator.py"
_NETWORK_OPERATOR = "components/gpu/network_operator.py"
_TENANT_NS = "components/isolation/tenant_namespaces.py"
_PLATFORM_SAFETY = "policies/gpu_caas_policies/platform_safety.py"
_FLEET_OPERATOR = "stacks/fleet/operator.py"
_TENANT_ISOLATION = "policies/gpu_caas_policies/tenant_isolation.py"


def _k8s_label(value: str, what: str, *used_in: str) -> Fact:
    return Fact(value, "Kubernetes", what, used_in, citation=_K8S_LABELS)


def _crd_api(value: str, component: str, upstream: str, *used_in: str) -> Fact:
    return Fact(
        value, component, "API group/version of a custom resource we render", used_in,
        checked_by=_API_TEST, upstream=upstream,
    )  # fmt: skip


def _k8s_api(value: str, *used_in: str) -> Fact:
    group, version = value.split("/")
    return Fact(
        value, "Kubernetes", "built-in API group/version", used_in,
        citation=_K8S_OPENAPI.format(group, version),
    )  # fmt: skip


def _image(value: str, component: str, used_in: str, **how: str) -> Fact:
    return Fact(value, component, "image repository", (used_in,), **how)


_KUBERNETES: tuple[Fact, ...] = (
    _k8s_label("kubernetes.io/hostname", "node label (kubelet)",
               "components/cluster/kamaji.py", "components/services/kai_scheduler.py",
               _KARPENTER, _NODE_GROUPS),
    _k8s_label("kubernetes.io/arch", "node label (kubelet)", _NODE_GROUPS),
    _k8s_label("kubernetes.io/os", "node label (kubelet)", _KARPENTER, _NODE_GROUPS,
               "components/placement.py", "components/workloads.py"),
    _k8s_label("beta.kubernetes.io/arch", "deprecated node label (kubelet)", _NODE_GROUPS),
    _k8s_label("beta.kubernetes.io/os", "deprecated node label (kubelet)", _NODE_GROUPS),
    _k8s_label("beta.kubernetes.io/instance-type", "deprecated node label", _NODE_GROUPS),
    _k8s_label("node.kubernetes.io/instance-type", "node label", _KARPENTER, _NODE_GROUPS),
    _k8s_label("failure-domain.beta.kubernetes.io/region", "deprecated node label",
               _NODE_GROUPS),
    _k8s_label("failure-domain.beta.kubernetes.io/zone", "deprecated node label",
               _NODE_GROUPS),
    _k8s_label("topology.kubernetes.io/region", "node label", _NODE_GROUPS),
    _k8s_label("topology.kubernetes.io/zone", "node label", _NODE_GROUPS,
               "stacks/platform_services.py"),
    _k8s_label("kubernetes.io/metadata.name", "namespace label (API server)", _TENANT_NS, _NIM),
    _k8s_label("storageclass.kubernetes.io/is-default-class", "StorageClass annotation",
               _CSI),
    _k8s_label("pod-security.kubernetes.io/enforce", "namespace label (Pod Security)", _NIM,
               _NAMING, "components/services/_common.py", _TENANT_ISOLATION, _FLEET_OPERATOR),
    _k8s_label("app.kubernetes.io/managed-by", "recommended label", _FLEET_OPERATOR),
    Fact("app.kubernetes.io/name", "NVIDIA NIM Operator",
         "label the operator sets on a NIMCache's job and manifest pods (value: its name)",
         (_NIM,),
         citation="NVIDIA/k8s-nim-operator@v3.1.2:internal/controller/nimcache_controller.go"),
    _k8s_label("pod-security.kubernetes.io/audit", "namespace label (Pod Security)", _NIM,
               _NAMING),
    _k8s_label("pod-security.kubernetes.io/warn", "namespace label (Pod Security)", _NIM,
               _NAMING, "components/services/_common.py"),
    Fact("pod-security.kubernetes.io/", "Kubernetes",
         "Pod Security label prefix (`<mode>` and `<mode>-version` labels)", (_TENANT_NS,),
         citation="kubernetes/kubernetes@3a53ab6e069d623654427784a2447b82f49fb952:"
         "staging/src/k8s.io/pod-security-admission/api/constants.go"),
    Fact("node.kubernetes.io/", "Kubernetes", "label namespace kubelets may self-set",
         (_NODE_GROUPS,),
         citation="kubernetes/kubernetes@04575f01b0426f8494d17dc85d47200fcdef3a5e:"
         "staging/src/k8s.io/api/core/v1/well_known_labels.go"),
    Fact("node-role.kubernetes.io/control-plane", "Kubernetes (kubeadm)",
         "control-plane node label and taint key",
         ("components/cluster/labels.py", _NETWORK_OPERATOR, _NODE_HEALTH,
          "components/placement.py"),
         checked_by=_LABELS_TEST + "test_control_plane_taint_keys_are_the_operators_tolerations",
         upstream="network-operator/values.yaml"),
    Fact("node-role.kubernetes.io/master", "Kubernetes (kubeadm, legacy)",
         "legacy control-plane taint key", (_NETWORK_OPERATOR, "components/placement.py"),
         checked_by=_LABELS_TEST + "test_control_plane_taint_keys_are_the_operators_tolerations",
         upstream="network-operator/values.yaml"),
    Fact("kubernetes.io/dockerconfigjson", "Kubernetes", "Secret type", (_NIM,),
         citation="https://kubernetes.io/docs/concepts/configuration/secret/"),
    Fact("deviceclass.resource.k8s.io/devices", "Kubernetes",
         "ResourceQuota key suffix of a DRA DeviceClass (`<class>.deviceclass...`)",
         (_TENANT_NS,), citation=_K8S_QUOTA),
    Fact("kubeadm.k8s.io/v1beta4", "Kubernetes (kubeadm)", "kubeadm config API version",
         ("components/cluster/kubeadm.py",),
         citation="https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/"),
    _k8s_api("networking.k8s.io/v1", _TENANT_ISOLATION),
    _k8s_api("rbac.authorization.k8s.io/v1", _TENANT_ISOLATION, _FLEET_OPERATOR),
    _k8s_api("storage.k8s.io/v1", _CSI),
    _k8s_api("resource.k8s.io/v1", "components/versions.py"),
)  # fmt: skip

_NVIDIA_GPU: tuple[Fact, ...] = (
    Fact("nvidia.com/gpu", "NVIDIA device plugin / GPU Operator",
         "extended resource name and GPU node taint key",
         (_GPU_OPERATOR, _NAMING, _KARPENTER, "stacks/config/services.py",
          "components/gpu/advertised.py"),
         checked_by=_LABELS_TEST + "test_gpu_resource_name_and_taint_key",
         upstream="gpu-operator/values.yaml"),
    Fact("nvidia.com/mig-", "NVIDIA device plugin",
         "MIG extended resource prefix (mixed strategy: `nvidia.com/mig-<profile>`)",
         (_GPU_OPERATOR, "components/gpu/advertised.py"),
         citation="NVIDIA/k8s-device-plugin@v0.20.0:README.md"),
    Fact("nvidia.com/gpu.product", "NVIDIA GPU Feature Discovery", "node label",
         (_NAMING, _KARPENTER, "stacks/config/inventory.py"), citation=_GFD_README),
    Fact("nvidia.com/gpu.clique", "NVIDIA GPU Feature Discovery",
         "node label (NVLink clique)", (_NAMING,), citation=_GFD_README),
    Fact("nvidia.com/mig.config", "NVIDIA GPU Operator (MIG manager)",
         "node label selecting the MIG layout", (_NAMING,),
         checked_by=_LABELS_TEST + "test_mig_config_label_is_the_cluster_policys",
         upstream="gpu-operator/nvidia.com_clusterpolicies.yaml"),
    Fact("nvidia.com/mig.config.state", "NVIDIA MIG manager",
         "node label the MIG manager reports progress in", ("stacks/config/rules.py",),
         citation="NVIDIA/mig-parted@v0.15.0:deployments/container/reconfigure-mig.sh"),
    Fact("nvidia.com/device-plugin.config", "NVIDIA GPU Operator (device plugin)",
         "node label selecting the device-plugin config", (_NAMING,),
         citation="NVIDIA/gpu-operator@v26.7.0:assets/state-device-plugin/0500_daemonset.yaml"),
    Fact(dcgm.METRICS_CSV_KEY, "NVIDIA GPU Operator (dcgm-exporter)",
         "ConfigMap key of the dcgm-exporter metrics list", ("components/dcgm.py",),
         checked_by=_LABELS_TEST + "test_dcgm_metrics_config_map_key",
         upstream="gpu-operator/values.yaml"),
)  # fmt: skip

_SCHEDULING_AND_PLATFORM: tuple[Fact, ...] = (
    Fact("karpenter.sh/capacity-type", "Karpenter", "node label (well-known requirement)",
         (_KARPENTER, _NODE_GROUPS),
         checked_by=_LABELS_TEST + "test_karpenter_labels_are_the_node_pool_crds",
         upstream="karpenter/v1.14.1/karpenter.sh_nodepools.yaml"),
    Fact("karpenter.sh/nodepool", "Karpenter", "node label (set by Karpenter)",
         (_KARPENTER, "components/placement.py", "components/workloads.py"),
         checked_by=_LABELS_TEST + "test_karpenter_labels_are_the_node_pool_crds",
         upstream="karpenter/v1.14.1/karpenter.sh_nodepools.yaml"),
    Fact("karpenter.k8s.aws/instance-gpu-name", "Karpenter AWS provider",
         "instance-type label carrying the GPU name", (_KARPENTER,),
         citation="https://karpenter.sh/docs/reference/instance-types/"),
    Fact("karpenter.azure.com/sku-gpu-name", "Karpenter Azure provider (AKS NAP)",
         "instance-type label carrying the GPU name", (_KARPENTER,),
         citation="https://learn.microsoft.com/azure/aks/node-autoprovision"),
    Fact("kai.scheduler/queue", "KAI scheduler",
         "pod label selecting a queue (podgrouper queueLabelKey)",
         ("components/services/kai_scheduler.py",),
         citation="NVIDIA/KAI-Scheduler@v0.13.0:deployments/kai-scheduler/values.yaml"),
    Fact("kamaji.clastix.io/name", "Kamaji", "label on a TenantControlPlane's pods",
         ("components/cluster/kamaji.py",),
         citation="clastix/kamaji@26.8.2-edge:internal/builders/controlplane/deployment.go"),
    Fact("rancher.io/local-path", "local-path-provisioner", "StorageClass provisioner name",
         (_CSI, "stacks/config/services.py"),
         citation="rancher/local-path-provisioner@056e35801cee57f86c95b3211aa914a270dcb630:"
         "deploy/chart/local-path-provisioner/values.yaml"),
    Fact("helm.sh/v3", "Pulumi Kubernetes provider", "resource type token (`helm.sh/v3:Release`)",
         (_PLATFORM_SAFETY,),
         citation="https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/"),
    Fact("helm.sh/v4", "Pulumi Kubernetes provider", "resource type token (`helm.sh/v4:Chart`)",
         (_PLATFORM_SAFETY, _TENANT_ISOLATION),
         citation="https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v4/chart/"),
    Fact("pulumi.com/skipAwait", "Pulumi Kubernetes provider", "resource annotation",
         ("components/gpu/dpu_operator.py",),
         citation="https://github.com/pulumi/pulumi-kubernetes/pull/417"),
    Fact("helm.sh/", "Pulumi Kubernetes provider",
         "type-token module of Helm releases (`kubernetes:helm.sh/v3:Release`)",
         ("stacks/server_side_apply.py",),
         citation="https://www.pulumi.com/registry/packages/kubernetes/api-docs/helm/v3/release/"),
    Fact("pulumi.com/patchForce", "Pulumi Kubernetes provider",
         "resource annotation: force server-side apply over other field managers",
         ("components/isolation/tenant_namespaces.py",),
         citation="https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/#handle-field-conflicts-on-existing-resources"),
)  # fmt: skip

_API_VERSIONS: tuple[Fact, ...] = (
    _crd_api("kyverno.io/v1", "Kyverno", "kyverno/kyverno.io_clusterpolicies.yaml",
             "components/isolation/kyverno.py"),
    _crd_api("karpenter.sh/v1", "Karpenter", "karpenter/v1.14.1/karpenter.sh_nodepools.yaml",
             _KARPENTER),
    _crd_api("karpenter.sh/v1alpha1", "Karpenter",
             "karpenter/v1.14.1/karpenter.sh_nodeoverlays.yaml", _KARPENTER),
    _crd_api("scheduling.run.ai/v2", "KAI scheduler", "kai-scheduler/scheduling.run.ai_queues.yaml",
             "components/services/kai_scheduler.py"),
    _crd_api("kai.scheduler/v1alpha1", "KAI scheduler",
             "kai-scheduler/kai.scheduler_topologies.yaml", "components/services/kai_scheduler.py"),
    _crd_api("kamaji.clastix.io/v1alpha1", "Kamaji",
             "kamaji/kamaji.clastix.io_tenantcontrolplanes.yaml", "components/cluster/kamaji.py",
             _PLATFORM_SAFETY),
    _crd_api("apps.nvidia.com/v1alpha1", "NVIDIA NIM Operator",
             "k8s-nim-operator/v3.1.2/apps.nvidia.com_nimservices.yaml", _NIM),
    _crd_api("mellanox.com/v1alpha1", "NVIDIA Network Operator",
             "network-operator/mellanox.com_nicclusterpolicies.yaml", _NETWORK_OPERATOR),
    _crd_api("nv-ipam.nvidia.com/v1alpha1", "NVIDIA IPAM (Network Operator)",
             "nv-ipam/nv-ipam.nvidia.com_ippools.yaml", _NETWORK_OPERATOR),
    _crd_api("operator.dpu.nvidia.com/v1alpha1", "NVIDIA DPF",
             "doca-platform/operator.dpu.nvidia.com_dpfoperatorconfigs.yaml",
             "components/gpu/dpu_operator.py"),
    _crd_api("provisioning.dpu.nvidia.com/v1alpha1", "NVIDIA DPF",
             "doca-platform/provisioning.dpu.nvidia.com_dpuclusters.yaml",
             "components/gpu/dpu_operator.py"),
    _crd_api("resource.nvidia.com/v1beta1", "NVIDIA DRA driver",
             "k8s-dra-driver-gpu/resource.nvidia.com_computedomains.yaml",
             "components/gpu/dra_driver.py"),
    _crd_api("monitoring.coreos.com/v1", "prometheus-operator (kube-prometheus-stack)",
             "kube-prometheus-stack/crd-prometheusrules.yaml",
             "components/services/observability.py"),
    _crd_api("controlplane.cluster.x-k8s.io/", "Cluster API",
             "cluster-api/controlplane.cluster.x-k8s.io_kubeadmcontrolplanes.yaml",
             _PLATFORM_SAFETY),
    _crd_api("pulumi.com/v1", "Pulumi Kubernetes Operator",
             "pulumi-kubernetes-operator/pulumi.com_stacks.yaml", _FLEET_OPERATOR),
    Fact("remediation.medik8s.io/v1alpha1", "medik8s Node Healthcheck operator",
         "API group/version of NodeHealthCheck", (_NODE_HEALTH,),
         citation="medik8s/node-healthcheck-operator@dd44432997c6edb4b577043919c4701c16524a73:"
         "api/v1alpha1/groupversion_info.go"),
    Fact("self-node-remediation.medik8s.io/v1alpha1", "medik8s Self Node Remediation",
         "API group/version of SelfNodeRemediationTemplate", (_NODE_HEALTH,),
         citation="medik8s/self-node-remediation@640aac50d7ba64bc08a5c1a45763bb3043ee9ed7:"
         "api/v1alpha1/groupversion_info.go"),
    Fact("machine-deletion-remediation.medik8s.io/v1alpha1",
         "medik8s Machine Deletion Remediation",
         "API group/version of MachineDeletionRemediationTemplate", (_NODE_HEALTH,),
         citation="medik8s/machine-deletion-remediation@"
         "34285c7efc94ab62a229c086b3875d7f4bdf2b76:api/v1alpha1/groupversion_info.go"),
)  # fmt: skip

_CSI_NFS_VALUES = (
    "kubernetes-csi/csi-driver-nfs@8357f90c8f08acdabf1b661ff08411164115bb26:"
    "charts/latest/csi-driver-nfs/values.yaml"
)
_CSI_UNVERIFIED = (
    "csi-driver-nfs chart default; its values.yaml is not in ../shared and the copy the "
    "search tools hold predates this image"
)
_CILIUM_UNVERIFIED = (
    "Cilium chart default (install/kubernetes/cilium/values.yaml at the pinned tag); not in "
    "../shared and the copy the search tools hold is an old release"
)

_IMAGES: tuple[Fact, ...] = (
    _image("nvcr.io/nvidia", "NVIDIA GPU Operator", _GPU_OPERATOR,
           checked_by=_IMAGE_TEST, upstream="gpu-operator/values.yaml"),
    Fact("nvcr.io/nvidia/cloud-native", "NVIDIA GPU Operator", "image repository",
         (_GPU_OPERATOR, _NETWORK_OPERATOR), checked_by=_IMAGE_TEST,
         upstream="gpu-operator/values.yaml"),
    _image("nvcr.io/nvidia/k8s", "NVIDIA GPU Operator", _GPU_OPERATOR,
           checked_by=_IMAGE_TEST, upstream="gpu-operator/values.yaml"),
    Fact("nvcr.io/nvidia/", "NVIDIA NGC", "image reference prefix (default verified images)",
         ("components/isolation/kyverno.py", "stacks/config/isolation.py"),
         checked_by=_IMAGE_TEST, upstream="gpu-operator/values.yaml"),
    _image("registry.k8s.io/nfd/node-feature-discovery", "Node Feature Discovery (GPU Operator "
           "subchart)", _GPU_OPERATOR,
           citation="NVIDIA/gpu-operator@v26.7.0:"
           "deployments/gpu-operator/charts/node-feature-discovery/values.yaml"),
    _image("ghcr.io/nvidia/k8s-nim-operator", "NVIDIA NIM Operator", _NIM,
           checked_by=_IMAGE_TEST, upstream="k8s-nim-operator/v3.1.2/values.yaml"),
    _image("ghcr.io/nvidia/kai-scheduler", "KAI scheduler", "components/services/kai_scheduler.py",
           citation="NVIDIA/KAI-Scheduler@v0.13.0:.github/workflows/on-release.yaml"),
    _image("reg.kyverno.io/kyverno/", "Kyverno", "components/isolation/kyverno.py",
           checked_by=_IMAGE_TEST, upstream="kyverno/values.yaml"),
    _image("registry.k8s.io/dra-driver-nvidia/dra-driver-nvidia-gpu", "NVIDIA DRA driver",
           "components/gpu/dra_driver.py",
           citation="NVIDIA/k8s-dra-driver-gpu@a0b61536c0fafa42af1383fe08bef5570f2a3f10:"
           "deployments/helm/dra-driver-nvidia-gpu/values.yaml"),
    _image("nvcr.io/nvidia/mellanox", "NVIDIA Network Operator", _NETWORK_OPERATOR,
           unverified="release registry of the Network Operator images; the "
           "network-operator/values.yaml in ../shared is a main-branch copy that points at "
           "nvcr.io/nvstaging/mellanox, and no release copy was found"),
    _image("public.ecr.aws/karpenter/controller", "Karpenter AWS provider", _KARPENTER,
           unverified="chart default of aws/karpenter-provider-aws charts/karpenter/values.yaml; "
           "not in ../shared and not found with the search tools"),
    _image("docker.io/otel/opentelemetry-collector-k8s", "OpenTelemetry Collector chart",
           "components/services/observability.py",
           unverified="opentelemetry-helm-charts collector image for the k8s distribution; "
           "not in ../shared and not found with the search tools"),
    _image("quay.io/cilium/cilium", "Cilium", _CNI, unverified=_CILIUM_UNVERIFIED),
    _image("quay.io/cilium/cilium-envoy", "Cilium", _CNI, unverified=_CILIUM_UNVERIFIED),
    _image("quay.io/cilium/hubble-relay", "Cilium", _CNI, unverified=_CILIUM_UNVERIFIED),
    _image("quay.io/cilium/operator", "Cilium", _CNI, unverified=_CILIUM_UNVERIFIED),
    _image("quay.io/cilium/operator-generic", "Cilium", _CNI, unverified=_CILIUM_UNVERIFIED),
    _image("registry.k8s.io/sig-storage/csi-provisioner", "csi-driver-nfs", _CSI,
           citation=_CSI_NFS_VALUES),
    _image("registry.k8s.io/sig-storage/livenessprobe", "csi-driver-nfs", _CSI,
           citation=_CSI_NFS_VALUES),
    _image("registry.k8s.io/sig-storage/csi-node-driver-registrar", "csi-driver-nfs", _CSI,
           citation=_CSI_NFS_VALUES),
    _image("registry.k8s.io/sig-storage/csi-resizer", "csi-driver-nfs", _CSI,
           unverified=_CSI_UNVERIFIED),
    _image("registry.k8s.io/sig-storage/csi-snapshotter", "csi-driver-nfs", _CSI,
           unverified=_CSI_UNVERIFIED),
    _image("registry.k8s.io/sig-storage/snapshot-controller", "csi-driver-nfs", _CSI,
           unverified=_CSI_UNVERIFIED),
    _image("registry.k8s.io/sig-storage/nfsplugin", "csi-driver-nfs", _CSI,
           unverified=_CSI_UNVERIFIED),
    Fact("ghcr.io/kai-scheduler/kai-scheduler", "KAI scheduler",
         "image and chart repository of KAI releases after v0.13 (a version note only)",
         ("components/versions.py",),
         unverified="where KAI v0.14+ publishes; only a note in components/versions.py, "
         "nothing is rendered from it, and no KAI file after v0.13.0 is in ../shared"),
)  # fmt: skip


def _dcgm_facts() -> tuple[Fact, ...]:
    """One fact per DCGM field we ship or alert on (components/dcgm.py holds the data)."""
    required = set(dcgm.REQUIRED_DCGM_FIELDS)
    default = {f.name for f in dcgm.DEFAULT_COUNTERS}
    facts = []
    for field in dcgm.metrics_fields():
        used_in: tuple[str, ...] = ("components/dcgm.py",)
        if field.name in required:
            used_in += ("components/services/observability.py",)
        in_default = field.name in default
        facts.append(
            Fact(
                field.name,
                "NVIDIA dcgm-exporter",
                f"DCGM field, {field.type}: {field.help}",
                used_in,
                checked_by="tests/components/test_dcgm.py::"
                + (
                    "test_default_counters_are_upstreams_enabled_rows"
                    if in_default
                    else "test_added_fields_are_upstreams_commented_rows"
                ),
                upstream="dcgm-exporter/default-counters.csv",
            )
        )
    return tuple(facts)


_PLACEMENT_DRA_VALUES = (
    "NVIDIA/k8s-dra-driver-gpu@0540432be8e21852e061da15577f7e2c5694877e:"
    "deployments/helm/nvidia-dra-driver-gpu/values.yaml"
)
_PLACEMENT: tuple[Fact, ...] = (
    # The placement model (components/placement.py, components/workloads.py).
    Fact("feature.node.kubernetes.io/pci-10de.present", "Node Feature Discovery",
         "node label the DRA kubelet plugin's required affinity selects",
         ("components/placement.py", "components/workloads.py"),
         citation=_PLACEMENT_DRA_VALUES),
    Fact("feature.node.kubernetes.io/cpu-model.vendor_id", "Node Feature Discovery",
         "node label the DRA kubelet plugin's required affinity selects (Tegra)",
         ("components/placement.py", "components/workloads.py"),
         citation=_PLACEMENT_DRA_VALUES),
    Fact("nvidia.com/gpu.present", "NVIDIA GPU Operator (GFD)",
         "node label the DRA kubelet plugin's required affinity selects",
         ("components/placement.py", "components/workloads.py"),
         citation=_PLACEMENT_DRA_VALUES),
    Fact("node-role.kubernetes.io/controlplane", "csi-driver-nfs",
         "taint key the NFS CSI controller tolerates by default", ("components/workloads.py",),
         citation=_CSI_NFS_VALUES),
)  # fmt: skip

FACTS: tuple[Fact, ...] = (
    *_KUBERNETES,
    *_PLACEMENT,
    *_NVIDIA_GPU,
    *_SCHEDULING_AND_PLATFORM,
    *_API_VERSIONS,
    *_IMAGES,
    *_dcgm_facts(),
)
"""Every registered literal, grouped by upstream area."""

FAMILIES: tuple[Family, ...] = (
    Family(
        "every Helm values key we render",
        "each chart's values.yaml (or its AICR recipe)",
        "key paths of the values passed to each chart, unknown keys rejected",
        (
            "tests/components/gpu/test_gpu_operator.py::"
            "TestValues.test_values_keys_exist_in_the_chart",
            "tests/components/gpu/test_dra_driver.py::TestValues.test_keys_exist_in_the_chart",
            "tests/components/gpu_network/test_network_operator_specs.py::"
            "test_helm_values_keys_exist_in_the_chart",
            "tests/components/gpu_network/test_nim_operator_specs.py::"
            "test_helm_values_keys_exist_in_the_v3_1_2_chart",
            "tests/components/isolation/test_kyverno_render.py::test_chart_values_keys_are_known",
            "tests/components/services/test_kai_scheduler.py::"
            "TestValues.test_values_keys_exist_in_chart",
        ),
    ),
    Family(
        "every custom resource we render",
        "each operator's CRD",
        "fields, types and enums of each CR, validated against the upstream CRD schema",
        (
            "tests/components/cluster/test_kamaji.py::test_spec_is_valid_against_the_crd",
            "tests/components/gpu/test_dra_driver.py::"
            "TestComputeDomainSpec.test_valid_against_the_crd",
            "tests/components/gpu/test_gpu_operator.py::"
            "TestClusterPolicy.test_operand_values_are_valid_cluster_policy_fields",
            "tests/components/gpu_network/test_network_operator_specs.py::"
            "test_nic_cluster_policy_is_valid_against_the_crd",
            "tests/components/gpu_network/test_nim_operator_specs.py::"
            "test_nim_service_spec_is_valid",
            "tests/components/gpu_network/test_dpu_operator_specs.py::"
            "test_dpu_cluster_spec_is_valid",
            "tests/components/isolation/test_kyverno_render.py::"
            "test_every_cluster_policy_is_valid_against_the_crd",
            "tests/components/services/test_kai_scheduler.py::"
            "TestQueues.test_every_queue_is_valid_against_the_crd",
            "tests/components/services/test_karpenter.py::TestNodePool.test_valid_against_crd",
        ),
    ),
    Family(
        "every DCGM field of the metrics list",
        "NVIDIA dcgm-exporter",
        "field names, metric types, help texts and units (violation counters in ns)",
        (
            "tests/components/test_dcgm.py::test_default_counters_are_upstreams_enabled_rows",
            "tests/components/test_dcgm.py::test_added_fields_are_upstreams_commented_rows",
            "tests/components/test_dcgm.py::test_violation_counters_count_nanoseconds",
        ),
    ),
    Family(
        "every pinned version",
        "each component's release",
        "`source=` of each pin in components/versions.py, compared with the reference copies",
        (
            "tests/components/test_versions.py::"
            "TestAgainstSharedCrds.test_release_pins_match_sources",
            "tests/components/test_versions.py::"
            "TestAgainstSharedCrds.test_gpu_operator_image_pins_are_the_chart_defaults",
        ),
    ),
)
"""Classes of facts covered by one check each."""

OWN_OR_EXAMPLE: tuple[tuple[str, str], ...] = (
    ("gpu-caas.io/", "our own label/annotation domain"),
    (".gpu-caas.io/", "our own label domains (e.g. rail.gpu-caas.io/<rail>)"),
    ("example.com/", "example value in error messages"),
    ("docs.nvidia.com/", "a documentation link in a version note, not a fact we render"),
    ("vault.azure.net/", "host part of an example secrets-provider URL in a help text"),
)
"""Literal prefixes the scan ignores: `(prefix, reason)`. A literal matches when it
starts with the prefix, or (prefixes starting with `.`) contains it after a DNS label."""

DOC_PATH = Path("docs/upstream-facts.md")


def _how(fact: Fact) -> str:
    if fact.checked_by:
        return f"checked: `{fact.checked_by}` against `{fact.upstream}`"
    if fact.citation:
        return f"cited: {fact.citation}"
    return f"**unverified**: {fact.unverified}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """docs/upstream-facts.md: the families, then one table row per fact."""
    lines = [
        "# Upstream facts",
        "",
        "<!-- Generated by `python -m components.upstream_facts` from "
        "components/upstream_facts.py; do not edit. -->",
        "",
        "Every label key, annotation, taint key, resource name, API group/version, image "
        "repository, metric field and config key gpu-caas hard-codes about a component it "
        "does not own, and how it is kept honest: **checked** by a test against the upstream "
        "file in `../shared/crds` (the pinned copies, see its SOURCES.md), **cited** "
        "(a URL or `owner/repo@ref:path` a reviewer can open), or **unverified** with the "
        "reason. `tests/components/test_upstream_facts.py` scans components/, stacks/ and "
        "policies/gpu_caas_policies/ and fails on an unregistered literal.",
        "",
        "## Families checked as a whole",
        "",
        "| family | upstream | what | checked by |",
        "|---|---|---|---|",
    ]
    for family in FAMILIES:
        tests = "<br>".join(f"`{test}`" for test in family.checked_by)
        lines.append(
            f"| {_cell(family.name)} | {_cell(family.component)} | {_cell(family.what)} | {tests} |"
        )
    counts = {
        "checked": sum(1 for f in FACTS if f.checked_by),
        "cited": sum(1 for f in FACTS if f.citation),
        "unverified": sum(1 for f in FACTS if f.unverified),
    }
    lines += [
        "",
        "## Facts",
        "",
        f"{len(FACTS)} facts: {counts['checked']} checked, {counts['cited']} cited, "
        f"{counts['unverified']} unverified.",
        "",
        "| value | upstream | what | used in | how |",
        "|---|---|---|---|---|",
    ]
    for fact in FACTS:
        used = "<br>".join(f"`{module}`" for module in fact.used_in)
        lines.append(
            f"| `{fact.value}` | {_cell(fact.component)} | {_cell(fact.what)} | {used} "
            f"| {_cell(_how(fact))} |"
        )
    unverified = [f for f in FACTS if f.unverified]
    lines += ["", "## Unverified", ""]
    if unverified:
        lines += [f"- `{f.value}` ({_cell(f.component)}): {f.unverified}" for f in unverified]
    else:
        lines.append("None.")
    lines += [
        "",
        "## Ignored by the scan",
        "",
        *(f"- `{prefix}`: {reason}" for prefix, reason in OWN_OR_EXAMPLE),
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Write docs/upstream-facts.md (relative to the current directory), or with
    `--check` exit 1 when it differs from `render_markdown()`."""
    args = list(sys.argv[1:] if argv is None else argv)
    text = render_markdown()
    if args == ["--check"]:
        current = DOC_PATH.read_text(encoding="utf-8") if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH} is stale: run `python -m components.upstream_facts`")
            return 1
        return 0
    if args:
        print("usage: python -m components.upstream_facts [--check]", file=sys.stderr)
        return 2
    DOC_PATH.write_text(text, encoding="utf-8")
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
