"""Pure tests of the DPF specs, validated against the (old, v24.10.0-rc.6) DPF CRDs."""

from __future__ import annotations

import pytest

from components.gpu import dpu_operator as dpf
from components.gpu.dpu_operator import DpuFlavor, Keepalived
from tests.support.upstream import validate_custom_resource

BFB_URL = "https://files.ncp.internal/bfb/bf-bundle-2.9.2-31_25.02_ubuntu-22.04_prod.bfb"


@pytest.mark.parametrize("cluster_type", ["kamaji", "static"])
def test_operator_config_enables_only_the_matching_cluster_manager(cluster_type):
    spec = dpf.dpf_operator_config_spec(cluster_type)
    validate_custom_resource(dpf.OPERATOR_API_VERSION, "DPFOperatorConfig", spec)
    assert spec["provisioningController"] == {"bfbPVCName": dpf.BFB_PVC_NAME}
    assert spec["kamajiClusterManager"]["disable"] is (cluster_type != "kamaji")
    assert spec["staticClusterManager"]["disable"] is (cluster_type != "static")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cluster_type": "kamaji", "version": "v1.33.4", "max_nodes": 8},
        {
            "cluster_type": "kamaji",
            "version": "v1.33.4",
            "max_nodes": 8,
            "keepalived": Keepalived(
                "eno1", "10.0.110.200", 126, {"node-role.kubernetes.io/control-plane": ""}
            ),
        },
        {
            "cluster_type": "static",
            "version": "v1.33.4",
            "max_nodes": 2,
            "kubeconfig_secret": "dpu-admin",
        },
    ],
    ids=["kamaji", "kamaji-keepalived", "static"],
)
def test_dpu_cluster_spec_is_valid(kwargs):
    spec = dpf.dpu_cluster_spec(**kwargs)
    validate_custom_resource(dpf.PROVISIONING_API_VERSION, "DPUCluster", spec)
    assert spec["type"] == kwargs["cluster_type"]
    assert spec["maxNodes"] == kwargs["max_nodes"]
    if "keepalived" in kwargs:
        assert spec["clusterEndpoint"]["keepalived"]["virtualRouterID"] == 126
    assert spec.get("kubeconfig") == kwargs.get("kubeconfig_secret")


def test_dpu_cluster_schema_rejects_an_out_of_range_router_id():
    """The CRD bounds virtualRouterID to 1..255; the config model does the same."""
    spec = dpf.dpu_cluster_spec(
        cluster_type="kamaji",
        version="v1.33.4",
        max_nodes=1,
        keepalived=Keepalived("eno1", "10.0.0.1", 300),
    )
    with pytest.raises(AssertionError, match="virtualRouterID"):
        validate_custom_resource(dpf.PROVISIONING_API_VERSION, "DPUCluster", spec)


@pytest.mark.parametrize(
    ("url", "file_name"),
    [
        (BFB_URL, "bf-bundle-2.9.2-31_25.02_ubuntu-22.04_prod.bfb"),
        ("http://10.0.0.1:8080/x.bfb", "x.bfb"),
        ("https://h/has%20space.bfb", None),
    ],
)
def test_bfb_spec(url, file_name):
    spec = dpf.bfb_spec(url)
    validate_custom_resource(dpf.PROVISIONING_API_VERSION, "BFB", spec)
    assert spec["url"] == url
    assert spec.get("fileName") == file_name


@pytest.mark.parametrize(
    "flavor",
    [
        DpuFlavor(),
        DpuFlavor(
            grub_kernel_parameters=("hugepagesz=2048kB", "hugepages=3072"),
            sysctl_parameters=("net.ipv4.ip_forward=1",),
            nvconfig_parameters=("PF_TOTAL_SF=20", "PF_SF_BAR_SIZE=10"),
        ),
    ],
    ids=["defaults", "tuned"],
)
def test_dpu_flavor_spec_is_valid(flavor):
    spec = dpf.dpu_flavor_spec(flavor)
    validate_custom_resource(dpf.PROVISIONING_API_VERSION, "DPUFlavor", spec)
    if flavor.nvconfig_parameters:
        assert spec["nvconfig"] == [{"parameters": list(flavor.nvconfig_parameters)}]
    else:
        assert spec == {}


@pytest.mark.parametrize(
    ("drain", "effect"),
    [(True, {"drain": {"automaticNodeReboot": True}}), (False, {"noEffect": True})],
)
def test_dpu_set_spec_is_valid_and_rolls_one_host_at_a_time(drain, effect):
    spec = dpf.dpu_set_spec(
        host_node_labels={"gpu-caas.io/dpu": "true"},
        bfb_name="b",
        flavor_name="f",
        drain_hosts=drain,
    )
    validate_custom_resource(dpf.PROVISIONING_API_VERSION, "DPUSet", spec)
    assert spec["nodeSelector"] == {"matchLabels": {"gpu-caas.io/dpu": "true"}}
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}
    template = spec["dpuTemplate"]["spec"]
    assert template["bfb"] == {"name": "b"}
    assert template["dpuFlavor"] == "f"
    assert template["nodeEffect"] == effect


def test_dpu_set_refuses_an_empty_host_selector():
    with pytest.raises(ValueError, match="every node"):
        dpf.dpu_set_spec(host_node_labels={}, bfb_name="b", flavor_name="f", drain_hosts=True)


def test_immutable_objects_are_named_after_their_spec():
    """BFB and DPUFlavor specs are immutable (CEL self == oldSelf): a new spec is a new name."""
    assert dpf.bfb_name("t-dpu", BFB_URL) == dpf.bfb_name("t-dpu", BFB_URL)
    assert dpf.bfb_name("t-dpu", BFB_URL) != dpf.bfb_name(
        "t-dpu", BFB_URL.replace("2.9.2", "2.9.3")
    )
    assert dpf.flavor_name("t-dpu", DpuFlavor()) != dpf.flavor_name(
        "t-dpu", DpuFlavor(sysctl_parameters=("a=1",))
    )
    assert dpf.bfb_name("t-dpu", BFB_URL).startswith("t-dpu-bfb-")


def test_new_dpf_fields_are_not_in_the_old_crds():
    """Documented gap: fields of newer DPF releases are rejected by the pinned rc.6 CRDs."""
    with pytest.raises(AssertionError, match="installInterface"):
        validate_custom_resource(
            dpf.OPERATOR_API_VERSION,
            "DPFOperatorConfig",
            {
                "provisioningController": {
                    "bfbPVCName": "bfb-pvc",
                    "installInterface": {"installViaRedfish": {}},
                }
            },
        )
    with pytest.raises(AssertionError, match="dpuNodeSelector"):
        validate_custom_resource(
            dpf.PROVISIONING_API_VERSION, "DPUSet", {"dpuNodeSelector": {"matchLabels": {"a": "b"}}}
        )
