#!/usr/bin/env bash
# `make setup`: create the example stacks (Pulumi.<example>.yaml) on the repository's
# local backend `.pulumi/` if they are missing, so `pulumi preview --stack dev` works
# right after setup, as the docs show. A backend you chose yourself
# (PULUMI_BACKEND_URL) is left alone: `make preview STACK=<example>` creates an example
# there when you first preview it.
# Each stack keeps its file's encryptionsalt, so its committed `secure:` values decrypt
# with the examples' public dev passphrase, which is given to `pulumi stack init` only.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
local_backend="file://$ROOT/.pulumi"
if [ -n "${PULUMI_BACKEND_URL:-}" ] && [ "$PULUMI_BACKEND_URL" != "$local_backend" ]; then
  exit 0
fi
# shellcheck source=example-stacks.sh
. scripts/example-stacks.sh
project=$(sed -n 's/^name: *//p' Pulumi.yaml)
missing=()
for stack in $GPU_CAAS_EXAMPLE_STACKS; do
  [ -f "Pulumi.$stack.yaml" ] || continue
  state=".pulumi/.pulumi/stacks/$project/$stack.json"
  [ -e "$state" ] || [ -e "$state.gz" ] || missing+=("$stack")
done
[ ${#missing[@]} -gt 0 ] || exit 0
set +u # .venv/bin/activate
# shellcheck source=env.sh
. scripts/env.sh
set -u
for stack in "${missing[@]}"; do
  if ! out=$(PULUMI_BACKEND_URL=$local_backend PULUMI_CONFIG_PASSPHRASE=$GPU_CAAS_DEV_PASSPHRASE \
    env -u PULUMI_CONFIG_PASSPHRASE_FILE pulumi stack init "$stack" --secrets-provider passphrase --no-select 2>&1); then
    case "$out" in *"already exists"*) continue ;; esac
    echo "[setup] could not create the example stack '$stack' on $local_backend:" >&2
    echo "$out" >&2
    exit 1
  fi
done
echo "[setup] example stacks on the local backend .pulumi/: ${missing[*]}"
