# shellcheck shell=bash
# Source me: `. scripts/env.sh` — activates .venv and sets offline defaults so
# plain `pulumi` commands work as the README documents. Every default yields to
# a value you already exported.
_gpu_caas_root=$(cd "$(dirname "${BASH_SOURCE[0]:-$0}")/.." && pwd)

if [ ! -f "$_gpu_caas_root/.toolchain/env" ] || [ ! -x "$_gpu_caas_root/.venv/bin/python" ]; then
  echo "gpu-caas: run 'make setup' first (it builds or finds the Pulumi toolchain and creates .venv)" >&2
  return 1 2>/dev/null || exit 1
fi

# shellcheck disable=SC1091
. "$_gpu_caas_root/.venv/bin/activate"
# shellcheck disable=SC1091
. "$_gpu_caas_root/.toolchain/env"
if [ -n "${GPU_CAAS_TOOLCHAIN_BIN:-}" ]; then
  case ":$PATH:" in *":$GPU_CAAS_TOOLCHAIN_BIN:"*) ;; *) export PATH="$GPU_CAAS_TOOLCHAIN_BIN:$PATH" ;; esac
fi
if [ -n "${GPU_CAAS_TEST_TOOLS_BIN:-}" ]; then
  # A colon-separated list of test tool directories (Kyverno CLI, kube-apiserver, etcd).
  case ":$PATH:" in *":$GPU_CAAS_TEST_TOOLS_BIN:"*) ;; *) export PATH="$PATH:$GPU_CAAS_TEST_TOOLS_BIN" ;; esac
fi
# Go (the toolchain build and the command provider's tests use it).
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH="$PATH:/usr/local/go/bin"
fi
# The built providers live in a private PULUMI_HOME in the cache (see
# scripts/build-toolchain.sh). A PULUMI_HOME you set yourself wins.
if [ -n "${GPU_CAAS_PULUMI_HOME:-}" ] && [ -z "${PULUMI_HOME:-}" ]; then
  export PULUMI_HOME="$GPU_CAAS_PULUMI_HOME"
fi

# Local file backend in the repository, unless you chose a backend.
export PULUMI_BACKEND_URL="${PULUMI_BACKEND_URL:-file://$_gpu_caas_root/.pulumi}"
mkdir -p "$_gpu_caas_root/.pulumi"
# No passphrase is set here: the example stacks' public dev passphrase must never
# encrypt a real tenant's secrets. `make preview` / scripts/preview.sh supplies it for
# the example stacks only; for plain `pulumi` commands on an example, export
# PULUMI_CONFIG_PASSPHRASE=gpu-caas-dev-passphrase yourself. Your own stacks use your
# secrets provider (docs/quickstart.md, "Your own tenant").
# Offline: no update checks, no plugin downloads (fail fast instead).
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_DISABLE_REGISTRY_RESOLVE=true
export PULUMI_SKIP_CONFIRMATIONS=true
export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=true
unset _gpu_caas_root
