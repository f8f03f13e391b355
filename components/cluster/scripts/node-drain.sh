# gpu-caas: the drain step of a host (<group>-drain-<host>): cordon and drain NODE before
# its kubelet is upgraded to VERSION. Env and behaviour: DRAIN_FOR_UPGRADE in
# components/cluster/node_lifecycle.py.

. "${0%/*}/node-lib.sh"
. "${0%/*}/node-drain-lib.sh"
info=$(node_info)
[ -n "$info" ] || { echo "node $NODE is not registered yet: nothing to drain"; exit 0; }
if [ "${info#* }" = "v$VERSION" ]; then
  # A rollout that stopped after this drain (and was then reverted, or re-run after the
  # host was fixed by hand) left our cordon behind: nothing else would lift it, the
  # node step only runs when its own inputs change.
  mine=$(k get node "$NODE" -o jsonpath='{.metadata.annotations.gpu-caas\.io/cordoned}')
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
        echo "gpu-caas: $NODE: kubelet v$running is newer than v$VERSION: downgrades are"           "not supported; set the version back to $running (nothing was drained)" >&2
        exit 1
      fi
      if [ "$want_minor" -gt $((have_minor + 1)) ]; then
        echo "gpu-caas: $NODE: kubelet v$running to v$VERSION skips a minor version;"           "upgrade one minor at a time (nothing was drained)" >&2
        exit 1
      fi
      ;;
  esac
fi
cordon_node upgrade
drain_node
echo "drained $NODE (kubelet ${info#* })"
