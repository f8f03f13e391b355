"""Load and validate the tenant config: from the engine or from a stack file."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stacks.config import rules
from stacks.config.errors import ROOT, ConfigError, Problem, problems_from_validation_error
from stacks.config.stack_file import read_stack_file
from stacks.config.tenant import TenantConfig

CONFIG_KEY = ROOT


def parse_tenant(raw: Any) -> TenantConfig:
    """Validate a raw `gpu-caas:tenant` value (JSON text or mapping).

    Raises:
        ConfigError: with every problem found (schema problems first, then
            cross-field rules; rules only run when the schema is valid).
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
    problems = rules.check(config)
    if problems:
        raise ConfigError(problems)
    return config


def load_stack_file(path: Path) -> TenantConfig:
    """Validate the `gpu-caas:tenant` key of a `Pulumi.<stack>.yaml` file.

    Secrets stay encrypted (`{"secure": ...}`): shape is checked, values are not.

    Raises:
        ConfigError: the file is unreadable, not valid YAML, lacks the key, or the
            config is invalid; every problem is located at `file:line:column` of
            its key (`Problem.location`).
    """
    stack_file = read_stack_file(path)
    try:
        return parse_tenant(stack_file.config[CONFIG_KEY])
    except ConfigError as error:
        raise ConfigError(stack_file.locate_all(error.problems)) from None


def stack_file_warnings(path: Path, config: TenantConfig) -> list[Problem]:
    """The warnings of `config` read from `path`, located, with the stack-name check.

    Raises:
        ConfigError: the file cannot be read again (see `load_stack_file`).
    """
    stack_file = read_stack_file(path)
    return stack_file.locate_all(rules.warnings(config, stack=stack_file.stack))
