"""Cross-field rules run after parsing; each returns problems, so all are reported at once.

Each rule is a pure function `TenantConfig -> list[Problem]`; `check` runs them all.

A reference that does not resolve (a node group listing a host that is not a worker of
the inventory, a host on a rail without a network) is reported once, where it is
written, with a "did you mean"; rules that depend on what it refers to skip it instead
of adding a second, misleading problem (e.g. "mode 'mig' needs GPUs" for a group whose
only host is a typo).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

from components.gpu.catalog import (
    COMPUTE_SLICES,
    DeclaredGpuModel,
    ModelName,
    spec,
    validate_mig_layout,
)
from components.isolation.tenant_namespaces import LABEL_TEAM
from components.naming import RESERVED_LABEL_KEYS, RESERVED_LABEL_PREFIXES, is_reserved_label
from stacks.config.commands import config_set_command
from stacks.config.control_plane import ControlPlaneBackend
from stacks.config.errors import Problem, closest_match, did_you_mean, key_path
from stacks.config.gpu import gpu_rules, gpu_warnings
from stacks.config.gpu_network import network_rules, nim_warnings
from stacks.config.gpu_quota import quota_warnings
from stacks.config.host_states import host_state_rules, host_state_warnings
from stacks.config.inventory import HostRole, HostState
from stacks.config.isolation import isolation_rules
from stacks.config.node_groups import NodeGroupConfig, SharingMode
from stacks.config.placement import placement_problems, placement_warnings
from stacks.config.services import karpenter_sharing_warnings, services_rules, services_warnings
from stacks.config.tenant import ALLOWED_BACKENDS, TenantConfig
from stacks.config.upgrades import node_group_upgrade_warnings, node_group_version_rules

HA_CONTROL_PLANE_HOSTS = 3
"""kubeadm HA: stacked etcd needs an odd quorum; 3 tolerates one failure."""


def check(config: TenantConfig) -> list[Problem]:
    """All cross-field problems of `config`, sorted by key path.

    The placement check (`PLACEMENT_RULES`) runs only on a config without other
    problems: on a broken inventory or backend it would report their consequences
    ("no node for ...") a second time, misleadingly.
    """
    problems: list[Problem] = []
    for rule in RULES:
        problems.extend(rule(config))
    if not problems:
        for rule in PLACEMENT_RULES:
            problems.extend(rule(config))
    return sorted(problems, key=lambda problem: problem.path)


def backend_fits_flavor(config: TenantConfig) -> list[Problem]:
    """The backend must be one the flavor allows; only its own settings may be given."""
    problems = []
    allowed = ALLOWED_BACKENDS[config.flavor]
    backend = config.backend
    if backend not in allowed:
        problems.append(
            Problem(
                key_path("controlPlane", "backend"),
                f"backend {backend.value!r} is not available for flavor "
                f"{config.flavor.value!r}; allowed: {', '.join(b.value for b in allowed)}",
            )
        )
    cp = config.control_plane
    for other, settings in (
        (ControlPlaneBackend.HOSTED, cp.hosted),
        (ControlPlaneBackend.KUBEADM, cp.kubeadm),
        (ControlPlaneBackend.EXTERNAL, cp.external),
    ):
        if settings is not None and other is not backend:
            problems.append(
                Problem(
                    key_path("controlPlane", other.value),
                    f"only applies to backend {other.value!r}, but the backend is "
                    f"{backend.value!r}; remove it",
                )
            )
    if backend is ControlPlaneBackend.HOSTED and cp.hosted is None:
        problems.append(
            Problem(
                key_path("controlPlane", "hosted"),
                "is required for backend 'hosted' (at least `managementKubeconfig`)",
            )
        )
    if backend is ControlPlaneBackend.EXTERNAL and cp.external is None:
        problems.append(
            Problem(
                key_path("controlPlane", "external"),
                "is required for backend 'external' (`kubeconfig` or `stackReference`)",
            )
        )
    return problems


def control_plane_hosts(config: TenantConfig) -> list[Problem]:
    """kubeadm needs 1 (or, for HA, an odd number >= 3) control-plane hosts; others none."""
    cp_hosts = config.control_plane_hosts
    path = key_path("hosts")
    if config.backend is not ControlPlaneBackend.KUBEADM:
        return [
            Problem(
                key_path("hosts", config.hosts.index(h), "role"),
                f"role 'control-plane' needs backend 'kubeadm'; backend "
                f"{config.backend.value!r} runs the control plane elsewhere, use 'worker'",
            )
            for h in cp_hosts
        ]
    problems = []
    if config.control_plane.ha:
        if len(cp_hosts) < HA_CONTROL_PLANE_HOSTS or len(cp_hosts) % 2 == 0:
            problems.append(
                Problem(
                    path,
                    f"an HA control plane (controlPlane.ha: true) with backend 'kubeadm' "
                    f"needs an odd number >= {HA_CONTROL_PLANE_HOSTS} of hosts with role "
                    f"'control-plane' (etcd quorum); found {len(cp_hosts)}",
                )
            )
        kubeadm = config.control_plane.kubeadm
        if kubeadm is None or kubeadm.endpoint is None:
            problems.append(
                Problem(
                    key_path("controlPlane", "kubeadm", "endpoint"),
                    "is required when ha: true: a stable host[:port] (VIP or load "
                    "balancer DNS name) in front of the control-plane hosts",
                )
            )
    elif len(cp_hosts) != 1:
        problems.append(
            Problem(
                path,
                "a non-HA control plane with backend 'kubeadm' needs exactly 1 host with "
                f"role 'control-plane'; found {len(cp_hosts)} (set controlPlane.ha: true "
                "for 3)",
            )
        )
    return problems


def unique_names(config: TenantConfig) -> list[Problem]:
    """Host names/addresses, node group names and team names/namespaces are unique."""
    problems = []

    def duplicates(section: str, values: list[str], what: str, whats: str) -> None:
        seen: dict[str, int] = {}
        for i, value in enumerate(values):
            if value in seen:
                problems.append(
                    Problem(
                        key_path(section, i, what),
                        f"{value!r} is already used by {section}[{seen[value]}]; "
                        f"{whats} must be unique",
                    )
                )
            else:
                seen[value] = i

    duplicates("hosts", [h.name for h in config.hosts], "name", "names")
    duplicates("hosts", [h.address for h in config.hosts], "address", "addresses")
    duplicates("nodeGroups", [g.name for g in config.node_groups], "name", "names")
    duplicates("teams", [t.name for t in config.teams], "name", "names")
    owner: dict[str, str] = {}
    for i, team in enumerate(config.teams):
        for namespace in team.effective_namespaces:
            if namespace in owner and owner[namespace] != team.name:
                problems.append(
                    Problem(
                        key_path("teams", i, "namespaces"),
                        f"namespace {namespace!r} already belongs to team "
                        f"{owner[namespace]!r}; a namespace has one team",
                    )
                )
            owner.setdefault(namespace, team.name)
    return problems


def unresolved_host_references(config: TenantConfig) -> dict[int, list[str]]:
    """Node group index -> the hosts it lists that are not usable workers.

    A listed host is unresolved when it is not in the inventory, has role
    'control-plane', or the cluster is external (an ISV cluster joins no hosts).
    `node_group_hosts` reports each; rules about the group's GPUs skip the group,
    whose GPU model is then unknown (not "none").
    """
    names = {h.name: h for h in config.hosts}
    external = config.backend is ControlPlaneBackend.EXTERNAL
    unresolved: dict[int, list[str]] = {}
    for i, group in enumerate(config.node_groups):
        bad = [
            name
            for name in group.hosts
            if external or name not in names or names[name].role is not HostRole.WORKER
        ]
        if bad:
            unresolved[i] = bad
    return unresolved


def _meant_host(config: TenantConfig, name: str) -> str | None:
    """The inventory host an unknown host `name` most likely meant, or None.

    Worker hosts that no node group lists come first: a typo leaves its host
    ungrouped, so among equally close names that one is the likelier.
    """
    listed = {host for group in config.node_groups for host in group.hosts}
    ungrouped = [h.name for h in config.hosts if h.role is HostRole.WORKER and h.name not in listed]
    return closest_match(name, ungrouped) or closest_match(name, [h.name for h in config.hosts])


def _suggested_hosts(config: TenantConfig) -> set[str]:
    """Inventory hosts that some unknown node-group host name looks like a typo of."""
    names = {h.name for h in config.hosts}
    unknown = {name for group in config.node_groups for name in group.hosts} - names
    return {match for name in unknown if (match := _meant_host(config, name)) is not None}


def node_group_hosts(config: TenantConfig) -> list[Problem]:
    """Listed hosts exist, are workers, belong to one group; every active worker is in
    a group (spares are in none; a failed host may have left its group).

    A worker that an unknown host name looks like a typo of (the "did you mean" of
    that name) is not also reported as in no node group.
    """
    problems = []
    names = {h.name: h for h in config.hosts}
    member: dict[str, str] = {}
    for i, group in enumerate(config.node_groups):
        if group.hosts and config.backend is ControlPlaneBackend.EXTERNAL:
            problems.append(
                Problem(
                    key_path("nodeGroups", i, "hosts"),
                    "cannot join hosts to an ISV-managed (external) cluster: the ISV "
                    "platform owns its nodes; use `autoscale` or drop the node group",
                )
            )
            continue
        for j, name in enumerate(group.hosts):
            path = key_path("nodeGroups", i, "hosts", j)
            host = names.get(name)
            if host is None:
                known = ", ".join(names) or "none"
                meant = _meant_host(config, name)
                hint = f"did you mean {meant!r}?" if meant else ""
                problems.append(
                    Problem(
                        path,
                        f"unknown host {name!r}; {hint + ' ' if hint else ''}"
                        f"hosts in the inventory: {known}",
                    )
                )
            elif host.role is HostRole.CONTROL_PLANE:
                problems.append(
                    Problem(
                        path,
                        f"host {name!r} has role 'control-plane'; node groups "
                        "take worker hosts only",
                    )
                )
            elif name in member:
                problems.append(
                    Problem(
                        path,
                        f"host {name!r} is already in node group {member[name]!r}; a host "
                        "belongs to one node group",
                    )
                )
            else:
                member[name] = group.name
    typos_of = _suggested_hosts(config)
    for i, host in enumerate(config.hosts):
        if (
            host.role is HostRole.WORKER
            # A spare is in no group by definition, a failed one is out of its group.
            and host.state is HostState.ACTIVE
            and host.name not in member
            and host.name not in typos_of
            # A host that names its group (`nodeGroup`, inventory files) is placed by
            # host_resolution, which reports an unknown or autoscaled group there.
            and host.node_group is None
            and not any(host.name in g.hosts for g in config.node_groups)
        ):
            problems.append(
                Problem(
                    key_path("hosts", i, "name"),
                    f"worker host {host.name!r} is in no node group; list it in nodeGroups[].hosts",
                )
            )
    return problems


def _group_gpu(config: TenantConfig, group: NodeGroupConfig) -> tuple[ModelName | None, bool]:
    """(GPU model of the group or None, whether models are mixed).

    The model is the configured object (a declared model keeps its stated facts).
    """
    if group.autoscale is not None:
        return (group.autoscale.gpu.model if group.autoscale.gpu else None), False
    # Per group only its own hosts, each a dict lookup: linear in the hosts overall.
    models: dict[str | None, ModelName | None] = {}
    for name in group.hosts:
        try:
            host = config.host(name)
        except KeyError:
            continue  # reported by node_group_hosts
        if host.role is HostRole.WORKER:
            gpu = host.gpu
            models[gpu.model.value if gpu else None] = gpu.model if gpu else None
    if len(models) > 1:
        return None, True
    return (next(iter(models.values())) if models else None), False


def node_group_gpus(config: TenantConfig) -> list[Problem]:
    """One GPU model per group; sharing modes need GPUs; MIG layouts fit the model.

    Groups listing unresolved hosts are skipped: their GPU model is unknown, and
    `node_group_hosts` already reports the host.
    """
    problems = []
    unresolved = unresolved_host_references(config)
    for i, group in enumerate(config.node_groups):
        if i in unresolved:
            continue
        model, mixed = _group_gpu(config, group)
        if mixed:
            problems.append(
                Problem(
                    key_path("nodeGroups", i, "hosts"),
                    "hosts have different GPU models (or some have none); a node group "
                    "has one GPU model, split it into several groups",
                )
            )
            continue
        mode = group.sharing.mode
        if mode is not SharingMode.EXCLUSIVE and model is None:
            problems.append(
                Problem(
                    key_path("nodeGroups", i, "sharing", "mode"),
                    f"mode {mode.value!r} needs GPUs, but the node group has none",
                )
            )
        if mode is SharingMode.MIG and model is not None and group.sharing.mig is not None:
            problems.extend(
                Problem(key_path("nodeGroups", i, "sharing", "mig", "layout"), message)
                for message in validate_mig_layout(model, group.sharing.mig.layout)
            )
    return problems


def labels_and_taints(config: TenantConfig) -> list[Problem]:
    """User labels and taints may not override the keys the platform sets."""
    problems = []
    for i, group in enumerate(config.node_groups):
        for key in group.labels:
            if is_reserved_label(key):
                problems.append(
                    Problem(
                        key_path("nodeGroups", i, "labels", key),
                        "is set by the platform and cannot be overridden; reserved: "
                        + ", ".join(
                            [
                                *sorted(RESERVED_LABEL_KEYS),
                                *(f"{prefix}*" for prefix in RESERVED_LABEL_PREFIXES),
                            ]
                        ),
                    )
                )
        keys = Counter((t.key, t.effect) for t in group.taints)
        for j, taint in enumerate(group.taints):
            if keys[(taint.key, taint.effect)] > 1:
                problems.append(
                    Problem(
                        key_path("nodeGroups", i, "taints", j),
                        f"taint {taint.key!r} with effect {taint.effect.value!r} is listed "
                        "more than once",
                    )
                )
                keys[(taint.key, taint.effect)] = 0
    return problems


SOFT_SHARING_DOCS = (
    "https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-sharing.html"
)
"""NVIDIA: time-slicing gives no memory or fault isolation between the replicas; MPS
limits memory per client but a fault ends every client of the GPU."""
_SOFT_SHARING = (SharingMode.TIME_SLICING, SharingMode.MPS)


def team_node_groups(config: TenantConfig) -> list[Problem]:
    """`nodeGroups[].team`: required on time-slicing and MPS groups, a configured team,
    only on groups with GPUs; `gpu-caas.io/team` is not set by hand.

    A group whose GPU model is unknown (unresolved hosts, mixed models), or that shares
    GPUs it does not have, is not judged on "has GPUs": `node_group_hosts` /
    `node_group_gpus` already report it.
    """
    problems = []
    teams = [team.name for team in config.teams]
    unresolved = unresolved_host_references(config)
    for i, group in enumerate(config.node_groups):
        path = key_path("nodeGroups", i, "team")
        mode = group.sharing.mode
        if group.team is None and mode in _SOFT_SHARING:
            problems.append(
                Problem(
                    path,
                    f"is required with mode {mode.value!r}: time-slicing and MPS give no "
                    "memory or fault isolation between pods sharing a GPU "
                    f"({SOFT_SHARING_DOCS}): name the one team allowed on it with "
                    f"nodeGroups[{i}].team (teams: {', '.join(teams) or 'none; add one to teams'})",
                )
            )
        elif group.team is not None and group.team not in teams:
            hint = did_you_mean(group.team, teams)
            problems.append(
                Problem(
                    path,
                    f"unknown team {group.team!r}; {hint + ' ' if hint else ''}"
                    f"teams: {', '.join(teams) or 'none (add it to teams)'}",
                )
            )
        elif group.team is not None and i not in unresolved and mode is SharingMode.EXCLUSIVE:
            # Other modes without GPUs are refused by `node_group_gpus` already.
            model, mixed = _group_gpu(config, group)
            if model is None and not mixed:
                problems.append(
                    Problem(
                        path,
                        "dedicates a group's GPUs to a team, but the node group has none; "
                        "remove it (CPU nodes tainted for one team would keep the "
                        "platform's own workloads off)",
                    )
                )
        if LABEL_TEAM in group.labels:
            problems.append(
                Problem(
                    key_path("nodeGroups", i, "labels", LABEL_TEAM),
                    f"is set from nodeGroups[{i}].team; set `team` instead",
                )
            )
        problems.extend(
            Problem(
                key_path("nodeGroups", i, "taints", j),
                f"taint {LABEL_TEAM!r} is set from nodeGroups[{i}].team; set `team` instead",
            )
            for j, taint in enumerate(group.taints)
            if taint.key == LABEL_TEAM
        )
    return problems


def topology(config: TenantConfig) -> list[Problem]:
    """Multi-node NVLink hosts (GB200) need an NVLink domain; other hosts may not have one."""
    problems = []
    for i, host in enumerate(config.hosts):
        domain = host.topology.nvlink_domain
        model = host.gpu.model if host.gpu is not None else None
        mnnvl = model is not None and spec(model).multi_node_nvlink
        if mnnvl and domain is None and model is not None:
            problems.append(
                Problem(
                    key_path("hosts", i, "topology", "nvlinkDomain"),
                    f"is required for {model.value} hosts: "
                    "their GPUs share an NVLink domain across nodes (e.g. the NVL72 rack); "
                    "ComputeDomains and IMEX schedule by it",
                )
            )
        elif domain is not None and not mnnvl:
            problems.append(
                Problem(
                    key_path("hosts", i, "topology", "nvlinkDomain"),
                    "only applies to hosts with multi-node NVLink GPUs (GB200-186GB, "
                    "GB300-278GB); remove it",
                )
            )
    return problems


def _declared_gpus(config: TenantConfig) -> list[tuple[str, DeclaredGpuModel]]:
    """(key path of `gpu.model`, model) of every host and autoscaled group whose GPU
    model is outside the catalog."""
    found = [
        (key_path("hosts", i, "gpu", "model"), host.gpu.model)
        for i, host in enumerate(config.hosts)
        if host.gpu is not None and isinstance(host.gpu.model, DeclaredGpuModel)
    ]
    found += [
        (key_path("nodeGroups", i, "autoscale", "gpu", "model"), group.autoscale.gpu.model)
        for i, group in enumerate(config.node_groups)
        if group.autoscale is not None
        and group.autoscale.gpu is not None
        and isinstance(group.autoscale.gpu.model, DeclaredGpuModel)
    ]
    return [(path, model) for path, model in found if not model.listed]


def _facts(model: DeclaredGpuModel) -> tuple[str | None, int | None, bool | None]:
    return model.product_label, model.memory_gb, model.mig


def declared_gpu_facts_agree(config: TenantConfig) -> list[Problem]:
    """Every host (and autoscaled group) naming the same model outside the catalog
    states the same facts: node groups and MIG checks go by the model name."""
    problems = []
    first: dict[str, tuple[str, DeclaredGpuModel]] = {}
    for path, model in _declared_gpus(config):
        seen = first.setdefault(model.value, (path, model))
        if _facts(seen[1]) != _facts(model):
            label, memory, mig = _facts(seen[1])
            problems.append(
                Problem(
                    path,
                    f"states other facts for GPU model {model.value!r} than {seen[0]} "
                    f"(productLabel {label}, memoryGb {memory}, mig {str(mig).lower()}); "
                    "one model has one set of facts: make them equal, or give the other "
                    "GPU another model name",
                )
            )
    return problems


def declared_gpu_warnings(config: TenantConfig) -> list[Problem]:
    """A GPU model outside the catalog is accepted with the host's facts: say, at its
    key, which checks that skips; and at a MIG layout on it, which checks remain."""
    found = []
    for path, model in _declared_gpus(config):
        found.append(
            Problem(
                path,
                f"GPU model {model.value!r} is not in the catalog; accepted with the stated "
                f"facts (productLabel {model.product_label}, memoryGb {model.memory_gb}, "
                f"mig {str(model.mig).lower()}). Skipped: checking those facts against "
                "NVIDIA's data, MIG profile names, instance counts and placements, "
                "multi-node NVLink (assumed none: no nvlinkDomain, no ComputeDomains) and "
                "whether it needs the open GPU kernel modules",
            )
        )
    for i, group in enumerate(config.node_groups):
        group_model, mixed = _group_gpu(config, group)
        if (
            mixed
            or not isinstance(group_model, DeclaredGpuModel)
            or group_model.listed
            or group.sharing.mode is not SharingMode.MIG
            or group.sharing.mig is None
        ):
            continue
        found.append(
            Problem(
                key_path("nodeGroups", i, "sharing", "mig", "layout"),
                f"checked only for profile-name syntax, counts, at most {COMPUTE_SLICES} compute "
                f"slices and the stated memoryGb: {group_model.value!r} is not in the "
                "catalog, so its MIG profiles and placements are unknown; mig-manager "
                "refuses a layout the "
                "GPU cannot place (node label nvidia.com/mig.config.state=failed)",
            )
        )
    return found


def gpu_platform(config: TenantConfig) -> list[Problem]:
    """`gpu_rules` (stacks/config/gpu.py), minus verdicts on the GPU model of node groups
    that list unresolved hosts: a ComputeDomain on such a group is not on "a CPU-only
    node group", its model is unknown until the host reference is fixed."""
    broken = {config.node_groups[i].name for i in unresolved_host_references(config)}
    skip = {
        key_path("gpu", "dra", "domains", i, "nodeGroup")
        for i, domain in enumerate(config.gpu.dra.domains)
        if domain.node_group in broken
    }
    return [p for p in _pairs(gpu_rules)(config) if p.path not in skip]


