"""CNI values (Cilium, Calico) against the documented chart keys."""

from __future__ import annotations

from typing import Any

import pytest

from components.mirrors import Mirrors
from components.services import cni
from tests.components.services.conftest import assert_component_children, run, tenant_provider
from tests.components.services.documented_values import (
    CALICO_KEYS,
    CILIUM_KEYS,
    assert_keys_documented,
)

MIRRORS = Mirrors(image_registries={"quay.io": "mirror.ncp/quay"})


def args(**overrides: Any) -> cni.CniArgs:
    base = {"provider": None, "mirrors": Mirrors(), "tenant": "acme", "plugin": "cilium"}
    return cni.CniArgs(**{**base, **overrides})


class TestCilium:
    @pytest.mark.parametrize(
        "overrides",
        [
            {},
            {"encapsulation": "native"},
            {"kube_proxy_replacement": True, "api_server_host": "10.0.0.10"},
            {"hubble": False, "multus_compatible": False},
        ],
    )
    def test_keys_documented(self, overrides):
        assert_keys_documented(cni.render_cilium_values(args(**overrides)), CILIUM_KEYS)

    def test_cluster_pool_from_pod_cidr(self):
        values = cni.render_cilium_values(args(pod_cidr="10.100.0.0/14", node_mask_size=23))
        assert values["ipam"] == {
            "mode": "cluster-pool",
            "operator": {
                "clusterPoolIPv4PodCIDRList": ["10.100.0.0/14"],
                "clusterPoolIPv4MaskSize": 23,
            },
        }

    def test_leaves_room_for_multus(self):
        assert cni.render_cilium_values(args())["cni"]["exclusive"] is False
        assert cni.render_cilium_values(args(multus_compatible=False))["cni"]["exclusive"] is True

    @pytest.mark.parametrize(
        ("encapsulation", "expected"),
        [
            ("vxlan", {"routingMode": "tunnel", "tunnelProtocol": "vxlan"}),
            (
                "native",
                {
                    "routingMode": "native",
                    "ipv4NativeRoutingCIDR": "10.244.0.0/16",
                    "autoDirectNodeRoutes": True,
                },
            ),
        ],
    )
    def test_routing(self, encapsulation, expected):
        values = cni.render_cilium_values(args(encapsulation=encapsulation))
        assert {key: values[key] for key in expected} == expected

    def test_kube_proxy_replacement_needs_api_host(self):
        with pytest.raises(ValueError, match="api_server_host"):
            cni.render_cilium_values(args(kube_proxy_replacement=True))
        values = cni.render_cilium_values(
            args(kube_proxy_replacement=True, api_server_host="api.acme", api_server_port=443)
        )
        assert (values["k8sServiceHost"], values["k8sServicePort"]) == ("api.acme", 443)

    def test_images_follow_mirror(self):
        values = cni.render_cilium_values(args(mirrors=MIRRORS))
        assert values["image"]["repository"] == "mirror.ncp/quay/cilium/cilium"
        assert values["operator"]["image"]["repository"] == "mirror.ncp/quay/cilium/operator"

    def test_rejects_node_mask_wider_than_pod_cidr(self):
        with pytest.raises(ValueError, match="longer than"):
            cni.render_cilium_values(args(pod_cidr="10.0.0.0/24", node_mask_size=24))


class TestCalico:
    @pytest.mark.parametrize("mirrors", [Mirrors(), MIRRORS])
    @pytest.mark.parametrize("encapsulation", ["vxlan", "native"])
    def test_keys_documented(self, mirrors, encapsulation):
        values = cni.render_calico_values(
            args(plugin="calico", mirrors=mirrors, encapsulation=encapsulation)
        )
        assert_keys_documented(values, CALICO_KEYS)

    def test_ip_pool(self):
        pool = cni.render_calico_values(args(plugin="calico"))["installation"]["calicoNetwork"]
        assert pool["bgp"] == "Disabled"
        assert pool["ipPools"] == [
            {
                "cidr": "10.244.0.0/16",
                "blockSize": 24,
                "encapsulation": "VXLAN",
                "natOutgoing": "Enabled",
                "nodeSelector": "all()",
            }
        ]

    def test_registry_only_when_mirrored(self):
        assert "registry" not in cni.render_calico_values(args(plugin="calico"))["installation"]
        mirrored = cni.render_calico_values(args(plugin="calico", mirrors=MIRRORS))
        assert mirrored["installation"]["registry"] == "mirror.ncp/quay/"
        assert mirrored["tigeraOperator"]["registry"] == "mirror.ncp/quay"


class TestComponent:
    def test_cilium_in_kube_system(self, mocks):
        run(mocks, lambda: cni.Cni("acme-cni", args(provider=tenant_provider())).urn)
        children = assert_component_children(mocks, cni.TYPE, "acme-cni")
        assert [c.name for c in children] == ["acme-cni-cilium"]
        release = mocks.named("acme-cni-cilium")
        assert release.inputs["namespace"] == "kube-system"
        assert release.inputs["chart"] == "cilium"
        assert release.inputs["repositoryOpts"]["repo"].rstrip("/") == "https://helm.cilium.io"

    def test_calico_with_its_namespace(self, mocks):
        run(
            mocks,
            lambda: cni.Cni("acme-cni", args(provider=tenant_provider(), plugin="calico")).urn,
        )
        children = assert_component_children(mocks, cni.TYPE, "acme-cni")
        assert {c.name for c in children} == {"acme-cni-namespace", "acme-cni-calico"}
        namespace = mocks.named("acme-cni-namespace")
        assert namespace.inputs["metadata"]["name"] == "tigera-operator"

    def test_unknown_plugin(self, mocks):
        with pytest.raises(ValueError, match="unknown CNI plugin"):
            run(
                mocks,
                lambda: cni.Cni("acme-cni", args(provider=tenant_provider(), plugin="flannel")),
            )
