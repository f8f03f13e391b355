# shellcheck shell=bash
# Source me, then `exec` the pulumi command: gives it a private TMPDIR (mode 0700),
# removed once this process (the exec'd command) has ended, however it ends.
#
# The Kubernetes provider writes its kubeconfig, credentials included, to a new
# $TMPDIR/kubeconfig<digits> at every run and never removes it (stacks/engine_tmpdir.py).
# A watcher in the background removes the directory: `exec` keeps pulumi the process
# that signals (Ctrl-C, a CI job's cancel) reach, as without the wrapper.
gpu_caas_private_tmpdir() {
  local private
  private=$(mktemp -d "${TMPDIR:-/tmp}/gpu-caas-pulumi-XXXXXXXX") || return 1
  (
    trap '' INT TERM HUP
    while kill -0 "$$" 2>/dev/null; do sleep 0.5; done
    rm -rf "$private"
  ) </dev/null >/dev/null 2>&1 &
  export TMPDIR=$private
}
