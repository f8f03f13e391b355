#!/usr/bin/env bash
# Build the Pulumi engine, the Python language host and the kubernetes and
# command resource providers from the Go module proxy, into a per-user cache
# outside the repository, keyed by version and by a hash of our wrapper
# sources. A cached build is reused; nothing is rebuilt unless its key changes.
#
# Why build at all: this project's machines reach only package registries
# (PyPI, the Go module proxy, ...). The Pulumi installer and GitHub release
# downloads are unreachable. docs/offline-toolchain.md explains every step.
#
# Usage: scripts/build-toolchain.sh [--test-tools]   (called by `make setup`;
#        `--test-tools` also builds what the tests run, for `make test`: the Kyverno
#        CLI, and the live test cluster's kube-apiserver, etcd,
#        kube-controller-manager, kube-scheduler and kwok, and actionlint for the
#        GitHub Actions workflows)
# Env:   GPU_CAAS_CACHE  cache root (default ${XDG_CACHE_HOME:-~/.cache}/gpu-caas)
#        GPU_CAAS_FORCE_BUILD=1  ignore a matching system `pulumi` and build anyway
set -euo pipefail
# Builds run inside $(...) (see `ensure`); without this, bash drops `set -e` there
# and a failed step would be reported as done.
shopt -s inherit_errexit

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=toolchain.env
. "$ROOT/scripts/toolchain.env"
CACHE=${GPU_CAAS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gpu-caas}
LOGS="$CACHE/logs"
mkdir -p "$CACHE/tools" "$LOGS" "$ROOT/.toolchain"

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
# The checksum database answers 404 for github.com/pulumi modules through this
# proxy; their hashes are pinned instead in the committed go.sum of each wrapper
# module, so a changed module still fails verification.
export GONOSUMDB=github.com/pulumi

# module_dir MODULE: the module's directory in the module cache, downloading it first
# (`go list -m` prints an empty Dir for a module that is not downloaded yet).
module_dir() {
  local dir
  dir=$(go mod download -json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("Dir", ""))')
  [ -n "$dir" ] && [ -d "$dir" ] || { echo "cannot download Go module $1" >&2; return 1; }
  echo "$dir"
}

say() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
die() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }

# The official Go tarball installs to /usr/local/go; a non-login shell may not have it on PATH.
if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then PATH="/usr/local/go/bin:$PATH"; fi
command -v go >/dev/null || die "Go is required to build the Pulumi toolchain (Go >= 1.26). Install Go, or install the Pulumi CLI ${PULUMI_VERSION} with its providers (see README 'Using your own Pulumi CLI')."

# key NAME VERSION DIR -> NAME-VERSION-<hash of the wrapper sources in DIR>
key() {
  local h
  h=$( (cd "$3" && find . -type f \( -name '*.go' -o -name 'go.mod' -o -name 'go.sum' \) -print0 | sort -z | xargs -0 sha256sum; go env GOVERSION) | sha256sum | cut -c1-12)
  echo "$1-$2-$h"
}

# run_step LABEL LOGFILE CMD... : run a build step with progress and a clear failure.
run_step() {
  local label=$1 log=$2; shift 2
  local start=$SECONDS
  say "$label (log: $log)"
  ( "$@" ) >"$log" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 30
    kill -0 "$pid" 2>/dev/null && say "  ... $label: $((SECONDS - start))s so far"
  done
  if ! wait "$pid"; then
    tail -n 25 "$log" >&2 || true
    die "$label failed after $((SECONDS - start))s. Full log: $log. Retry with 'make setup' (downloads and compiled packages are cached, a retry resumes); if the module proxy is unreachable, check GOPROXY."
  fi
  say "  done: $label in $((SECONDS - start))s"
}

