"""Storage: csi-driver-nfs values and the two platform StorageClasses."""

from __future__ import annotations

from typing import Any

import pytest

from components.mirrors import Mirrors
from components.services import csi
from tests.components.services.conftest import assert_component_children, run, tenant_provider
from tests.components.services.documented_values import CSI_NFS_KEYS, assert_keys_documented

EXPORT = csi.NfsExport(server="nfs.ncp.internal", share="/exports/acme")


def args(**overrides: Any) -> csi.StorageArgs:
    base = {"provider": None, "mirrors": Mirrors(), "tenant": "acme"}
    return csi.StorageArgs(**{**base, **overrides})


class TestNfsValues:
    @pytest.mark.parametrize(
        "mirrors", [Mirrors(), Mirrors(image_registries={"registry.k8s.io": "mirror.ncp/k8s"})]
    )
    def test_keys_documented(self, mirrors):
        assert_keys_documented(csi.render_nfs_values(mirrors), CSI_NFS_KEYS)

    def test_images_follow_mirror(self):
        values = csi.render_nfs_values(Mirrors(image_registries={"registry.k8s.io": "m.ncp/k8s"}))
        assert values["image"]["nfs"]["repository"] == "m.ncp/k8s/sig-storage/nfsplugin"
        assert (
            values["image"]["csiProvisioner"]["repository"]
            == "m.ncp/k8s/sig-storage/csi-provisioner"
        )

    def test_does_not_install_a_second_snapshot_controller(self):
        assert csi.render_nfs_values(Mirrors())["externalSnapshotter"]["enabled"] is False


class TestStorageClasses:
    def test_shared_datasets_on_nfs(self):
        classes = csi.render_storage_classes(args(nfs=EXPORT))
        shared = classes[csi.SHARED_DATASETS]
        assert shared["provisioner"] == "nfs.csi.k8s.io"
        assert shared["reclaimPolicy"] == "Retain"
        assert shared["volumeBindingMode"] == "Immediate"
        assert shared["parameters"] == {
            "server": "nfs.ncp.internal",
            "share": "/exports/acme",
            "subDir": "${pvc.metadata.namespace}/${pvc.metadata.name}",
        }
        assert shared["mountOptions"] == ["nfsvers=4.1", "hard", "nconnect=8"]
        assert "annotations" not in shared["metadata"]

    def test_shared_datasets_on_an_existing_driver(self):
        spec = csi.StorageClassSpec("csi.weka.io", {"filesystemName": "default"}, "Retain")
        classes = csi.render_storage_classes(args(shared_datasets=spec, shared_default_class=True))
        shared = classes[csi.SHARED_DATASETS]
        assert shared["provisioner"] == "csi.weka.io"
        assert shared["parameters"] == {"filesystemName": "default"}

    def test_default_class_annotation(self):
        shared = csi.render_storage_classes(args(nfs=EXPORT, shared_default_class=True))
        metadata = shared[csi.SHARED_DATASETS]["metadata"]
        assert metadata["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}

    @pytest.mark.parametrize(
        ("provisioner", "expandable"), [("rancher.io/local-path", False), ("topolvm.io", True)]
    )
    def test_local_scratch_binds_at_first_consumer(self, provisioner, expandable):
        local = csi.local_scratch_class(provisioner, {})
        scratch = csi.render_storage_classes(args(local_scratch=local))[csi.LOCAL_SCRATCH]
        assert scratch["volumeBindingMode"] == "WaitForFirstConsumer"
        assert scratch["reclaimPolicy"] == "Delete"
        assert scratch["allowVolumeExpansion"] is expandable
        assert csi.SHARED_DATASETS not in csi.render_storage_classes(args(local_scratch=local))

    def test_rejects_immediate_scratch(self):
        bad = csi.StorageClassSpec("topolvm.io", volume_binding_mode="Immediate")
        with pytest.raises(ValueError, match="WaitForFirstConsumer"):
            csi.render_storage_classes(args(local_scratch=bad))


class TestComponent:
    def test_nfs_driver_and_classes(self, mocks):
        def build():
            return csi.Storage(
                "acme-storage",
                args(
                    provider=tenant_provider(),
                    nfs=EXPORT,
                    local_scratch=csi.local_scratch_class("topolvm.io", {}),
                ),
            ).urn

        run(mocks, build)
        children = assert_component_children(mocks, csi.TYPE, "acme-storage")
        assert {c.name for c in children} == {
            "acme-storage-nfs",
            "acme-storage-shared-datasets",
            "acme-storage-local-scratch",
        }
        release = mocks.named("acme-storage-nfs")
        assert release.inputs["namespace"] == "kube-system"
        assert release.inputs["chart"] == "csi-driver-nfs"
        scratch = mocks.named("acme-storage-local-scratch")
        assert scratch.inputs["metadata"]["name"] == "local-scratch"
        assert scratch.inputs["volumeBindingMode"] == "WaitForFirstConsumer"

    def test_external_driver_needs_no_release(self, mocks):
        spec = csi.StorageClassSpec("csi.weka.io", reclaim_policy="Retain")
        run(
            mocks,
            lambda: (
                csi.Storage(
                    "acme-storage", args(provider=tenant_provider(), shared_datasets=spec)
                ).urn
            ),
        )
        children = assert_component_children(mocks, csi.TYPE, "acme-storage")
        assert [c.name for c in children] == ["acme-storage-shared-datasets"]
