"""Config models of gpu.network / gpu.dpu / gpu.nim and their cross-field rules."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from components.gpu import dpu_operator, network_operator, nim_operator
from stacks.config import TenantConfig
from stacks.config.gpu_network import (
    DpuClusterType,
    NetworkOperatorConfig,
    NimConfig,
    RdmaMode,
    SecondaryNetworkType,
    VolumeAccessMode,
    host_rails,
    network_rules,
)

ROOT = "gpu-caas:tenant"


def host(
    name: str, rails: list[str] | None = None, dpu: bool = False, gpu: bool = True
) -> dict[str, Any]:
    """An inventory host; `rails=None` leaves `topology.rails` out (the default)."""
    return {
        "name": name,
        "address": "10.0.0.10",
        "ssh": {"user": "root", "privateKey": "not-a-real-key"},
        **({"gpu": {"model": "H100-80GB", "count": 8}} if gpu else {}),
        "dpu": dpu,
        "topology": {} if rails is None else {"rails": rails},
    }


def rail(rail_id: str, subnet: str, **extra: Any) -> dict[str, Any]:
    return {"rail": rail_id, "interfaces": ["ens1f0np0"], "ipam": {"subnet": subnet}, **extra}


def tenant(gpu: dict[str, Any], hosts: list[dict[str, Any]] | None = None) -> TenantConfig:
    return TenantConfig.model_validate(
        {
            "name": "acme",
            "flavor": "ncp-managed",
            "kubernetes": {"version": "1.34.2"},
            "hosts": hosts if hosts is not None else [host("gpu-0"), host("gpu-1")],
            "gpu": gpu,
        }
    )


GOOD_NETWORK = {
    "enabled": True,
    "rails": [rail("0", "10.10.0.0/16"), rail("1", "10.11.0.0/16")],
}
GOOD_NIM = {
    "enabled": True,
    "ngcApiKey": "nvapi-do-not-print",
    "models": [
        {"name": "llama", "image": "nvcr.io/nim/meta/llama-3.1-8b-instruct", "tag": "1.3.3"}
    ],
}
GOOD_DPU = {"enabled": True, "bfbUrl": "https://files.example/bf-bundle.bfb"}


def paths(problems: list[tuple[str, str]]) -> list[str]:
    return [path for path, _ in problems]


def test_defaults_are_off_and_valid():
    config = tenant({})
    assert not config.gpu.network.enabled
    assert not config.gpu.dpu.enabled
    assert not config.gpu.nim.enabled
    assert network_rules(config) == []


def test_a_consistent_config_has_no_problems():
    config = tenant(
        {"network": GOOD_NETWORK, "nim": GOOD_NIM, "dpu": GOOD_DPU},
        hosts=[host("gpu-0", dpu=True), host("gpu-1", ["0", "1"])],
    )
    assert network_rules(config) == []
    assert config.gpu.network.rdma is RdmaMode.SHARED_DEVICE_PLUGIN


def test_keys_are_camel_case_and_unknown_keys_rejected():
    with pytest.raises(ValidationError, match="extra_forbidden|Extra inputs"):
        NetworkOperatorConfig.model_validate({"enabled": True, "rdmaMode": "sriov"})
    parsed = NetworkOperatorConfig.model_validate(
        {"networkType": "ipoib", "docaDriver": {"enabled": False, "version": "doca3.4.0-x"}}
    )
    assert parsed.network_type is SecondaryNetworkType.IPOIB
    assert parsed.doca_driver.version == "doca3.4.0-x"


@pytest.mark.parametrize(
    ("ipam", "error"),
    [
        ({"subnet": "10.0.0.0/24", "gateway": "10.0.1.1"}, "gateway must be inside"),
        (
            {"subnet": "10.0.0.0/24", "exclusions": [{"start": "10.0.0.9", "end": "10.0.0.1"}]},
            "end must not be lower",
        ),
        (
            {"subnet": "10.0.0.0/24", "exclusions": [{"start": "10.0.0.1", "end": "10.0.1.1"}]},
            r"exclusions\[0\]",
        ),
        ({"subnet": "10.0.0.0/28", "perNodeBlockSize": 16}, "perNodeBlockSize must be smaller"),
        ({"subnet": "10.0.0.1/24"}, "not a valid IPv4 network"),
    ],
)
def test_ipam_is_checked_when_parsed(ipam, error):
    with pytest.raises(ValidationError, match=error):
        NetworkOperatorConfig.model_validate(
            {"rails": [{"rail": "0", "interfaces": ["eth1"], "ipam": ipam}]}
        )


def test_secret_is_never_printed():
    config = tenant({"nim": GOOD_NIM})
    assert "nvapi-do-not-print" not in repr(config)
    assert "nvapi-do-not-print" not in str(config.model_dump())
    with pytest.raises(ValidationError) as caught:
        NimConfig.model_validate({"ngcApiKey": 12345})
    assert "12345" not in str(caught.value.errors(include_input=False))


@pytest.mark.parametrize(
    ("rails", "gpu", "configured", "expected"),
    [
        # Rail-optimized fabric: a GPU host that lists no rails is on every rail.
        (None, True, ["0", "1", "2", "3"], ("0", "1", "2", "3")),
        (None, True, [], ()),
        # Hosts cabled to some rails list them; [] is a GPU host on no rail.
        (["1", "3"], True, ["0", "1", "2", "3"], ("1", "3")),
        ([], True, ["0", "1"], ()),
        # Hosts without GPUs are on no rail unless they list some.
        (None, False, ["0", "1"], ()),
        (["0"], False, ["0", "1"], ("0",)),
        # Explicit rails are kept even when not configured (the rules report them).
        (["9"], True, ["0"], ("9",)),
    ],
    ids=[
        "default-all",
        "default-none-configured",
        "subset",
        "none",
        "cpu",
        "cpu-listed",
        "unknown",
    ],
)
def test_host_rails(rails, gpu, configured, expected):
    network = {"rails": [rail(r, f"10.{10 + i}.0.0/16") for i, r in enumerate(configured)]}
    config = tenant({"network": network}, hosts=[host("h", rails, gpu=gpu)])
    assert host_rails(config.hosts[0], config.gpu.network) == expected
    assert config.host_rails(config.hosts[0]) == expected


def test_every_gpu_host_is_on_every_rail_by_default():
    """A DGX H100 pod: eight compute rails, no host lists rails, every host on all eight."""
    rails = [rail(f"rail-{i}", f"172.16.{16 * i}.0/20") for i in range(8)]
    config = tenant(
        {"network": {"enabled": True, "rails": rails}},
        hosts=[host(f"dgx-{i}") for i in range(4)] + [host("cpu-0", gpu=False)],
    )
    assert network_rules(config) == []
    everything = tuple(f"rail-{i}" for i in range(8))
    assert [config.host_rails(h) for h in config.hosts] == [everything] * 4 + [()]


def test_rail_without_hosts_and_host_rail_without_network():
    config = tenant(
        {
            "network": {
                "enabled": True,
                "rails": [rail("0", "10.10.0.0/16"), rail("7", "10.17.0.0/16")],
            }
        },
        hosts=[host("gpu-0", ["0"]), host("gpu-1", ["0", "1"]), host("gpu-2", [])],
    )
    assert network_rules(config) == [
        (
            f"{ROOT}.gpu.network.rails[1].rail",
            "no host is on rail 7; add it to hosts[].topology.rails of the hosts cabled to it "
            "(GPU hosts without topology.rails are on every rail). Rails hosts are on: 0, 1",
        ),
        (
            f"{ROOT}.hosts[1].topology.rails[1]",
            "rail 1 has no network in gpu.network.rails (configured: 0, 7); add one for it or "
            "remove the rail from the host",
        ),
    ]


def test_host_rails_are_not_checked_without_the_network_operator():
    config = tenant({"network": {"rails": [rail("0", "10.10.0.0/16")]}}, hosts=[host("h", ["9"])])
    assert network_rules(config) == []


@pytest.mark.parametrize(
    ("hosts", "hint"),
    [
        ([host("gpu-0"), host("gpu-1")], ""),
        ([host("gpu-0", ["0"]), host("gpu-1", ["0", "1"])], " (hosts list rails 0, 1)"),
    ],
)
def test_network_enabled_without_rails(hosts, hint):
    problems = network_rules(tenant({"network": {"enabled": True}}, hosts=hosts))
    assert problems == [
        (
            f"{ROOT}.gpu.network.rails",
            "the Network Operator is enabled but no rail networks are listed; add one entry "
            f"per rail the hosts' NICs connect to{hint}",
        )
    ]


@pytest.mark.parametrize(
    ("topology", "error"),
    [
        ({"rail": "0"}, r"`rail` was replaced by `rails`.*`rails: \[0\]`"),
        ({"rails": "0"}, "valid list"),
        ({"rails": ["0", "0"]}, "repeated: 0"),
        ({"rails": ["rail 0"]}, "must be a label name"),
        ({"rails": ["a" * 64]}, "must be a label name"),
    ],
)
def test_topology_rails_are_parsed_strictly(topology, error):
    with pytest.raises(ValidationError, match=error):
        tenant({}, hosts=[{**host("h"), "topology": topology}])


def test_duplicate_and_colliding_rails_and_overlapping_subnets():
    config = tenant(
        {
            "network": {
                "enabled": True,
                "rails": [
                    rail("0", "10.10.0.0/16"),
                    rail("0", "10.20.0.0/16"),
                    rail("1", "10.10.128.0/17"),
                ],
            }
        }
    )
    problems = network_rules(config)
    assert f"{ROOT}.gpu.network.rails[1].rail" in paths(problems)
    overlap = [m for p, m in problems if p == f"{ROOT}.gpu.network.rails[2].ipam.subnet"]
    assert overlap == [
        "10.10.128.0/17 overlaps rails[0].ipam.subnet 10.10.0.0/16; rails need disjoint subnets"
    ]

    colliding = tenant(
        {
            "network": {
                "enabled": True,
                "rails": [rail("a_b", "10.1.0.0/16"), rail("a.b", "10.2.0.0/16")],
            }
        },
        hosts=[host("h0", ["a_b"]), host("h1", ["a.b"])],
    )
    assert paths(network_rules(colliding)) == [f"{ROOT}.gpu.network.rails[1].rail"]


@pytest.mark.parametrize(
    ("network", "path"),
    [
        (
            {"rdma": "shared-device-plugin", "networkType": "host-device"},
            f"{ROOT}.gpu.network.networkType",
        ),
        ({"rdma": "sriov"}, f"{ROOT}.gpu.network.networkType"),
        (
            {"rdma": "sriov", "networkType": "host-device", "railOverride": "ipoib"},
            f"{ROOT}.gpu.network.rails[0].networkType",
        ),
    ],
)
def test_rdma_mode_must_fit_the_network_type(network, path):
    override = network.pop("railOverride", None)
    rails = [rail("0", "10.10.0.0/16"), rail("1", "10.11.0.0/16")]
    if override:
        rails[0]["networkType"] = override
    problems = network_rules(tenant({"network": {"enabled": True, "rails": rails, **network}}))
    assert path in paths(problems)
    assert all("need rdma" in message for _, message in problems)


def test_macvlan_and_ipoib_take_one_parent_interface():
    many = rail("0", "10.10.0.0/16", interfaces=["ens1f0np0", "ens1f1np1"])
    problems = network_rules(
        tenant({"network": {"enabled": True, "rails": [many, rail("1", "10.11.0.0/16")]}})
    )
    assert paths(problems) == [f"{ROOT}.gpu.network.rails[0].interfaces"]
    sriov = {
        "enabled": True,
        "rdma": "sriov",
        "networkType": "host-device",
        "rails": [many, rail("1", "10.11.0.0/16")],
    }
    assert network_rules(tenant({"network": sriov})) == []


def test_mtu_only_for_macvlan():
    rails = [
        rail("0", "10.10.0.0/16", mtu=9000, networkType="ipoib"),
        rail("1", "10.11.0.0/16", mtu=9000),
    ]
    problems = network_rules(tenant({"network": {"enabled": True, "rails": rails}}))
    assert paths(problems) == [f"{ROOT}.gpu.network.rails[0].mtu"]


def test_dpu_without_dpu_hosts_or_bfb():
    problems = dict(network_rules(tenant({"dpu": {"enabled": True}})))
    assert "no host has a BlueField DPU" in problems[f"{ROOT}.gpu.dpu.enabled"]
    assert "BlueField bundle" in problems[f"{ROOT}.gpu.dpu.bfbUrl"]


@pytest.mark.parametrize(
    ("cluster", "path"),
    [
        ({"type": "static"}, f"{ROOT}.gpu.dpu.cluster.kubeconfigSecret"),
        ({"type": "kamaji", "kubeconfigSecret": "x"}, f"{ROOT}.gpu.dpu.cluster.kubeconfigSecret"),
        ({"maxNodes": 1}, f"{ROOT}.gpu.dpu.cluster.maxNodes"),
    ],
)
def test_dpu_cluster_rules(cluster, path):
    config = tenant(
        {"dpu": {**GOOD_DPU, "cluster": cluster}},
        hosts=[host("h0", dpu=True), host("h1", dpu=True)],
    )
    assert paths(network_rules(config)) == [path]


def test_dpu_empty_host_selector_is_rejected():
    config = tenant({"dpu": {**GOOD_DPU, "hostNodeLabels": {}}}, hosts=[host("h0", dpu=True)])
    assert paths(network_rules(config)) == [f"{ROOT}.gpu.dpu.hostNodeLabels"]


def test_dpu_bfb_url_must_be_http_bfb():
    with pytest.raises(ValidationError, match="bfbUrl|bfb_url"):
        tenant({"dpu": {"enabled": True, "bfbUrl": "ftp://x/y.bfb"}})


def test_nim_without_key_or_models():
    problems = dict(network_rules(tenant({"nim": {"enabled": True}})))
    assert "ngcApiKey is missing" in problems[f"{ROOT}.gpu.nim.ngcApiKey"]
    assert f"{ROOT}.gpu.nim.models" in problems


def test_nim_model_rules():
    model = {
        "name": "llama",
        "image": "nvcr.io/nim/meta/llama",
        "tag": "1",
        "replicas": 2,
        "gpus": 1,
        "tensorParallelism": 2,
    }
    problems = network_rules(tenant({"nim": {**GOOD_NIM, "models": [model]}}))
    assert paths(problems) == [
        f"{ROOT}.gpu.nim.models[0].volumeAccessMode",
        f"{ROOT}.gpu.nim.models[0].tensorParallelism",
    ]


def test_nim_model_must_fit_on_one_node():
    model = {"name": "big", "image": "nvcr.io/nim/x", "tag": "1", "gpus": 8}
    fits = tenant({"nim": {**GOOD_NIM, "models": [model]}})  # hosts have 8 GPUs
    assert network_rules(fits) == []
    too_big = tenant({"nim": {**GOOD_NIM, "models": [{**model, "gpus": 9}]}})
    assert network_rules(too_big) == [
        (
            f"{ROOT}.gpu.nim.models[0].gpus",
            "9 GPUs per replica, but no node has more than 8; a replica runs on one node",
        )
    ]
    no_gpu_nodes = tenant({"nim": {**GOOD_NIM, "models": [{**model, "gpus": 9}]}}, hosts=[])
    assert network_rules(no_gpu_nodes) == []


def test_nim_model_names_are_unique_dns_labels():
    model = {"name": "llama", "image": "nvcr.io/nim/x", "tag": "1"}
    with pytest.raises(ValidationError, match="repeated: llama"):
        NimConfig.model_validate({"models": [model, model]})
    with pytest.raises(ValidationError):
        NimConfig.model_validate({"models": [{**model, "name": "Llama_3"}]})


def test_disabled_sections_are_not_checked():
    config = tenant(
        {"network": {"rails": [rail("9", "10.0.0.0/8")]}, "dpu": {}, "nim": {"models": []}}
    )
    assert network_rules(config) == []


@pytest.mark.parametrize(
    ("enum", "literal"),
    [
        (RdmaMode, network_operator.RdmaMode),
        (SecondaryNetworkType, network_operator.NetworkType),
        (DpuClusterType, dpu_operator.ClusterType),
        (VolumeAccessMode, nim_operator.AccessMode),
    ],
)
def test_config_vocabularies_match_component_vocabularies(enum, literal):
    assert {member.value for member in enum} == set(get_args(literal))


def test_rail_ids_with_and_without_the_rail_prefix_collide():
    """`0` and `rail-0` would both be named rail-0: reject instead of merging two rails."""
    config = tenant(
        {
            "network": {
                "enabled": True,
                "rails": [rail("0", "10.1.0.0/16"), rail("rail-0", "10.2.0.0/16")],
            }
        },
        hosts=[host("h0", ["0"]), host("h1", ["rail-0"])],
    )
    assert paths(network_rules(config)) == [f"{ROOT}.gpu.network.rails[1].rail"]
