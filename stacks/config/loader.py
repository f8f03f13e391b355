"""Load and validate the tenant config: from the engine or from a stack file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stacks.config import rules
from stacks.config.errors import ROOT, ConfigError, Problem, problems_from_validation_error
from stacks.config.host_resolution import resolve_hosts
from stacks.config.inventory_file import InventoryFile, in_file, project_directory, read_inventory
from stacks.config.secret_checks import stack_name_of
from stacks.config.stack_file import read_stack_file
from stacks.config.tenant import TenantConfig

CONFIG_KEY = ROOT


def parse_tenant(raw: Any, project_dir: Path | None = None) -> TenantConfig:
    """Validate a raw `gpu-caas:tenant` value (JSON text or mapping).

    Hosts of an inventory file (`inventory.file`, relative to `project_dir`, default
    the working directory) are read and validated with the same models; SSH keys that
    hosts refer to by name or scope (`sshKeys`) and node groups named by hosts
    (`hosts[].nodeGroup`) are resolved (`stacks.config.host_resolution`), so every host
    of the result has its `ssh.privateKey` and `ssh.user`.

    Raises:
        ConfigError: with every problem found (schema problems first, then
            cross-field rules; rules only run when the schema is valid). Problems of
            the inventory file's hosts are located in that file (`file:line:column:
            hosts[<i>].<key>`).
    """
    if raw is None:
        raise ConfigError([Problem(ROOT, "is not set; see docs/quickstart.md")])
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            raise ConfigError([Problem(ROOT, "is not a structured value (a mapping)")]) from None
    if not isinstance(raw, Mapping):
        raise ConfigError([Problem(ROOT, "must be a mapping of tenant settings")])
    try:
        config = TenantConfig.model_validate(dict(raw))
    except ValidationError as error:
        raise ConfigError(problems_from_validation_error(error, TenantConfig)) from None
    inventory = None
    if config.inventory is not None:
        if config.hosts:
            raise ConfigError(
                [
                    Problem(
                        f"{ROOT}.hosts",
                        f"hosts come from inventory.file ({config.inventory.file!r}): move "
                        "these hosts into that file, or remove inventory to keep them here",
                    )
                ]
            )
        directory = project_dir if project_dir is not None else Path.cwd()
        inventory = read_inventory(directory / config.inventory.file, config.inventory.file)
        config = config.model_copy(update={"hosts": inventory.hosts})
    resolution = resolve_hosts(config)
    problems = [*resolution.problems, *rules.check(resolution.config)]
    if problems:
        if inventory is not None:
            problems = in_file(problems, inventory, resolution.appended)
        raise ConfigError(problems)
    return resolution.config


def load_stack_file(path: Path) -> TenantConfig:
    """Validate the `gpu-caas:tenant` key of a `Pulumi.<stack>.yaml` file.

    Secrets stay encrypted (`{"secure": ...}`): shape is checked, values are not. An
    inventory file is read relative to the project directory (`project_directory`:
    the nearest directory from the stack file's upwards holding Pulumi.yaml).

    Raises:
        ConfigError: the file is unreadable, not valid YAML, lacks the key, or the
            config is invalid; every problem is located at `file:line:column` of
            its key (`Problem.location`), in the inventory file for its hosts; fix
            commands name the stack of `Pulumi.<stack>.yaml` (`--stack <stack>`).
    """
    stack = stack_name_of(path)
    try:
        stack_file = read_stack_file(path)
    except ConfigError as error:
        raise error.for_stack(stack) from None
    try:
        return parse_tenant(stack_file.config[CONFIG_KEY], project_directory(path.parent))
    except ConfigError as error:
        located = [p if p.file is not None else stack_file.locate(p) for p in error.problems]
        raise ConfigError(located).for_stack(stack) from None


def stack_file_warnings(path: Path, config: TenantConfig) -> list[Problem]:
    """The warnings of `config` read from `path`, located, with the stack-name check.

    Raises:
        ConfigError: the file cannot be read again (see `load_stack_file`).
    """
    stack_file = read_stack_file(path)
    found = rules.warnings(config, stack=stack_file.stack)
    if config.inventory is not None and any(p.path.startswith(f"{ROOT}.hosts") for p in found):
        directory = project_directory(path.parent)
        inventory = InventoryFile(directory / config.inventory.file, config.inventory.file, [])
        found = in_file(found, inventory, {})
    stack = stack_name_of(path)
    return [(p if p.file is not None else stack_file.locate(p)).for_stack(stack) for p in found]
