# shellcheck shell=bash
# Source me (scripts/preview.sh, scripts/init-example-stacks.sh): sets
#   GPU_CAAS_EXAMPLE_STACKS  space-separated names of the committed example stacks
#   GPU_CAAS_DEV_PASSPHRASE  the public passphrase of their dummy secrets
# from stacks/config/example_stacks.py, the one place both are defined.
# gpu_caas_is_example STACK -> status 0 for an example stack.
read -r GPU_CAAS_DEV_PASSPHRASE GPU_CAAS_EXAMPLE_STACKS < <(
  python3 -c 'import runpy, sys
ns = runpy.run_path(sys.argv[1])
print(ns["DEV_PASSPHRASE"], *sorted(ns["EXAMPLE_STACKS"]))' \
    "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/stacks/config/example_stacks.py"
)
gpu_caas_is_example() {
  case " $GPU_CAAS_EXAMPLE_STACKS " in *" $1 "*) return 0 ;; *) return 1 ;; esac
}
