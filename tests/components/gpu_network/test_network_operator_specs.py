"""Pure tests of the Network Operator specs and values, validated against shared/crds."""

from __future__ import annotations

import json

import pytest

from components.cluster.labels import node_labels
from components.cluster.types import SshHost
from components.gpu import network_operator as no
from components.gpu.network_operator import RailNetwork
from components.mirrors import Mirrors
from tests.support.selectors import node_selector_matches
from tests.support.upstream import assert_values_keys_known, validate_custom_resource

VALUES_YAML = "network-operator/values.yaml"
MIRRORS = Mirrors(image_registries={"nvcr.io": "registry.ncp.internal:5000/nvcr"})

MACVLAN = RailNetwork("0", "macvlan", ("ens1f0np0",), "10.10.0.0/16", mtu=9000)
IPOIB = RailNetwork(
    "1",
    "ipoib",
    ("ibp24s0", "ibs1"),
    "10.11.0.0/16",
    per_node_block_size=64,
    gateway="10.11.0.1",
    exclusions=(("10.11.0.1", "10.11.0.15"),),
)
HOST_DEVICE = RailNetwork("spine_A", "host-device", ("ens2f0np0",), "10.12.0.0/16")


@pytest.mark.parametrize(
    ("rails", "mode", "doca"),
    [
        ((MACVLAN,), "shared-device-plugin", True),
        ((MACVLAN, IPOIB), "shared-device-plugin", True),
        ((HOST_DEVICE,), "sriov", True),
        ((HOST_DEVICE,), "sriov", False),
        ((), "shared-device-plugin", True),
    ],
    ids=["macvlan", "macvlan+ipoib", "host-device", "host-device-no-doca", "no-rails"],
)
def test_nic_cluster_policy_is_valid_against_the_crd(rails, mode, doca):
    spec = no.nic_cluster_policy_spec(
        rails=rails, rdma_mode=mode, mirrors=MIRRORS, operator_version="26.7.0", doca_driver=doca
    )
    validate_custom_resource(no.API_VERSION, "NicClusterPolicy", spec)
    assert ("ofedDriver" in spec) is doca
    assert ("ipoib" in spec["secondaryNetwork"]) is any(r.network_type == "ipoib" for r in rails)
    # Exactly one RDMA device plugin, matching the mode.
    plugins = {"rdmaSharedDevicePlugin", "sriovDevicePlugin"} & spec.keys()
    expected = "rdmaSharedDevicePlugin" if mode == "shared-device-plugin" else "sriovDevicePlugin"
    assert plugins == {expected}


def test_nic_cluster_policy_images_go_through_the_mirror_and_release_tag():
    spec = no.nic_cluster_policy_spec(
        rails=(MACVLAN,),
        rdma_mode="shared-device-plugin",
        mirrors=MIRRORS,
        operator_version="26.7.0",
        doca_driver=True,
        doca_driver_version="doca9.9.9-test",
    )
    components = [
        spec["rdmaSharedDevicePlugin"],
        spec["secondaryNetwork"]["multus"],
        spec["secondaryNetwork"]["cniPlugins"],
        spec["nvIpam"],
    ]
    for component in [*components, spec["ofedDriver"]]:
        assert component["repository"] == "registry.ncp.internal:5000/nvcr/nvidia/mellanox"
    assert {c["version"] for c in components} == {"network-operator-v26.7.0"}
    assert spec["ofedDriver"]["version"] == "doca9.9.9-test"
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]


def test_rdma_shared_device_plugin_config_has_one_resource_per_rail():
    config = json.loads(no.rdma_shared_device_plugin_config((IPOIB, MACVLAN)))
    assert config == {
        "configList": [
            {"resourceName": "rail-0", "rdmaHcaMax": 63, "selectors": {"ifNames": ["ens1f0np0"]}},
            {
                "resourceName": "rail-1",
                "rdmaHcaMax": 63,
                "selectors": {"ifNames": ["ibp24s0", "ibs1"]},
            },
        ]
    }


def test_sriov_device_plugin_config_selects_rdma_pfs_per_rail():
    config = json.loads(no.sriov_device_plugin_config((HOST_DEVICE,)))
    assert config == {
        "resourceList": [
            {
                "resourcePrefix": "nvidia.com",
                "resourceName": "rail-spine-a",
                "selectors": {"vendors": ["15b3"], "pfNames": ["ens2f0np0"], "isRdma": True},
            }
        ]
    }


@pytest.mark.parametrize(
    ("rail", "mode", "kind", "expected"),
    [
        (
            MACVLAN,
            "shared-device-plugin",
            "MacvlanNetwork",
            {"master": "ens1f0np0", "mode": "bridge", "mtu": 9000},
        ),
        (IPOIB, "shared-device-plugin", "IPoIBNetwork", {"master": "ibp24s0"}),
        (HOST_DEVICE, "sriov", "HostDeviceNetwork", {"resourceName": "nvidia.com/rail-spine-a"}),
    ],
    ids=["macvlan", "ipoib", "host-device"],
)
def test_rail_network_cr_is_valid_and_uses_nv_ipam(rail, mode, kind, expected):
    got_kind, spec = no.rail_network(rail, mode, "default")
    assert got_kind == kind
    validate_custom_resource(no.API_VERSION, kind, spec)
    assert {k: spec[k] for k in expected} == expected
    assert spec["networkNamespace"] == "default"
    assert json.loads(spec["ipam"]) == {"type": "nv-ipam", "poolName": rail.name}


