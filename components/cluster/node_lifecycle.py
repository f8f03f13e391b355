"""A host's Node through its life: drained before an upgrade, kept in line with the
config after it, drained and deleted when the host leaves (pure, tested).

Three scripts for `command:local:Command` on the operator's machine, plus the pure
helpers that build their environment:

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

import re
from collections.abc import Mapping, Sequence

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

_WRITE_KUBECONFIG = """set -eu
umask 077
kc=$(mktemp)
trap 'rm -f "$kc" "$kc.err"' EXIT
printf '%s' "$KUBECONFIG_DATA" > "$kc"
k() { kubectl --kubeconfig "$kc" "$@"; }
"""
# As `control_plane._WRITE_KUBECONFIG`, plus `$kc.err` (kubectl's last error while
# waiting) and the `k` shorthand.

_DRAIN = """# drain_node: cordon and drain; on failure name the node and the pods left on it.
drain_node() {
  k cordon "$NODE" >&2
  flags="--ignore-daemonsets --timeout=${DRAIN_TIMEOUT}s"
  [ "$DELETE_EMPTYDIR" != true ] || flags="$flags --delete-emptydir-data"
  if ! k drain "$NODE" $flags >&2; then
    echo "gpu-caas: could not drain node $NODE within ${DRAIN_TIMEOUT}s; it stays cordoned." >&2
    echo "gpu-caas: pods left on $NODE (a PodDisruptionBudget, a pod without a" \\
      "controller or a slow shutdown keeps them):" >&2
    # Every pod bound to the node but those of DaemonSets (drain leaves them).
    tpl='{{range .items}}{{$ds := false}}{{range .metadata.ownerReferences}}'
    tpl="$tpl"'{{if eq .kind "DaemonSet"}}{{$ds = true}}{{end}}{{end}}{{if not $ds}}'
    # Prefixed: the command provider shows `gpu-caas: ` lines of a failed command with
    # secret inputs (pod names are not secret).
    tpl="$tpl"'gpu-caas:   {{.metadata.namespace}}/{{.metadata.name}}{{"\\n"}}{{end}}{{end}}'
    k get pods --all-namespaces --field-selector "spec.nodeName=$NODE" \\
      -o go-template="$tpl" >&2 || true
    echo "gpu-caas: resolve that (or raise nodeGroups[].upgrade.drainTimeoutSeconds)" \\
      "and run pulumi up again" >&2
    exit 1
  fi
}
"""

_CORDON = """# cordon_node REASON: cordon a schedulable node and record in the same write that
# gpu-caas did (annotation gpu-caas.io/cordoned=REASON), so that only this cordon is
# undone later; a node someone else cordoned is left as it is. The write carries the
# resourceVersion read with .spec.unschedulable: a cordon by someone else in between
# makes it a Conflict, and the next try sees that cordon.
cordon_node() {
  tries=0
  while :; do
    seen=$(k get node "$NODE" -o jsonpath='{.metadata.resourceVersion} {.spec.unschedulable}')
    if [ "${seen#* }" = true ]; then
      return 0
    fi
    patch='{"metadata":{"resourceVersion":"'"${seen%% *}"'",'
    patch="$patch"'"annotations":{"gpu-caas.io/cordoned":"'"$1"'"}},"spec":{"unschedulable":true}}'
    if k patch node "$NODE" --type merge -p "$patch" >/dev/null 2>"$kc.err"; then
      echo "node/$NODE cordoned by gpu-caas ($1)" >&2
      return 0
    fi
    tries=$((tries + 1))
    if [ "$tries" -ge 5 ] || ! grep -q Conflict "$kc.err"; then
      cat "$kc.err" >&2
      exit 1
    fi
  done
}
"""

_NODE_INFO = (
    'k get node "$NODE" --ignore-not-found -o jsonpath='
    "'{.status.conditions[?(@.type==\"Ready\")].status} {.status.nodeInfo.kubeletVersion}'"
)

DRAIN_FOR_UPGRADE = (
    _WRITE_KUBECONFIG
    + _CORDON
    + _DRAIN
    + f"info=$({_NODE_INFO})\n"
    + """if [ -z "$info" ]; then
  echo "node $NODE is not registered yet: nothing to drain"
  exit 0