def _pairs(
    rule: Callable[[TenantConfig], Sequence[Problem | tuple[str, str]]],
) -> Callable[[TenantConfig], list[Problem]]:
    """Adapt an area rule returning `(path, message)` pairs (or Problems) to `Problem`s."""

    def adapted(config: TenantConfig) -> list[Problem]:
        return [item if isinstance(item, Problem) else Problem(*item) for item in rule(config)]

    adapted.__name__ = rule.__name__
    return adapted


RULES: tuple[Callable[[TenantConfig], list[Problem]], ...] = (
    backend_fits_flavor,
    control_plane_hosts,
    unique_names,
    node_group_hosts,
    node_group_gpus,
    declared_gpu_facts_agree,
    labels_and_taints,
    team_node_groups,
    topology,
    host_state_rules,
    node_group_version_rules,
    # Each platform area owns its cross-field rules next to its models.
    gpu_platform,
    _pairs(network_rules),
    _pairs(services_rules),
    _pairs(isolation_rules),
)

PLACEMENT_RULES: tuple[Callable[[TenantConfig], list[Problem]], ...] = (placement_problems,)
"""Where the platform's workloads run (stacks/config/placement.py); after `RULES`."""

WARNINGS: tuple[Callable[[TenantConfig], list[Problem]], ...] = (
    declared_gpu_warnings,
    host_state_warnings,
    node_group_upgrade_warnings,
    _pairs(services_warnings),
    _pairs(karpenter_sharing_warnings),
    _pairs(nim_warnings),
    _pairs(gpu_warnings),
    quota_warnings,
    placement_warnings,
)
"""Valid, but probably not what the operator meant: shown, never fatal."""


