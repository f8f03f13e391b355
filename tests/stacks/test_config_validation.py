"""Table-driven validation of `gpu-caas:tenant`: good and bad inputs, exact key paths."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components import versions
from components.gpu.catalog import GpuModel
from stacks.config import (
    ConfigError,
    ControlPlaneBackend,
    Flavor,
    SharingMode,
    TenantConfig,
    parse_tenant,
)
from stacks.config.rules import warnings
from tests.stacks.samples import SECRETS, sample

ROOT = Path(__file__).resolve().parents[2]
DELETE = object()
_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def set_path(data: dict[str, Any], path: str, value: Any) -> None:
    """Set (or with DELETE remove) `path` like `hosts[1].gpu.model` in `data`."""
    parts: list[str | int] = [int(index) if index else key for key, index in _PART.findall(path)]
    target: Any = data
    for part in parts[:-1]:
        target = target[part]
    if value is DELETE:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value


def problems(flavor: str, changes: dict[str, Any]) -> list[tuple[str, str]]:
    data = sample(flavor)
    for path, value in changes.items():
        set_path(data, path, value)
    with pytest.raises(ConfigError) as error:
        parse_tenant(data)
    return [(p.path, p.message) for p in error.value.problems]


T = "gpu-caas:tenant"
KYVERNO_K8S_SOURCE = versions.KYVERNO.kubernetes.source if versions.KYVERNO.kubernetes else ""
RAIL_0 = {"rail": "rail-0", "interfaces": ["ens1f0np0"], "ipam": {"subnet": "172.16.0.0/20"}}
RAIL_1 = {"rail": "rail-1", "interfaces": ["ens2f0np0"], "ipam": {"subnet": "172.16.16.0/20"}}

GOOD = [
    ("tenant-managed", {}),
    ("ncp-managed", {}),
    ("isv-managed", {}),
    ("tenant-managed", {"kubernetes.version": "v1.35.0"}),
    (
        "tenant-managed",
        {
            "nodeGroups[1].sharing": {"mode": "mps", "mps": {"replicas": 8}},
            "nodeGroups[1].team": "ml",
        },
    ),
    (
        "tenant-managed",
        {"nodeGroups[1].sharing": {"mode": "exclusive"}, "nodeGroups[1].gpuTaint": False},
    ),
    (
        "tenant-managed",
        {
            "controlPlane": {"ha": True, "kubeadm": {"endpoint": "api.acme.example:6443"}},
            "hosts[1].role": "control-plane",
            "hosts[2].role": "control-plane",
            "nodeGroups": [],
        },
    ),
    (
        "ncp-managed",
        {
            "controlPlane.backend": "kubeadm",
            "controlPlane.hosted": DELETE,
            "controlPlane.ha": False,
            "hosts": [
                {
                    "name": "cp-0",
                    "address": "10.0.0.1",
                    "role": "control-plane",
                    "ssh": {"user": "root", "privateKey": {"secure": "v1:abc"}},
                }
            ],
            "nodeGroups": [],
        },
    ),
    ("isv-managed", {"controlPlane.external": {"stackReference": {"name": "isv/platform/prod"}}}),
    (
        "tenant-managed",
        {
            "mirrors": {
                "chartRepositories": {
                    "https://helm.ngc.nvidia.com/nvidia": "oci://mirror.example/nvidia"
                },
                "defaultChartRepository": "https://charts.mirror.example",
                "imageRegistries": {"nvcr.io": "mirror.example:5000/nvcr"},
            }
        },
    ),
    (
        "tenant-managed",
        {
            "hosts[1].gpu": {"model": "GB200-186GB", "count": 4},
            "hosts[1].topology": {"nvlinkDomain": "nvl72-a"},
        },
    ),
    # Rails: GPU hosts without topology.rails are on every configured rail; a host may
    # list a subset, or [] for none.
    ("tenant-managed", {"gpu": {"network": {"enabled": True, "rails": [RAIL_0, RAIL_1]}}}),
    (
        "tenant-managed",
        {
            "gpu": {"network": {"enabled": True, "rails": [RAIL_0, RAIL_1]}},
            "hosts[1].topology.rails": ["rail-0", "rail-1"],
            "hosts[2].topology": {"rails": []},
        },
    ),
    # Without the Network Operator, rails are only node labels.
    ("tenant-managed", {"hosts[1].topology.rails": ["0", "Spine_A.2", "r" * 63]}),
]


@pytest.mark.parametrize(("flavor", "changes"), GOOD)
def test_good_configs(flavor: str, changes: dict[str, Any]) -> None:
    data = sample(flavor)
    for path, value in changes.items():
        set_path(data, path, value)
    config = parse_tenant(data)
    assert config.flavor is Flavor(flavor)


BAD = [
    # (flavor, changes, [(path, message)])
    (
        "tenant-managed",
        {"kubernetes.version": "1.33"},
        [
            (
                f"{T}.kubernetes.version",
                "Kubernetes 1.33 is not supported: gpu-caas needs 1.34 or later, "
                "where Dynamic Resource Allocation (DRA) is GA",
            )
        ],
    ),
    (
        "tenant-managed",
        {"kubernetes.version": 1.34},
        [(f"{T}.kubernetes.version", 'quote the version, e.g. version: "1.34.2"')],
    ),
    (
        "tenant-managed",
        {"kubernetes.version": "latest"},
        [
            (
                f"{T}.kubernetes.version",
                "'latest' is not a Kubernetes version; use MAJOR.MINOR[.PATCH], e.g. \"1.34.2\"",
            )
        ],
    ),
    (
        "tenant-managed",
        {"name": "Acme_Corp"},
        [
            (
                f"{T}.name",
                "'Acme_Corp' must be a DNS label: <= 63 lowercase alphanumerics or '-', starting "
                "and ending with an alphanumeric",
            )
        ],
    ),
    (
        "tenant-managed",
        {"flavor": "self-managed"},
        [
            (
                f"{T}.flavor",
                "got 'self-managed'; input should be 'ncp-managed', 'isv-managed' or "
                "'tenant-managed'",
            )
        ],
    ),
    ("tenant-managed", {"kubernetes": DELETE}, [(f"{T}.kubernetes", "is required")]),
    (
        "tenant-managed",
        {"controlPlane.replicas": 3},
        [
            (
                f"{T}.controlPlane.replicas",
                "unknown key; allowed keys: ha, size, backend, hosted, kubeadm, external",
            )
        ],
    ),
    (
        "tenant-managed",
        {"controlPlane.size": "huge"},
        [(f"{T}.controlPlane.size", "got 'huge'; input should be 'small', 'medium' or 'large'")],
    ),
    (
        "tenant-managed",
        {"hosts[1].ssh.privateKey": 42},
        [
            (
                f"{T}.hosts[1].ssh.privateKey",
                "expected a secret string (a `secure:` value); set it with `pulumi config set "
                f"--stack <stack> --secret --path '{T}.hosts[1].ssh.privateKey' < <private key "
                "file>`",
            )
        ],
    ),
    (
        "tenant-managed",
        {"hosts[1].ssh.privateKey": ""},
        [
            (
                f"{T}.hosts[1].ssh.privateKey",
                "the secret is empty; set it with `pulumi config set --stack <stack> --secret "
                f"--path '{T}.hosts[1].ssh.privateKey' < <private key file>`",
            )
        ],
    ),
    # A model outside the catalog needs its facts; the message names each missing one.
    (
        "tenant-managed",
        {"hosts[1].gpu.model": "V100"},
        [
            (
                f"{T}.hosts[1].gpu",
                "GPU model 'V100' is not in the catalog; to use it anyway, add productLabel "
                "(the nvidia.com/gpu.product its nodes report), memoryGb (memory per GPU), "
                "mig (true if the GPU supports MIG); catalog models: "
                + ", ".join(m.value for m in GpuModel),
            )
        ],
    ),
    # MIG profile invalid for the host's GPU model.
    (
        "tenant-managed",
        {"nodeGroups[1].sharing.mig.layout": {"1g.5gb": 7}},
        [
            (
                f"{T}.nodeGroups[1].sharing.mig.layout",
                "'1g.5gb' is not a MIG profile of H100-80GB; allowed: 1g.10gb, 1g.10gb+me, "
                "1g.20gb, 2g.20gb, "
                "3g.40gb, 4g.40gb, 7g.80gb",
            )
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[1].sharing.mig.layout": {"3g.40gb": 2, "1g.10gb": 1}},
        [
            (
                f"{T}.nodeGroups[1].sharing.mig.layout",
                "profiles 3g.40gb x2, 1g.10gb x1 do not fit the GPU's 8 memory slices (no valid "
                "placement, "
                "see `nvidia-smi mig -lgipp`)",
            )
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[1].sharing": {"mode": "mig"}},
        [(f"{T}.nodeGroups[1].sharing", "mode 'mig' needs `mig` settings")],
    ),
    (
        "tenant-managed",
        {"nodeGroups[1].sharing": {"mode": "exclusive", "timeSlicing": {"replicas": 2}}},
        [
            (
                f"{T}.nodeGroups[1].sharing",
                "`timeSlicing` settings only apply to mode 'time-slicing', not 'exclusive'",
            )
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[1].sharing": {"mode": "mps", "mps": {"replicas": 64}}},
        [
            (
                f"{T}.nodeGroups[1].sharing.mps.replicas",
                "got 64; input should be less than or equal to 48",
            )
        ],
    ),
    # A host listed in two node groups.
    (
        "tenant-managed",
        {"nodeGroups[1].hosts": ["gpu-1", "gpu-0"]},
        [
            (
                f"{T}.nodeGroups[1].hosts[1]",
                "host 'gpu-0' is already in node group 'train'; a host belongs to one node group",
            )
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[0].hosts": ["gpu-9"]},
        [
            # gpu-0, which 'gpu-9' looks like a typo of, is not also "in no node group".
            (
                f"{T}.nodeGroups[0].hosts[0]",
                "unknown host 'gpu-9'; did you mean 'gpu-0'? hosts in the inventory: cp-0, "
                "gpu-0, gpu-1",
            ),
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[0].hosts": ["cp-0", "gpu-0"]},
        [
            (
                f"{T}.nodeGroups[0].hosts[0]",
                "host 'cp-0' has role 'control-plane'; node groups take worker hosts only",
            )
        ],
    ),
    (
        "tenant-managed",
        {
            "nodeGroups[0].autoscale": {
                "maxNodes": 2,
                "nodeClass": {"group": "g", "kind": "k", "name": "n"},
            }
        },
        [(f"{T}.nodeGroups[0]", "set exactly one of `hosts` (a non-empty list) or `autoscale`")],
    ),
    # HA kubeadm control plane with fewer than three control-plane hosts.
    (
        "tenant-managed",
        {"controlPlane.ha": True},
        [
            (
                f"{T}.controlPlane.kubeadm.endpoint",
                "is required when ha: true: a stable host[:port] (VIP or load "
                "balancer DNS name) in front of the control-plane hosts",
            ),
            (
                f"{T}.hosts",
                "an HA control plane (controlPlane.ha: true) with backend 'kubeadm' needs an odd "
                "number >= 3 of hosts with role 'control-plane' (etcd quorum); found 1",
            ),
        ],
    ),
    (
        "tenant-managed",
        {"hosts[0].role": "worker", "nodeGroups[0].hosts": ["gpu-0", "cp-0"]},
        [
            (
                f"{T}.hosts",
                "a non-HA control plane with backend 'kubeadm' needs exactly 1 host with role "
                "'control-plane'; found 0 (set controlPlane.ha: true for 3)",
            ),
            (
                f"{T}.nodeGroups[0].hosts",
                "hosts have different GPU models (or some have none); a node group has one "
                "GPU model, split it into several groups",
            ),
        ],
    ),
    (
        "tenant-managed",
        {"controlPlane.kubeadm": {"endpoint": "https://api.acme.example"}},
        [
            (
                f"{T}.controlPlane.kubeadm.endpoint",
                "got 'https://api.acme.example'; give host[:port] without scheme or path, e.g. "
                "api.acme.example:6443",
            )
        ],
    ),
    (
        "tenant-managed",
        {"controlPlane.backend": "hosted"},
        [
            (
                f"{T}.controlPlane.backend",
                "backend 'hosted' is not available for flavor 'tenant-managed'; allowed: kubeadm",
            ),
            (
                f"{T}.controlPlane.hosted",
                "is required for backend 'hosted' (at least `managementKubeconfig`)",
            ),
            (
                f"{T}.hosts[0].role",
                "role 'control-plane' needs backend 'kubeadm'; backend 'hosted' runs the control "
                "plane elsewhere, use 'worker'",
            ),
        ],
    ),
    (
        "ncp-managed",
        {"controlPlane.hosted": DELETE},
        [
            (
                f"{T}.controlPlane.hosted",
                "is required for backend 'hosted' (at least `managementKubeconfig`)",
            )
        ],
    ),
    (
        "ncp-managed",
        {"controlPlane.kubeadm": {"endpoint": "api.example"}},
        [
            (
                f"{T}.controlPlane.kubeadm",
                "only applies to backend 'kubeadm', but the backend is 'hosted'; remove it",
            )
        ],
    ),
    (
        "ncp-managed",
        {"controlPlane.hosted.managementKubeconfig": DELETE},
        [
            (
                f"{T}.controlPlane.hosted.managementKubeconfig",
                "is required; set it with `pulumi config set --stack <stack> --secret --path "
                f"'{T}.controlPlane.hosted.managementKubeconfig' < <kubeconfig file>`",
            )
        ],
    ),
    (
        "isv-managed",
        {"controlPlane.external": {}},
        [(f"{T}.controlPlane.external", "set exactly one of `kubeconfig` or `stackReference`")],
    ),
    (
        "isv-managed",
        {"controlPlane.external": DELETE},
        [
            (
                f"{T}.controlPlane.external",
                "is required for backend 'external' (`kubeconfig` or `stackReference`)",
            )
        ],
    ),
    (
        "isv-managed",
        {
            "hosts": [
                {"name": "gpu-0", "address": "10.0.0.1", "ssh": {"user": "u", "privateKey": "k"}}
            ],
            "nodeGroups[0].autoscale": DELETE,
            "nodeGroups[0].hosts": ["gpu-0"],
            "nodeGroups[0].sharing": DELETE,
        },
        [
            (
                f"{T}.nodeGroups[0].hosts",
                "cannot join hosts to an ISV-managed (external) cluster: the ISV platform owns "
                "its nodes; use `autoscale` or drop the node group",
            )
        ],
    ),
    (
        "isv-managed",
        {"nodeGroups[0].autoscale.minNodes": 9},
        [(f"{T}.nodeGroups[0].autoscale", "minNodes (9) must be <= maxNodes (8)")],
    ),
    (
        "isv-managed",
        {"nodeGroups[0].autoscale.gpu": DELETE},
        [
            (
                f"{T}.nodeGroups[0].autoscale.gpu",
                "autoscaled node groups are GPU NodePools capped in nvidia.com/gpu: give the GPU "
                "model and count per node (CPU capacity: use inventory hosts)",
            ),
            (
                f"{T}.nodeGroups[0].sharing.mode",
                "mode 'time-slicing' needs GPUs, but the node group has none",
            ),
        ],
    ),
    (
        "tenant-managed",
        {"kubernetes.version": "1.36.1"},
        [
            (
                f"{T}.kubernetes.version",
                "Kubernetes 1.36.1 is newer than 1.35, the newest minor Kyverno v1.19.0 "
                "supports: Kyverno v1.19.0 supports 1.33-1.35 ("
                + KYVERNO_K8S_SOURCE
                + "); use Kubernetes 1.34.0 to 1.35.x",
            )
        ],
    ),
    (
        "tenant-managed",
        {"isolation.imageVerification.publicKey": DELETE},
        [
            (
                f"{T}.isolation.imageVerification.publicKey",
                "set NVIDIA's cosign public key (PEM) to verify NVIDIA images, or set "
                "isolation.imageVerification.enabled: false to run them unverified",
            )
        ],
    ),
    (
        "ncp-managed",
        {"services": DELETE},
        [
            (
                f"{T}.services.autoscaling.enabled",
                "node group burst is autoscaled, which needs Karpenter: set "
                "autoscaling.enabled: true (or give the group inventory hosts)",
            )
        ],
    ),
    (
        "tenant-managed",
        {
            "hosts[2].gpu.model": "A100-80GB",
            "nodeGroups[1].hosts": ["gpu-1"],
            "nodeGroups[0].hosts": ["gpu-0", "gpu-1"],
            "nodeGroups": [{"name": "all", "hosts": ["gpu-0", "gpu-1"]}],
        },
        [
            (
                f"{T}.nodeGroups[0].hosts",
                "hosts have different GPU models (or some have none); a node group has one "
                "GPU model, split it into several groups",
            )
        ],
    ),
    (
        "tenant-managed",
        {"hosts[2].name": "gpu-0", "nodeGroups[1].hosts": ["gpu-0"]},
        [
            (f"{T}.hosts[2].name", "'gpu-0' is already used by hosts[1]; names must be unique"),
            (
                f"{T}.nodeGroups[1].hosts[0]",
                "host 'gpu-0' is already in node group 'train'; a host belongs to one node group",
            ),
        ],
    ),
    (
        "tenant-managed",
        {"hosts[2].address": "10.0.1.10"},
        [
            (
                f"{T}.hosts[2].address",
                "'10.0.1.10' is already used by hosts[1]; addresses must be unique",
            )
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[1].name": "train"},
        [
            (
                f"{T}.nodeGroups[1].name",
                "'train' is already used by nodeGroups[0]; names must be unique",
            )
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[0].labels": {"nvidia.com/gpu.product": "fake"}},
        [
            (
                f'{T}.nodeGroups[0].labels["nvidia.com/gpu.product"]',
                "is set by the platform and cannot be overridden; reserved: gpu-caas.io/dpu, "
                "gpu-caas.io/node-group, "
                "gpu-caas.io/nvlink-domain, gpu-caas.io/rack, "
                "gpu-caas.io/tenant, "
                "nvidia.com/device-plugin.config, nvidia.com/gpu.clique, nvidia.com/gpu.product, "
                "nvidia.com/mig.config, rail.gpu-caas.io/*",
            )
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[0].labels": {"rail.gpu-caas.io/rail-0": "true"}},
        [
            (
                f'{T}.nodeGroups[0].labels["rail.gpu-caas.io/rail-0"]',
                "is set by the platform and cannot be overridden; reserved: gpu-caas.io/dpu, "
                "gpu-caas.io/node-group, "
                "gpu-caas.io/nvlink-domain, gpu-caas.io/rack, "
                "gpu-caas.io/tenant, "
                "nvidia.com/device-plugin.config, nvidia.com/gpu.clique, nvidia.com/gpu.product, "
                "nvidia.com/mig.config, rail.gpu-caas.io/*",
            )
        ],
    ),
    # Rails: the old single-rail key, invalid and repeated rail ids, unknown rails.
    (
        "tenant-managed",
        {"hosts[1].topology": {"rack": "r1", "rail": "rail-0"}},
        [
            (
                f"{T}.hosts[1].topology",
                "`rail` was replaced by `rails`, a list: a host has one NIC per rail, and on "
                "rail-optimized fabrics every GPU host is on every rail. Write "
                "`rails: [rail-0]`, or leave `rails` out to put a GPU host on every rail of "
                "gpu.network.rails",
            )
        ],
    ),
    (
        "tenant-managed",
        {"hosts[1].topology.rails": ["rail-0", "rail/1", "", "r" * 64]},
        [
            (
                f"{T}.hosts[1].topology.rails[{index}]",
                f"{shown}must be a label name: 1-63 characters, alphanumerics, '-', '_' or '.', "
                "starting and ending with an alphanumeric",
            )
            # Values longer than 60 characters are not echoed.
            for index, shown in ((1, "'rail/1' "), (2, "'' "), (3, ""))
        ],
    ),
    (
        "tenant-managed",
        {"hosts[1].topology.rails": ["rail-0", "rail-1", "rail-0"]},
        [(f"{T}.hosts[1].topology.rails", "rails must be unique; repeated: rail-0")],
    ),
    (
        "tenant-managed",
        {"gpu": {"network": {"enabled": True, "rails": [{"rail": "-0"}]}}},
        [
            (
                f"{T}.gpu.network.rails[0].rail",
                "'-0' must be a label name: 1-63 characters, alphanumerics, '-', '_' or '.', "
                "starting and ending with an alphanumeric",
            ),
            (f"{T}.gpu.network.rails[0].interfaces", "is required"),
            (f"{T}.gpu.network.rails[0].ipam", "is required"),
        ],
    ),
    (
        "tenant-managed",
        {
            "gpu": {"network": {"enabled": True, "rails": [RAIL_0]}},
            "hosts[1].topology.rails": ["rail-0", "rail-9"],
        },
        [
            (
                f"{T}.hosts[1].topology.rails[1]",
                "rail rail-9 has no network in gpu.network.rails (configured: rail-0); did you "
                "mean rail-0? add one for it or remove the rail from the host",
            )
        ],
    ),
    (
        "tenant-managed",
        {
            "gpu": {"network": {"enabled": True, "rails": [RAIL_0, RAIL_1]}},
            "hosts[1].topology.rails": ["rail-0"],
            "hosts[2].topology": {"rails": []},
        },
        [
            (
                f"{T}.gpu.network.rails[1].rail",
                "no host is on rail rail-1; add it to hosts[].topology.rails of the hosts "
                "cabled to it (GPU hosts without topology.rails are on every rail). Rails hosts "
                "are on: rail-0",
            )
        ],
    ),
    (
        "tenant-managed",
        {"services": {"scheduler": {"topologyLevels": ["rail", "hostname"]}}},
        [
            (
                f"{T}.services.scheduler.topologyLevels",
                "there is no rail level: topology levels nest (each node in one domain per "
                "level), but on rail-optimized fabrics every GPU host is on every rail. Remove "
                "`rail`; rail networks select nodes by their rail.gpu-caas.io/<rail> labels",
            )
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[0].labels": {"bad key!": "x"}},
        [
            (
                f"{T}.nodeGroups[0].labels",
                "'bad key!' is not a valid key: use [dns-prefix/]name, name <= 63 characters",
            )
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[0].taints": [{"key": "a", "effect": "NoSchedule"}, {"key": "a"}]},
        [
            (
                f"{T}.nodeGroups[0].taints[0]",
                "taint 'a' with effect 'NoSchedule' is listed more than once",
            )
        ],
    ),
    (
        "tenant-managed",
        {"nodeGroups[0].taints": [{"key": "a", "effect": "Never"}]},
        [
            (
                f"{T}.nodeGroups[0].taints[0].effect",
                "got 'Never'; input should be 'NoSchedule', 'PreferNoSchedule' or 'NoExecute'",
            )
        ],
    ),
    # GB200 needs its NVLink domain; other models may not have one.
    (
        "tenant-managed",
        {"hosts[1].gpu": {"model": "GB200-186GB", "count": 4}},
        [
            (
                f"{T}.hosts[1].topology.nvlinkDomain",
                "is required for GB200-186GB hosts: their GPUs share an NVLink "
                "domain across nodes (e.g. the NVL72 rack); ComputeDomains and IMEX schedule by it",
            )
        ],
    ),
    (
        "tenant-managed",
        {"hosts[1].topology.nvlinkDomain": "nvl72-a"},
        [
            (
                f"{T}.hosts[1].topology.nvlinkDomain",
                "only applies to hosts with multi-node NVLink GPUs (GB200-186GB, GB300-278GB); "
                "remove it",
            )
        ],
    ),
    (
        "tenant-managed",
        {"hosts[1].topology.rack": "rack 1"},
        [
            (
                f"{T}.hosts[1].topology.rack",
                "'rack 1' must be a label value: <= 63 characters, alphanumerics, '-', '_' or '.', "
                "starting and ending with an alphanumeric",
            )
        ],
    ),
    (
        "tenant-managed",
        {
            "teams": [
                {"name": "a", "namespaces": ["shared"]},
                {"name": "b", "namespaces": ["shared"]},
            ]
        },
        [
            (
                f"{T}.teams[1].namespaces",
                "namespace 'shared' already belongs to team 'a'; a namespace has one team",
            )
        ],
    ),
    (
        "tenant-managed",
        {"teams[0].gpuQuota": -1},
        [(f"{T}.teams[0].gpuQuota", "got -1; input should be greater than or equal to 0")],
    ),
    (
        "tenant-managed",
        {"mirrors": {"imageRegistries": {"https://nvcr.io": "mirror"}}},
        [
            (
                f"{T}.mirrors.imageRegistries",
                "'https://nvcr.io' is not a registry; use host[:port][/path] without a scheme",
            )
        ],
    ),
    (
        "tenant-managed",
        {"mirrors": {"chartRepositories": {"helm.ngc.nvidia.com": "https://m"}}},
        [
            (
                f"{T}.mirrors.chartRepositories",
                "'helm.ngc.nvidia.com' is not a chart repository URL; use https://... or oci://...",
            )
        ],
    ),
]


@pytest.mark.parametrize(("flavor", "changes", "expected"), BAD)
def test_bad_configs_name_the_key_path(
    flavor: str, changes: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert problems(flavor, changes) == expected


# A reference that does not resolve is reported once, where it is written (with "did you
# mean"); rules that depend on what it names add nothing (issue 11: "an unknown host also
# yields a knock-on 'mode 'mig' needs GPUs' error").
KNOCK_ON = [
    (
        "tenant-managed",
        {"nodeGroups[1].hosts": ["gpu-9"]},
        [
            (
                f"{T}.nodeGroups[1].hosts[0]",
                "unknown host 'gpu-9'; did you mean 'gpu-1'? hosts in the inventory: cp-0, "
                "gpu-0, gpu-1",
            )
        ],
    ),
    # A control-plane host is no GPU worker: its group's GPUs are unknown, not "none".
    (
        "tenant-managed",
        {"nodeGroups[1].hosts": ["cp-0"]},
        [
            (
                f"{T}.hosts[2].name",
                "worker host 'gpu-1' is in no node group; list it in nodeGroups[].hosts",
            ),
            (
                f"{T}.nodeGroups[1].hosts[0]",
                "host 'cp-0' has role 'control-plane'; node groups take worker hosts only",
            ),
        ],
    ),
    # Hosts on an ISV cluster: the sharing mode is not also "needs GPUs".
    (
        "isv-managed",
        {
            "hosts": [
                {"name": "gpu-0", "address": "10.0.0.1", "ssh": {"user": "u", "privateKey": "k"}}
            ],
            "nodeGroups[0].autoscale": DELETE,
            "nodeGroups[0].hosts": ["gpu-0"],
        },
        [
            (
                f"{T}.nodeGroups[0].hosts",
                "cannot join hosts to an ISV-managed (external) cluster: the ISV platform owns "
                "its nodes; use `autoscale` or drop the node group",
            )
        ],
    ),
    # A typo of a rail id: the rail the host meant is not also "unused".
    (
        "tenant-managed",
        {
            "gpu": {"network": {"enabled": True, "rails": [RAIL_0, RAIL_1]}},
            "hosts[1].topology.rails": ["rail-0", "rial-1"],
            "hosts[2].topology": {"rails": ["rail-0"]},
        },
        [
            (
                f"{T}.hosts[1].topology.rails[1]",
                "rail rial-1 has no network in gpu.network.rails (configured: rail-0, rail-1); "
                "did you mean rail-1? add one for it or remove the rail from the host",
            )
        ],
    ),
]


@pytest.mark.parametrize(("flavor", "changes", "expected"), KNOCK_ON)
def test_unresolved_references_are_reported_once(
    flavor: str, changes: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    assert problems(flavor, changes) == expected


def test_compute_domain_on_a_group_with_unknown_hosts_is_not_called_cpu_only() -> None:
    document = yaml.safe_load((ROOT / "Pulumi.gb200-baremetal.yaml").read_text())
    tenant = document["config"][T]
    group = tenant["nodeGroups"][0]
    group["hosts"] = [name.replace("gb200", "gb2OO") for name in group["hosts"]]
    with pytest.raises(ConfigError) as error:
        parse_tenant(tenant)
    found = [(p.path, p.message) for p in error.value.problems]
    assert [path for path, _ in found] == [f"{T}.nodeGroups[0].hosts[{i}]" for i in range(6)]
    assert found[0][1].startswith("unknown host 'gb2OO-a-00'; did you mean 'gb200-a-00'?")


def test_misspelt_compute_domain_node_group_suggests_the_name() -> None:
    document = yaml.safe_load((ROOT / "Pulumi.gb200-baremetal.yaml").read_text())
    tenant = document["config"][T]
    tenant["gpu"]["dra"]["domains"][0]["nodeGroup"] = "nvl27"
    with pytest.raises(ConfigError) as error:
        parse_tenant(tenant)
    assert [(p.path, p.message) for p in error.value.problems] == [
        (
            f"{T}.gpu.dra.domains[0].nodeGroup",
            "no node group named 'nvl27'; did you mean 'nvl72'? node groups: nvl72",
        )
    ]


# Bad values are shown where the key cannot hold a secret; secrets never are.
SHOWN = [
    ({"hosts[1].gpu.count": "eight"}, f"{T}.hosts[1].gpu.count", "'eight' is not an integer"),
    ({"hosts[1].gpu.count": 2.5}, f"{T}.hosts[1].gpu.count", "2.5 is not an integer"),
    (
        {"controlPlane.ha": "maybe"},
        f"{T}.controlPlane.ha",
        "'maybe' is not a boolean; use true or false",
    ),
    ({"hosts[1].ssh.user": 7}, f"{T}.hosts[1].ssh.user", "7 is not a string; quote it"),
    (
        {"hosts[1].ssh.port": 0},
        f"{T}.hosts[1].ssh.port",
        "got 0; input should be greater than or equal to 1",
    ),
    # The messages of the rules below already name the value: not repeated.
    (
        {"kubernetes.version": "latest"},
        f"{T}.kubernetes.version",
        "'latest' is not a Kubernetes version; use MAJOR.MINOR[.PATCH], e.g. \"1.34.2\"",
    ),
    # Long values (certificates, kubeconfigs) are never echoed.
    (
        {"hosts[1].topology.rack": "r" * 64},
        f"{T}.hosts[1].topology.rack",
        "must be a label value: <= 63 characters, alphanumerics, '-', '_' or '.', starting and "
        "ending with an alphanumeric",
    ),
]


@pytest.mark.parametrize(("changes", "path", "message"), SHOWN)
def test_bad_values_are_shown(changes: dict[str, Any], path: str, message: str) -> None:
    assert problems("tenant-managed", changes) == [(path, message)]


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"hosts[1].ssh.privateKey": 42}, f"{T}.hosts[1].ssh.privateKey"),
        ({"hosts[1].ssh.privateKey": True}, f"{T}.hosts[1].ssh.privateKey"),
        # A model that holds a secret, given as a string: the string may be the secret.
        ({"hosts[1].ssh": "SAMPLE-PRIVATE-KEY"}, f"{T}.hosts[1].ssh"),
        # An unknown key's value is never shown (it may be a misspelt secret key).
        ({"hosts[1].ssh.privatekey": "SAMPLE-PRIVATE-KEY"}, f"{T}.hosts[1].ssh.privatekey"),
    ],
)
def test_secret_values_are_never_shown(changes: dict[str, Any], path: str) -> None:
    found = problems("tenant-managed", changes)
    assert path in [p for p, _ in found]
    for _, message in found:
        assert "SAMPLE-PRIVATE-KEY" not in message
        assert "42" not in message and "true" not in message


@pytest.mark.parametrize(
    ("changes", "path", "message"),
    [
        (
            {"nodeGroupz": []},
            f"{T}.nodeGroupz",
            "unknown key; did you mean `nodeGroups`? (allowed keys: name, displayName, flavor, "
            "kubernetes, controlPlane, hosts, inventory, sshKeys, nodeGroups, mirrors, teams, "
            "gpu, services, isolation, systemCapacity)",
        ),
        (
            {"hosts[1].adress": "10.0.0.9"},
            f"{T}.hosts[1].adress",
            "unknown key; did you mean `address`? (allowed keys: name, address, ssh, role, gpu, "
            "dpu, topology, nodeGroup, state, replaces, allowFaultDomainChange)",
        ),
    ],
)
def test_unknown_keys_suggest_the_closest_key(
    changes: dict[str, Any], path: str, message: str
) -> None:
    assert problems("tenant-managed", changes) == [(path, message)]


def test_counts_and_lists_are_in_the_right_number() -> None:
    data = sample("isv-managed")
    data["services"] = {}
    data["nodeGroups"].append({**data["nodeGroups"][0], "name": "serve2"})
    assert problems_of(data) == [
        (
            f"{T}.services.autoscaling.enabled",
            "node groups serve, serve2 are autoscaled, which needs Karpenter: set "
            "autoscaling.enabled: true (or give the groups inventory hosts)",
        )
    ]
    one_gpu = sample("tenant-managed")
    one_gpu["hosts"][1]["gpu"]["count"] = 1
    del one_gpu["hosts"][2]
    one_gpu["nodeGroups"] = [{"name": "train", "hosts": ["gpu-0"]}]
    one_gpu["teams"][0]["gpuQuota"] = 2
    found = [w.message for w in warnings(parse_tenant(one_gpu))]
    assert any("the node groups hold at most 1 GPU; not every" in m for m in found), found


def problems_of(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as error:
        parse_tenant(data)
    return [(p.path, p.message) for p in error.value.problems]


def test_all_problems_are_reported_at_once() -> None:
    found = problems(
        "tenant-managed",
        {"kubernetes.version": "1.30", "name": "BAD", "hosts[1].ssh.port": 0, "mirrors": {"x": 1}},
    )
    assert [path for path, _ in found] == [
        f"{T}.name",
        f"{T}.kubernetes.version",
        f"{T}.hosts[1].ssh.port",
        f"{T}.mirrors.x",
    ]


@pytest.mark.parametrize("flavor", ["tenant-managed", "ncp-managed", "isv-managed"])
def test_messages_never_contain_secret_values(flavor: str) -> None:
    data = sample(flavor)
    data["unknown"] = {"value": "SAMPLE-PRIVATE-KEY"}
    data["kubernetes"]["version"] = "SAMPLE-ISV-TOKEN"
    for host in data.get("hosts", []):
        host["ssh"]["privateKey"] = {"not": "SAMPLE-PRIVATE-KEY"}
    with pytest.raises(ConfigError) as error:
        parse_tenant(data)
    text = str(error.value)
    assert "SAMPLE-PRIVATE-KEY" not in text
    assert error.value.lines() == text.splitlines()


def test_secret_values_never_reach_a_dump() -> None:
    config = parse_tenant(sample("ncp-managed"))
    dumped = json.dumps(config.model_dump(mode="json", by_alias=True))
    for secret in SECRETS:
        assert secret not in dumped
    assert secret not in repr(config)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (None, "is not set; see docs/quickstart.md"),
        ("[1, 2]", "must be a mapping of tenant settings"),
        ("{not json", "is not a structured value (a mapping)"),
    ],
)
def test_raw_value_shapes(raw: Any, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_tenant(raw)
    assert error.value.lines() == [f"{T}: {message}"]


def test_engine_json_is_accepted() -> None:
    config = parse_tenant(json.dumps(sample("tenant-managed")))
    assert config.kubernetes.version == "1.34.2"


def test_derived_values() -> None:
    ncp = parse_tenant(sample("ncp-managed"))
    assert ncp.kubernetes.version == "1.34.0"
    assert ncp.backend is ControlPlaneBackend.HOSTED
    assert ncp.hosted_namespace == "tenant-acme"
    assert [g.name for g in ncp.autoscaled_node_groups] == ["burst"]
    assert [g.name for g in ncp.host_node_groups] == ["system", "train"]
    tenant = parse_tenant(sample("tenant-managed"))
    assert tenant.backend is ControlPlaneBackend.KUBEADM
    assert [h.name for h in tenant.control_plane_hosts] == ["cp-0"]
    assert tenant.node_groups[1].sharing.mode is SharingMode.MIG
    assert tenant.teams[0].effective_namespaces == ["ml"]
    assert parse_tenant(sample("isv-managed")).backend is ControlPlaneBackend.EXTERNAL
    assert isinstance(tenant, TenantConfig)


@pytest.mark.parametrize("address", ["ssh://root@10.0.1.10", "10.0.1.10/24", "gpu 0", ""])
def test_host_address_is_an_ip_or_dns_name(address: str) -> None:
    assert problems("tenant-managed", {"hosts[1].address": address}) == [
        (
            f"{T}.hosts[1].address",
            f"{address!r} must be an IP address or DNS name, without scheme, user, port or path",
        )
    ]


@pytest.mark.parametrize("address", ["10.0.1.99", "gpu-0.rack1.example", "[fd00::10]", "fd00::10"])
def test_host_address_accepts_ips_and_names(address: str) -> None:
    data = sample("tenant-managed")
    data["hosts"][1]["address"] = address
    assert parse_tenant(data).hosts[1].address == address
