"""Kubernetes version skew and upgrade paths: the config against itself and against
what the last deployment recorded (`stacks.config.deployed.DeployedState`).

Upstream rules (https://kubernetes.io/releases/version-skew-policy/):

* the control plane moves one minor version at a time: kubeadm refuses more
  ("Skipping MINOR versions when upgrading is unsupported",
  https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/), and
  Kamaji's TenantControlPlane webhook refuses "a minor version in a non-sequential mode"
  (https://github.com/clastix/kamaji/blob/master/internal/webhook/handlers/tcp_version.go);
* no downgrade: kubeadm ("Downgrades are not supported yet",
  https://github.com/kubernetes/kubernetes/blob/master/cmd/kubeadm/app/phases/upgrade/policy.go)
  and Kamaji ("unable to downgrade a TenantControlPlane") refuse it;
* a kubelet is never newer than the API server and at most three minors older
  (https://kubernetes.io/releases/version-skew-policy/#kubelet).

Two kinds of rule:

* static, on the config alone (`node_group_version_rules`, in `rules.RULES`): a node
  group's `kubernetesVersion` against `kubernetes.version`, and keys that only apply to
  groups of hosts;
* day-2, against the record (`upgrade_problems`, `upgrade_warnings`): one minor step at
  a time for the control plane and each group's kubelets, no downgrade, no backend
  switch, no version change of an `external` (ISV) control plane. Run them on a config
  that passed `rules.check` (which holds the static skew rule).

Staged upgrades are allowed: move `kubernetes.version` one minor while a group pins
its old `kubernetesVersion`, then move the group (one `pulumi up` each).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

from stacks.config.control_plane import ControlPlaneBackend
from stacks.config.deployed import DeployedState
from stacks.config.errors import Problem, key_path
from stacks.config.host_states import active_hosts
from stacks.config.inventory import HostRole
from stacks.config.tenant import TenantConfig

IGNORE_DEPLOYED_RECORD = "GPU_CAAS_IGNORE_DEPLOYED_RECORD"
"""Environment variable: `1` skips every day-2 check of one run (`upgrade_problems`,
`upgrade_warnings`); the update then records the current config."""

KUBELET_MAX_MINORS_BEHIND = 3
"""A kubelet may be up to three minor versions older than the API server
(https://kubernetes.io/releases/version-skew-policy/#kubelet, since Kubernetes 1.28)."""

_SKEW_POLICY = "https://kubernetes.io/releases/version-skew-policy/"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?$")

Version = tuple[int, int, int]


def parse_version(value: str) -> Version | None:
    """`"1.34.2"` / `"v1.34"` -> `(1, 34, 2)` / `(1, 34, 0)`; None if not a version."""
    match = _VERSION.match(value.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3] or 0)


