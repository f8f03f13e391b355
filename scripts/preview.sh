#!/usr/bin/env bash
# pulumi preview of one stack with every policy pack under policies/.
# Usage (after `. scripts/env.sh`): scripts/preview.sh [STACK] [extra pulumi args]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
stack=${1:-dev}
shift || true
[ -f "Pulumi.$stack.yaml" ] || { echo "no stack file Pulumi.$stack.yaml (stacks: $(ls Pulumi.*.yaml | sed 's/Pulumi\.\(.*\)\.yaml/\1/' | grep -v '^yaml$' | paste -sd' '))" >&2; exit 2; }
# Select the stack on the local backend, creating it from its stack file the
# first time (its encryptionsalt keeps the committed secure: values readable).
pulumi stack select "$stack" >/dev/null 2>&1 || pulumi stack init "$stack" --secrets-provider passphrase >/dev/null
packs=()
for pack in policies/*/PulumiPolicy.yaml; do
  [ -e "$pack" ] && packs+=(--policy-pack "$(dirname "$pack")")
done
exec pulumi preview --stack "$stack" "${packs[@]}" "$@"
