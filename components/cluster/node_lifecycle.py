"""A host's Node through its life: drained before an upgrade, kept in line with the
config after it, drained and deleted when the host leaves (pure, tested).

Three scripts for `command:local:Command` on the operator's machine, plus the pure
helpers that build their environment. Their text lives in `scripts/` next to this
module (`node-lib.sh` holds what they share); the drain and node steps run them from
there (`script_command`: `sh components/cluster/scripts/node-drain.sh # sha256:...`),
the delete carries its whole text (`inline_script`):

* `DRAIN_FOR_UPGRADE` (create of `<group>-drain-<host>`): a Node that is absent (not
  joined yet) or whose kubelet already runs the target version is left alone;
  otherwise it is cordoned and drained;
* `SYNC_NODE` (create and update of `<group>-node-<host>`): waits until the Node is
  registered, Ready and at the target kubelet version, sets exactly the labels and
  taints gpu-caas manages on it, then uncordons it if gpu-caas cordoned it; for a
  `failed` host it cordons the Node and marks it failed instead (no waiting: a failed
  host may be down);
* `REMOVE_NODE` (delete of `<group>-node-<host>`): cordons, drains and deletes the
  Node (the join's delete then runs `kubeadm reset` on the host).

Drains are `kubectl drain --ignore-daemonsets [--delete-emptydir-data]
--timeout=<s>s`: evictions honour PodDisruptionBudgets, and a drain that cannot
finish in time fails naming the node and the pods left on it; the node stays
cordoned (https://kubernetes.io/docs/tasks/administer-cluster/safely-drain-node/).

Inputs come from environment variables, so the script text is constant (safe to
show in previews and state): the admin kubeconfig in `KUBECONFIG_DATA` (secret; written
to a mode-0600 temp file removed on exit) and `NODE`, `VERSION` (`MAJOR.MINOR.PATCH`;
empty: any), `LABELS`, `TAINTS`, `STATE` (`active` | `failed`), `DRAIN_TIMEOUT`
(seconds), `DELETE_EMPTYDIR` (`true` | `false`) and optionally `READY_TIMEOUT`
(seconds, default 600). The scripts need POSIX sh and kubectl only (no jq, no
python): reads use `kubectl -o jsonpath` / `-o go-template`, so labels and taints are
passed as lines rather than JSON: `LABELS` one `key=value` per line (`labels_env`),
`TAINTS` one `key=value:Effect` (or `key:Effect` for an empty value) per line
(`taints_env`).

Which keys gpu-caas manages is recorded on the Node itself, in the annotations
`gpu-caas.io/managed-labels` (comma-separated label keys) and
`gpu-caas.io/managed-taints` (comma-separated `key:Effect`): a key dropped from the
config is removed on the next sync, and labels and taints of other managers (kubelet,
GPU Feature Discovery, NFD, Karpenter, an operator's own) are never touched.

Cordons work the same way: gpu-caas undoes only its own. `SYNC_NODE` runs whenever
the node step's inputs change (a label, a version, a gpu-caas release that changes
this script), so an unconditional uncordon would put back into service a Node that a
person cordoned for maintenance, that node health (NVSentinel) quarantined, or that
the GPU Operator's driver upgrade controller cordoned mid-upgrade (it tracks that in
the `nvidia.com/gpu-driver-upgrade-state` label and expects the Node to stay cordoned
until it uncordons it: https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/gpu-driver-upgrades.html).
So the drain for an upgrade and the mark of a failed host cordon a schedulable Node
and set the annotation `gpu-caas.io/cordoned` (`upgrade` | `failed`: why) in the same
write, conditional on the Node's `resourceVersion` (a cordon by someone else in
between makes it a Conflict, retried); a Node that is already cordoned is left as it
is, without the annotation. `SYNC_NODE` for an active host uncordons only a Node
carrying the annotation, and removes the annotation in the same write; any other
cordoned Node stays cordoned, and the step says so on stderr (in the `pulumi up` log).
`REMOVE_NODE` cordons unconditionally: the Node is deleted.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi

from components.cluster.types import Taint, secret

MANAGED_LABELS_ANNOTATION = "gpu-caas.io/managed-labels"
"""Node annotation: comma-separated label keys the node step set (and so may remove)."""
MANAGED_TAINTS_ANNOTATION = "gpu-caas.io/managed-taints"
"""Node annotation: comma-separated `key:Effect` of the taints the node step set."""
CORDONED_ANNOTATION = "gpu-caas.io/cordoned"
"""Node annotation: gpu-caas cordoned the Node, and why (`upgrade`: drained for an
upgrade; `failed`: marked failed), so the node step of an active host may uncordon it;
absent, a cordon is someone else's and stays."""
HOST_STATE_KEY = "gpu-caas.io/host-state"
"""Label (`failed`) and `NoExecute` taint (`failed`) of a failed host's Node."""
STATES = ("active", "failed")
"""Values of `STATE` (`stacks.config.inventory.HostState` minus `spare`, which has no
node step)."""
READY_TIMEOUT_SECONDS = 600
"""How long `SYNC_NODE` waits for the Node to be Ready at the version by default."""

