# gpu-caas: loaded by node-drain.sh and node-remove.sh after node-lib.sh (never run on its
# own): drain_node.

# drain_node: cordon and drain; on failure name the node and the pods left on it.
drain_node() {
  k cordon "$NODE" >&2
  flags="--ignore-daemonsets --timeout=${DRAIN_TIMEOUT}s"
  [ "$DELETE_EMPTYDIR" != true ] || flags="$flags --delete-emptydir-data"
  if ! k drain "$NODE" $flags >&2; then
    echo "gpu-caas: could not drain node $NODE within ${DRAIN_TIMEOUT}s; it stays cordoned." >&2
    echo "gpu-caas: pods left on $NODE (a PodDisruptionBudget, a pod without a" \
      "controller or a slow shutdown keeps them):" >&2
    # Every pod bound to the node but those of DaemonSets (drain leaves them).
    tpl='{{range .items}}{{$ds := false}}{{range .metadata.ownerReferences}}'
    tpl="$tpl"'{{if eq .kind "DaemonSet"}}{{$ds = true}}{{end}}{{end}}{{if not $ds}}'
    # Prefixed: the command provider shows `gpu-caas: ` lines of a failed command with
    # secret inputs (pod names are not secret).
    tpl="$tpl"'gpu-caas:   {{.metadata.namespace}}/{{.metadata.name}}{{"\n"}}{{end}}{{end}}'
    k get pods --all-namespaces --field-selector "spec.nodeName=$NODE" \
      -o go-template="$tpl" >&2 || true
    echo "gpu-caas: resolve that (or raise nodeGroups[].upgrade.drainTimeoutSeconds)" \
      "and run pulumi up again" >&2
    exit 1
  fi
}
