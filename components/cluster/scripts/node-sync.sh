# gpu-caas: the node step of a host (<group>-node-<host>): wait for NODE Ready at VERSION,
# set the labels and taints gpu-caas manages, undo gpu-caas' own cordon (or mark a failed
# host). Env and behaviour: SYNC_NODE in components/cluster/node_lifecycle.py.

. "${0%/*}/node-lib.sh"
nl='
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
    info=$(node_info 2>"$kc.err") || info=""
    if [ "${info%% *}" = True ] && { [ -z "$VERSION" ] || [ "${info#* }" = "v$VERSION" ]; }; then
      break
    fi
    if [ "$waited" -ge "$wait_limit" ]; then
      [ -n "$info" ] && seen="Ready=${info%% *}, kubelet ${info#* }" || seen="not registered"
      echo "gpu-caas: node $NODE is not Ready at kubelet v${VERSION:-(any)}" \
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
old_labels=$(k get node "$NODE" -o jsonpath='{.metadata.annotations.gpu-caas\.io/managed-labels}')
old_taints=$(k get node "$NODE" -o jsonpath='{.metadata.annotations.gpu-caas\.io/managed-taints}')
tpl='{{range $k, $v := .metadata.labels}}{{$k}}{{"\n"}}{{end}}'
have_labels=$(k get node "$NODE" -o go-template="$tpl")
tpl='{{range .spec.taints}}{{.key}}:{{.effect}}{{"\n"}}{{end}}'
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
csv() { grep -v "$1" | tr '\n' ',' | sed 's/^,*//; s/,*$//'; }
managed_labels=$(printf '%s' "$want_labels" | csv '^gpu-caas.io/host-state$')
managed_taints=$(printf '%s' "$want_taints" | csv '^gpu-caas.io/host-state:')
k annotate node "$NODE" --overwrite "gpu-caas.io/managed-labels=$managed_labels" \
  "gpu-caas.io/managed-taints=$managed_taints" >&2
if [ "$STATE" = failed ]; then
  echo "node $NODE is marked failed (cordoned, tainted gpu-caas.io/host-state=failed:NoExecute)"
else
  # Undo only a cordon of gpu-caas's own (the annotation): uncordon and drop the
  # annotation in one write. A cordon of a person, node health or the GPU Operator's
  # driver upgrade stays.
  seen=$(k get node "$NODE" -o \
    jsonpath='{.spec.unschedulable} {.metadata.annotations.gpu-caas\.io/cordoned}')
  if [ -n "${seen#* }" ]; then
    patch='{"metadata":{"annotations":{"gpu-caas.io/cordoned":null}},'
    k patch node "$NODE" --type merge -p "$patch"'"spec":{"unschedulable":null}}' >/dev/null
    echo "node/$NODE uncordoned (gpu-caas had cordoned it: ${seen#* })" >&2
  elif [ "${seen%% *}" = true ]; then
    echo "gpu-caas: node $NODE stays cordoned: someone else cordoned it (a person," \
      "node health, the GPU Operator's driver upgrade), not gpu-caas (no" \
      "gpu-caas.io/cordoned annotation); 'kubectl uncordon $NODE' once that work is done" >&2
  fi
  echo "node $NODE is in line (kubelet ${info#* })"
fi
