"""stacks/config/commands.py: every printed command names its stack."""

from __future__ import annotations

import pytest

from stacks.config.commands import (
    STACK_PLACEHOLDER,
    config_set_command,
    name_stack,
    stack_option,
)


@pytest.mark.parametrize(
    ("stack", "expected"),
    [
        ("acme", "--stack acme"),
        ("acme-prod.eu_1", "--stack acme-prod.eu_1"),
        ("org/gpu-caas/acme", "--stack org/gpu-caas/acme"),
        ("odd name", "--stack 'odd name'"),  # quoted for the shell
        (None, f"--stack {STACK_PLACEHOLDER}"),
        ("", f"--stack {STACK_PLACEHOLDER}"),
    ],
)
def test_stack_option(stack: str | None, expected: str) -> None:
    assert stack_option(stack) == expected


@pytest.mark.parametrize(
    ("text", "stack", "expected"),
    [
        ("`config set --stack <stack> --path k v`", "acme", "`config set --stack acme --path k v`"),
        ("a `--stack <stack>` and `--stack <stack>`", "b", "a `--stack b` and `--stack b`"),
        ("`config set --stack <stack> --path k`", None, "`config set --stack <stack> --path k`"),
        # Only the option is filled in: other `<stack>` placeholders are left alone.
        ("Pulumi.<stack>.yaml", "acme", "Pulumi.<stack>.yaml"),
        ("`--stack other`", "acme", "`--stack other`"),
    ],
)  # fmt: skip
def test_name_stack(text: str, stack: str | None, expected: str) -> None:
    assert name_stack(text, stack) == expected


def test_config_set_command_quotes_the_value() -> None:
    assert config_set_command("gpu-caas:tenant.name", "acme", "acme") == (
        "pulumi config set --stack acme --path 'gpu-caas:tenant.name' acme"
    )
    assert config_set_command("gpu-caas:tenant.x", "a b") == (
        "pulumi config set --stack <stack> --path 'gpu-caas:tenant.x' 'a b'"
    )