# --- 1. Pulumi CLI + Python language host (one wrapper module) ------------------------
build_pulumi() {
  local out=$1 src="$ROOT/scripts/toolchain/pulumi" work
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  cp -r "$src/." "$work/"
  (
    cd "$work"
    local ld="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}"
    go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ld" -o "$out.tmp/bin/pulumi" github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
    go build -trimpath -ldflags "$ld" -o "$out.tmp/bin/pulumi-language-python" ./cmd/pulumi-language-python
    # The exec shim ships in the sdk module zip (sdk/python/cmd has no go.mod of its own).
    local sdk
    sdk=$(module_dir github.com/pulumi/pulumi/sdk/v3)
    install -m 0755 "$sdk/python/cmd/pulumi-language-python-exec" "$out.tmp/bin/"
  )
  rm -rf "$work"
}

# --- 2. kubernetes provider ------------------------------------------------------------
build_kubernetes() {
  local out=$1 src="$ROOT/scripts/toolchain/kubernetes" work
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  cp -r "$src/." "$work/"
  (
    cd "$work"
    local mod
    mod=$(module_dir github.com/pulumi/pulumi-kubernetes/provider/v4)
    # Generate the two files upstream's `go generate` writes (git-ignored upstream,
    # so absent from the module zip): the schema with its version set, and the
    # terraform mapping re-marshalled.
    python3 "$ROOT/scripts/toolchain/kubernetes/gen_embeds.py" "$mod/cmd/pulumi-resource-kubernetes" "$KUBERNETES_PROVIDER_VERSION" .
    go build -trimpath -ldflags "-s -w -X github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version.Version=${KUBERNETES_PROVIDER_VERSION}" \
      -o "$out.tmp/bin/pulumi-resource-kubernetes" .
  )
  rm -rf "$work"
}

# --- 3. command provider (our implementation; see scripts/toolchain/command/README.md) -
build_command() {
  local out=$1 src="$ROOT/scripts/toolchain/command"
  (
    cd "$src"
    go build -trimpath -ldflags "-s -w -X main.version=${COMMAND_PROVIDER_VERSION}" -o "$out.tmp/bin/pulumi-resource-command" .
  )
}

# --- 4. Kyverno CLI (test tool: runs our ClusterPolicies against sample resources) ----
build_kyverno() {
  local out=$1 src="$ROOT/scripts/toolchain/kyverno" work
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  cp -r "$src/." "$work/"
  (
    cd "$work"
    go build -trimpath -ldflags "-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion=v${KYVERNO_CLI_VERSION}" \
      -o "$out.tmp/bin/kubectl-kyverno" github.com/kyverno/kyverno/cmd/cli/kubectl-kyverno
  )
  rm -rf "$work"
}

# --- 5. kube-apiserver and etcd (test tools: strict server-side validation) -----------
# k8s_build OUT_BIN SRC PACKAGE...: build Kubernetes commands with their version stamped
# (KUBE_APISERVER_VERSION) from the wrapper module in SRC.
k8s_build() {
  local out_bin=$1 src=$2 work v="$KUBE_APISERVER_VERSION" minor
  shift 2
  minor=$(echo "$v" | cut -d. -f2)
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  cp -r "$src/." "$work/"
  (
    cd "$work"
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
      -o "$out_bin" "$@"
  )
  rm -rf "$work"
}

build_kube_apiserver() {
  k8s_build "$1.tmp/bin/kube-apiserver" "$ROOT/scripts/toolchain/kube-apiserver" k8s.io/kubernetes/cmd/kube-apiserver
}

build_etcd() {
  local out=$1 src="$ROOT/scripts/toolchain/etcd" work
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  cp -r "$src/." "$work/"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$out.tmp/bin/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$work"
}

# --- 6. kube-controller-manager, kube-scheduler and kwok (the live test cluster) -------
# The controllers come from the same k8s.io/kubernetes version as kube-apiserver, so
# their compiled packages are shared through the Go build cache.
build_kube_controllers() {
  k8s_build "$1.tmp/bin/" "$ROOT/scripts/toolchain/kube-controllers" \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler
}

