"""SSH keys declared once and used by name or scope; node groups named by hosts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from stacks.config import ConfigError, parse_tenant
from stacks.config.host_resolution import resolve_hosts
from stacks.config.tenant import TenantConfig
from tests.stacks.samples import PRIVATE_KEY, TENANT_MANAGED

OTHER_KEY = PRIVATE_KEY  # the same text: identity of the Secret object tells keys apart


def _tenant(
    keys: list[dict[str, Any]], hosts: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    tenant = copy.deepcopy(TENANT_MANAGED)
    tenant["sshKeys"] = keys
    tenant["hosts"] = hosts
    tenant["nodeGroups"] = [
        {"name": "train", "hosts": ["gpu-0"]},
        {"name": "infer", "hosts": ["gpu-1"]},
    ]
    tenant.update(extra)
    return tenant


def _hosts(**ssh: dict[str, Any]) -> list[dict[str, Any]]:
    base = [
        {"name": "cp-0", "address": "10.0.0.10", "role": "control-plane",
         "topology": {"rack": "m1"}},
        {"name": "gpu-0", "address": "10.0.1.10", "gpu": {"model": "H100-80GB", "count": 8},
         "topology": {"rack": "r1"}},
        {"name": "gpu-1", "address": "10.0.1.11", "gpu": {"model": "H100-80GB", "count": 8},
         "topology": {"rack": "r2"}},
    ]  # fmt: skip
    for host in base:
        if host["name"] in ssh:
            host["ssh"] = ssh[host["name"]]
    return base


def _key(name: str, **scope: Any) -> dict[str, Any]:
    return {"name": name, "privateKey": PRIVATE_KEY, "user": f"user-{name}", **scope}


KEYS = [
    _key("tenant"),
    _key("rack-r2", racks=["r2"]),
    _key("infer", nodeGroups=["infer"]),
    _key("ops"),
]


@pytest.mark.parametrize(
    ("keys", "ssh", "expected"),
    [
        # the unscoped key is every host's default
        ([_key("tenant")], {}, {"cp-0": "tenant", "gpu-0": "tenant", "gpu-1": "tenant"}),
        # a rack key beats the default; a node-group key beats the rack key
        (KEYS[:2], {}, {"cp-0": "tenant", "gpu-0": "tenant", "gpu-1": "rack-r2"}),
        (KEYS[:3], {}, {"cp-0": "tenant", "gpu-0": "tenant", "gpu-1": "infer"}),
        # a reference beats every scope
        ([KEYS[0], KEYS[2], _key("ops", racks=["x"])], {"gpu-1": {"privateKeyRef": "ops"}},
         {"cp-0": "tenant", "gpu-0": "tenant", "gpu-1": "ops"}),
    ],
)  # fmt: skip
def test_each_host_gets_the_key_of_its_reference_or_scope(
    keys: list[dict[str, Any]], ssh: dict[str, dict[str, Any]], expected: dict[str, str]
) -> None:
    config = parse_tenant(_tenant(keys, _hosts(**ssh)))
    declared = {key.name: key for key in config.ssh_keys}
    for host in config.hosts:
        key = declared[expected[host.name]]
        assert host.ssh.key() is key.private_key  # one secret object, not a copy per host
        assert host.ssh.user == key.user


def test_a_host_user_and_an_inline_key_are_kept() -> None:
    hosts = _hosts(**{"gpu-0": {"user": "root", "privateKey": PRIVATE_KEY}})
    config = parse_tenant(_tenant([_key("tenant")], hosts))
    gpu0 = config.host("gpu-0")
    assert gpu0.ssh.user == "root"
    assert gpu0.ssh.key() is not config.ssh_keys[0].private_key
    assert config.host("gpu-1").ssh.user == "user-tenant"


def _problems(tenant: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_tenant(tenant)
    return [str(p) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("keys", "ssh", "expected"),
    [
        ([_key("tenant")], {"gpu-0": {"privateKeyRef": "tenat"}},
         "gpu-caas:tenant.hosts[1].ssh.privateKeyRef: no key 'tenat' under sshKeys; "
         "did you mean 'tenant'?"),
        ([_key("r1", racks=["r1"])], {},
         "gpu-caas:tenant.hosts[0].ssh.privateKey: is required; set it with `pulumi config set "
         "--stack <stack> --secret --path 'gpu-caas:tenant.hosts[0].ssh.privateKey' < <private "
         "key file>`"),
        ([{"name": "tenant", "privateKey": PRIVATE_KEY}], {},
         "gpu-caas:tenant.hosts[0].ssh.user: is not set: set the login user here or on "
         "sshKeys[0].user"),
        ([_key("a"), _key("a", racks=["r1"])], {},
         "gpu-caas:tenant.sshKeys[1].name: key 'a' is declared twice"),
        ([_key("a"), _key("b")], {},
         "gpu-caas:tenant.sshKeys[1]: a second key without racks or nodeGroups"),
        ([_key("a"), _key("b", racks=["r1"]), _key("c", racks=["r1"])], {},
         "gpu-caas:tenant.sshKeys[2].racks[0]: 'r1' is also in sshKeys[1].racks"),
        ([_key("a"), _key("b", nodeGroups=["trian"])], {},
         "gpu-caas:tenant.sshKeys[1].nodeGroups[0]: no node group 'trian'; did you mean 'train'?"),
        ([_key("a")], {"gpu-0": {"privateKey": PRIVATE_KEY, "privateKeyRef": "a"}},
         "gpu-caas:tenant.hosts[1].ssh: set privateKey or privateKeyRef, not both"),
    ],
)  # fmt: skip
def test_unresolvable_keys_are_named_with_their_key_path(
    keys: list[dict[str, Any]], ssh: dict[str, dict[str, Any]], expected: str
) -> None:
    problems = _problems(_tenant(keys, _hosts(**ssh)))
    assert any(p.startswith(expected) for p in problems), problems


def test_hosts_join_the_node_group_they_name() -> None:
    hosts = _hosts()
    hosts.append({"name": "gpu-2", "address": "10.0.1.12", "nodeGroup": "infer",
                  "gpu": {"model": "H100-80GB", "count": 8}})  # fmt: skip
    config = parse_tenant(_tenant([_key("tenant")], hosts))
    groups = {g.name: g.hosts for g in config.node_groups}
    assert groups == {"train": ["gpu-0"], "infer": ["gpu-1", "gpu-2"]}


def test_a_group_of_hosts_named_only_by_their_nodegroup_is_valid() -> None:
    hosts = _hosts()
    for host in hosts[1:]:
        host["nodeGroup"] = "train"
    tenant = _tenant([_key("tenant")], hosts)
    tenant["nodeGroups"] = [{"name": "train"}]
    config = parse_tenant(tenant)
    assert config.node_groups[0].hosts == ["gpu-0", "gpu-1"]


@pytest.mark.parametrize(
    ("node_group", "groups", "expected"),
    [
        ("trian", None, "gpu-caas:tenant.hosts[1].nodeGroup: no node group 'trian'; did you "
         "mean 'train'?"),
        ("infer", None, "gpu-caas:tenant.hosts[1].nodeGroup: host 'gpu-0' is listed in node "
         "group 'train' but names 'infer'"),
        ("train", [{"name": "train"}, {"name": "empty"}, {"name": "infer", "hosts": ["gpu-1"]}],
         "gpu-caas:tenant.nodeGroups[1]: set exactly one of `hosts`"),
    ],
)  # fmt: skip
def test_node_group_problems(
    node_group: str, groups: list[dict[str, Any]] | None, expected: str
) -> None:
    hosts = _hosts()
    hosts[1]["nodeGroup"] = node_group
    tenant = _tenant([_key("tenant")], hosts)
    if groups is not None:
        tenant["nodeGroups"] = groups
    problems = _problems(tenant)
    assert any(p.startswith(expected) for p in problems), problems


def test_resolution_records_which_group_entries_came_from_hosts() -> None:
    hosts = _hosts()
    hosts.append({"name": "gpu-2", "address": "10.0.1.12", "nodeGroup": "train"})
    config = TenantConfig.model_validate(_tenant([_key("tenant")], hosts))
    resolution = resolve_hosts(config)
    assert resolution.problems == []
    assert resolution.appended == {(0, 1): 3}


def test_an_unresolved_key_is_an_error_not_a_none() -> None:
    config = TenantConfig.model_validate(_tenant([_key("tenant")], _hosts()))
    with pytest.raises(ValueError, match="parse_tenant"):
        config.hosts[0].ssh.key()


def test_a_host_naming_an_unknown_group_gets_one_problem_not_two() -> None:
    # The rule "worker host ... is in no node group; list it in nodeGroups[].hosts" is
    # the wrong fix for a host that names its group (`nodeGroup`, inventory files).
    hosts = _hosts()
    hosts.append({"name": "gpu-2", "address": "10.0.1.12", "nodeGroup": "trian",
                  "gpu": {"model": "H100-80GB", "count": 8}})  # fmt: skip
    problems = _problems(_tenant([_key("tenant")], hosts))
    about_gpu2 = [p for p in problems if "hosts[3]" in p]
    assert about_gpu2 == [
        "gpu-caas:tenant.hosts[3].nodeGroup: no node group 'trian'; did you mean 'train'?; "
        "node groups: train, infer"
    ], problems


@pytest.mark.parametrize(
    ("ssh", "expected"),
    [
        # a key pasted where its name goes: refused, never echoed
        ({"privateKeyRef": PRIVATE_KEY},
         "gpu-caas:tenant.hosts[1].ssh.privateKeyRef: holds a private key, not the name of an "
         "sshKeys entry"),
        ({"privateKeyRef": "Fleet Key"},
         "gpu-caas:tenant.hosts[1].ssh.privateKeyRef: 'Fleet Key' must be the name of an "
         "sshKeys entry, a DNS label"),
        ({"user": PRIVATE_KEY},
         "gpu-caas:tenant.hosts[1].ssh.user: holds a private key, not a login user name"),
        ({"user": "root\nx"}, "gpu-caas:tenant.hosts[1].ssh.user: must be a login user name"),
        ({"user": "ubuntu:x"},
         "gpu-caas:tenant.hosts[1].ssh.user: 'ubuntu:x' must be a login user name"),
        ({"user": "-oProxyCommand=x"},
         "gpu-caas:tenant.hosts[1].ssh.user: '-oProxyCommand=x' must be a login user name"),
        ({"user": "1000"}, "gpu-caas:tenant.hosts[1].ssh.user: '1000' must be a login user name"),
        # looks like `ubuntu`, is another user: a zero-width space, a BOM, a C1 control
        ({"user": "ubuntu\u200b"}, "gpu-caas:tenant.hosts[1].ssh.user: "),
        ({"user": "\ufeffubuntu"}, "gpu-caas:tenant.hosts[1].ssh.user: "),
        ({"user": "ubu\x9bntu"}, "gpu-caas:tenant.hosts[1].ssh.user: "),
        ({"user": "a" * 256}, "gpu-caas:tenant.hosts[1].ssh.user: "),
    ],
)  # fmt: skip
def test_key_references_and_users_are_checked_without_echoing_a_key(
    ssh: dict[str, Any], expected: str
) -> None:
    problems = _problems(_tenant([_key("tenant")], _hosts(**{"gpu-0": ssh})))
    assert any(p.startswith(expected) for p in problems), problems
    body = PRIVATE_KEY.strip().splitlines()[1:-1]
    assert not any("PRIVATE KEY" in p or any(b in p for b in body) for p in problems), problems


@pytest.mark.parametrize(
    "user",
    # cloud images' users, directory-service logins (SSSD/AD), shadow-utils' limits
    ["root", "ubuntu", "ec2-user", "cloud-user", "core", "opc", "azureuser", "_svc",
     "john.doe", "Admin", "jdoe@corp.example.com", "CORP\\jdoe", "1password", "a" * 255],
)  # fmt: skip
def test_login_users_as_shadow_utils_accepts_them(user: str) -> None:
    hosts = _hosts(**{"gpu-0": {"user": user}})
    assert parse_tenant(_tenant([_key("tenant")], hosts)).host("gpu-0").ssh.user == user


def test_a_key_declaration_user_is_checked_too() -> None:
    problems = _problems(_tenant([{**_key("tenant"), "user": "ubuntu admin"}], _hosts()))
    assert any(p.startswith("gpu-caas:tenant.sshKeys[0].user: ") for p in problems), problems
