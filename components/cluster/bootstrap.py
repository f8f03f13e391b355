"""Bootstrap commands shared by the control plane and the tenant cluster (join tokens,
registry mirrors).

Commands run over SSH with `pulumi_command.remote.Command` or locally with
`pulumi_command.local.Command`. Only the inputs the engine's command provider supports
are used (connection, create, delete, stdin, environment, triggers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_command as command

from components.cluster import registry_mirrors
from components.cluster.kubeadm import join_token_script, parse_join_command
from components.cluster.types import JoinParameters, SshHost, secret

SECRET_OUTPUTS = ["stdout", "stderr"]
"""Command outputs that may carry kubeconfigs or tokens."""


def mint_join_token(
    name: str,
    *,
    host: SshHost,
    joining_hosts: Sequence[str],
    upload_certs: bool,
    kubeconfig: pulumi.Input[str] | None,
    opts: pulumi.ResourceOptions,
) -> tuple[command.remote.Command, pulumi.Output[JoinParameters]]:
    """Mint a bootstrap token on `host`; return the command and the parsed join parameters.

    `kubeconfig` (secret) goes to stdin when the host has no admin.conf (hosted control
    plane); a kubeadm control-plane host uses its own. The token is re-minted when the
    set of joining hosts changes (`triggers`), because bootstrap tokens expire.
    """
    token = command.remote.Command(
        name,
        connection=host.connection(),
        create=join_token_script(upload_certs=upload_certs),
        stdin=secret(kubeconfig) if kubeconfig is not None else None,
        triggers=sorted(joining_hosts),
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)
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
