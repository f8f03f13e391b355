"""`stacks/config/host_states.py`: spares, failed hosts, replacements and fault domains."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from bench import host_tenants
from stacks.config import ConfigError, TenantConfig, parse_tenant
from stacks.config.host_states import active_hosts, failed_hosts, replacements
from stacks.config.inventory import HostState
from stacks.config.rules import warnings
from tests.stacks.samples import ISOLATION, PRIVATE_KEY
from tests.stacks.test_config_validation import RAIL_0, RAIL_1, set_path

T = "gpu-caas:tenant"
SSH = {"user": "ubuntu", "privateKey": PRIVATE_KEY}
H100 = {"model": "H100-80GB", "count": 8}
GB200 = {"model": "GB200-186GB", "count": 4}


def _host(name: str, address: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "address": address, "ssh": SSH, **extra}


# hosts[i]: 0 cp-0 | 1 gpu-0, 2 gpu-1 (train, rack r1) | 3 gpu-2 (spare, rack r1)
# | 4 nvl-0, 5 nvl-1 (nvl, NVLink domain nvl-a) | 6 nvl-s (spare, nvl-a) | 7 nvl-t (spare,
# nvl-b) | 8 gpu-3 (serve, rack r2)
BASE: dict[str, Any] = {
    "name": "acme",
    "flavor": "tenant-managed",
    "kubernetes": {"version": "1.34.2"},
    "controlPlane": {"ha": False},
    "hosts": [
        _host("cp-0", "10.0.0.10", role="control-plane"),
        _host("gpu-0", "10.0.1.10", gpu=H100, topology={"rack": "r1"}),
        _host("gpu-1", "10.0.1.11", gpu=H100, topology={"rack": "r1"}),
        _host("gpu-2", "10.0.1.12", gpu=H100, topology={"rack": "r1"}, state="spare"),
        _host("nvl-0", "10.0.2.10", gpu=GB200, topology={"nvlinkDomain": "nvl-a"}),
        _host("nvl-1", "10.0.2.11", gpu=GB200, topology={"nvlinkDomain": "nvl-a"}),
        _host("nvl-s", "10.0.2.12", gpu=GB200, topology={"nvlinkDomain": "nvl-a"}, state="spare"),
        _host("nvl-t", "10.0.2.13", gpu=GB200, topology={"nvlinkDomain": "nvl-b"}, state="spare"),
        _host("gpu-3", "10.0.3.10", gpu=H100, topology={"rack": "r2"}),
    ],
    "nodeGroups": [
        {"name": "train", "hosts": ["gpu-0", "gpu-1"]},
        {"name": "nvl", "hosts": ["nvl-0", "nvl-1"]},
        {"name": "serve", "hosts": ["gpu-3"]},
    ],
    "isolation": ISOLATION,
}

# The one-change replacement of a failed H100 host by the rack's spare.
REPLACE_GPU_1 = {
    "hosts[2].state": "failed",
    "hosts[3].state": "active",
    "hosts[3].replaces": "gpu-1",
    "nodeGroups[0].hosts": ["gpu-0", "gpu-1", "gpu-2"],
}
# The same in the NVLink group, with the spare of the same domain.
REPLACE_NVL_1 = {
    "hosts[5].state": "failed",
    "hosts[6].state": "active",
    "hosts[6].replaces": "nvl-1",
    "nodeGroups[1].hosts": ["nvl-0", "nvl-1", "nvl-s"],
}
# ... with the spare of another NVLink domain.
REPLACE_NVL_1_ACROSS = {
    "hosts[5].state": "failed",
    "hosts[7].state": "active",
    "hosts[7].replaces": "nvl-1",
    "nodeGroups[1].hosts": ["nvl-0", "nvl-1", "nvl-t"],
}
NETWORK = {"gpu": {"network": {"enabled": True, "rails": [RAIL_0, RAIL_1]}}}


def _config(*changes: dict[str, Any]) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    for change in changes:
        for path, value in change.items():
            set_path(data, path, value)
    return data


def _problems(*changes: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as error:
        parse_tenant(_config(*changes))
    return [(p.path, p.message) for p in error.value.problems]


def _state_warnings(config: TenantConfig) -> list[tuple[str, str]]:
    return [
        (p.path, p.message)
        for p in warnings(config)
        if p.path.startswith(f"{T}.hosts") or ".upgrade." in p.path
    ]


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({}, id="spares-in-no-group"),
        pytest.param(REPLACE_GPU_1, id="spare-replaces-failed-in-its-group"),
        pytest.param(REPLACE_NVL_1, id="same-nvlink-domain"),
        pytest.param(
            {**REPLACE_NVL_1_ACROSS, "hosts[7].allowFaultDomainChange": True},
            id="other-nvlink-domain-allowed",
        ),
        # A failed host that left its group's list is in no group: not an error.
        pytest.param(
            {"hosts[2].state": "failed", "nodeGroups[0].hosts": ["gpu-0"]}, id="failed-ungrouped"
        ),
        # Without a node group listing the failed host, any group may take the replacement.
        pytest.param(
            {**REPLACE_GPU_1, "nodeGroups[0].hosts": ["gpu-0", "gpu-2"]},
            id="replacement-of-an-ungrouped-failed-host",
        ),
        # Rails: the replacement on the same rails (every rail, unset) is fine.
        pytest.param({**NETWORK, **REPLACE_GPU_1}, id="same-rails"),
        pytest.param(
            {
                **NETWORK,
                **REPLACE_GPU_1,
                "hosts[3].topology.rails": ["rail-0"],
                "hosts[3].allowFaultDomainChange": True,
            },
            id="other-rails-allowed",
        ),
    ],
)
def test_valid_host_states(changes: dict[str, Any]) -> None:
    parse_tenant(_config(changes))


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"nodeGroups[0].hosts": ["gpu-0", "gpu-1", "gpu-2"]},
            [
                (
                    f"{T}.nodeGroups[0].hosts[2]",
                    "host 'gpu-2' is a spare: a spare is in no node group: to use it, remove "
                    "`state: spare` and set `replaces: <failed host>`",
                )
            ],
            id="spare-in-a-group",
        ),
        pytest.param(
            {"hosts[0].state": "spare"},
            [(f"{T}.hosts[0].state", "a control-plane host may not be spare")],
            id="control-plane-spare",
        ),
        pytest.param(
            {"hosts[0].state": "failed"},
            [(f"{T}.hosts[0].state", "a control-plane host cannot be marked failed")],
            id="control-plane-failed",
        ),
        pytest.param(
            {"hosts[0].replaces": "gpu-1", "hosts[2].state": "failed"},
            [(f"{T}.hosts[0].replaces", "only workers replace failed hosts")],
            id="control-plane-replaces",
        ),
        pytest.param(
            {**REPLACE_GPU_1, "hosts[3].replaces": "gpu-l"},
            [
                (
                    f"{T}.hosts[3].replaces",
                    "unknown host 'gpu-l'; did you mean 'gpu-1'?; failed hosts: gpu-1",
                )
            ],
            id="unknown-with-did-you-mean",
        ),
        pytest.param(
            {**REPLACE_GPU_1, "hosts[2].state": "active"},
            [
                (
                    f"{T}.hosts[3].replaces",
                    "host 'gpu-1' (hosts[2]) is active: a replacement takes a failed host's "
                    "place; set `state: failed` on 'gpu-1' in the same change",
                )
            ],
            id="replaces-an-active-host",
        ),
        pytest.param(
            {**REPLACE_GPU_1, "hosts[3].replaces": "gpu-2"},
            [(f"{T}.hosts[3].replaces", "a host cannot replace itself")],
            id="replaces-itself",
        ),
        pytest.param(
            {
                "hosts[2].state": "failed",
                "hosts[3].replaces": "gpu-1",
            },
            [(f"{T}.hosts[3].replaces", "a spare host replaces nothing: remove `state: spare`")],
            id="spare-with-replaces",
        ),
        pytest.param(
            {**REPLACE_GPU_1, "hosts[8].replaces": "gpu-1", "nodeGroups[2].hosts": ["gpu-3"]},
            [
                (
                    f"{T}.hosts[8].replaces",
                    "host 'gpu-1' is already replaced by hosts[3] ('gpu-2'); a failed host "
                    "has one replacement",
                )
            ],
            id="two-replacements",
        ),
        pytest.param(
            {**REPLACE_GPU_1, "hosts[3].gpu": {"model": "H100-80GB", "count": 4}},
            [
                (
                    f"{T}.hosts[3].gpu",
                    "the replacement of 'gpu-1' must have its GPUs (8x H100-80GB); 'gpu-2' has "
                    "4x H100-80GB",
                )
            ],
            id="gpu-count",
        ),
        # Another model also mixes the group's models (one model per group).
        pytest.param(
            {**REPLACE_GPU_1, "hosts[3].gpu": {"model": "H200-141GB", "count": 8}},
            [
                (f"{T}.hosts[3].gpu", "has 8x H200-141GB: pick a spare with the same GPUs"),
                (f"{T}.nodeGroups[0].hosts", "hosts have different GPU models"),
            ],
            id="gpu-model",
        ),
        pytest.param(
            REPLACE_NVL_1_ACROSS,
            [
                (
                    f"{T}.hosts[7].topology.nvlinkDomain",
                    "the replacement of 'nvl-1' has NVLink domain nvl-b instead of nvl-a: a "
                    "replacement stays in the failed host's fault domain (NVLink domain, "
                    "rails); pick a spare there, or set allowFaultDomainChange: true",
                )
            ],
            id="nvlink-domain",
        ),
        pytest.param(
            {**NETWORK, **REPLACE_GPU_1, "hosts[3].topology.rails": ["rail-0"]},
            [
                (
                    f"{T}.hosts[3].topology.rails",
                    "has rails [rail-0] instead of [rail-0, rail-1]",
                )
            ],
            id="rails",
        ),
        # The failed host lists rails without a rail network: still a fault domain.
        pytest.param(
            {**REPLACE_GPU_1, "hosts[2].topology.rails": ["rail-0"]},
            [(f"{T}.hosts[3].topology.rails", "has rails [] instead of [rail-0]")],
            id="listed-rails",
        ),
        pytest.param(
            {"hosts[1].allowFaultDomainChange": True},
            [(f"{T}.hosts[1].allowFaultDomainChange", "only applies with `replaces`")],
            id="override-without-replaces",
        ),
        pytest.param(
            {
                **REPLACE_GPU_1,
                "nodeGroups[0].hosts": ["gpu-0", "gpu-1"],
                "nodeGroups[2].hosts": ["gpu-3", "gpu-2"],
            },
            [
                (
                    f"{T}.hosts[3].replaces",
                    "'gpu-1' is in node group 'train', 'gpu-2' in 'serve': a replacement takes "
                    "the failed host's place in its group",
                )
            ],
            id="other-group",
        ),
        # A replacement that joins no group is an active worker in no group.
        pytest.param(
            {**REPLACE_GPU_1, "nodeGroups[0].hosts": ["gpu-0", "gpu-1"]},
            [(f"{T}.hosts[3].name", "worker host 'gpu-2' is in no node group")],
            id="replacement-in-no-group",
        ),
        pytest.param(
            {"hosts[3].state": "retired"},
            [(f"{T}.hosts[3].state", "'active', 'spare' or 'failed'")],
            id="unknown-state",
        ),
    ],
)
def test_host_state_problems(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    found = _problems(changes)
    assert [path for path, _ in found] == [path for path, _ in expected], found
    for (_, message), (_, fragment) in zip(found, expected, strict=True):
        assert fragment in message


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param({}, [], id="none"),
        pytest.param(REPLACE_GPU_1, [], id="replaced"),
        # gpu-1 failed, the rack's spare gpu-2 could take its place: no warning.
        pytest.param({"hosts[2].state": "failed"}, [], id="spare-in-rack"),
        pytest.param(
            {"hosts[2].state": "failed", "hosts[3].topology.rack": "r9"},
            [
                (
                    f"{T}.hosts[2].state",
                    "failed host 'gpu-1' has no replacement and there is no spare with its "
                    "GPUs (8x H100-80GB) in rack r1: its node group runs without it; add a "
                    "spare there (`state: spare`), or a host with `replaces: gpu-1`",
                )
            ],
            id="no-spare-in-rack",
        ),
        pytest.param(
            {"hosts[2].state": "failed", "hosts[3].gpu": {"model": "H100-80GB", "count": 4}},
            [(f"{T}.hosts[2].state", "in rack r1")],
            id="spare-with-other-gpus",
        ),
        pytest.param({"hosts[5].state": "failed"}, [], id="spare-in-nvlink-domain"),
        pytest.param(
            {
                "hosts[5].state": "failed",
                "hosts[6].state": "active",
                "nodeGroups[1].hosts": ["nvl-0", "nvl-1", "nvl-s"],
            },
            [(f"{T}.hosts[5].state", "in NVLink domain nvl-a")],
            id="no-spare-in-nvlink-domain",
        ),
        pytest.param(
            {"hosts[8].state": "failed", "hosts[8].topology": {}},
            [],
            id="any-spare-without-rack",
        ),
        pytest.param(
            {**REPLACE_NVL_1_ACROSS, "hosts[7].allowFaultDomainChange": True},
            [
                (
                    f"{T}.hosts[7].allowFaultDomainChange",
                    "the fault domain changes: 'nvl-t' replaces 'nvl-1' with NVLink domain "
                    "nvl-b instead of nvl-a; jobs placed by NVLink domain or rail see a "
                    "different host set",
                )
            ],
            id="fault-domain-change",
        ),
        # An override with nothing to override says nothing.
        pytest.param(
            {**REPLACE_NVL_1, "hosts[6].allowFaultDomainChange": True}, [], id="same-domain"
        ),
    ],
)
def test_host_state_warnings(changes: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    found = _state_warnings(parse_tenant(_config(changes)))
    assert [path for path, _ in found] == [path for path, _ in expected], found
    for (_, message), (_, fragment) in zip(found, expected, strict=True):
        assert fragment in message


def test_active_and_failed_hosts_of_a_group() -> None:
    config = parse_tenant(_config(REPLACE_GPU_1))
    assert config.host("gpu-1").state is HostState.FAILED
    assert active_hosts(config, "train") == ["gpu-0", "gpu-2"]
    assert failed_hosts(config, "train") == ["gpu-1"]
    train = config.node_groups[0]
    assert active_hosts(config, train) == ["gpu-0", "gpu-2"]
    assert failed_hosts(config, train) == ["gpu-1"]
    assert active_hosts(config, "nvl") == ["nvl-0", "nvl-1"]
    assert failed_hosts(config, "nvl") == []
    assert replacements(config) == {"gpu-1": "gpu-2"}
    with pytest.raises(KeyError):
        active_hosts(config, "nope")


def _project(tmp_path: Path, inventory: dict[str, Any], tenant: dict[str, Any]) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: gpu-caas\nruntime: python\n")
    (tmp_path / host_tenants.INVENTORY_FILE).write_text(yaml.safe_dump(inventory, sort_keys=False))


def _replaced_fleet(gpu_hosts: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The bench tenant with one failed host per group, replaced by a spare of its rack,
    and one more spare per rack: every host-state rule has work at every group."""
    inventory = host_tenants.inventory_document(gpu_hosts)
    hosts = inventory["hosts"]
    first = host_tenants.CONTROL_PLANE_HOSTS
    for g in range(gpu_hosts // host_tenants.GROUP_SIZE):
        group = host_tenants.group_name(g)
        failed = hosts[first + g * host_tenants.GROUP_SIZE]
        failed["state"] = "failed"
        for k, role in enumerate(("replacement", "spare")):
            host = {
                "name": f"{role[:5]}-{g:03d}",
                "address": f"10.200.{g // 100}.{g % 100 * 2 + k}",
                "gpu": dict(H100),
                "topology": {"rack": group},
            }
            if role == "replacement":
                host |= {"nodeGroup": group, "replaces": failed["name"]}
            else:
                host["state"] = "spare"
            hosts.append(host)
    tenant = host_tenants.tenant_config(gpu_hosts)
    tenant["sshKeys"][0]["privateKey"] = PRIVATE_KEY
    return inventory, tenant


def test_a_2048_host_inventory_with_failed_hosts_and_spares_validates_in_linear_time(
    tmp_path: Path,
) -> None:
    inventory, tenant = _replaced_fleet(2048)
    _project(tmp_path, inventory, tenant)
    start = time.process_time()
    config = parse_tenant(tenant, tmp_path)
    found = warnings(config)
    seconds = time.process_time() - start
    groups = 2048 // host_tenants.GROUP_SIZE
    assert len(replacements(config)) == groups
    assert not [p for p in found if p.path.startswith(f"{T}.hosts")]
    train = config.node_groups[0]
    assert len(active_hosts(config, train)) == host_tenants.GROUP_SIZE
    assert failed_hosts(config, train) == [host_tenants.host_name(0)]
    # Linear: well under a second of rule work on top of the plain 2048-host parse
    # (tests/bench/test_host_tenants.py allows 5 s for that); quadratic would not be.
    assert seconds < 5, f"validating 2048 hosts with replacements took {seconds:.1f} s of CPU"


def test_inventory_file_problems_are_located_in_the_file(tmp_path: Path) -> None:
    inventory, tenant = _replaced_fleet(32)
    hosts = inventory["hosts"]
    replacement = next(i for i, h in enumerate(hosts) if h["name"] == "repla-001")
    hosts[replacement]["replaces"] = "gpu-0017"  # active, not failed
    _project(tmp_path, inventory, tenant)
    with pytest.raises(ConfigError) as error:
        parse_tenant(tenant, tmp_path)
    [problem] = error.value.problems
    assert problem.file == host_tenants.INVENTORY_FILE and problem.line is not None
    assert problem.path == f"hosts[{replacement}].replaces"
    assert "host 'gpu-0017'" in problem.message and "is active" in problem.message
