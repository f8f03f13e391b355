# shellcheck shell=bash
# Source me from a script, then `exec` the pulumi command: it gets a private TMPDIR
# (mode 0700), removed once that process has ended (not when the whole process group
# is SIGKILLed: nothing is left to remove it then).
#
# The Kubernetes provider writes its kubeconfig, credentials included, to a new
# $TMPDIR/kubeconfig<digits> at every run and never removes it (stacks/engine_tmpdir.py).
# A watcher in the background removes the directory: `exec` keeps pulumi the process
# that signals (Ctrl-C, a CI job's cancel) reach, as without the wrapper.
gpu_caas_private_tmpdir() {
  case $- in
    *i*)
      # $$ would be your shell: the directory would live, and be shared, until logout.
      echo "gpu_caas_private_tmpdir: source it from a script that then execs pulumi" >&2
      return 1
      ;;
  esac
  local private
  private=$(mktemp -d "${TMPDIR:-/tmp}/gpu-caas-pulumi-XXXXXXXX") || return 1
  (
    set +e
    trap '' INT TERM HUP QUIT
    while kill -0 "$$" 2>/dev/null; do sleep 0.5; done
    rm -rf "$private"
  ) </dev/null >/dev/null 2>&1 &
  export TMPDIR=$private
}
