"""Resolve what hosts refer to by name: their SSH key (`sshKeys`) and node group.

A tenant of thousands of hosts declares each SSH key once, as a Pulumi secret under
`gpu-caas:tenant.sshKeys`, and hosts use it by name (`ssh.privateKeyRef`) or by scope:

1. the host's own `ssh.privateKey` (in-config hosts; one secret per host), else
2. the key its `ssh.privateKeyRef` names, else
3. the key whose `nodeGroups` lists the host's node group, else
4. the key whose `racks` lists the host's `topology.rack`, else
5. the one key with neither `nodeGroups` nor `racks` (the tenant's key).

The login user is the host's `ssh.user`, else the `user` of the key it got. A host's
node group is the group whose `hosts` lists it, or its own `nodeGroup` (what an
inventory file says); `resolve_hosts` appends such hosts to their group's `hosts`.

Every lookup goes through a dict built once, so resolution is linear in the number of
hosts. Every host of the resolved config shares the `SshPrivateKey` object of its key:
the secret exists once, and each host's connection gets it as a secret Output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from stacks.config.errors import Problem, did_you_mean, key_path
from stacks.config.inventory import HostConfig, SshKeyConfig
from stacks.config.node_groups import NodeGroupConfig
from stacks.config.secret import SshPrivateKey
from stacks.config.tenant import TenantConfig


@dataclass
class Resolution:
    """The resolved config and what could not be resolved.

    Attributes:
        config: hosts with `ssh.privateKey` and `ssh.user` set where they could be;
            node groups with the hosts that name them (`hosts[].nodeGroup`) appended.
        problems: unknown key or node-group names, hosts without a key or a user,
            ambiguous or repeated `sshKeys` scopes.
        appended: `(node group index, index in its hosts) -> host index` of every host
            name appended from `hosts[].nodeGroup` (to report a problem of that entry at
            the host's `nodeGroup` key).
    """

    config: TenantConfig
    problems: list[Problem] = field(default_factory=list)
    appended: dict[tuple[int, int], int] = field(default_factory=dict)


@dataclass
class _Scopes:
    """`sshKeys` indexed once: by name, node group, rack, and the unscoped default."""

    by_name: dict[str, int] = field(default_factory=dict)
    by_group: dict[str, int] = field(default_factory=dict)
    by_rack: dict[str, int] = field(default_factory=dict)
    default: int | None = None


def _index_keys(keys: Sequence[SshKeyConfig], groups: set[str]) -> tuple[_Scopes, list[Problem]]:
    scopes, problems = _Scopes(), []
    for i, key in enumerate(keys):
        if key.name in scopes.by_name:
            problems.append(
                Problem(
                    key_path("sshKeys", i, "name"),
                    f"key {key.name!r} is declared twice (first at sshKeys"
                    f"[{scopes.by_name[key.name]}]); declare each key once",
                )
            )
        else:
            scopes.by_name[key.name] = i
        if not key.racks and not key.node_groups:
            if scopes.default is not None:
                problems.append(
                    Problem(
                        key_path("sshKeys", i),
                        f"a second key without racks or nodeGroups (the first is sshKeys"
                        f"[{scopes.default}]): only one key can be the tenant's default; "
                        "scope this one to racks or nodeGroups, or let hosts name it with "
                        "ssh.privateKeyRef",
                    )
                )
            else:
                scopes.default = i
        for what, names, index in (
            ("nodeGroups", key.node_groups, scopes.by_group),
            ("racks", key.racks, scopes.by_rack),
        ):
            for j, name in enumerate(names):
                if what == "nodeGroups" and name not in groups:
                    hint = did_you_mean(name, sorted(groups))
                    problems.append(
                        Problem(
                            key_path("sshKeys", i, what, j),
                            f"no node group {name!r}"
                            + (f"; {hint}" if hint else "")
                            + f"; node groups: {', '.join(sorted(groups)) or 'none'}",
                        )
                    )
                elif name in index and index[name] != i:
                    problems.append(
                        Problem(
                            key_path("sshKeys", i, what, j),
                            f"{name!r} is also in sshKeys[{index[name]}].{what}: give it one key",
                        )
                    )
                else:
                    index.setdefault(name, i)
    return scopes, problems


def _host_groups(config: TenantConfig) -> dict[str, str]:
    """`host name -> node group` from `nodeGroups[].hosts` (the first group wins; rules
    report a host in two groups)."""
    found: dict[str, str] = {}
    for group in config.node_groups:
        for name in group.hosts:
            found.setdefault(name, group.name)
    return found


def _resolve_host(
    i: int,
    host: HostConfig,
    group: str | None,
    keys: Sequence[SshKeyConfig],
    scopes: _Scopes,
    problems: list[Problem],
) -> HostConfig:
    """`host` with its key and user set, or unchanged with the problem recorded."""
    ssh = host.ssh
    key: SshKeyConfig | None = None
    if ssh.private_key is None:
        index: int | None
        if ssh.private_key_ref is not None:
            index = scopes.by_name.get(ssh.private_key_ref)
            if index is None:
                hint = did_you_mean(ssh.private_key_ref, list(scopes.by_name))
                problems.append(
                    Problem(
                        key_path("hosts", i, "ssh", "privateKeyRef"),
                        f"no key {ssh.private_key_ref!r} under sshKeys"
                        + (f"; {hint}" if hint else "")
                        + f"; declared keys: {', '.join(scopes.by_name) or 'none'}",
                    )
                )
                return host
        else:
            index = scopes.by_group.get(group) if group is not None else None
            if index is None and host.topology.rack is not None:
                index = scopes.by_rack.get(host.topology.rack)
            if index is None:
                index = scopes.default
            if index is None:
                path = key_path("hosts", i, "ssh", "privateKey")
                problems.append(
                    Problem(
                        path,
                        f"is required; set it with {SshPrivateKey.set_hint(path)}, or for "
                        "many hosts declare the key once under sshKeys and refer to it with "
                        "ssh.privateKeyRef or scope it to the host's node group, rack or the "
                        "whole tenant (docs/inventory.md)",
                    )
                )
                return host
        key = keys[index]
    user = ssh.user or (key.user if key is not None else None)
    if user is None:
        problems.append(
            Problem(
                key_path("hosts", i, "ssh", "user"),
                "is not set: set the login user here"
                + (f" or on sshKeys[{keys.index(key)}].user" if key is not None else ""),
            )
        )
        return host
    if key is None and ssh.user is not None:
        return host  # its own key and user: nothing to resolve
    update: dict[str, object] = {"user": user}
    if key is not None:
        update["private_key"] = key.private_key
    return host.model_copy(update={"ssh": ssh.model_copy(update=update)})


def resolve_hosts(config: TenantConfig) -> Resolution:
    """Resolve every host's SSH key and user, and node-group membership by `nodeGroup`.

    Returns:
        The `Resolution`; problems are at `gpu-caas:tenant` key paths (a host of an
        inventory file at `hosts[<i>]` as if it were in the config: the loader maps it
        to the file).
    """
    groups = {group.name: g for g, group in enumerate(config.node_groups)}
    scopes, problems = _index_keys(config.ssh_keys, set(groups))
    listed = _host_groups(config)
    extra: dict[int, list[tuple[str, int]]] = {}
    hosts = []
    for i, host in enumerate(config.hosts):
        group = listed.get(host.name)
        if host.node_group is not None:
            if host.node_group not in groups:
                hint = did_you_mean(host.node_group, list(groups))
                problems.append(
                    Problem(
                        key_path("hosts", i, "nodeGroup"),
                        f"no node group {host.node_group!r}"
                        + (f"; {hint}" if hint else "")
                        + f"; node groups: {', '.join(groups) or 'none'}",
                    )
                )
            elif config.node_groups[groups[host.node_group]].autoscale is not None:
                problems.append(
                    Problem(
                        key_path("hosts", i, "nodeGroup"),
                        f"node group {host.node_group!r} is autoscaled (autoscale): it "
                        "takes no inventory hosts; name a node group of hosts",
                    )
                )
            elif group is None:
                group = host.node_group
                extra.setdefault(groups[group], []).append((host.name, i))
            elif group != host.node_group:
                problems.append(
                    Problem(
                        key_path("hosts", i, "nodeGroup"),
                        f"host {host.name!r} is listed in node group {group!r} but names "
                        f"{host.node_group!r}; a host belongs to one node group",
                    )
                )
        hosts.append(_resolve_host(i, host, group, config.ssh_keys, scopes, problems))
    node_groups: list[NodeGroupConfig] = list(config.node_groups)
    appended: dict[tuple[int, int], int] = {}
    for g, members in extra.items():
        group_config = node_groups[g]
        start = len(group_config.hosts)
        for offset, (_name, i) in enumerate(members):
            appended[(g, start + offset)] = i
        node_groups[g] = group_config.model_copy(
            update={"hosts": [*group_config.hosts, *(name for name, _ in members)]}
        )
    for g, group_config in enumerate(node_groups):
        if not group_config.hosts and group_config.autoscale is None:
            problems.append(
                Problem(
                    key_path("nodeGroups", g),
                    "set exactly one of `hosts` (a non-empty list, or hosts naming this "
                    "group with `nodeGroup`) or `autoscale`",
                )
            )
    resolved = config.model_copy(update={"hosts": hosts, "node_groups": node_groups})
    return Resolution(resolved, problems, appended)
