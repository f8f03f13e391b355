"""Storage: the NFS CSI driver (when chosen) and the two platform StorageClasses.

* `shared-datasets`: ReadWriteMany volumes for datasets and checkpoints, from
  csi-driver-nfs (https://github.com/kubernetes-csi/csi-driver-nfs, one subdirectory
  of the provider's export per volume) or from an existing CSI driver (a parallel file
  system). `Retain` by default: a deleted claim must not delete a dataset.
* `local-scratch`: node-local volumes (NVMe) from a node-local provisioner, bound with
  `WaitForFirstConsumer` so the volume is created on the node the scheduler picked
  (https://kubernetes.io/docs/concepts/storage/storage-classes/#volume-binding-mode).

csi-driver-nfs values keys are checked in tests against a documented list from the
chart's values.yaml (not in ../shared/crds; see documented_values.py).
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
from components.naming import LABEL_TENANT
from components.placement import apply_tolerations, parse_tolerations
from components.services._common import child_opts
from components.versions import CSI_DRIVER_NFS

TYPE = "gpu-caas:services:Storage"
SHARED_DATASETS = "shared-datasets"
LOCAL_SCRATCH = "local-scratch"
NFS_PROVISIONER = "nfs.csi.k8s.io"
"""`driver.name` of csi-driver-nfs."""
NFS_NAMESPACE = "kube-system"
"""csi-driver-nfs installs into kube-system (upstream install docs); its node plugin
is privileged, which kube-system already allows."""
_DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
_SIDECARS = {
    # values.yaml key -> upstream repository (csi-driver-nfs chart values).
    "csiProvisioner": "registry.k8s.io/sig-storage/csi-provisioner",
    "csiResizer": "registry.k8s.io/sig-storage/csi-resizer",
    "csiSnapshotter": "registry.k8s.io/sig-storage/csi-snapshotter",
    "livenessProbe": "registry.k8s.io/sig-storage/livenessprobe",
    "nodeDriverRegistrar": "registry.k8s.io/sig-storage/csi-node-driver-registrar",
    "externalSnapshotter": "registry.k8s.io/sig-storage/snapshot-controller",
}
_NFS_PLUGIN = "registry.k8s.io/sig-storage/nfsplugin"


@dataclass(frozen=True)
class NfsExport:
    """The provider's NFS export."""

    server: str
    share: str
    mount_options: tuple[str, ...] = ("nfsvers=4.1", "hard", "nconnect=8")


@dataclass(frozen=True)
class StorageClassSpec:
    """A StorageClass to create (everything except its name)."""

    provisioner: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    reclaim_policy: str = "Delete"
    volume_binding_mode: str = "Immediate"
    mount_options: tuple[str, ...] = ()
    allow_volume_expansion: bool = False
    default_class: bool = False


@dataclass(frozen=True)
class StorageArgs:
    """Inputs of `Storage`."""

    provider: k8s.Provider
    mirrors: Mirrors
    tenant: str
    nfs: NfsExport | None = None
    """Install csi-driver-nfs and back `shared-datasets` with this export."""
    shared_datasets: StorageClassSpec | None = None
    """`shared-datasets` from an existing driver (ignored when `nfs` is set)."""
    shared_reclaim_policy: str = "Retain"
    shared_default_class: bool = False
    local_scratch: StorageClassSpec | None = None
    depends_on: tuple[pulumi.Resource, ...] = ()
    """Resources the Helm release waits for (the CNI: `ClusterHandle.network_ready`)."""
    tolerations: tuple[dict[str, str], ...] = ()
    """The tenant's system tolerations (`stacks.config.placement.system_tolerations`),
    added per workload to the chart's own at its values key (`components.workloads`)."""


# --------------------------------------------------------------------------- #
# Pure rendering
# --------------------------------------------------------------------------- #


def render_nfs_values(
    mirrors: Mirrors, tolerations: Sequence[Mapping[str, str]] = ()
) -> dict[str, Any]:
    """Values of the csi-driver-nfs chart: HA controller, mirrored images; the controller
    gets `tolerations` (the tenant's system tolerations) after the chart's own."""
    image: dict[str, Any] = {"nfs": {"repository": mirrors.image_registry(_NFS_PLUGIN)}}
    for key, repository in _SIDECARS.items():
        image[key] = {"repository": mirrors.image_registry(repository)}
    values: dict[str, Any] = {
        "image": image,
        # Two controller replicas: provisioning must survive a node drain. The chart's
        # default strategy (Recreate) is kept; leader election picks the active one.
        "controller": {"replicas": 2},
        # The VolumeSnapshot controller is cluster infrastructure the provider may
        # already run; installing a second one would fight over the CRDs.
        "externalSnapshotter": {"enabled": False},
    }
    return apply_tolerations(values, wl.CSI_NFS, parse_tolerations(tolerations))


