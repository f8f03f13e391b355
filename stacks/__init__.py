"""Stack programs: load + validate `gpu-caas:tenant`, then deploy the tenant's flavor.

`run()` is the whole Pulumi program; `__main__.py` awaits `program()` instead, which runs
the same steps with the garbage-collector settings of a process that ends with the
program, and imports the Kubernetes SDK while the engine already works on the cluster
(`stacks.sdk_preload`); `main()` registers it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pulumi
import yaml

from stacks.config import ConfigError, Flavor, Problem, TenantConfig, parse_tenant, secret_checks
from stacks.config.errors import ROOT
from stacks.config.rules import warnings
from stacks.config.stack_file import config_key_problems

if TYPE_CHECKING:
    from components.cluster import TenantCluster

EXIT_REPORTED = 32
"""Exit code the Python language host reads as "the error was already shown to the
user" (no traceback); see PYTHON_PROCESS_EXITED_AFTER_SHOWING_USER_ACTIONABLE_MESSAGE_CODE
in pulumi/sdk/python/cmd/pulumi-language-python-exec."""


def _flavors() -> dict[Flavor, Callable[[TenantConfig], TenantCluster]]:
    """Each flavor's cluster declaration (the first half of its `deploy`)."""
    # Imported lazily: `python -m stacks validate` must not import the platform.
    from stacks import isv_managed, ncp_managed, tenant_managed

    return {
        Flavor.NCP_MANAGED: ncp_managed.cluster,
        Flavor.ISV_MANAGED: isv_managed.cluster,
        Flavor.TENANT_MANAGED: tenant_managed.cluster,
    }


def load() -> TenantConfig:
    """Read `gpu-caas:tenant` from the engine (secrets decrypted) and validate it.

    `pulumi.runtime.get_config` returns the raw value (JSON text for structured
    config) without the SDK's "value is a secret" warning that `Config.require_object`
    prints for configs containing secrets.

    Raises:
        ConfigError: every problem of the config; config keys the program would
            ignore (a misspelt `gpu-caas:tenant`, other `gpu-caas:` keys) are named
            with "did you mean"; secrets in plain text, of the wrong shape, or a stack
            on the public dev passphrase (not an example) or on an empty passphrase
            (`engine_secret_problems`). Fix commands name the stack (`--stack <name>`).
    """
    stack = pulumi.get_stack()
    raw: Any = pulumi.runtime.get_config(ROOT)
    keys = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    misspelt = [p for p in config_key_problems(keys) if p.path != ROOT]
    if misspelt:
        raise ConfigError(misspelt)
    secret_problems = engine_secret_problems(raw)
    try:
        config = parse_tenant(raw, _project_directory())
    except ConfigError as error:
        raise ConfigError([*secret_problems, *error.problems]).for_stack(stack) from None
    if secret_problems:
        raise ConfigError(secret_problems).for_stack(stack)
    return config


def _project_directory() -> Path:
    """The project root (`pulumi.get_root_directory()`, where `inventory.file` paths
    start); the working directory outside the engine."""
    try:
        root = pulumi.get_root_directory()
    except Exception:  # noqa: BLE001 - not set outside the engine (mocks)
        root = None
    return Path(root) if root else Path.cwd()