fi
if [ "${info#* }" = "v$VERSION" ]; then
  # A rollout that stopped after this drain (and was then reverted, or re-run after the
  # host was fixed by hand) left our cordon behind: nothing else would lift it, the
  # node step only runs when its own inputs change.
  mine=$(k get node "$NODE" -o jsonpath='{.metadata.annotations.gpu-caas\\.io/cordoned}')
  if [ "$mine" = upgrade ]; then
    lift='{"metadata":{"annotations":{"gpu-caas.io/cordoned":null}},'
    lift="$lift"'"spec":{"unschedulable":false}}'
    k patch node "$NODE" --type merge -p "$lift" >/dev/null
    echo "node $NODE runs kubelet v$VERSION: uncordoned (an earlier rollout had cordoned it)"
    exit 0
  fi
  echo "node $NODE runs kubelet v$VERSION: nothing to drain"
  exit 0
fi
# Refuse what the upgrade would refuse before taking the node out of service: the
# upgrade step runs on the host only after this drain.
running=${info#* v}
if [ "${running%%.*}" = "${VERSION%%.*}" ]; then
  have_minor=${running#*.}; have_minor=${have_minor%%.*}
  want_minor=${VERSION#*.}; want_minor=${want_minor%%.*}
  case "$have_minor$want_minor" in
    *[!0-9]*|"") ;;
    *)
      if [ "$want_minor" -lt "$have_minor" ] || { [ "$want_minor" -eq "$have_minor" ] &&
          [ "${VERSION##*.}" -lt "${running##*.}" ] 2>/dev/null; }; then
        echo "gpu-caas: $NODE: kubelet v$running is newer than v$VERSION: downgrades are" \
          "not supported; set the version back to $running (nothing was drained)" >&2
        exit 1
      fi
      if [ "$want_minor" -gt $((have_minor + 1)) ]; then
        echo "gpu-caas: $NODE: kubelet v$running to v$VERSION skips a minor version;" \
          "upgrade one minor at a time (nothing was drained)" >&2
        exit 1
      fi
      ;;
  esac
fi
cordon_node upgrade
drain_node
echo "drained $NODE (kubelet ${info#* })"
"""
)
"""Cordon and drain `NODE` unless it is absent or its kubelet runs `VERSION`; a Node
that was schedulable gets `CORDONED_ANNOTATION=upgrade` with the cordon. A Node already
at `VERSION` that still carries that annotation (a rollout stopped after its drain and
was reverted) is uncordoned. A downgrade or a skipped minor is refused before the
cordon (the upgrade step would refuse it on the host, after the drain).

Env: KUBECONFIG_DATA, NODE, VERSION, DRAIN_TIMEOUT, DELETE_EMPTYDIR. Stdout: one line
saying what was done. Exits 1 when the drain does not finish in DRAIN_TIMEOUT seconds
(the Node stays cordoned, and annotated if it was schedulable).
"""

REMOVE_NODE = (
    _WRITE_KUBECONFIG
    + _DRAIN
    + f"info=$({_NODE_INFO})\n"
    + """if [ -z "$info" ]; then
  echo "node $NODE is not registered: nothing to remove"
  exit 0
fi
if [ "${info%% *}" = True ]; then
  drain_node
else
  # Nothing runs on a node that is not Ready (a failed host), and evicted pods would
  # wait for its kubelet forever; the pod garbage collector deletes the pods of a
  # deleted Node.
  k cordon "$NODE" >&2
  echo "gpu-caas: node $NODE is not Ready: deleted without a drain" >&2
fi
k delete node "$NODE" --ignore-not-found >&2
echo "removed $NODE"
"""
)
"""Cordon, drain and delete `NODE` (absent: nothing; not Ready: no drain).

Env: KUBECONFIG_DATA, NODE, DRAIN_TIMEOUT, DELETE_EMPTYDIR.
"""

SYNC_NODE = (
    _WRITE_KUBECONFIG
    + _CORDON
    + """nl='
'
wait_limit=${READY_TIMEOUT:-600}
waited=0
if [ "$STATE" = failed ]; then
  info=$(k get node "$NODE" --ignore-not-found -o name)
  if [ -z "$info" ]; then
    echo "node $NODE is not registered: nothing to mark failed"
    exit 0
  fi
else
  # Wait for the Node: registered, Ready, at the version.
  while :; do
    info=$("""
    + _NODE_INFO
    + """ 2>"$kc.err") || info=""
    if [ "${info%% *}" = True ] && { [ -z "$VERSION" ] || [ "${info#* }" = "v$VERSION" ]; }; then
      break
    fi
    if [ "$waited" -ge "$wait_limit" ]; then
      [ -n "$info" ] && seen="Ready=${info%% *}, kubelet ${info#* }" || seen="not registered"
      echo "gpu-caas: node $NODE is not Ready at kubelet v${VERSION:-(any)}" \\
        "after ${wait_limit}s (last seen: $seen)" >&2
      cat "$kc.err" >&2 2>/dev/null || true
      exit 1
    fi
    sleep 2
    waited=$((waited + 2))
  done
fi
rm -f "$kc.err"
# What gpu-caas set last time, and what is on the node now.
old_labels=$(k get node "$NODE" -o jsonpath='{.metadata.annotations.gpu-caas\\.io/managed-labels}')
old_taints=$(k get node "$NODE" -o jsonpath='{.metadata.annotations.gpu-caas\\.io/managed-taints}')
tpl='{{range $k, $v := .metadata.labels}}{{$k}}{{"\\n"}}{{end}}'
have_labels=$(k get node "$NODE" -o go-template="$tpl")
tpl='{{range .spec.taints}}{{.key}}:{{.effect}}{{"\\n"}}{{end}}'
have_taints=$(k get node "$NODE" -o go-template="$tpl")
# The host-state marks are ours whatever the annotations say: cleared when active.
old_labels="$old_labels,gpu-caas.io/host-state"
old_taints="$old_taints,gpu-caas.io/host-state:NoExecute"
labels=$LABELS
taints=$TAINTS
if [ "$STATE" = failed ]; then
  labels="$labels${nl}gpu-caas.io/host-state=failed"
  taints="$taints${nl}gpu-caas.io/host-state=failed:NoExecute"
  cordon_node failed
fi
# Desired keys (newline-separated, for `case` lookups) and kubectl arguments.
want_labels="" label_args="" want_taints="" taint_args=""
while IFS= read -r line; do
  [ -n "$line" ] || continue
  want_labels="$want_labels$nl${line%%=*}"
  label_args="$label_args $line"
done <<EOF
$labels
EOF
while IFS= read -r line; do
  [ -n "$line" ] || continue
  kv=${line%:*}
  want_taints="$want_taints$nl${kv%%=*}:${line##*:}"
  taint_args="$taint_args $line"
done <<EOF
$taints
EOF
# Remove what gpu-caas set before and the config no longer has (if still there).
set -f
IFS=,
for key in $old_labels; do
  case "$nl$want_labels$nl" in *"$nl$key$nl"*) continue ;; esac
  case "$nl$have_labels$nl" in *"$nl$key$nl"*) k label node "$NODE" "$key-" >&2 ;; esac