def _minor(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _text(version: Version) -> str:
    return ".".join(map(str, version))


def _listing(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def step_problem(key: str, current: str, requested: str, *, what: str) -> str | None:
    """Why moving `what` from `current` to `requested` is not one upgrade step, or None.

    Allowed: the same version, a patch bump, or one minor up (any patch). Refused: a
    downgrade (minor or patch), a skipped minor (the message names each step), a major
    change.

    Args:
        key: the key to set in the fix, e.g. `kubernetes.version`.
        current: the deployed version, e.g. "1.34.2".
        requested: the configured version.
        what: what moves, for the message ("the control plane", "kubelets of ...").

    Returns:
        The message (`<current> -> <requested> ...: <why>; <fix>`), or None.

    Raises:
        ValueError: `current` or `requested` is not a version.
    """
    old, new = parse_version(current), parse_version(requested)
    if old is None or new is None:
        raise ValueError(f"not a Kubernetes version: {current if old is None else requested!r}")
    if new == old:
        return None
    if new < old:
        return (
            f"{_text(old)} -> {_text(new)} is a downgrade of {what}: Kubernetes is not "
            "downgraded (kubeadm and Kamaji refuse it; stored objects are not converted "
            f"back); set {key} back to {_text(old)}, or upgrade"
        )
    if new[0] != old[0]:
        return (
            f"{_text(old)} -> {_text(new)} changes the major version of {what}, which no "
            f"upgrade step does ({_SKEW_POLICY}); set {key} back to {_text(old)}"
        )
    if new[1] - old[1] <= 1:
        return None
    skipped = [f"{old[0]}.{m}" for m in range(old[1] + 1, new[1])]
    steps = [f"{minor}.x" for minor in skipped] + [_text(new)]
    return (
        f"{_text(old)} -> {_text(new)} skips {_listing(skipped)}: upgrade {what} one minor "
        f"version at a time ({_SKEW_POLICY}); set {key} to " + ", run pulumi up, then ".join(steps)
    )


def kubelet_skew_problem(kubelet: str, control_plane: str) -> str | None:
    """Why kubelets at `kubelet` may not talk to an API server at `control_plane`, or None.

    A kubelet is never newer than the API server (not even a patch) and at most
    `KUBELET_MAX_MINORS_BEHIND` minors older (https://kubernetes.io/releases/version-skew-policy/#kubelet).

    Raises:
        ValueError: either is not a version.
    """
    node, server = parse_version(kubelet), parse_version(control_plane)
    if node is None or server is None:
        raise ValueError(
            f"not a Kubernetes version: {kubelet if node is None else control_plane!r}"
        )
    if node > server:
        return (
            f"kubelet {_text(node)} is newer than the control plane's kubernetes.version "
            f"{_text(server)}: a kubelet may never be newer than the API server "
            f"({_SKEW_POLICY}#kubelet); set it to {_text(server)} or older, or remove it"
        )
    behind = server[1] - node[1] if server[0] == node[0] else None
    if behind is None or behind > KUBELET_MAX_MINORS_BEHIND:
        oldest = f"{server[0]}.{server[1] - KUBELET_MAX_MINORS_BEHIND}.x"
        return (
            f"kubelet {_text(node)} is more than {KUBELET_MAX_MINORS_BEHIND} minor versions "
            f"older than the control plane's kubernetes.version {_text(server)} "
            f"({_SKEW_POLICY}#kubelet); set it to {oldest} or later (one minor per pulumi up)"
        )
    return None


def node_group_version_rules(config: TenantConfig) -> list[Problem]:
    """Static rules of `nodeGroups[].kubernetesVersion` and `.upgrade`.

    A group of hosts may pin its kubelets within the skew policy of
    `kubernetes.version`; an autoscaled group may set neither key: Karpenter launches
    nodes from the NodeClass image, whose kubelet is the image's, and replaces nodes by
    its own disruption settings instead of draining them in batches.
    """
    problems: list[Problem] = []
    for i, group in enumerate(config.node_groups):
        if group.autoscale is not None:
            if group.kubernetes_version is not None:
                problems.append(
                    Problem(
                        key_path("nodeGroups", i, "kubernetesVersion"),
                        "an autoscaled group's nodes take the cluster version from their "
                        "NodeClass image (Karpenter starts what the image runs): pick the "
                        "image in the NodeClass and remove this key",
                    )
                )
            if "upgrade" in group.model_fields_set:
                problems.append(
                    Problem(
                        key_path("nodeGroups", i, "upgrade"),
                        "only applies to node groups of hosts: Karpenter replaces "
                        "autoscaled nodes itself (its NodePool disruption settings); remove it",
                    )
                )
            continue
        if group.kubernetes_version is None:
            continue
        problem = kubelet_skew_problem(group.kubernetes_version, config.kubernetes.version)
        if problem is not None:
            problems.append(Problem(key_path("nodeGroups", i, "kubernetesVersion"), problem))
    return problems


def node_group_upgrade_warnings(config: TenantConfig) -> list[Problem]:
    """A `maxUnavailable` that drains every active host of a group of several at once."""
    found: list[Problem] = []
    for i, group in enumerate(config.node_groups):
        if group.autoscale is not None:
            continue
        hosts = len(active_hosts(config, group))
        batch = group.upgrade.max_unavailable
        if hosts > 1 and batch >= hosts:
            found.append(
                Problem(
                    key_path("nodeGroups", i, "upgrade", "maxUnavailable"),
                    f"{batch} drains all {hosts} hosts of node group {group.name!r} at once: "
                    "an upgrade stops every workload of the group; use at most "
                    f"{hosts - 1} to keep some of it serving",
                )
            )
    return found


def deployed_record_ignored(environ: Mapping[str, str]) -> bool:
    """True when `environ` (the caller passes `os.environ`) sets
    `GPU_CAAS_IGNORE_DEPLOYED_RECORD` to 1 / true / yes: skip the day-2 checks once."""
    return environ.get(IGNORE_DEPLOYED_RECORD, "").strip().lower() in {"1", "true", "yes"}


def _unreadable(reason: str) -> Problem:
    return Problem(
        key_path(),
        f"the last deployment's record cannot be read ({reason}), so the day-2 checks "
        "(version skew, upgrade steps, backend) cannot run: see it with `pulumi stack "
        "output deployed --json`; a record of a newer gpu-caas needs that version of the "
        f"program; to skip the day-2 checks for one run, set {IGNORE_DEPLOYED_RECORD}=1 "
        "(that update records the current config)",
    )


def _version_or_problem(value: str, what: str) -> Problem | None:
    if parse_version(value) is None:
        return _unreadable(f"its {what} {value!r} is not a Kubernetes version")
    return None


def upgrade_problems(
    config: TenantConfig,
    deployed: DeployedState,
    environ: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Changes the running cluster cannot make: refused before anything is registered.

    Args:
        config: the parsed tenant (`rules.check` passed).
        deployed: the last deployment's record (`DeployedState()`: never deployed).
        environ: the process environment (the caller passes `os.environ`; this module
            reads none): `GPU_CAAS_IGNORE_DEPLOYED_RECORD=1` skips every check.

    Returns:
        Problems at `controlPlane.backend` (backend switched), `kubernetes.version`
        (control-plane step, downgrade, any change on `external`),
        `nodeGroups[i].kubernetesVersion` (a group's kubelet step or downgrade),
        `nodeGroups[i].hosts` (a host moved from another group, `_moved_hosts`), or the
        tenant root (unreadable record). Empty for a first deployment.
    """
    if deployed_record_ignored(environ or {}):
        return []
    if deployed.unreadable is not None:
        return [_unreadable(deployed.unreadable)]
    if deployed.first_deployment:
        return []
    backend = config.backend
    if deployed.control_plane_backend is not None and (
        deployed.control_plane_backend != backend.value
    ):
        return [
            Problem(
                key_path("controlPlane", "backend"),
                f"the cluster was deployed with backend {deployed.control_plane_backend!r}, "
                f"now {backend.value!r}: switching a live cluster's backend recreates it "
                "(a new control plane, every node joined again, workloads and their data "
                f"lost); keep {deployed.control_plane_backend!r}, or deploy the new backend "
                "as a new stack and move the workloads",
            )
        ]
    current = deployed.kubernetes_version
    assert current is not None  # not a first deployment
    requested = config.kubernetes.version
    unreadable = _version_or_problem(current, "kubernetesVersion")
    if unreadable is not None:
        return [unreadable]
    version_key = key_path("kubernetes", "version")
    if backend is ControlPlaneBackend.EXTERNAL:
        if parse_version(current) == parse_version(requested):
            return []
        return [
            Problem(
                version_key,
                f"{current} -> {requested}: the ISV owns the control plane (backend "
                "'external'), gpu-caas cannot change its version; upgrade it on the ISV "
                "platform, then set kubernetes.version to what it runs and confirm once "
                f"with {IGNORE_DEPLOYED_RECORD}=1 pulumi up (the record then says the new "
                "version)",
            )
        ]
    problems: list[Problem] = []
    control_plane = step_problem("kubernetes.version", current, requested, what="the control plane")
    if control_plane is not None:
        problems.append(Problem(version_key, control_plane))
    for i, group in enumerate(config.node_groups):
        previous = deployed.node_group_versions.get(group.name)
        if group.autoscale is not None or not group.hosts or previous is None:
            continue  # autoscaled, or new since the last deployment
        unreadable = _version_or_problem(previous, f"nodeGroupVersions.{group.name}")
        if unreadable is not None:
            problems.append(unreadable)
            continue
        pinned = group.kubernetes_version
        if pinned is None and control_plane is not None:
            continue  # follows kubernetes.version, already reported
        key = f"nodeGroups[{i}].kubernetesVersion"
        found = step_problem(
            key,
            previous,
            pinned or requested,
            what=f"the kubelets of node group {group.name!r}"
            + ("" if pinned else " (following kubernetes.version)"),
        )
        if found is not None:
            problems.append(Problem(key_path("nodeGroups", i, "kubernetesVersion"), found))
    problems.extend(_moved_hosts(config, deployed))
    return problems


def upgrade_warnings(
    config: TenantConfig,
    deployed: DeployedState,
    environ: Mapping[str, str] | None = None,
) -> list[Problem]:
    """Day-2 changes that are allowed but may not be what was meant.

    A host recorded with another GPU model than the config now gives is a warning, not
    a refusal: either the config was wrong (nothing to do: GPU Feature Discovery labels
    the node from the hardware) or the hardware was swapped under the same name, which
    the config cannot verify (the host's join does not run again).

    More hosts leaving a node group in one update than its
    `upgrade.maxUnavailable` is a warning too (`_removals_beyond_max_unavailable`).

    Returns:
        Warnings at `hosts[i].gpu.model` and `nodeGroups[i].hosts`; none for a first
        deployment, an unreadable record (`upgrade_problems` reports it) or with
        `GPU_CAAS_IGNORE_DEPLOYED_RECORD`.
    """
    if (
        deployed_record_ignored(environ or {})
        or deployed.unreadable is not None
        or deployed.first_deployment
    ):
        return []
    found: list[Problem] = []
    overlap = _kubernetes_and_driver_together(config, deployed)
    if overlap is not None:
        found.append(overlap)
    found.extend(_removals_beyond_max_unavailable(config, deployed))
    for i, host in enumerate(config.hosts):
        record = deployed.hosts.get(host.name)
        if record is None:
            continue
        model = host.gpu.model.value if host.gpu is not None else None
        if model == record.gpu_model:
            continue
        found.append(
            Problem(
                key_path("hosts", i, "gpu", "model"),
                f"host {host.name!r} was deployed with GPU model {record.gpu_model or 'none'}, "
                f"now {model or 'none'}: if the config was wrong, nothing else to do (GPU "
                "Feature Discovery labels the node from its GPUs); if the hardware was "
                "swapped, its node keeps the old join: mark it `state: failed` with a "
                "replacement, or remove it, pulumi up, and add it back",
            )
        )
    return found


def removal_batches(
    order: Sequence[str], max_unavailable: int, removed: Collection[str]
) -> list[list[str]]:
    """The removed hosts whose Nodes the engine drains together, batch by batch.

    `order` and `max_unavailable` are the group's last rollout: host i's drain waited
    for the node step of host i - max_unavailable (its predecessor in the same lane).
    The engine deletes a resource only after every deleted resource that depended on
    it: it levels the condemned resources from those that depend on no other
    condemned one, then deletes the levels in reverse (`ScheduleDeletes` in
    pulumi/pulumi `pkg/resource/deploy/step_generator.go`). A removed host's node step
    (whose delete drains the Node) is as many levels up as it has removed hosts before
    it in its lane without a gap, so hosts with equally many go together. Returns the
    hosts of each batch, the first deleted first, in `order`; hosts of `removed` not in
    `order` are ignored.

    >>> removal_batches(["a", "b", "c", "d"], 1, {"c", "d"})
    [['d'], ['c']]
    >>> removal_batches(["a", "b", "c", "d"], 1, {"a", "c", "d"})
    [['d'], ['a', 'c']]
    """
    gone = set(removed)
    before: dict[str, int] = {}
    for index, host in enumerate(order):
        if host not in gone:
            continue
        predecessor = index - max_unavailable
        chained = predecessor >= 0 and order[predecessor] in gone
        before[host] = before[order[predecessor]] + 1 if chained else 0
    top = max(before.values(), default=-1)
    batches: list[list[str]] = [[] for _ in range(top + 1)]
    for host in order:
        if host in before:
            batches[top - before[host]].append(host)
    return batches


def _removals_beyond_max_unavailable(
    config: TenantConfig, deployed: DeployedState
) -> list[Problem]:
    """Node groups whose removed hosts the engine drains more of at once than their
    `upgrade.maxUnavailable`, one warning each at `nodeGroups[i].hosts`.

    The rollout order bounds drains for upgrades; for removals the engine follows the
    last deployment's chain (`removal_batches`): hosts `maxUnavailable` places apart in
    it go one after the other, the others side by side. Counted: hosts of the recorded
    order that leave the group and had joined (`deployed.joined_hosts`, when
    recorded). Not warned: a group removed as a whole (its workloads have no node of
    the group left to go to) and a record without rollout orders (older releases).
    """
    found: list[Problem] = []
    joined = deployed.joined_hosts
    for i, group in enumerate(config.node_groups):
        rollout = deployed.rollouts.get(group.name)
        if rollout is None:
            continue
        staying = set(group.hosts)
        leaving = [h for h in rollout.hosts if h not in staying and (joined is None or h in joined)]
        limit = group.upgrade.max_unavailable
        widest = max(
            removal_batches(rollout.hosts, rollout.max_unavailable, leaving), key=len, default=[]
        )
        if len(widest) <= limit:
            continue
        found.append(
            Problem(
                key_path("nodeGroups", i, "hosts"),
                f"{len(widest)} of the hosts leaving node group {group.name!r} are drained "
                f"and deleted at the same time ({', '.join(widest)}): more than its "
                f"upgrade.maxUnavailable ({limit}); the engine removes hosts along the last "
                f"rollout order, where only hosts {rollout.max_unavailable} place(s) apart "
                f"go one after the other; to keep the bound, remove at most {limit} of "
                "these per update (from the inventory, or from nodeGroups[].hosts or "
                "hosts[].nodeGroup)",
            )
        )
    return found


def _moved_hosts(config: TenantConfig, deployed: DeployedState) -> list[Problem]:
    """Workers recorded in a node group that change group (also by a group's rename) or
    become control-plane hosts, refused at `nodeGroups[i].hosts` or `hosts[i].role`
    (also a host whose join never succeeded: the record cannot always tell).

    A host's steps are named after its group. The new group's join, or the control
    plane's, finds the host already joined and leaves it
    (`components.cluster.kubeadm.join_script`), then the old group's steps are deleted:
    the node step drains and deletes its Node and the join's delete runs `kubeadm
    reset`. The host would end outside the cluster while the config lists it. The way
    through is two updates: first take the host out (remove it from `hosts`, or mark it
    `state: spare` in no group), then put it where it goes.
    """
    group_of = {name: (i, g.name) for i, g in enumerate(config.node_groups) for name in g.hosts}
    names = {g.name for g in config.node_groups}
    found: list[Problem] = []
    for i, host in enumerate(config.hosts):
        recorded = deployed.hosts.get(host.name)
        if recorded is None or recorded.node_group is None:
            continue
        previous = recorded.node_group
        first = (
            f"take {host.name!r} out of {previous!r} in one update (remove it from hosts, or "
            "mark it `state: spare` in no node group), pulumi up"
        )
        if host.name in group_of:
            index, now = group_of[host.name]
            if now == previous:
                continue
            renamed = (
                f" (node group {previous!r} is gone: a rename moves every host; keep the "
                f"name {previous!r} instead)"
                if previous not in names
                else ""
            )
            found.append(
                Problem(
                    key_path("nodeGroups", index, "hosts"),
                    f"host {host.name!r} was deployed in node group {previous!r}, now in "
                    f"{now!r}{renamed}: moving a joined host between groups in one update "
                    "resets it (the old group's steps drain and delete its Node and run "
                    "kubeadm reset after the new group's join found it joined); "
                    f"{first}, then add it to {now!r} in the next",
                )
            )
        elif host.role is HostRole.CONTROL_PLANE:
            found.append(
                Problem(
                    key_path("hosts", i, "role"),
                    f"host {host.name!r} was deployed as a worker in node group {previous!r}, "
                    "now a control-plane host: the old group's steps would drain and "
                    "delete its Node and run kubeadm reset on the new control-plane "
                    f"member; {first}, then add it as a control-plane host in the next",
                )
            )
    return found


def _kubernetes_and_driver_together(
    config: TenantConfig, deployed: DeployedState
) -> Problem | None:
    """A Kubernetes upgrade and a GPU driver upgrade in one deployment, or None.

    Both take GPU nodes out of service, each bounded by its own setting
    (`nodeGroups[].upgrade.maxUnavailable` for the kubelet rollout, the GPU Operator's
    `driver.upgradePolicy.maxUnavailable` for the driver) and neither counts the
    other's, so together more nodes can be out at once than either allows.
    """
    from stacks.config.operator_upgrades import deployed_driver_version

    driver = deployed_driver_version(config)
    if deployed.kubernetes_version in (None, config.kubernetes.version):
        return None
    if deployed.driver_version is None or driver in (None, deployed.driver_version):
        return None
    return Problem(
        key_path("gpu", "operator", "driver", "version"),
        f"Kubernetes {deployed.kubernetes_version} -> {config.kubernetes.version} and the GPU "
        f"driver {deployed.driver_version} -> {driver} change in the same update: the "
        "kubelet rollout (nodeGroups[].upgrade.maxUnavailable) and the GPU Operator's driver "
        "rollout (gpu.operator.driver.upgradePolicy.maxUnavailable) do not count each "
        "other's nodes, so more GPU nodes can be out of service at once than either allows; "
        "upgrade one, then the other (docs/operations.md)",
    )