# kwok reads its Stages (what a simulated kubelet does to nodes and pods) from
# config; upstream's default "fast" stages ship in the module, not in the binary, so
# they are copied from the module cache next to the binary (never into the repo).
build_kwok() {
  local out=$1 src="$ROOT/scripts/toolchain/kwok" work mod stage
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  cp -r "$src/." "$work/"
  (
    cd "$work"
    go build -trimpath -ldflags "-s -w" \
      -o "$out.tmp/bin/kwok" sigs.k8s.io/kwok/cmd/kwok
    mod=$(go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
    mkdir -p "$out.tmp/share/kwok"
    for stage in node/fast/node-initialize node/heartbeat-with-lease/node-heartbeat-with-lease \
      pod/fast/pod-ready pod/fast/pod-complete pod/fast/pod-delete; do
      cat "$mod/kustomize/stage/$stage.yaml"
      echo "---"
    done >"$out.tmp/share/kwok/stages.yaml"
  )
  rm -rf "$work"
}

# --- 7. actionlint (test tool: lints .github/workflows) -----------------------------
build_actionlint() {
  local out=$1 src="$ROOT/scripts/toolchain/actionlint" work
  work=$(mktemp -d "$CACHE/build.XXXXXX")
  cp -r "$src/." "$work/"
  (
    cd "$work"
    go build -trimpath -ldflags "-s -w -X github.com/rhysd/actionlint.version=v${ACTIONLINT_VERSION}" \
      -o "$out.tmp/bin/actionlint" github.com/rhysd/actionlint/cmd/actionlint
  )
  rm -rf "$work"
}

system_kyverno_matches() {
  [ -z "${GPU_CAAS_FORCE_BUILD:-}" ] || return 1
  local k
  k=$(command -v kubectl-kyverno 2>/dev/null) || return 1
  "$k" version 2>/dev/null | grep -qx "Version: v${KYVERNO_CLI_VERSION}"
}

# ensure NAME VERSION SRC BUILDFN -> prints the cache dir holding bin/
ensure() {
  local name=$1 version=$2 src=$3 fn=$4 k out
  k=$(key "$name" "$version" "$src")
  out="$CACHE/tools/$k"
  if [ -f "$out/.complete" ]; then
    say "reusing cached $name $version ($out)" >&2
  else
    rm -rf "$out.tmp" && mkdir -p "$out.tmp/bin"
    run_step "building $name $version from Go modules" "$LOGS/$k.log" "$fn" "$out" >&2
    rm -rf "$out" && mv "$out.tmp" "$out" && touch "$out/.complete"
  fi
  echo "$out"
}

# PATH without the directories this script publishes: the cache's tools (which
# `. scripts/env.sh` puts on PATH) and the repository's old `.toolchain/bin`. Our own
# cached CLI is not a "system" install: taking it for one wrote `.toolchain/env`
# without the toolchain, and `pulumi` was gone from every later shell.
path_without_ours() {
  local dir out="" dirs=()
  IFS=: read -ra dirs <<<"$PATH"
  for dir in "${dirs[@]}"; do
    case "$dir" in "$CACHE"/* | "$ROOT/.toolchain" | "$ROOT/.toolchain"/*) continue ;; esac
    out="${out:+$out:}$dir"
  done
  echo "$out"
}

system_pulumi_matches() {
  [ -z "${GPU_CAAS_FORCE_BUILD:-}" ] || return 1
  local p v
  p=$(PATH=$(path_without_ours) command -v pulumi 2>/dev/null) || return 1
  v=$("$p" version 2>/dev/null) || return 1
  [ "$v" = "v${PULUMI_VERSION}" ] || return 1
  # A normal install bundles the Python language host next to the CLI.
  [ -x "$(dirname "$(readlink -f "$p")")/pulumi-language-python" ] || return 1
  echo "$p"
}

system_plugin_matches() { # NAME VERSION
  local p
  p=$(system_pulumi_matches) || return 1
  # The cache's private PULUMI_HOME (exported by scripts/env.sh) is ours too: ask the
  # user's own plugin cache.
  local -a own_home=()
  case "${PULUMI_HOME:-}" in "$CACHE"/*) own_home=(-u PULUMI_HOME) ;; esac
  env "${own_home[@]}" "$p" plugin ls --json 2>/dev/null | python3 -c '
import json, sys
name, version = sys.argv[1], sys.argv[2]
plugins = json.load(sys.stdin) or []
sys.exit(0 if any(p.get("name") == name and p.get("kind") == "resource" and p.get("version") == version for p in plugins) else 1)
' "$1" "$2"
}

main() {
  local envfile="$ROOT/.toolchain/env" path_add="" home=""
  if sys_pulumi=$(system_pulumi_matches) && system_plugin_matches kubernetes "$KUBERNETES_PROVIDER_VERSION" && system_plugin_matches command "$COMMAND_PROVIDER_VERSION"; then
    say "using your Pulumi CLI ${PULUMI_VERSION} and installed providers ($sys_pulumi); nothing to build"
  else
    local cli k8s cmd
    cli=$(ensure pulumi "$PULUMI_VERSION" "$ROOT/scripts/toolchain/pulumi" build_pulumi)
    k8s=$(ensure kubernetes-provider "$KUBERNETES_PROVIDER_VERSION" "$ROOT/scripts/toolchain/kubernetes" build_kubernetes)
    cmd=$(ensure command-provider "$COMMAND_PROVIDER_VERSION" "$ROOT/scripts/toolchain/command" build_command)
    path_add="$cli/bin"
    # A private PULUMI_HOME in the cache holds exactly the provider versions the
    # pinned SDKs request, so the engine never looks for a download.
    home="$CACHE/pulumi-home/$(basename "$k8s")+$(basename "$cmd")"
    if [ ! -f "$home/.complete" ]; then
      mkdir -p "$home"
      PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true "$cli/bin/pulumi" plugin install resource kubernetes "$KUBERNETES_PROVIDER_VERSION" --file "$k8s/bin/pulumi-resource-kubernetes" >/dev/null
      PULUMI_HOME="$home" PULUMI_SKIP_UPDATE_CHECK=true "$cli/bin/pulumi" plugin install resource command "$COMMAND_PROVIDER_VERSION" --file "$cmd/bin/pulumi-resource-command" >/dev/null
      touch "$home/.complete"
    fi
  fi
  local test_bin=""
  if [ "${1:-}" != "--test-tools" ]; then
    # Keep a test-tools path from an earlier `make test`, if it is still there.
    test_bin=$(sed -n 's/^GPU_CAAS_TEST_TOOLS_BIN=//p' "$envfile" 2>/dev/null || true)
    local dir
    for dir in ${test_bin//:/ }; do [ -d "$dir" ] || test_bin=""; done
  else
    local kyverno_bin
    if system_kyverno_matches; then
      say "using your kubectl-kyverno v${KYVERNO_CLI_VERSION}"
    else
      kyverno_bin="$(ensure kyverno-cli "$KYVERNO_CLI_VERSION" "$ROOT/scripts/toolchain/kyverno" build_kyverno)/bin"
      test_bin="$kyverno_bin"
    fi
    test_bin="$test_bin:$(ensure kube-apiserver "$KUBE_APISERVER_VERSION" "$ROOT/scripts/toolchain/kube-apiserver" build_kube_apiserver)/bin"
    test_bin="$test_bin:$(ensure etcd "$ETCD_VERSION" "$ROOT/scripts/toolchain/etcd" build_etcd)/bin"
    test_bin="$test_bin:$(ensure kube-controllers "$KUBE_APISERVER_VERSION" "$ROOT/scripts/toolchain/kube-controllers" build_kube_controllers)/bin"
    test_bin="$test_bin:$(ensure kwok "$KWOK_VERSION" "$ROOT/scripts/toolchain/kwok" build_kwok)/bin"
    test_bin="$test_bin:$(ensure actionlint "$ACTIONLINT_VERSION" "$ROOT/scripts/toolchain/actionlint" build_actionlint)/bin"
    test_bin=${test_bin#:}
  fi
  {
    echo "# written by scripts/build-toolchain.sh; sourced by scripts/env.sh"
    [ -n "$path_add" ] && echo "GPU_CAAS_TOOLCHAIN_BIN=$path_add"
    [ -n "$test_bin" ] && echo "GPU_CAAS_TEST_TOOLS_BIN=$test_bin"
    [ -n "$home" ] && echo "GPU_CAAS_PULUMI_HOME=$home"
    true
  } >"$envfile"
  say "toolchain ready"
}

main "$@"
