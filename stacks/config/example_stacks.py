"""The committed example stacks and the public passphrase their dummy secrets use.

The example stack files (`Pulumi.<stack>.yaml` in the repository root) hold dummy
secrets encrypted with `DEV_PASSPHRASE`, which the README prints. It is for those
stacks only: a real tenant's keys encrypted with it are readable by anyone. (The empty
passphrase is as public, and allowed for no stack: `stacks.config.secret_checks`.)
"""

from __future__ import annotations

EXAMPLE_STACKS: frozenset[str] = frozenset(
    {"dev", "gb200-baremetal", "h100-training", "isv-inference"}
)
"""Stack names of the committed example stacks (`Pulumi.<name>.yaml`)."""

DEV_PASSPHRASE = "gpu-caas-dev-passphrase"  # noqa: S105 - public by design, examples only
"""The documented passphrase of the example stacks' dummy secrets (README)."""

ALLOW_DEV_PASSPHRASE_ENV = "GPU_CAAS_ALLOW_DEV_PASSPHRASE"
"""Set to `1` to use `DEV_PASSPHRASE` for a stack that is not an example (throwaway
test stacks only)."""


def is_example_stack(stack: str) -> bool:
    """True for the committed example stacks, which may use `DEV_PASSPHRASE`."""
    return stack in EXAMPLE_STACKS