def _stack_file_directories() -> list[Path]:
    """Where `Pulumi.<stack>.yaml` can be: the project's `stackConfigDir` (Pulumi.yaml),
    the project root (`pulumi.get_root_directory()`), the working directory."""
    directories = []
    try:
        root = pulumi.get_root_directory()
    except Exception:  # noqa: BLE001 - not set outside the engine (mocks)
        root = None
    if root:
        project = Path(root) / "Pulumi.yaml"
        try:
            document = yaml.safe_load(project.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            document = None
        config_dir = document.get("stackConfigDir") if isinstance(document, dict) else None
        if isinstance(config_dir, str) and config_dir:
            directories.append(Path(root) / config_dir)
        directories.append(Path(root))
    directories.append(Path.cwd())
    return directories


def engine_secret_problems(raw: Any) -> list[Problem]:
    """The secret checks the program runs before registering any resource.

    Plain-text values at secret fields of the stack file (read from the project
    directory; without it, a `gpu-caas:tenant` the engine does not mark secret while a
    secret field is set), a non-example stack run with the public dev passphrase
    (unless `GPU_CAAS_ALLOW_DEV_PASSPHRASE=1`), any stack run with an empty passphrase,
    and the shape of every decrypted secret (`stacks.config.secret_checks`). Messages
    never contain a secret value.
    """
    try:
        tenant = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return []  # parse_tenant reports it
    if not isinstance(tenant, Mapping):
        return []
    stack = pulumi.get_stack()
    problems = secret_checks.engine_secret_problems(
        stack,
        tenant,
        pulumi.runtime.is_config_secret(ROOT),
        _stack_file_directories(),
        os.environ,
    )
    reported = {problem.path for problem in problems}
    shapes = secret_checks.decrypted_shape_problems(tenant, stack)
    return [*problems, *(p for p in shapes if p.path not in reported)]


def deploy(config: TenantConfig) -> dict[str, object]:
    """Deploy the config's flavor; return the stack outputs."""
    from stacks.compose import with_platform

    return with_platform(config, declare_cluster(config))


def declare_cluster(config: TenantConfig) -> TenantCluster:
    """The first half of `deploy`: the flavor's tenant cluster and its Kubernetes
    provider (for `ncp-managed` with the hosted backend also its objects on the
    management cluster), none of the platform."""
    from components.mirrors import reset_stack_mirror_list
    from stacks import server_side_apply

    # One stack per program run: start the mirror list empty (matters in tests).
    reset_stack_mirror_list()
    server_side_apply.register()
    return _flavors()[config.flavor](config)


def validated() -> TenantConfig:
    """The program's checks before any resource: the config (`load`), its warnings and
    the day-2 rules against the last deployment. A problem is reported as one `error:`
    line each and the program stops (`EXIT_REPORTED`), without a traceback."""
    try:
        config = load()
    except ConfigError as error:
        for line in error.lines():
            pulumi.log.error(line)
        sys.exit(EXIT_REPORTED)
    stack = pulumi.get_stack()
    for warning in warnings(config, stack=stack):
        pulumi.log.warn(str(warning.for_stack(stack)))
    day2, day2_warnings = day2_problems(config)
    for warning in day2_warnings:
        pulumi.log.warn(str(warning.for_stack(stack)))
    if day2:
        for line in ConfigError(day2).for_stack(stack).lines():
            pulumi.log.error(line)
        sys.exit(EXIT_REPORTED)
    return config


def run() -> None:
    """The Pulumi program: validate, deploy the flavor, export the outputs.

    A config error is reported as one `error:` line per problem and the program stops
    before any resource is registered, without a traceback.
    """
    for key, value in deploy(validated()).items():
        pulumi.export(key, value)


async def deploy_overlapping(config: TenantConfig) -> dict[str, object]:
    """`deploy`, with the Kubernetes SDK imported in a thread between the cluster and
    the platform while the event loop sends the cluster's registrations to the engine
    (`stacks.sdk_preload`). The same resources, inputs and dependencies as `deploy`
    (tests/stacks/test_main.py); only when each one reaches the engine differs."""
    from stacks.compose import with_platform
    from stacks.sdk_preload import imported_in_background

    cluster = declare_cluster(config)
    await imported_in_background()
    return with_platform(config, cluster)


async def program() -> pulumi.Inputs:
    """The program process's async entry point (`__main__.py`, through `main`):
    `run()`'s steps, deploying with `deploy_overlapping`, with Python's cyclic garbage
    collector paused while resources are declared and what survives frozen
    (`stacks.collector`: the process ends with the program). Returns the stack outputs
    (`pulumi.run` exports them)."""
    from stacks.collector import paused_then_frozen

    with paused_then_frozen():
        return await deploy_overlapping(validated())


def main(entry: Callable[[], Awaitable[pulumi.Inputs]] = program) -> None:
    """Set up the program process and register `entry` (`program`, awaited by
    `__main__.py`) as its async entry point (`pulumi.run`). The SDK's own debug
    messages are sent from a worker thread instead of stopping the program for each
    (`stacks.debug_messages`). Tests call `run()` and `deploy_overlapping`."""
    from stacks.debug_messages import send_debug_messages_in_background

    send_debug_messages_in_background()
    pulumi.run(entry)


def day2_problems(config: TenantConfig) -> tuple[list[Problem], list[Problem]]:
    """What the config changes on the running cluster that may not change this way.

    Compares with the stack's last deployment (`stacks.deployed.previous_deployment`):
    Kubernetes version skew and steps, the control-plane backend, host replacements
    (`stacks.config.upgrades`) and operator upgrade paths
    (`stacks.config.operator_upgrades`). Returns `(problems, warnings)`, both empty on
    a first deployment. `GPU_CAAS_IGNORE_DEPLOYED_RECORD=1` skips the comparison
    (docs/operations.md says when that is right).
    """
    from stacks.config.errors import key_path
    from stacks.config.operator_upgrades import operator_upgrade_problems
    from stacks.config.upgrades import (
        IGNORE_DEPLOYED_RECORD,
        deployed_record_ignored,
        upgrade_problems,
        upgrade_warnings,
    )
    from stacks.deployed import previous_deployment

    if deployed_record_ignored(os.environ):
        skipped = Problem(
            key_path(),
            f"{IGNORE_DEPLOYED_RECORD} is set: the day-2 checks against the last "
            "deployment (version steps and skew, backend, operator upgrade paths, driver "
            "branch) are "
            "skipped for this run",
        )
        return [], [skipped]
    deployed = previous_deployment()
    problems = [
        *upgrade_problems(config, deployed, os.environ),
        *operator_upgrade_problems(config, deployed),
    ]
    return problems, upgrade_warnings(config, deployed, os.environ)