_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# Label keys and values as the API server accepts them
# (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#syntax-and-character-set);
# in particular no whitespace, `=`, `,` or `:`, which the line formats and the
# annotations use as separators.
_KEY = re.compile(
    r"^(?:[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")

SCRIPTS = Path(__file__).parent / "scripts"
"""The scripts' files: `node-drain.sh`, `node-sync.sh`, `node-remove.sh`, and the
libraries they load, `node-lib.sh` (first, by all) and `node-drain-lib.sh`."""
_LOAD = re.compile(r'^\. "\$\{0%/\*\}/(node-[a-z-]*lib\.sh)"\n', re.MULTILINE)
"""How a script file loads a library from its own directory (`$0` is its path)."""


def _description_stripped(text: str) -> str:
    """`text` without its description: the leading comment lines and the blank line
    after them."""
    head, blank, rest = text.partition("\n\n")
    if blank and all(line.startswith("#") for line in head.splitlines()):
        return rest
    return text


def inline_script(name: str) -> str:
    """The self-contained text of script `name` (`node-drain.sh`, ...): the file with
    each line that loads a library replaced by the library's text (without its
    description).

    Raises:
        ValueError: the file does not load `node-lib.sh` first.
    """
    text = (SCRIPTS / name).read_text()
    loads = _LOAD.findall(text)
    if not loads or loads[0] != "node-lib.sh":
        raise ValueError(f"{SCRIPTS / name} must load node-lib.sh first: {_LOAD.pattern!r}")
    return _LOAD.sub(lambda load: _description_stripped((SCRIPTS / load[1]).read_text()), text)


@functools.cache
def _digest(name: str) -> str:
    """The first 16 hex digits of the SHA-256 of `inline_script(name)` (read once)."""
    return hashlib.sha256(inline_script(name).encode()).hexdigest()[:16]


def script_command(name: str, cwd: Path | None = None) -> str:
    """The `create` of a local command that runs script `name` from its file:
    `sh <path> # sha256:<16 hex>`.

    Why a file and not the text: the drain and node steps of every host would otherwise
    each carry about 5 KB of identical shell in their inputs, which the engine
    marshals, logs and sends to every policy pack, and the state stores twice, per host
    (about 20 MB at 2048 hosts). The path is relative to `cwd` (default: the current
    directory, which is the project directory both for the program and for the
    command provider that runs the command, https://www.pulumi.com/docs/iac/concepts/projects/),
    so it is the same on every machine with the same checkout layout. The digest covers
    the self-contained text (`inline_script`): a changed script changes the input, and
    the preview shows every host's step as an update, as it did with the text inline.
    """
    path = os.path.relpath(SCRIPTS / name, Path.cwd() if cwd is None else cwd)
    return f"sh {shlex.quote(path)} # sha256:{_digest(name)}"


DRAIN_SCRIPT = "node-drain.sh"
"""The drain step's script file (in `SCRIPTS`)."""
SYNC_SCRIPT = "node-sync.sh"
"""The node step's script file (in `SCRIPTS`)."""

DRAIN_FOR_UPGRADE = inline_script(DRAIN_SCRIPT)
"""Cordon and drain `NODE` unless it is absent or its kubelet runs `VERSION`; a Node
that was schedulable gets `CORDONED_ANNOTATION=upgrade` with the cordon. A Node already
at `VERSION` that still carries that annotation (a rollout stopped after its drain and
was reverted) is uncordoned. A downgrade or a skipped minor is refused before the
cordon (the upgrade step would refuse it on the host, after the drain).

Env: KUBECONFIG_DATA, NODE, VERSION, DRAIN_TIMEOUT, DELETE_EMPTYDIR. Stdout: one line
saying what was done. Exits 1 when the drain does not finish in DRAIN_TIMEOUT seconds
(the Node stays cordoned, and annotated if it was schedulable).
"""

REMOVE_NODE = inline_script("node-remove.sh")
"""Cordon, drain and delete `NODE` (absent: nothing; not Ready: no drain).

Env: KUBECONFIG_DATA, NODE, DRAIN_TIMEOUT, DELETE_EMPTYDIR.
"""

