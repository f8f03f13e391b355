"""`stack-secrets-encrypted`: every secret field of the stack's tenant config is a
Pulumi secret (`secure:`) in `Pulumi.<stack>.yaml`, never plain text.

`pulumi config set --path 'gpu-caas:tenant.hosts[0].ssh.privateKey' <key>` without
`--secret` writes the key into the stack file in plain text, and the engine cannot tell:
it decrypts `secure:` values before a pack sees the config and marks secrecy per
top-level key only. So the rule reads the stack file itself
(`stacks.config.secret_checks.engine_secret_problems`): the stack name comes from the
engine's `ConfigureStack` (captured by `stack_config.install_configure_stack_hook`),
the file from the pack's working directory (the project's program directory) or the
repository root. Without a matching file it falls back to the engine's marks: a
`gpu-caas:tenant` the engine does not mark secret while a secret field is set holds
that secret in plain text.

It validates the `pulumi:pulumi:Stack` resource, not the stack as a whole: the
program refuses such a config before registering anything else, and the engine runs
stack policies only after a program that succeeded; the root stack resource is
registered (and analyzed) before the program's code runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
)

from policies.gpu_caas_policies import report as pack_report
from policies.gpu_caas_policies import stack_config
from stacks.config.errors import ROOT, Problem
from stacks.config.secret_checks import engine_secret_problems

STACK_TYPE = "pulumi:pulumi:Stack"
REPO_ROOT = Path(__file__).resolve().parents[2]


def stack_file_directories() -> list[Path]:
    """Where the pack looks for `Pulumi.<stack>.yaml`: its working directory (the
    engine starts packs in the program's directory), then the repository root."""
    return [Path.cwd(), REPO_ROOT]


def plaintext_secret_problems(
    stack: str,
    tenant: Mapping[str, Any],
    secret_keys: frozenset[str],
    directories: Sequence[Path],
) -> list[Problem]:
    """Secret fields of `tenant` (as the engine sent it) held in plain text, with the
    command that fixes each (`pulumi config set --stack <stack> --secret --path '<key>'
    < <file>`, naming `stack`)."""
    return engine_secret_problems(
        stack, tenant, ROOT in secret_keys, directories, {}, check_passphrase=False
    )


def stack_secrets_validator(args: ResourceValidationArgs, report: ReportViolation) -> None:
    """Report each plain-text secret of the stack's config on the root stack resource."""
    if args.resource_type != STACK_TYPE:
        return
    stack = stack_config.configured_stack()
    tenant = stack_config.stack_config()
    secret_keys = stack_config.config_secret_keys()
    if stack is None or tenant is None or secret_keys is None:
        return  # not configured by an engine (unit tests call the function above)
    pack_report.note_checked()  # judged the stack's config, not the resource's properties
    for problem in plaintext_secret_problems(stack, tenant, secret_keys, stack_file_directories()):
        report(str(problem), None)


stack_secrets_encrypted = ResourceValidationPolicy(
    name="stack-secrets-encrypted",
    description=(
        "Every secret of the stack's tenant config (SSH private keys, kubeconfigs, API "
        "keys) is a Pulumi secret in the stack file, never plain text."
    ),
    validate=stack_secrets_validator,
    enforcement_level=EnforcementLevel.MANDATORY,
)
