"""Read the last deployment's record before anything is registered; write this run's.

The record is the stack output `deployed` (shape: `stacks.config.deployed`). It is read
with the engine's builtin invoke `pulumi:pulumi:readStackOutputs` on the stack itself,
the call `pulumi.StackReference` makes, but synchronous, so day-2 rules can refuse a
change before the first resource is registered (nothing half-applied). The engine reads
the backend's last checkpoint: during `pulumi up` that is still the previous update's,
because stack outputs are written when the program finishes
(pulumi/pulumi pkg/resource/deploy/builtins.go, `readStackReference`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pulumi

from components.cluster.bootstrap import token_window
from components.cluster.types import JoinTokenRenewal
from stacks.config import TenantConfig
from stacks.config.deployed import SCHEMA, DeployedState, parse_deployed
from stacks.config.host_states import active_hosts
from stacks.config.operator_upgrades import deployed_driver_version

READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"
"""The engine's builtin invoke behind `StackReference` (token in builtins.go)."""


def stack_name() -> str:
    """`<organization>/<project>/<stack>` of the running program."""
    return f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}"


def previous_deployment(
    invoke: Callable[[str, Mapping[str, Any]], Any] | None = None,
) -> DeployedState:
    """The `deployed` record of the stack's last update (`DeployedState()` if none).

    Only the `deployed` output is kept; the other outputs (which may hold decrypted
    secrets such as the kubeconfig) are dropped here and never logged.

    Raises:
        Nothing for a missing record (first deployment). An engine that cannot read
        the stack (no backend client), or an answer or outputs that are not a
        mapping, yield `DeployedState(unreadable=...)`.
    """
    call = invoke or (lambda token, args: pulumi.runtime.invoke(token, dict(args)).value)
    try:
        result = call(READ_STACK_OUTPUTS, {"name": stack_name()})
    except Exception as error:  # noqa: BLE001 - report, never crash on the read
        return DeployedState(unreadable=f"the stack's last outputs could not be read: {error}")
    if not isinstance(result, Mapping):
        # Not the engine's shape: the day-2 rules must not take it for a new stack.
        return DeployedState(
            unreadable=f"the engine answered {READ_STACK_OUTPUTS} with a "
            f"{type(result).__name__}, not a mapping"
        )
    outputs = result.get("outputs")
    if outputs is None:
        return parse_deployed(None)
    if not isinstance(outputs, Mapping):
        return DeployedState(
            unreadable=f"the stack's last outputs are a {type(outputs).__name__}, not a mapping"
        )
    return parse_deployed({"deployed": outputs.get("deployed")})


def utc_now() -> datetime:
    """The current time, UTC (the join-token renewal window; tests replace it)."""
    return datetime.now(UTC)


def join_token_renewal(deployed: DeployedState, now: datetime) -> JoinTokenRenewal:
    """When join tokens are minted again: the hosts the last update recorded as joined
    (`DeployedState.hosts_known_joined`) and the renewal window of `now`
    (`components.cluster.bootstrap.token_window`)."""
    return JoinTokenRenewal(joined_hosts=deployed.hosts_known_joined, window=token_window(now))


def current_join_token_renewal(environ: Mapping[str, str]) -> JoinTokenRenewal:
    """`join_token_renewal` of the stack's last record (`previous_deployment`) and now.

    With `GPU_CAAS_IGNORE_DEPLOYED_RECORD` set (`environ`), nothing counts as joined:
    a token is minted in every renewal window until a record is written again."""
    from stacks.config.upgrades import deployed_record_ignored

    deployed = DeployedState() if deployed_record_ignored(environ) else previous_deployment()
    return join_token_renewal(deployed, utc_now())


def deployed_output(
    config: TenantConfig,
    components: Mapping[str, str],
    joined_hosts: pulumi.Output[list[str]] | None = None,
) -> dict[str, object]:
    """This run's record (the `deployed` stack output); plain strings, nothing secret.

    `components` is `Component.name -> pinned version` of what the config installs
    (`stacks.config.operator_upgrades.deployed_components`); `joined_hosts` is
    `TenantCluster.joined_hosts` (recorded as `joinedHosts` when given).
    """
    group_of = {name: group.name for group in config.node_groups for name in group.hosts}
    driver = deployed_driver_version(config)
    return {
        "schema": SCHEMA,
        "controlPlaneBackend": config.backend.value,
        "kubernetesVersion": config.kubernetes.version,
        "nodeGroupVersions": {
            group.name: group.kubernetes_version or config.kubernetes.version
            for group in sorted(config.host_node_groups, key=lambda g: g.name)
        },
        "components": dict(sorted(components.items())),
        "driverVersion": driver,
        "hosts": {
            host.name: {
                "nodeGroup": group_of.get(host.name),
                "state": host.state.value,
                "gpuModel": str(host.gpu.model) if host.gpu else None,
            }
            for host in sorted(config.hosts, key=lambda h: h.name)
        },
        **({"joinedHosts": joined_hosts} if joined_hosts is not None else {}),
        "rollouts": {
            group.name: {
                # The order `components.cluster.node_group` chains them in: the group's
                # hosts without failed ones (`stacks.compose.node_group_args`).
                "hosts": active_hosts(config, group),
                "maxUnavailable": group.upgrade.max_unavailable,
            }
            for group in sorted(config.host_node_groups, key=lambda g: g.name)
        },
    }