# Fields of nv-ipam.nvidia.com/v1alpha1 IPPool.spec (Mellanox/nvidia-k8s-ipam
# deploy/crds/nv-ipam.nvidia.com_ippools.yaml). The CRD is not in shared/crds: the
# operator installs it with nv-ipam. Keep in step when that copy is added.
IPPOOL_FIELDS = {
    "subnet",
    "perNodeBlockSize",
    "gateway",
    "exclusions",
    "nodeSelector",
    "routes",
    "defaultGateway",
}


def test_ip_pool_spec_uses_only_ippool_fields_and_pins_the_rail():
    spec = no.ip_pool_spec(IPOIB)
    assert set(spec) <= IPPOOL_FIELDS
    assert spec["subnet"] == "10.11.0.0/16"
    assert spec["perNodeBlockSize"] == 64
    assert spec["gateway"] == "10.11.0.1"
    assert spec["exclusions"] == [{"startIP": "10.11.0.1", "endIP": "10.11.0.15"}]
    assert spec["nodeSelector"] == {
        "nodeSelectorTerms": [
            {
                "matchExpressions": [
                    {"key": "rail.gpu-caas.io/1", "operator": "In", "values": ["true"]}
                ]
            }
        ]
    }
    assert "gateway" not in no.ip_pool_spec(MACVLAN)
    assert "exclusions" not in no.ip_pool_spec(MACVLAN)


RAILS_8 = tuple(
    RailNetwork(f"rail-{i}", "macvlan", (f"ens{i + 1}f0np0",), f"172.16.{16 * i}.0/20")
    for i in range(8)
)


def _node(*rails: str) -> dict[str, str]:
    host = SshHost(name="n", address="a", user="u", private_key=None, rails=rails)  # type: ignore[arg-type]
    return node_labels(tenant="acme", node_group="g", host=host)


@pytest.mark.parametrize(
    ("host_rails", "selected_by"),
    [
        # DGX H100: eight compute NICs, NIC i on rail i -> every rail's pool selects it.
        (tuple(f"rail-{i}" for i in range(8)), {f"rail-{i}" for i in range(8)}),
        (("rail-0", "rail-3"), {"rail-0", "rail-3"}),
        (("rail-5",), {"rail-5"}),
        ((), set()),
        (("rail-9",), set()),
    ],
    ids=["all-rails", "two-rails", "one-rail", "no-rail", "unknown-rail"],
)
def test_each_rails_pool_selects_the_hosts_on_that_rail(host_rails, selected_by):
    labels = _node(*host_rails)
    selected = {
        rail.rail
        for rail in RAILS_8
        if node_selector_matches(no.ip_pool_spec(rail)["nodeSelector"], labels)
    }
    assert selected == selected_by


@pytest.mark.parametrize(
    ("rail", "name"),
    [
        ("0", "rail-0"),
        ("12", "rail-12"),
        ("rail-1", "rail-1"),
        ("Rail_2", "rail-2"),
        ("Spine_A", "rail-spine-a"),
        ("a.b", "rail-a-b"),
        ("-", "rail"),
    ],
)
def test_rail_name_is_a_dns_label(rail, name):
    assert no.rail_name(rail) == name


@pytest.mark.parametrize(
    ("mode", "prefix"), [("shared-device-plugin", "rdma"), ("sriov", "nvidia.com")]
)
def test_rail_resources_use_the_plugin_prefix(mode, prefix):
    assert no.rail_resources((MACVLAN, HOST_DEVICE), mode) == {
        "rail-0": f"{prefix}/rail-0",
        "rail-spine-a": f"{prefix}/rail-spine-a",
    }


def test_helm_values_keys_exist_in_the_chart():
    values = no.render_network_operator_values(MIRRORS, "26.7.0")
    assert_values_keys_known(values, VALUES_YAML)


def test_helm_values_disable_nfd_and_mirror_operator_images():
    values = no.render_network_operator_values(MIRRORS, "26.7.0")
    # One NFD per cluster: the GPU Operator's.
    assert values["nfd"]["enabled"] is False
    assert values["operator"]["repository"] == "registry.ncp.internal:5000/nvcr/nvidia/cloud-native"
    init = values["operator"]["ofedDriver"]["initContainer"]
    assert init["repository"] == "registry.ncp.internal:5000/nvcr/nvidia/mellanox"
    assert init["version"] == "network-operator-v26.7.0"
    assert no.GPU_TOLERATION in values["operator"]["tolerations"]


def test_a_typo_in_values_would_be_caught():
    """The oracle itself rejects unknown keys (guards the test above)."""
    values = no.render_network_operator_values(MIRRORS, "26.7.0")
    values["nfd"]["enabeld"] = False
    with pytest.raises(AssertionError, match="nfd.enabeld"):
        assert_values_keys_known(values, VALUES_YAML)


def test_images_for_the_mirror_list():
    assert no.component_images((MACVLAN, IPOIB), "shared-device-plugin", "26.7.0") == [
        f"nvcr.io/nvidia/mellanox/{name}:network-operator-v26.7.0"
        for name in [
            "ipoib-cni",
            "k8s-rdma-shared-dev-plugin",
            "multus-cni",
            "nvidia-k8s-ipam",
            "plugins",
        ]
    ]
    assert "nvcr.io/nvidia/mellanox/sriov-network-device-plugin:network-operator-v26.7.0" in (
        no.component_images((HOST_DEVICE,), "sriov", "26.7.0")
    )
    assert no.operator_images("v26.7.0") == [
        "nvcr.io/nvidia/cloud-native/network-operator:v26.7.0",
        "nvcr.io/nvidia/mellanox/network-operator-init-container:network-operator-v26.7.0",
    ]
