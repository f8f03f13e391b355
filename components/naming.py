"""Names and well-known node label/taint keys, as pure functions.

Invariant: a Pulumi resource name is derived only from stable config names (tenant,
node group, host), never from list positions, so reordering `hosts` or `nodeGroups`
in a stack file never changes a child's URN (no replacement of a joined node).

Label keys (set by kubelet at registration through the kubeadm JoinConfiguration, see
`components/cluster/kubeadm.py`):

| key | value | who reads it |
|---|---|---|
| `gpu-caas.io/tenant` | tenant name | policies, quotas |
| `gpu-caas.io/node-group` | node group name | Karpenter, policies, operators |
| `gpu-caas.io/rack` | rack id | topology-aware scheduling |
| `gpu-caas.io/nvlink-domain` | NVLink domain id | IMEX / ComputeDomains |
| `gpu-caas.io/dpu` | `"true"` on hosts with a BlueField DPU | DPU / network operators |
| `rail.gpu-caas.io/<rail id>` | `"true"`, one per rail the host is on | rail IP pools, RDMA pods |
| `nvidia.com/gpu.clique` | NVLink domain id | NVIDIA DRA driver ComputeDomains |
| `nvidia.com/gpu.product` | GFD product name | node selection by GPU model |
| `nvidia.com/mig.config` | `gpu_config_name(group)` or `all-disabled` | NVIDIA mig-manager |
| `nvidia.com/device-plugin.config` | `gpu_config_name(group)` | NVIDIA device plugin |

Kubelets may only self-assign labels outside the `kubernetes.io`/`k8s.io` namespaces
(NodeRestriction admission,
https://kubernetes.io/docs/reference/access-authn-authz/admission-controllers/#noderestriction),
which is why topology uses `gpu-caas.io/*` keys and not `topology.kubernetes.io/*`.

Rails are one label per rail (`rail_label`), not one `rail` label with the rail id as
value: on rail-optimized fabrics (DGX/HGX H100/H200/B200, GB200) every GPU host has one
NIC per rail, so a host is on every rail at once.
"""

from __future__ import annotations

import hashlib
import re

POD_SECURITY_PRIVILEGED = {
    "pod-security.kubernetes.io/enforce": "privileged",
    "pod-security.kubernetes.io/audit": "privileged",
    "pod-security.kubernetes.io/warn": "privileged",
}
"""Pod Security Admission labels of the operator namespaces whose daemonsets are
host-level agents (GPU driver and toolkit, DOCA driver and CNI plugins, DPF).
https://kubernetes.io/docs/concepts/security/pod-security-admission/"""

LABEL_TENANT = "gpu-caas.io/tenant"
LABEL_NODE_GROUP = "gpu-caas.io/node-group"
LABEL_RACK = "gpu-caas.io/rack"
LABEL_NVLINK_DOMAIN = "gpu-caas.io/nvlink-domain"
LABEL_DPU = "gpu-caas.io/dpu"
LABEL_GPU_CLIQUE = "nvidia.com/gpu.clique"
"""NVLink clique label the NVIDIA DRA driver uses to group ComputeDomain nodes."""
LABEL_GPU_PRODUCT = "nvidia.com/gpu.product"
LABEL_MIG_CONFIG = "nvidia.com/mig.config"
"""mig-manager applies the named MIG config to a node carrying this label."""
LABEL_DEVICE_PLUGIN_CONFIG = "nvidia.com/device-plugin.config"
"""The device plugin picks its sharing config (time-slicing / MPS) by this label."""

GPU_TAINT_KEY = "nvidia.com/gpu"
"""Default taint on GPU node groups (`nvidia.com/gpu=present:NoSchedule`): only pods
that tolerate it (GPU workloads, NVIDIA operands) land on GPU nodes."""
GPU_TAINT_VALUE = "present"

RESERVED_LABEL_KEYS = frozenset(
    {
        LABEL_TENANT,
        LABEL_NODE_GROUP,
        LABEL_RACK,
        LABEL_NVLINK_DOMAIN,
        LABEL_DPU,
        LABEL_GPU_CLIQUE,
        LABEL_GPU_PRODUCT,
        LABEL_MIG_CONFIG,
        LABEL_DEVICE_PLUGIN_CONFIG,
    }
)
"""Keys the platform sets; user labels may not override them."""

