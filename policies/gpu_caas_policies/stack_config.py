"""The stack's own config (`gpu-caas:tenant`), as seen from inside a policy pack.

Two packs' rules need it: the Helm source rule accepts the mirror the tenant config
names (`trustStackMirrors`), and the host rule knows the stack's tenant by its `name`.

How the config reaches a Python pack depends on how the engine starts it:

* through the Python language host's `RunPlugin` (this project's toolchain), the engine
  sends it in the `ConfigureStack` RPC (`AnalyzerStackConfigureRequest.config`), which
  `pulumi_policy` 1.21 ignores (it keeps only the stack tags);
  `install_configure_stack_hook` makes the pack's servicer also load that config into
  `pulumi.runtime`, where `pulumi.runtime.get_config` finds it;
* through the legacy `pulumi-analyzer-policy-python` shim, the engine puts it in
  `PULUMI_CONFIG`, which `pulumi_policy` loads before every analysis.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Any

STACK_CONFIG_KEY = "gpu-caas:tenant"


def stack_config() -> Mapping[str, Any] | None:
    """The stack's `gpu-caas:tenant` config as the engine passed it to the analyzer
    (see the module docstring for the two ways it arrives). None when absent or
    unreadable: unit tests, or a pack run outside the engine.
    """
    try:
        import pulumi.runtime

        raw = pulumi.runtime.get_config(STACK_CONFIG_KEY)
    except Exception:  # noqa: BLE001 - no config outside the engine
        return None
    if not raw:
        return None
    if not isinstance(raw, str):
        return raw if isinstance(raw, Mapping) else None
    return _parsed(raw)


@functools.lru_cache(maxsize=4)
def _parsed(raw: str) -> Mapping[str, Any] | None:
    """`raw` parsed once: rules call `stack_config()` per resource (the Helm source rule
    per release), and re-parsing the whole tenant each time grew with the config's size
    times the resources. Callers only read the mapping."""
    try:
        tenant = json.loads(raw)
    except ValueError:
        return None
    return tenant if isinstance(tenant, Mapping) else None


def stack_tenant_name() -> str | None:
    """`name` of the stack's tenant config, if the analyzer was given it."""
    tenant = stack_config()
    name = tenant.get("name") if tenant else None
    return name if isinstance(name, str) else None


def stack_mirrors() -> tuple[list[str], list[str]]:
    """`(chart repositories, image registries)` of the stack's configured mirrors.

    Lets a pack accept the mirror the tenant config names without every CI job
    repeating it in pack config. Empty when the config is absent: then only
    pack-configured sources pass.
    """
    tenant = stack_config()
    mirrors = tenant.get("mirrors") if tenant else None
    if not isinstance(mirrors, Mapping):
        return [], []
    return _targets(mirrors, "chartRepositories", "defaultChartRepository"), _targets(
        mirrors, "imageRegistries", "defaultImageRegistry"
    )


def _targets(mirrors: Mapping[str, Any], mapping_key: str, default_key: str) -> list[str]:
    """Mirror targets named under `mapping_key` (a map or a list) and `default_key`."""
    found: list[str] = []
    entries = mirrors.get(mapping_key)
    if isinstance(entries, Mapping):
        found.extend(str(v) for v in entries.values() if isinstance(v, str))
    elif isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, str):
                found.append(entry)
            elif isinstance(entry, Mapping):
                found.extend(str(entry[k]) for k in ("mirror", "url") if k in entry)
    default = mirrors.get(default_key)
    if isinstance(default, str):
        found.append(default)
    return [f.rstrip("/") for f in found]


_configured: dict[str, Any] = {}
"""What `ConfigureStack` said besides the config: `stack` (name) and `secret_keys`."""


def configured_stack() -> str | None:
    """The stack name the engine sent with `ConfigureStack`; None before (unit tests)."""
    stack: str | None = _configured.get("stack")
    return stack


def config_secret_keys() -> frozenset[str] | None:
    """Config keys the engine marks secret (`config_secret_keys`; top-level keys only,
    e.g. `gpu-caas:tenant` as a whole); None before `ConfigureStack` (unit tests)."""
    keys: frozenset[str] | None = _configured.get("secret_keys")
    return keys


def install_configure_stack_hook() -> None:
    """Make `pulumi_policy`'s analyzer load the stack config sent with `ConfigureStack`.

    Called by each pack's `__main__.py` before it builds the `PolicyPack`. Idempotent.
    """
    import pulumi.runtime
    from pulumi_policy import policy

    servicer = policy._PolicyAnalyzerServicer
    original: Any = servicer.ConfigureStack
    if getattr(original, "_gpu_caas_hook", False):
        return

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        for key, value in dict(getattr(request, "config", {}) or {}).items():
            pulumi.runtime.set_config(key, value)
        _configured["stack"] = str(getattr(request, "stack", "") or "") or None
        _configured["secret_keys"] = frozenset(getattr(request, "config_secret_keys", []) or [])
        return original(self, request, context)

    configure_stack._gpu_caas_hook = True  # type: ignore[attr-defined]
    servicer.ConfigureStack = configure_stack  # type: ignore[method-assign,assignment]
