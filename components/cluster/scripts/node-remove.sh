# gpu-caas: the delete of a host's node step: cordon, drain and delete NODE. Runs inline
# (REMOVE_NODE in components/cluster/node_lifecycle.py): a delete must work with the
# script stored in the state, whatever the checkout holds by then.

. "${0%/*}/node-lib.sh"
. "${0%/*}/node-drain-lib.sh"
info=$(node_info)
[ -n "$info" ] || { echo "node $NODE is not registered: nothing to remove"; exit 0; }
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
