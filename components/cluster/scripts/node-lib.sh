# gpu-caas: loaded first by node-drain.sh, node-sync.sh and node-remove.sh (never run
# on its own): the admin kubeconfig from KUBECONFIG_DATA in a mode-0600 temp file, `k`
# and cordon_node. components/cluster/node_lifecycle.py documents the scripts.

set -eu
umask 077
kc=$(mktemp)
trap 'rm -f "$kc" "$kc.err"' EXIT
printf '%s' "$KUBECONFIG_DATA" > "$kc"
k() { kubectl --kubeconfig "$kc" "$@"; }
# cordon_node REASON: cordon a schedulable node and record in the same write that
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
# node_info: "<Ready status> <kubelet version>" of NODE, e.g. "True v1.34.2"; empty when
# the Node is not registered.
node_info() {
  k get node "$NODE" --ignore-not-found -o \
    jsonpath='{.status.conditions[?(@.type=="Ready")].status} {.status.nodeInfo.kubeletVersion}'
}