done
for taint in $old_taints; do
  case "$nl$want_taints$nl" in *"$nl$taint$nl"*) continue ;; esac
  case "$nl$have_taints$nl" in *"$nl$taint$nl"*) k taint node "$NODE" "$taint-" >&2 ;; esac
done
unset IFS
[ -z "$label_args" ] || k label node "$NODE" --overwrite $label_args >&2
[ -z "$taint_args" ] || k taint node "$NODE" --overwrite $taint_args >&2
set +f
# csv PATTERN: the lines on stdin but those matching PATTERN, comma-separated.
csv() { grep -v "$1" | tr '\\n' ',' | sed 's/^,*//; s/,*$//'; }
managed_labels=$(printf '%s' "$want_labels" | csv '^gpu-caas.io/host-state$')
managed_taints=$(printf '%s' "$want_taints" | csv '^gpu-caas.io/host-state:')
k annotate node "$NODE" --overwrite "gpu-caas.io/managed-labels=$managed_labels" \\
  "gpu-caas.io/managed-taints=$managed_taints" >&2
if [ "$STATE" = failed ]; then
  echo "node $NODE is marked failed (cordoned, tainted gpu-caas.io/host-state=failed:NoExecute)"
else
  # Undo only a cordon of gpu-caas's own (the annotation): uncordon and drop the
  # annotation in one write. A cordon of a person, node health or the GPU Operator's
  # driver upgrade stays.
  seen=$(k get node "$NODE" -o \\
    jsonpath='{.spec.unschedulable} {.metadata.annotations.gpu-caas\\.io/cordoned}')
  if [ -n "${seen#* }" ]; then
    patch='{"metadata":{"annotations":{"gpu-caas.io/cordoned":null}},'
    k patch node "$NODE" --type merge -p "$patch"'"spec":{"unschedulable":null}}' >/dev/null
    echo "node/$NODE uncordoned (gpu-caas had cordoned it: ${seen#* })" >&2
  elif [ "${seen%% *}" = true ]; then
    echo "gpu-caas: node $NODE stays cordoned: someone else cordoned it (a person," \\
      "node health, the GPU Operator's driver upgrade), not gpu-caas (no" \\
      "gpu-caas.io/cordoned annotation); 'kubectl uncordon $NODE' once that work is done" >&2
  fi
  echo "node $NODE is in line (kubelet ${info#* })"
fi
"""
)
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