SYNC_NODE = inline_script(SYNC_SCRIPT)
"""Wait for `NODE` (Ready, kubelet `VERSION`), set exactly the managed labels and taints,
then uncordon it if it carries `CORDONED_ANNOTATION` (and remove that); a Node cordoned
by anyone else stays cordoned, with a line on stderr saying so. `STATE=failed`: cordon
it (with `CORDONED_ANNOTATION=failed` if it was schedulable) and mark it failed instead.

Env: KUBECONFIG_DATA, NODE, VERSION, LABELS, TAINTS, STATE, optional READY_TIMEOUT.
Exits 1 when the Node is not Ready at the version within READY_TIMEOUT seconds.
"""


def labels_env(labels: Mapping[str, str]) -> str:
    """The `LABELS` value: one `key=value` line per label, in key order.

    Raises:
        ValueError: a key or value is not valid Kubernetes label syntax (it would
            also break the line format), naming it.
    """
    for key, value in labels.items():
        if not _KEY.match(key):
            raise ValueError(f"label key {key!r} is not a valid Kubernetes label key")
        if not _VALUE.match(value):
            raise ValueError(f"label {key}: value {value!r} is not a valid Kubernetes label value")
    return "\n".join(f"{key}={value}" for key, value in sorted(labels.items()))


def taints_env(taints: Sequence[Taint]) -> str:
    """The `TAINTS` value: one `key=value:Effect` line per taint (`key:Effect` when
    the value is empty), in the given order.

    Raises:
        ValueError: a key, value or effect is invalid, or two taints share key and
            effect (the API server keeps one taint per key and effect).
    """
    lines, seen = [], set()
    for taint in taints:
        if not _KEY.match(taint.key):
            raise ValueError(f"taint key {taint.key!r} is not a valid Kubernetes taint key")
        if not _VALUE.match(taint.value):
            raise ValueError(f"taint {taint.key}: value {taint.value!r} is not valid")
        if taint.effect not in _EFFECTS:
            raise ValueError(
                f"taint {taint.key}: effect {taint.effect!r} is not one of {', '.join(_EFFECTS)}"
            )
        if (taint.key, taint.effect) in seen:
            raise ValueError(f"taint {taint.key}:{taint.effect} is given twice")
        seen.add((taint.key, taint.effect))
        value = f"={taint.value}" if taint.value else ""
        lines.append(f"{taint.key}{value}:{taint.effect}")
    return "\n".join(lines)


def node_environment(
    *,
    node: str,
    kubeconfig: pulumi.Input[str],
    version: pulumi.Input[str] | None,
    labels: Mapping[str, str],
    taints: Sequence[Taint],
    state: str,
    drain_timeout_seconds: int,
    delete_emptydir_data: bool,
    ready_timeout_seconds: int = READY_TIMEOUT_SECONDS,
) -> dict[str, pulumi.Input[str]]:
    """The `environment` of the drain, node and remove commands of one host.

    Args:
        node: Node name (the inventory host name).
        kubeconfig: admin kubeconfig of the tenant cluster; wrapped as a secret.
        version: target kubelet version, `MAJOR.MINOR.PATCH` without `v` (None: any).
        labels: every label gpu-caas manages on the Node (`labels_env`).
        taints: every taint gpu-caas manages on the Node (`taints_env`).
        state: `active` or `failed` (`STATES`).
        drain_timeout_seconds: `kubectl drain --timeout`, > 0.
        delete_emptydir_data: drain pods with emptyDir volumes (their data is lost).
        ready_timeout_seconds: how long the node step waits for the Node, > 0.

    Raises:
        ValueError: unknown state, a timeout <= 0, or invalid labels or taints.
    """
    if state not in STATES:
        raise ValueError(f"node {node}: state {state!r} is not one of {', '.join(STATES)}")
    if drain_timeout_seconds <= 0 or ready_timeout_seconds <= 0:
        # kubectl drain reads --timeout=0s as "wait forever".
        raise ValueError(f"node {node}: timeouts must be > 0 seconds")
    return {
        "KUBECONFIG_DATA": secret(kubeconfig),
        "NODE": node,
        "VERSION": "" if version is None else version,
        "LABELS": labels_env(labels),
        "TAINTS": taints_env(taints),
        "STATE": str(state),
        "DRAIN_TIMEOUT": str(drain_timeout_seconds),
        "DELETE_EMPTYDIR": "true" if delete_emptydir_data else "false",
        "READY_TIMEOUT": str(ready_timeout_seconds),
    }
