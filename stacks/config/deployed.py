"""What the stack's last deployment recorded: the `deployed` stack output, parsed.

Day-2 rules (Kubernetes version skew, operator upgrade paths, host replacement) compare
the config with what is running. The program records the facts those rules need in
the stack output `deployed` on every update (`stacks.deployed.deployed_output`) and
reads them back at the start of the next run (`stacks.deployed.previous_deployment`,
the engine's `pulumi:pulumi:readStackOutputs` on the stack itself), before any resource
is registered. This module is the pure part: the record's shape and its parser.

Shape of the output (plain strings, maps and lists of them; nothing secret is ever
recorded):

    deployed:
      schema: 1
      controlPlaneBackend: kubeadm          # hosted | kubeadm | external
      kubernetesVersion: 1.34.2             # kubernetes.version
      nodeGroupVersions: {train: 1.34.2}    # kubelet version per node group with hosts
      components: {NVIDIA GPU Operator: v26.7.0}  # `Component.name` -> pinned version
      driverVersion: "595.91.07"            # the driver the GPU Operator deploys
      hosts: {gpu-0: {nodeGroup: train, state: active, gpuModel: H100-80GB}}
      joinedHosts: [cp-0, gpu-0]            # whose kubeadm init/join has succeeded
      rollouts: {train: {hosts: [gpu-0], maxUnavailable: 1}}  # each group's rollout order

`joinedHosts` leaves out a host whose join failed (`pulumi up --continue-on-error`); the
next run mints a fresh bootstrap token for the hosts still to join
(`components.cluster.bootstrap.token_triggers`). A record without it (written before it
existed) or with a value that is not a list (the engine's unknown marker after a
`pulumi up --target`) counts no host as joined: the token is minted again once.

`rollouts` is the order a group's active hosts were chained in (host i's drain waits for
host i - maxUnavailable's node step): the engine deletes removed hosts' steps along that
chain, so it says how many Nodes a removal drains at once
(`stacks.config.upgrades.removal_batches`). Absent in records written before it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SCHEMA = 1
"""Version of the record's shape; a record of another schema is ignored (treated as a
first deployment is not safe, so readers get `DeployedState.unreadable`)."""


@dataclass(frozen=True)
class DeployedHost:
    """One inventory host as last deployed."""

    node_group: str | None
    """The node group it was in (None: control plane or no group)."""
    state: str
    """`active`, `spare` or `failed` (`stacks.config.inventory.HostState`)."""
    gpu_model: str | None = None


@dataclass(frozen=True)
class DeployedRollout:
    """A node group's rollout order as last deployed."""

    hosts: tuple[str, ...]
    """Its active hosts in chain order (`nodeGroups[].hosts` without failed ones)."""
    max_unavailable: int
    """`upgrade.maxUnavailable` then: host i waited for host i - max_unavailable."""


@dataclass(frozen=True)
class DeployedState:
    """The facts of the last deployment the day-2 rules compare against.

    `DeployedState()` (all empty) is a stack that was never deployed: every rule that
    needs a previous value skips.
    """

    control_plane_backend: str | None = None
    kubernetes_version: str | None = None
    """`kubernetes.version` as last deployed, e.g. "1.34.2"."""
    node_group_versions: Mapping[str, str] = field(default_factory=dict)
    """Kubelet version per node group (groups with inventory hosts)."""
    components: Mapping[str, str] = field(default_factory=dict)
    """Pinned version per installed component (`components.versions.Component.name`)."""
    driver_version: str | None = None
    hosts: Mapping[str, DeployedHost] = field(default_factory=dict)
    joined_hosts: frozenset[str] | None = None
    """Hosts whose `kubeadm init`/`join` had succeeded after the update; None: not
    recorded (a first deployment, or a record older than `joinedHosts`); empty for a
    value that is not a list (`parse_deployed`)."""
    unreadable: str | None = None
    """Why the record could not be read (another schema, a malformed value), else None."""
    rollouts: Mapping[str, DeployedRollout] = field(default_factory=dict)
    """Node group -> its rollout order (groups with hosts); empty when not recorded."""

    @property
    def hosts_known_joined(self) -> frozenset[str]:
        """`joined_hosts`; empty when not recorded (a first deployment, an unreadable
        record, or one written by a gpu-caas release before `joinedHosts`, whose
        `hosts` may include a host whose join failed: the first update after the
        upgrade mints a join token once)."""
        return self.joined_hosts or frozenset()

    @property
    def first_deployment(self) -> bool:
        """True when nothing was recorded (a new stack, or one deployed before the record
        existed)."""
        return self.kubernetes_version is None and self.unreadable is None


def _count(value: Any) -> int | None:
    """A whole number as the engine hands it back: the SDK deserializes every number of
    a stack output as a float (`1` comes back as `1.0`); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _strings(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str | int | float)}


def parse_deployed(outputs: Mapping[str, Any] | None) -> DeployedState:
    """`DeployedState` from the stack's outputs (the whole outputs mapping).

    Never raises: a missing record is a first deployment, a record of another schema or
    shape is `unreadable` (its reason says which key).
    """
    record = (outputs or {}).get("deployed")
    if record is None:
        return DeployedState()
    if not isinstance(record, Mapping):
        return DeployedState(unreadable="the stack output `deployed` is not a mapping")
    if record.get("schema") != SCHEMA:
        return DeployedState(
            unreadable=f"the stack output `deployed` has schema {record.get('schema')!r}, "
            f"this program reads schema {SCHEMA}"
        )
    hosts: dict[str, DeployedHost] = {}
    raw_hosts = record.get("hosts")
    if isinstance(raw_hosts, Mapping):
        for name, host in raw_hosts.items():
            if isinstance(host, Mapping):
                group = host.get("nodeGroup")
                model = host.get("gpuModel")
                hosts[str(name)] = DeployedHost(
                    node_group=str(group) if group else None,
                    state=str(host.get("state") or "active"),
                    gpu_model=str(model) if model else None,
                )
    raw_joined = record.get("joinedHosts")
    joined: frozenset[str] | None
    if "joinedHosts" not in record:
        joined = None
    elif isinstance(raw_joined, list):
        joined = frozenset(name for name in raw_joined if isinstance(name, str))
    else:
        # Not a list: the engine's marker of an unknown value (a `pulumi up --target`
        # that skipped the joins) or a hand-edited state. Nothing is known to have
        # joined, so tokens are renewed until a full update records the list again.
        joined = frozenset()
    version = record.get("kubernetesVersion")
    backend = record.get("controlPlaneBackend")
    driver = record.get("driverVersion")
    rollouts: dict[str, DeployedRollout] = {}
    raw_rollouts = record.get("rollouts")
    if isinstance(raw_rollouts, Mapping):
        for group, rollout in raw_rollouts.items():
            if not isinstance(rollout, Mapping):
                continue
            order, bound = rollout.get("hosts"), _count(rollout.get("maxUnavailable"))
            # A malformed entry (a hand-edited state) is left out: no removal warning.
            if isinstance(order, list) and bound is not None and bound >= 1:
                rollouts[str(group)] = DeployedRollout(tuple(str(h) for h in order), bound)
    return DeployedState(
        control_plane_backend=str(backend) if backend else None,
        kubernetes_version=str(version) if version else None,
        node_group_versions=_strings(record.get("nodeGroupVersions")),
        components=_strings(record.get("components")),
        driver_version=str(driver) if driver else None,
        hosts=hosts,
        joined_hosts=joined,
        rollouts=rollouts,
    )