def stack_name(config: TenantConfig, stack: str) -> list[Problem]:
    """Warn when the tenant `name` is not the stack's name, nor a `-`/`_`/`.` part of it.

    Cluster, resource and namespace names come from the tenant name, so a stack file
    copied from another tenant that kept its `name` collides with that tenant's
    resources (e.g. the hosted control plane's `tenant-<name>` namespace). Stacks named
    `<tenant>-<stage>` or `<env>-<tenant>` (e.g. the sandbox's `sandbox-dev`) are fine.

    Args:
        config: the parsed tenant.
        stack: the stack name: the `<stack>` of `Pulumi.<stack>.yaml`, or
            `pulumi.get_stack()` in the program.
    """
    if re.search(rf"(^|[-_.]){re.escape(config.name)}($|[-_.])", stack):
        return []
    return [
        Problem(
            key_path("name"),
            f"tenant name {config.name!r} differs from the stack name {stack!r}; cluster, "
            "resource and namespace names come from the tenant name, so a stack file "
            "copied from another tenant collides with it: set `name` to the tenant of "
            f"this stack (`{config_set_command(key_path('name'), stack, stack)}`), or "
            "name the stack after the tenant",
        )
    ]


def warnings(config: TenantConfig, stack: str | None = None) -> list[Problem]:
    """Every warning-level finding of `config` (with `stack`: also `stack_name`)."""
    found: list[Problem] = []
    for rule in WARNINGS:
        if rule is placement_warnings and any(r(config) for r in RULES):
            continue  # placement of a broken config is not worth a warning
        found.extend(rule(config))
    if stack is not None:
        found.extend(stack_name(config, stack))
    return found