def nfs_images() -> list[str]:
    """Upstream image of the NFS plugin at the chart's app version (sidecar tags are
    set by the chart and listed by `helm template`)."""
    return [f"{_NFS_PLUGIN}:{CSI_DRIVER_NFS.version}"]


def nfs_storage_class(
    export: NfsExport, *, reclaim_policy: str, default_class: bool
) -> StorageClassSpec:
    """`shared-datasets` on csi-driver-nfs: one subdirectory per volume."""
    return StorageClassSpec(
        provisioner=NFS_PROVISIONER,
        parameters={
            "server": export.server,
            "share": export.share,
            # Readable layout on the export: <namespace>/<claim>, not a random PV name.
            "subDir": "${pvc.metadata.namespace}/${pvc.metadata.name}",
        },
        reclaim_policy=reclaim_policy,
        volume_binding_mode="Immediate",
        mount_options=export.mount_options,
        default_class=default_class,
    )


def render_storage_class(name: str, spec: StorageClassSpec, tenant: str) -> dict[str, Any]:
    """A StorageClass manifest (storage.k8s.io/v1) as a plain dict (pure; tested)."""
    annotations = {_DEFAULT_CLASS_ANNOTATION: "true"} if spec.default_class else {}
    manifest: dict[str, Any] = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "labels": {LABEL_TENANT: tenant}},
        "provisioner": spec.provisioner,
        "reclaimPolicy": spec.reclaim_policy,
        "volumeBindingMode": spec.volume_binding_mode,
        "allowVolumeExpansion": spec.allow_volume_expansion,
    }
    if annotations:
        manifest["metadata"]["annotations"] = annotations
    if spec.parameters:
        manifest["parameters"] = dict(spec.parameters)
    if spec.mount_options:
        manifest["mountOptions"] = list(spec.mount_options)
    return manifest


def render_storage_classes(args: StorageArgs) -> dict[str, dict[str, Any]]:
    """StorageClass name -> manifest for `args` (pure).

    Raises:
        ValueError: when `local-scratch` is not bound at first consumer.
    """
    classes: dict[str, dict[str, Any]] = {}
    shared: StorageClassSpec | None
    if args.nfs is not None:
        shared = nfs_storage_class(
            args.nfs,
            reclaim_policy=args.shared_reclaim_policy,
            default_class=args.shared_default_class,
        )
    else:
        shared = args.shared_datasets
    if shared is not None:
        classes[SHARED_DATASETS] = render_storage_class(SHARED_DATASETS, shared, args.tenant)
    if args.local_scratch is not None:
        if args.local_scratch.volume_binding_mode != "WaitForFirstConsumer":
            # Immediate binding would create the volume on a random node and then pin
            # the pod there, defeating the scheduler (and GPU placement).
            raise ValueError("local-scratch must use volumeBindingMode WaitForFirstConsumer")
        classes[LOCAL_SCRATCH] = render_storage_class(
            LOCAL_SCRATCH, args.local_scratch, args.tenant
        )
    return classes


def local_scratch_class(provisioner: str, parameters: Mapping[str, str]) -> StorageClassSpec:
    """`local-scratch`: node-local, bound where the pod lands, deleted with the claim."""
    return StorageClassSpec(
        provisioner=provisioner,
        parameters=dict(parameters),
        reclaim_policy="Delete",
        volume_binding_mode="WaitForFirstConsumer",
        # Scratch is disposable; TopoLVM and most LVM/NVMe drivers can grow volumes.
        allow_volume_expansion=provisioner != "rancher.io/local-path",
    )


# --------------------------------------------------------------------------- #
# Component
# --------------------------------------------------------------------------- #


class Storage(pulumi.ComponentResource):
    """CSI driver release (NFS) and the platform StorageClasses."""

    storage_classes: list[str]
    """Names of the StorageClasses created."""

    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TYPE, name, None, opts)
        classes = render_storage_classes(args)
        driver: pulumi.Resource | None = None
        if args.nfs is not None:
            driver = helm_release(
                f"{name}-nfs",
                CSI_DRIVER_NFS.helm,
                render_nfs_values(args.mirrors, args.tolerations),
                NFS_NAMESPACE,
                args.mirrors,
                child_opts(self, args.provider, *args.depends_on),
                images=nfs_images(),
            )
        for class_name, manifest in classes.items():
            k8s.storage.v1.StorageClass(
                f"{name}-{class_name}",
                metadata=manifest["metadata"],
                provisioner=manifest["provisioner"],
                parameters=manifest.get("parameters"),
                reclaim_policy=manifest["reclaimPolicy"],
                volume_binding_mode=manifest["volumeBindingMode"],
                allow_volume_expansion=manifest["allowVolumeExpansion"],
                mount_options=manifest.get("mountOptions"),
                opts=child_opts(self, args.provider, *([driver] if driver else [])),
            )
        self.storage_classes = list(classes)
        self.register_outputs({"storageClasses": self.storage_classes})
