"""Stack programs: load + validate `gpu-caas:tenant`, then deploy the tenant's flavor.

`run()` is the whole Pulumi program (`__main__.py` only calls it).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pulumi

from stacks.config import ConfigError, Flavor, TenantConfig, parse_tenant
from stacks.config.errors import ROOT
from stacks.config.rules import warnings

EXIT_REPORTED = 32
"""Exit code the Python language host reads as "the error was already shown to the
user" (no traceback); see PYTHON_PROCESS_EXITED_AFTER_SHOWING_USER_ACTIONABLE_MESSAGE_CODE
in pulumi/sdk/python/cmd/pulumi-language-python-exec."""


def _flavors() -> dict[Flavor, Callable[[TenantConfig], dict[str, object]]]:
    # Imported lazily: `python -m stacks validate` must not import the platform.
    from stacks import isv_managed, ncp_managed, tenant_managed

    return {
        Flavor.NCP_MANAGED: ncp_managed.deploy,
        Flavor.ISV_MANAGED: isv_managed.deploy,
        Flavor.TENANT_MANAGED: tenant_managed.deploy,
    }


def load() -> TenantConfig:
    """Read `gpu-caas:tenant` from the engine (secrets decrypted) and validate it.

    `pulumi.runtime.get_config` returns the raw value (JSON text for structured
    config) without the SDK's "value is a secret" warning that `Config.require_object`
    prints for configs containing secrets.

    Raises:
        ConfigError: every problem of the config.
    """
    raw: Any = pulumi.runtime.get_config(ROOT)
    return parse_tenant(raw)


def deploy(config: TenantConfig) -> dict[str, object]:
    """Deploy the config's flavor; return the stack outputs."""
    from components.mirrors import reset_stack_mirror_list

    # One stack per program run: start the mirror list empty (matters in tests).
    reset_stack_mirror_list()
    return _flavors()[config.flavor](config)


def run() -> None:
    """The Pulumi program: validate, deploy the flavor, export the outputs.

    A config error is reported as one `error:` line per problem and the program stops
    before any resource is registered, without a traceback.
    """
    try:
        config = load()
    except ConfigError as error:
        for line in error.lines():
            pulumi.log.error(line)
        sys.exit(EXIT_REPORTED)
    for warning in warnings(config):
        pulumi.log.warn(str(warning))
    for key, value in deploy(config).items():
        pulumi.export(key, value)
