"""Spares, failed hosts and their replacements: `hosts[].state`, `replaces`,
`allowFaultDomainChange` (docs/inventory.md#spares-and-failed-hosts).

A host is `active` (default), `spare` or `failed` (`HostState`):

* a `spare` is a worker in no node group, held in reserve per rack or NVLink domain;
* a `failed` host is out of its node group (it may stay listed there: an inventory
  file keeps its `nodeGroup`): its node is cordoned and tainted, and `active_hosts`
  leaves it out;
* a host with `replaces: <failed host>` takes that host's place in its node group.
  Replacing is one config change: remove the spare's `state: spare`, list it in the
  failed host's group with `replaces`, and mark the failed host `state: failed`.

The rules keep fault domains honest: a replacement has the failed host's GPU model and
count and, when the failed host is in an NVLink domain (or its model is multi-node
NVLink, `components.versions.is_multi_node_nvlink`) or on network rails, the same
NVLink domain and rails, unless `allowFaultDomainChange: true` (then a warning).

Decisions:

* A replacement must be in the failed host's node group (when the failed host is still
  listed in one): it takes that host's place. Adding a host to another group needs no
  `replaces`; the failed host's group then simply runs with one host less.
* Control-plane hosts are neither spared nor failed nor replaced here: a kubeadm
  control-plane host is an etcd member, and changing members (`etcdctl member remove`,
  `kubeadm join --control-plane`) is an operation of its own, not a node drain.

Every rule indexes the hosts once (name -> index, name -> node group), so validating
stays linear in the number of hosts (tests/bench/test_host_tenants.py: 2048 hosts).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.versions import is_multi_node_nvlink
from stacks.config.errors import Problem, closest_match, key_path
from stacks.config.inventory import HostConfig, HostRole, HostState
from stacks.config.node_groups import NodeGroupConfig
from stacks.config.tenant import TenantConfig


def _group(config: TenantConfig, group: NodeGroupConfig | str) -> NodeGroupConfig:
    if isinstance(group, NodeGroupConfig):
        return group
    for candidate in config.node_groups:
        if candidate.name == group:
            return candidate
    raise KeyError(group)


def active_hosts(config: TenantConfig, group: NodeGroupConfig | str) -> list[str]:
    """The hosts of `group` that serve in it: its `hosts` minus `failed` ones, in order.

    Args:
        config: a parsed tenant (after `parse_tenant`, so hosts naming the group with
            `nodeGroup` are in its `hosts`).
        group: the node group, or its name.

    Returns:
        Host names; a name not in the inventory stays (the rules report it).

    Raises:
        KeyError: no node group of that name.
    """
    hosts = _group(config, group).hosts
    by_name = _by_name(config)
    return [
        name for name in hosts if name not in by_name or by_name[name].state is not HostState.FAILED
    ]


def failed_hosts(config: TenantConfig, group: NodeGroupConfig | str) -> list[str]:
    """The hosts of `group` marked `state: failed` (cordoned, tainted, out of the group),
    in the group's order.

    Raises:
        KeyError: no node group of that name.
    """
    hosts = _group(config, group).hosts
    by_name = _by_name(config)
    return [name for name in hosts if name in by_name and by_name[name].state is HostState.FAILED]


def replacements(config: TenantConfig) -> dict[str, str]:
    """`failed host -> the host replacing it` (`replaces`), first replacement wins;
    includes references the rules refuse (the caller runs on a valid config)."""
    found: dict[str, str] = {}
    for host in config.hosts:
        if host.replaces is not None:
            found.setdefault(host.replaces, host.name)
    return found


def _by_name(config: TenantConfig) -> dict[str, HostConfig]:
    found: dict[str, HostConfig] = {}
    for host in config.hosts:
        found.setdefault(host.name, host)
    return found


def _index(config: TenantConfig) -> dict[str, int]:
    found: dict[str, int] = {}
    for i, host in enumerate(config.hosts):
        found.setdefault(host.name, i)
    return found


def _groups_of(config: TenantConfig) -> dict[str, str]:
    """`host name -> node group` (the first group listing it)."""
    found: dict[str, str] = {}
    for group in config.node_groups:
        for name in group.hosts:
            found.setdefault(name, group.name)
    return found


def _gpus(host: HostConfig) -> tuple[str, int] | None:
    return (host.gpu.model.value, host.gpu.count) if host.gpu is not None else None


def _gpus_text(host: HostConfig) -> str:
    gpus = _gpus(host)
    return f"{gpus[1]}x {gpus[0]}" if gpus else "no GPUs"


def _rails_text(rails: tuple[str, ...] | frozenset[str]) -> str:
    return "[" + ", ".join(sorted(rails)) + "]"


def fault_domain_changes(
    config: TenantConfig, failed: HostConfig, replacement: HostConfig
) -> list[tuple[str, str]]:
    """Where `replacement` leaves the fault domain of `failed`: `(key under the
    replacement's hosts[i], what differs)` for the NVLink domain and the rails.

    The NVLink domain must match when the failed host has one or its GPU model is
    multi-node NVLink (GB200/GB300: ComputeDomains and IMEX span the domain, so a host
    elsewhere is not reachable over NVLink from its peers). The rails must match when
    the failed host lists rails or is on any (`TenantConfig.host_rails`): rail-aligned
    jobs expect NIC i of every host on rail i. Rails compare as sets.
    """
    changes: list[tuple[str, str]] = []
    domain = failed.topology.nvlink_domain
    mnnvl = failed.gpu is not None and is_multi_node_nvlink(failed.gpu.model.value)
    if (domain is not None or mnnvl) and replacement.topology.nvlink_domain != domain:
        changes.append(
            (
                "topology.nvlinkDomain",
                f"NVLink domain {replacement.topology.nvlink_domain or 'none'} instead of "
                f"{domain or 'none'}",
            )
        )
    failed_rails = frozenset(config.host_rails(failed))
    if failed.topology.rails is not None or failed_rails:
        rails = frozenset(config.host_rails(replacement))
        if rails != failed_rails:
            changes.append(
                (
                    "topology.rails",
                    f"rails {_rails_text(rails)} instead of {_rails_text(failed_rails)}",
                )
            )
    return changes


@dataclass(frozen=True)
class _Replacement:
    index: int
    host: HostConfig
    failed_index: int
    failed: HostConfig


def _control_plane_problems(i: int, host: HostConfig) -> list[Problem]:
    problems = []
    if host.state is HostState.SPARE:
        problems.append(
            Problem(
                key_path("hosts", i, "state"),
                "a control-plane host may not be spare: spares are workers in no node "
                "group, waiting to replace a failed worker; remove `state: spare`, or give "
                "the host role 'worker'",
            )
        )
    elif host.state is HostState.FAILED:
        problems.append(
            Problem(
                key_path("hosts", i, "state"),
                "a control-plane host cannot be marked failed: it is an etcd member, and "
                "replacing one (etcdctl member remove, kubeadm join --control-plane) is not "
                "a node drain; repair the host, or replace it by hand and update the "
                "inventory (docs/inventory.md#spares-and-failed-hosts)",
            )
        )
    if host.replaces is not None:
        problems.append(
            Problem(
                key_path("hosts", i, "replaces"),
                "only workers replace failed hosts; remove it",
            )
        )
    return problems


def _target_problem(
    config: TenantConfig, i: int, host: HostConfig, index: dict[str, int], failed: list[str]
) -> Problem | None:
    """Why `host.replaces` names no failed worker, or None (`failed`: the names of the
    failed hosts, for the "did you mean")."""
    target = host.replaces
    assert target is not None
    path = key_path("hosts", i, "replaces")
    if host.state is not HostState.ACTIVE:
        return Problem(
            path,
            f"a {host.state.value} host replaces nothing: remove `state: "
            f"{host.state.value}` from {host.name!r} so it serves in the failed host's place",
        )
    if target == host.name:
        return Problem(path, "a host cannot replace itself; name the failed host")
    j = index.get(target)
    if j is None:
        meant = closest_match(target, failed) or closest_match(target, list(index))
        return Problem(
            path,
            f"unknown host {target!r}"
            + (f"; did you mean {meant!r}?" if meant else "")
            + f"; failed hosts: {', '.join(failed) or 'none'}",
        )
    failed_host = config.hosts[j]
    if failed_host.state is not HostState.FAILED:
        return Problem(
            path,
            f"host {target!r} (hosts[{j}]) is {failed_host.state.value}: a replacement takes "
            f"a failed host's place; set `state: failed` on {target!r} in the same change",
        )
    return None


def _replacements(config: TenantConfig) -> tuple[list[_Replacement], list[Problem]]:
    """The valid `replaces` pairs, and the problems of the others."""
    index = _index(config)
    failed_names = [h.name for h in config.hosts if h.state is HostState.FAILED]
    problems: list[Problem] = []
    pairs: list[_Replacement] = []
    first: dict[str, int] = {}
    for i, host in enumerate(config.hosts):
        if host.role is HostRole.CONTROL_PLANE:
            continue  # _control_plane_problems
        if host.replaces is None:
            if host.allow_fault_domain_change:
                problems.append(
                    Problem(
                        key_path("hosts", i, "allowFaultDomainChange"),
                        "only applies with `replaces` (a replacement of a failed host); remove it",
                    )
                )
            continue
        problem = _target_problem(config, i, host, index, failed_names)
        if problem is not None:
            problems.append(problem)
            continue
        j = index[host.replaces]
        failed = config.hosts[j]
        if failed.role is HostRole.CONTROL_PLANE:
            continue  # refused at the failed host's state
        if host.replaces in first:
            k = first[host.replaces]
            problems.append(
                Problem(
                    key_path("hosts", i, "replaces"),
                    f"host {host.replaces!r} is already replaced by hosts[{k}] "
                    f"({config.hosts[k].name!r}); a failed host has one replacement",
                )
            )
            continue
        first[host.replaces] = i
        pairs.append(_Replacement(i, host, j, failed))
    return pairs, problems


def host_state_rules(config: TenantConfig) -> list[Problem]:
    """Spares are in no node group; control-plane hosts are never spare, failed or a
    replacement; `replaces` names one failed worker, once, from its node group, with
    its GPUs and (unless `allowFaultDomainChange`) its NVLink domain and rails.

    Returns:
        Problems at `hosts[i].state`, `hosts[i].replaces`, `hosts[i].gpu`,
        `hosts[i].topology.nvlinkDomain` / `.rails`, `hosts[i].allowFaultDomainChange`
        and `nodeGroups[g].hosts[j]` (a spare listed in a group).
    """
    problems: list[Problem] = []
    by_name = _by_name(config)
    for g, group in enumerate(config.node_groups):
        for j, name in enumerate(group.hosts):
            host = by_name.get(name)
            if host is not None and host.role is HostRole.WORKER and host.state is HostState.SPARE:
                problems.append(
                    Problem(
                        key_path("nodeGroups", g, "hosts", j),
                        f"host {name!r} is a spare: a spare is in no node group: to use it, "
                        "remove `state: spare` and set `replaces: <failed host>`",
                    )
                )
    for i, host in enumerate(config.hosts):
        if host.role is HostRole.CONTROL_PLANE:
            problems.extend(_control_plane_problems(i, host))
    pairs, found = _replacements(config)
    problems.extend(found)
    groups = _groups_of(config)
    for pair in pairs:
        target, host = pair.failed.name, pair.host
        failed_group, own_group = groups.get(target), groups.get(host.name)
        if failed_group is not None and own_group is not None and failed_group != own_group:
            problems.append(
                Problem(
                    key_path("hosts", pair.index, "replaces"),
                    f"{target!r} is in node group {failed_group!r}, {host.name!r} in "
                    f"{own_group!r}: a replacement takes the failed host's place in its group; "
                    f"put {host.name!r} in {failed_group!r}, or drop `replaces` to add it "
                    f"to {own_group!r} as a new host",
                )
            )
        if _gpus(host) != _gpus(pair.failed):
            problems.append(
                Problem(
                    key_path("hosts", pair.index, "gpu"),
                    f"the replacement of {target!r} must have its GPUs "
                    f"({_gpus_text(pair.failed)}); {host.name!r} has {_gpus_text(host)}: pick a "
                    "spare with the same GPUs",
                )
            )
        if host.allow_fault_domain_change:
            continue  # warned in host_state_warnings
        for key, change in fault_domain_changes(config, pair.failed, host):
            problems.append(
                Problem(
                    key_path("hosts", pair.index, *key.split(".")),
                    f"the replacement of {target!r} has {change}: a replacement stays in "
                    "the failed host's fault domain (NVLink domain, rails); pick a spare "
                    "there, or set allowFaultDomainChange: true to accept the change",
                )
            )
    return problems


def _spare_keys(config: TenantConfig) -> set[tuple[object, ...]]:
    """What the spares offer, as lookup keys: `(gpus, "nvlink", domain)`, `(gpus,
    "rack", rack)` and `(gpus, "any")`."""
    keys: set[tuple[object, ...]] = set()
    for host in config.hosts:
        if host.state is HostState.SPARE and host.role is HostRole.WORKER:
            gpus = _gpus(host)
            keys.add((gpus, "any"))
            if host.topology.nvlink_domain is not None:
                keys.add((gpus, "nvlink", host.topology.nvlink_domain))
            if host.topology.rack is not None:
                keys.add((gpus, "rack", host.topology.rack))
    return keys


def host_state_warnings(config: TenantConfig) -> list[Problem]:
    """A replacement that changes the fault domain (`allowFaultDomainChange`), and a
    failed worker with no replacement and no spare with its GPUs in its NVLink domain
    (else its rack, else anywhere)."""
    found: list[Problem] = []
    pairs, _ = _replacements(config)
    for pair in pairs:
        if not pair.host.allow_fault_domain_change:
            continue
        changes = fault_domain_changes(config, pair.failed, pair.host)
        if changes:
            found.append(
                Problem(
                    key_path("hosts", pair.index, "allowFaultDomainChange"),
                    f"the fault domain changes: {pair.host.name!r} replaces "
                    f"{pair.failed.name!r} with "
                    + " and ".join(change for _, change in changes)
                    + "; jobs placed by NVLink domain or rail see a different host set",
                )
            )
    replaced = replacements(config)
    spares = _spare_keys(config)
    for i, host in enumerate(config.hosts):
        if (
            host.state is not HostState.FAILED
            or host.role is not HostRole.WORKER
            or host.name in replaced
        ):
            continue
        gpus, domain, rack = _gpus(host), host.topology.nvlink_domain, host.topology.rack
        key: tuple[object, ...]
        if domain is not None:
            where, key = f"NVLink domain {domain}", (gpus, "nvlink", domain)
        elif rack is not None:
            where, key = f"rack {rack}", (gpus, "rack", rack)
        else:
            where, key = "the inventory", (gpus, "any")
        if key not in spares:
            found.append(
                Problem(
                    key_path("hosts", i, "state"),
                    f"failed host {host.name!r} has no replacement and there is no spare "
                    f"with its GPUs ({_gpus_text(host)}) in {where}: its node group runs "
                    "without it; add a spare there (`state: spare`), or a host with "
                    f"`replaces: {host.name}`",
                )
            )
    return found
