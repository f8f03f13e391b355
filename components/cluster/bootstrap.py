"""Bootstrap commands shared by the control plane and the tenant cluster (join tokens,
registry mirrors).

Commands run over SSH with `pulumi_command.remote.Command` or locally with
`pulumi_command.local.Command`. Only the inputs the engine's command provider supports
are used (connection, create, delete, stdin, environment, triggers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pulumi
import pulumi_command as command

# The SDK's marker for a resource the engine reported as failed (continue-on-error);
# `Output.recover` is how its docstring says to catch it. Not re-exported by `pulumi`.
from pulumi.runtime.stack import ResourceRegistrationFailed

from components.cluster import registry_mirrors
from components.cluster.kubeadm import JOIN_TOKEN_TTL, join_token_script, parse_join_command
from components.cluster.types import JoinParameters, JoinTokenRenewal, SshHost, secret

SECRET_OUTPUTS = ["stdout", "stderr"]
"""Command outputs that may carry kubeconfigs or tokens."""


def token_ttl() -> timedelta:
    """`kubeadm.JOIN_TOKEN_TTL` ("2h") as a duration."""
    if not JOIN_TOKEN_TTL.endswith("h"):
        raise ValueError(f"JOIN_TOKEN_TTL {JOIN_TOKEN_TTL!r} is not in hours")
    return timedelta(hours=int(JOIN_TOKEN_TTL[:-1]))


RENEWAL_WINDOW = token_ttl() / 2
"""How long a minted token is reused while joins are pending: half its lifetime (1 h
of `kubeadm.JOIN_TOKEN_TTL`'s 2 h), so a reused token has at least half its lifetime
left when an update starts."""


def token_window(now: datetime) -> str:
    """The renewal window `now` falls in: its start, UTC, e.g. "2026-11-30T19:00Z".

    Raises:
        ValueError: `now` has no time zone (a naive datetime is ambiguous).
    """
    if now.tzinfo is None:
        raise ValueError("token_window needs an aware datetime (UTC)")
    seconds = int(RENEWAL_WINDOW.total_seconds())
    start = int(now.timestamp()) // seconds * seconds
    return datetime.fromtimestamp(start, UTC).strftime("%Y-%m-%dT%H:%MZ")


def token_triggers(
    joining_hosts: Sequence[str], renewal: JoinTokenRenewal | None
) -> tuple[list[str], list[str]]:
    """`(triggers, ignore_changes)` of the join-token command; a changed trigger mints
    a new token (the command is replaced).

    - No renewal: the sorted joining hosts (a new token when the set changes).
    - Every joining host joined: the hosts, with `triggers` ignored: the token in the
      state stays, whatever the set, since nothing will use it.
    - Some host pending (new, or its join failed before): the pending hosts and
      `window <start>`: a token minted in this window is reused, one from an earlier
      window is replaced, so a retry hours after a failed join gets a valid token.
    """
    hosts = sorted(set(joining_hosts))
    if renewal is None:
        return hosts, []
    pending = [h for h in hosts if h not in renewal.joined_hosts]
    if not pending:
        return hosts, ["triggers"]
    return [*pending, f"window {renewal.window}"], []


def mint_join_token(
    name: str,
    *,
    host: SshHost,
    joining_hosts: Sequence[str],
    upload_certs: bool,
    kubeconfig: pulumi.Input[str] | None,
    opts: pulumi.ResourceOptions,
    renewal: JoinTokenRenewal | None = None,
) -> tuple[command.remote.Command, pulumi.Output[JoinParameters]]:
    """Mint a bootstrap token on `host`; return the command and the parsed join parameters.

    `kubeconfig` (secret) goes to stdin when the host has no admin.conf (hosted control
    plane); a kubeadm control-plane host uses its own. Bootstrap tokens expire: when the
    token is minted again is `token_triggers(joining_hosts, renewal)`.
    """
    triggers, ignore_changes = token_triggers(joining_hosts, renewal)
    token = command.remote.Command(
        name,
        connection=host.connection(),
        create=join_token_script(upload_certs=upload_certs),
        stdin=secret(kubeconfig) if kubeconfig is not None else None,
        triggers=triggers,
        opts=pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                additional_secret_outputs=SECRET_OUTPUTS, ignore_changes=ignore_changes or None
            ),
        ),
    )
    join: pulumi.Output[JoinParameters] = pulumi.Output.secret(
        token.stdout.apply(parse_join_command)
    )
    return token, join


def configure_registry_mirrors(
    name: str,
    host: SshHost,
    mirrors: Mapping[str, str],
    opts: pulumi.ResourceOptions,
) -> command.remote.Command | None:
    """Write containerd's hosts.toml for every mirrored registry on `host`.

    A separate command from the kubeadm one, so a changed mirror rewrites the files
    without re-running kubeadm; kubeadm depends on it so the node's first image
    pulls already go to the mirror. None when no registry is mirrored.
    """
    if not mirrors:
        return None
    return command.remote.Command(
        name,
        connection=host.connection(),
        create=registry_mirrors.apply_script(mirrors),
        delete=registry_mirrors.remove_script(mirrors),
        opts=opts,
    )


def joined_hosts(
    commands: Mapping[str, pulumi.CustomResource], previously_joined: frozenset[str]
) -> pulumi.Output[list[str]]:
    """The names (sorted) whose `kubeadm init`/`join` has succeeded, after this update.

    A host counts if it was recorded as joined before (`previously_joined`) and its
    command is still declared (a step skipped in this update because something it
    depends on failed does not undo a join), or if its command exists after this
    update. A create that failed (`pulumi up --continue-on-error`) faults the command's
    `id` with the SDK's `ResourceRegistrationFailed`; `Output.recover` turns only that
    into "not joined" (any other error still fails the program).

    A preview records nothing new: it returns the previously joined hosts still
    declared (the command provider plans a create with an ID, so counting planned
    creates would show hosts as joined before anything ran).
    """
    kept = frozenset(commands) & previously_joined
    if pulumi.runtime.is_dry_run():
        return pulumi.Output.from_input(sorted(kept))

    def not_joined(error: Exception) -> None:
        if isinstance(error, ResourceRegistrationFailed):
            return None
        raise error

    def joined(name: str, resource: pulumi.CustomResource) -> pulumi.Output[str | None]:
        done: pulumi.Output[str | None] = resource.id.apply(lambda _: name)
        return done.recover(not_joined)

    outcomes = [joined(n, r) for n, r in sorted(commands.items()) if n not in kept]
    return pulumi.Output.all(*outcomes).apply(lambda names: sorted(kept | {n for n in names if n}))
