"""The `pulumi` commands that config messages print, each naming its stack.

A fix command without `--stack` acts on the *selected* stack, which need not be the
stack the message is about (`make preview STACK=x` selects x, and a hint for another
stack would then write to x). So every command a message prints names its stack:
`--stack <name>` where the code building the message knows the stack, else
`--stack <stack>`, the placeholder that `name_stack` (`Problem.for_stack`) fills in
where the stack becomes known: `python -m stacks validate` (the `<stack>` of
`Pulumi.<stack>.yaml`) and the program (`pulumi.get_stack()`).

Commands never carry a secret value: secrets reach `pulumi config set` on stdin (a file
redirected) or at its prompt, which does not echo (`stacks.config.secret.Secret`).
"""

from __future__ import annotations

import shlex

STACK_PLACEHOLDER = "<stack>"
"""Stands for the stack name in a command printed before the stack is known."""

_UNNAMED = f"--stack {STACK_PLACEHOLDER}"


def stack_option(stack: str | None) -> str:
    """`--stack <name>` (shell-quoted if needed); `--stack <stack>` when `stack` is None.

    >>> stack_option("acme"), stack_option(None)
    ('--stack acme', '--stack <stack>')
    """
    return f"--stack {shlex.quote(stack)}" if stack else _UNNAMED


def name_stack(text: str, stack: str | None) -> str:
    """`text` with every `--stack <stack>` placeholder naming `stack` (unchanged when
    `stack` is None or empty).

    >>> name_stack("run `pulumi config set --stack <stack> --path k v`", "acme")
    'run `pulumi config set --stack acme --path k v`'
    """
    return text.replace(_UNNAMED, stack_option(stack)) if stack else text


def config_set_command(path: str, value: str, stack: str | None = None) -> str:
    """`pulumi config set --stack <stack> --path '<path>' <value>` for a value that is
    not secret (`value` is shell-quoted if needed).

    >>> config_set_command("gpu-caas:tenant.name", "acme", "acme")
    "pulumi config set --stack acme --path 'gpu-caas:tenant.name' acme"
    """
    return f"pulumi config set {stack_option(stack)} --path '{path}' {shlex.quote(value)}"