RAIL_LABEL_PREFIX = "rail.gpu-caas.io"
"""Prefix of the per-rail node labels (`rail_label`); the platform owns every key in it."""
RESERVED_LABEL_PREFIXES = (f"{RAIL_LABEL_PREFIX}/",)
"""Key prefixes the platform sets; user labels may not use them."""

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_LABEL_VALUE_MAX = 63


def is_reserved_label(key: str) -> bool:
    """Whether the platform sets label `key` (a reserved key or under a reserved prefix)."""
    return key in RESERVED_LABEL_KEYS or key.startswith(RESERVED_LABEL_PREFIXES)


def is_label_name(value: str) -> bool:
    """Whether `value` is the name part of a label key (<= 63 chars, alphanumerics, '-',
    '_' or '.', starting and ending with an alphanumeric)."""
    return len(value) <= _LABEL_VALUE_MAX and bool(_LABEL_NAME.match(value))


def rail_label(rail: str) -> str:
    """Node label key of network rail `rail`: `rail.gpu-caas.io/<rail>` (value `"true"`).

    A host carries one such label per rail its NICs connect to, so the rail's IP pool and
    pods that need the rail select `rail.gpu-caas.io/<rail>: "true"`. Rail ids are
    validated as label names (`is_label_name`) when the config is parsed.
    """
    if not is_label_name(rail):
        raise ValueError(f"rail id {rail!r} is not a valid label name")
    return f"{RAIL_LABEL_PREFIX}/{rail}"


def child_name(parent: str, suffix: str) -> str:
    """Name of a child resource: `f"{parent}-{suffix}"` (house rule)."""
    return f"{parent}-{suffix}"


def host_resource_suffix(action: str, host: str) -> str:
    """Suffix of a per-host resource, e.g. `join-gpu-0`; keyed by host name, not index."""
    return f"{action}-{host}"


GPU_CONFIG_PREFIX = "gpu-caas-"
"""Prefix of every per-node-group GPU config name: ours never collide with the GPU
Operator's own names (`default`, `all-disabled`, `all-1g.10gb`, ...)."""
MIG_CONFIG_DISABLED = "all-disabled"
"""mig-parted layout that turns MIG off. GPU nodes of groups without MIG carry it, and it
is the MIG manager's `migManager.config.default`."""
DEVICE_PLUGIN_CONFIG_DEFAULT = "default"
"""Device-plugin config for GPU nodes without the label (`devicePlugin.config.default`)."""


def gpu_config_name(node_group: str) -> str:
    """Name of a node group's GPU configs: its device-plugin config AND its MIG layout.

    The ONE function both sides use: the GPU Operator component keys its device-plugin
    and mig-parted ConfigMaps with it (`components/gpu/gpu_operator.py`), and the cluster
    side puts it in the `nvidia.com/device-plugin.config` / `nvidia.com/mig.config` node
    labels (`gpu_config_labels`). The result is a valid label value (<= 63 chars): long
    group names are shortened with a stable hash suffix.
    """
    name = f"{GPU_CONFIG_PREFIX}{node_group}"
    if len(name) <= _LABEL_VALUE_MAX:
        return name
    digest = hashlib.sha256(node_group.encode()).hexdigest()[:8]
    keep = _LABEL_VALUE_MAX - len(GPU_CONFIG_PREFIX) - len(digest) - 1
    return f"{GPU_CONFIG_PREFIX}{node_group[:keep].rstrip('-')}-{digest}"


def gpu_config_labels(node_group: str, *, mig: bool) -> dict[str, str]:
    """GPU Operator selector labels of every GPU node of `node_group`.

    `nvidia.com/device-plugin.config` names the group's device-plugin config (also for
    MIG groups: their config carries the MIG strategy); `nvidia.com/mig.config` names the
    group's MIG layout, or `all-disabled` when the group does not use MIG. CPU-only
    groups get no labels (callers skip them).
    """
    name = gpu_config_name(node_group)
    return {
        LABEL_DEVICE_PLUGIN_CONFIG: name,
        LABEL_MIG_CONFIG: name if mig else MIG_CONFIG_DISABLED,
    }


def tenant_namespace(tenant: str) -> str:
    """Namespace holding a tenant's hosted control plane on the management cluster."""
    return f"tenant-{tenant}"


def is_dns_label(value: str) -> bool:
    """Whether `value` is an RFC 1123 DNS label (<= 63 chars, lowercase alnum and '-')."""
    return len(value) <= 63 and bool(_DNS_LABEL.match(value))
