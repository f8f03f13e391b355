#!/usr/bin/env bash
# pulumi preview of one stack with every policy pack under policies/.
# Usage (after `. scripts/env.sh`): scripts/preview.sh [STACK] [extra pulumi args]
#   e.g. scripts/preview.sh gb200-baremetal --diff   (make preview STACK=... ARGS=...)
# An example stack (stacks/config/example_stacks.py) is created on the backend the
# first time, and previewed with the examples' public dev passphrase unless you exported
# PULUMI_CONFIG_PASSPHRASE. Any other stack must exist already, created with your own
# secrets provider (docs/quickstart.md, "Your own tenant"); nothing is supplied for it.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
stack=${1:-dev}
shift || true
[ -f "Pulumi.$stack.yaml" ] || { echo "no stack file Pulumi.$stack.yaml (stacks: $(ls Pulumi.*.yaml | sed 's/Pulumi\.\(.*\)\.yaml/\1/' | grep -v '^yaml$' | paste -sd' '))" >&2; exit 2; }
# shellcheck source=example-stacks.sh
. scripts/example-stacks.sh
if gpu_caas_is_example "$stack"; then
  # The committed secure: values are dummies encrypted with the public dev passphrase;
  # a passphrase file exported for your own tenant would not decrypt them.
  if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ]; then
    export PULUMI_CONFIG_PASSPHRASE=$GPU_CAAS_DEV_PASSPHRASE
    unset PULUMI_CONFIG_PASSPHRASE_FILE
  fi
  # Select the stack, creating it from its stack file the first time (its
  # encryptionsalt keeps the committed secure: values readable).
  pulumi stack select "$stack" >/dev/null 2>&1 || pulumi stack init "$stack" --secrets-provider passphrase >/dev/null
elif ! err=$(pulumi stack select "$stack" 2>&1 >/dev/null); then
  echo "$err" >&2
  echo "stack '$stack' does not exist on ${PULUMI_BACKEND_URL:-your backend}: create it with your own secrets provider first," \
    "e.g. 'pulumi stack init $stack --secrets-provider passphrase' with PULUMI_CONFIG_PASSPHRASE_FILE set," \
    "or --secrets-provider 'awskms://...' / 'hashivault://...' (docs/quickstart.md, \"Your own tenant\")" >&2
  exit 2
fi
# Offline checks first, with the same passphrase: they name the key of a secret the
# engine cannot decrypt (it only says "cipher: message authentication failed"), a
# plain-text secret, and every config error at its file:line:column.
python -m stacks validate "Pulumi.$stack.yaml" || exit 1
packs=()
for pack in policies/*/PulumiPolicy.yaml; do
  [ -e "$pack" ] && packs+=(--policy-pack "$(dirname "$pack")")
done
# A private TMPDIR, removed when the preview ends: the Kubernetes provider leaves its
# kubeconfig there (scripts/private-tmpdir.sh).
# shellcheck source=private-tmpdir.sh
. scripts/private-tmpdir.sh
gpu_caas_private_tmpdir
exec pulumi preview --stack "$stack" "${packs[@]}" "$@"
