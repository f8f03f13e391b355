"""kubeadm configuration and the shell scripts run over SSH (all pure, all tested).

kubeadm config API v1beta4 (Kubernetes >= 1.31):
https://kubernetes.io/docs/reference/config-api/kubeadm-config.v1beta4/

Secrets (bootstrap token, CA hash, certificate key) only ever appear in the rendered
JoinConfiguration, which is sent to the host on stdin as a secret Output and written
to a mode-0600 temp file; the command strings below are constant apart from
non-secret values (Kubernetes version), so they are safe to show in previews and state.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from components.cluster.labels import kubelet_node_labels
from components.cluster.types import JoinParameters, Taint

API_VERSION = "kubeadm.k8s.io/v1beta4"
API_SERVER_PORT = 6443
JOIN_TOKEN_TTL = "2h"
"""Bootstrap tokens expire (`kubeadm token create --ttl`). When a token is minted again
is `bootstrap.token_triggers`: in every renewal window (1 h) in which a host has yet to
join."""

_PRELUDE = """set -eu
umask 077
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
"""


def _version_check(version: str) -> str:
    want = shlex.quote(f"v{version}")
    return (
        f"have=$(kubeadm version -o short)\n"
        f'[ "$have" = {want} ] || {{ echo "gpu-caas: kubeadm $have is installed on $(hostname); '
        f'this stack needs "{want} >&2; exit 1; }}\n'
    )


def init_script(version: str) -> str:
    """Run `kubeadm init` once (config on stdin) and print the admin kubeconfig.

    Idempotent: an existing `/etc/kubernetes/admin.conf` skips init, so a re-run (a new
    SSH key updates the command) only prints the kubeconfig again. The version here is
    the one the cluster is created at; later versions are applied by
    `components.cluster.upgrade` (`kubeadm upgrade`, see `upgrade.UPGRADE_DOC`), so a bootstrapped
    host never compares its running version with this one. kubeadm's own output goes
    to stderr (it contains a join token).
    """
    return (
        _PRELUDE
        + 'cfg=$(mktemp)\ntrap \'rm -f "$cfg"\' EXIT\ncat > "$cfg"\n'
        + "if ! $SUDO test -f /etc/kubernetes/admin.conf; then\n"
        + _indent(_version_check(version))
        + '  $SUDO kubeadm init --config "$cfg" --upload-certs >&2\n'
        + "fi\n"
        + "$SUDO cat /etc/kubernetes/admin.conf\n"
    )


def join_script(version: str) -> str:
    """Run `kubeadm join` once with the JoinConfiguration on stdin (a joined host, with
    `/etc/kubernetes/kubelet.conf`, is left alone: its versions follow
    `components.cluster.upgrade`)."""
    return (
        _PRELUDE
        + 'cfg=$(mktemp)\nout=$(mktemp)\ntrap \'rm -f "$cfg" "$out"\' EXIT\ncat > "$cfg"\n'
        + "if ! $SUDO test -f /etc/kubernetes/kubelet.conf; then\n"
        + _indent(_version_check(version))
        + '  if ! $SUDO kubeadm join --config "$cfg" >"$out" 2>&1; then\n'
        + '    cat "$out" >&2\n'
        # The command has secret inputs, so kubeadm's own output is withheld from the
        # error; these lines (fixed text, no secret) are shown: scripts/toolchain/command.
        + '    if grep -q -i -e "expired" -e "invalid for this cluster" "$out"; then\n'
        + '      echo "gpu-caas: the bootstrap token has expired or was deleted (tokens live'
        + f" {JOIN_TOKEN_TTL}): the next pulumi up mints a new one (once an hour while"
        + " a host has yet to join); to mint one now, pulumi up --replace <URN of the"
        + ' -join-token resource> (docs/inventory.md)" >&2\n'
        + "    fi\n"
        + '    echo "gpu-caas: kubeadm join failed on $(hostname); its output is withheld'
        + " (the command has secret inputs): run kubeadm join on the host by hand to see"
        + " why (docs/inventory.md); fix the host and run pulumi up again: only hosts"
        + ' that failed are retried" >&2\n'
        + "    exit 1\n"
        + "  fi\n"
        + '  cat "$out" >&2\n'
        + "fi\n"
        + "echo joined\n"
    )


RESET_SCRIPT = _PRELUDE + "$SUDO kubeadm reset --force >&2 || true\n"
"""Delete command of init/join: the node leaves, its kubelet and static pods stop."""


def join_token_script(*, upload_certs: bool) -> str:
    """Mint a bootstrap token and print the join command (stdout is secret).

    With an admin kubeconfig on stdin (hosted control plane, run on a worker host) it
    is used; with empty stdin the control-plane host's `/etc/kubernetes/admin.conf`
    is. `upload_certs` re-uploads the control-plane certificates and appends
    `--certificate-key` for control-plane joins (kubeadm HA).
    """
    script = (
        _PRELUDE
        + 'kc=$(mktemp)\ntrap \'rm -f "$kc"\' EXIT\ncat > "$kc"\n'
        + '[ -s "$kc" ] || kc=/etc/kubernetes/admin.conf\n'
        + f'join=$($SUDO kubeadm token create --kubeconfig "$kc" --ttl {JOIN_TOKEN_TTL} '
        + "--print-join-command)\n"
    )
    if upload_certs:
        script += (
            "key=$($SUDO kubeadm init phase upload-certs --upload-certs 2>/dev/null "
            "| tail -n 1)\n"
            'echo "$join --certificate-key $key"\n'
        )
    else:
        script += 'echo "$join"\n'
    return script


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())


def parse_join_command(output: str) -> JoinParameters:
    """Parse `kubeadm token create --print-join-command` output.

    Raises:
        ValueError: the output is not a join command (the message never echoes it:
            it contains a token).
    """
    words = output.split()
    try:
        start = words.index("join")
        endpoint = words[start + 1]
        flags = dict(zip(words[start + 2 :: 2], words[start + 3 :: 2], strict=False))
        return JoinParameters(
            endpoint=endpoint,
            token=flags["--token"],
            ca_cert_hash=flags["--discovery-token-ca-cert-hash"],
            certificate_key=flags.get("--certificate-key"),
        )
    except (ValueError, IndexError, KeyError):
        raise ValueError("unexpected output of `kubeadm token create`") from None


def _node_registration(
    name: str, cri_socket: str, labels: Mapping[str, str], taints: Sequence[Taint]
) -> dict[str, Any]:
    registration: dict[str, Any] = {
        "name": name,
        "criSocket": cri_socket,
        # An explicit list (even empty) replaces kubeadm's defaults, so it is exact.
        "taints": [
            {"key": t.key, "effect": t.effect, **({"value": t.value} if t.value else {})}
            for t in taints
        ],
    }
    if labels:
        registration["kubeletExtraArgs"] = [
            {"name": "node-labels", "value": kubelet_node_labels(labels)}
        ]
    return registration


def endpoint_with_port(endpoint: str) -> str:
    """`host` -> `host:6443`; `host:port` unchanged; IPv6 must be bracketed."""
    if re.search(r":\d+$", endpoint) and not endpoint.endswith("]"):
        return endpoint
    return f"{endpoint}:{API_SERVER_PORT}"


def render_init_configuration(
    *,
    cluster_name: str,
    version: str,
    node_name: str,
    advertise_address: str,
    endpoint: str | None,
    pod_cidr: str,
    service_cidr: str,
    cri_socket: str,
    labels: Mapping[str, str],
    taints: Sequence[Taint],
    api_server_args: Mapping[str, str],
) -> str:
    """InitConfiguration + ClusterConfiguration for the first control-plane host.

    With `endpoint` (HA) the cluster's `controlPlaneEndpoint` is that stable address, so
    kubeconfigs and joins survive the loss of the first host; etcd is stacked on the
    control-plane hosts (kubeadm's default topology).
    """
    init = {
        "apiVersion": API_VERSION,
        "kind": "InitConfiguration",
        "localAPIEndpoint": {"advertiseAddress": advertise_address, "bindPort": API_SERVER_PORT},
        "nodeRegistration": _node_registration(node_name, cri_socket, labels, taints),
    }
    sans = sorted({advertise_address, *([endpoint.rsplit(":", 1)[0]] if endpoint else [])})
    cluster: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "ClusterConfiguration",
        "clusterName": cluster_name,
        "kubernetesVersion": f"v{version}",
        "controlPlaneEndpoint": endpoint_with_port(endpoint or advertise_address),
        "networking": {"podSubnet": pod_cidr, "serviceSubnet": service_cidr},
        "apiServer": {
            "certSANs": sans,
            "extraArgs": [{"name": k, "value": v} for k, v in sorted(api_server_args.items())],
        },
        "etcd": {"local": {"dataDir": "/var/lib/etcd"}},
    }
    return yaml.safe_dump_all([init, cluster], sort_keys=False)


def render_join_configuration(
    *,
    node_name: str,
    join: JoinParameters,
    cri_socket: str,
    labels: Mapping[str, str],
    taints: Sequence[Taint],
    control_plane_address: str | None = None,
) -> str:
    """JoinConfiguration of a worker, or of a control-plane host when
    `control_plane_address` is given (then `join.certificate_key` is required).

    The result contains the bootstrap token: callers keep it inside a secret Output.
    """
    config: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "apiServerEndpoint": join.endpoint,
                "token": join.token,
                "caCertHashes": [join.ca_cert_hash],
            }
        },
        "nodeRegistration": _node_registration(node_name, cri_socket, labels, taints),
    }
    if control_plane_address is not None:
        if join.certificate_key is None:
            raise ValueError("a control-plane join needs the certificate key")
        config["controlPlane"] = {
            "localAPIEndpoint": {
                "advertiseAddress": control_plane_address,
                "bindPort": API_SERVER_PORT,
            },
            "certificateKey": join.certificate_key,
        }
    return yaml.safe_dump(config, sort_keys=False)
