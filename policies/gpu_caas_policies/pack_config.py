"""Policy-pack configuration that fails loudly: unknown policy names and unknown keys.

`pulumi preview --policy-pack <pack> --policy-pack-config <file>` hands the pack a JSON
object keyed by policy name. Left alone, the engine (3.259) and `pulumi_policy` 1.21
let two mistakes through:

* a policy name the pack does not have: the engine adds it to the pack's config with
  no enforcement level and fails with `invalid enforcement level ""`, naming neither
  the key nor the file (`pkg/resource/analyzer/config.go` `applyConfig`, then
  `analyzer.Configure`); with an `enforcementLevel` it is accepted and ignored;
* a misspelled key inside a policy's config: the engine validates only `properties`
  and `required` of a policy's schema (`convertSchema` drops everything else, and
  `PolicyConfigSchema` carries nothing else), so an unknown key passes and the
  policy silently runs on its default.

Here every policy's config refuses unknown keys (`policy_config_schema` adds
`additionalProperties: false`; `pack_config_schema` is the whole file's schema) and
`config_problems` names each unknown policy (listing the valid ones) and each unknown
key (listing the policy's keys). `install_pack_config_check` runs it in the pack, at
two points:

* `GetAnalyzerInfo`, the engine's first call, before it reads the config: the
  `--policy-pack-config` file given for this pack on the `pulumi` command line is read
  and checked (Linux `/proc`; elsewhere this step finds nothing and is skipped), so
  even an unknown policy without `enforcementLevel` is reported by name;
* `Configure`, which receives the config however it was given (file, Pulumi Cloud,
  ESC): unknown keys and unknown policies that carry an `enforcementLevel`.

Either way the pack answers with an error the engine prints as `error: <message>`.
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pulumi_policy import Policy

ENFORCEMENT_LEVEL = "enforcementLevel"
ENFORCEMENT_LEVELS = ("advisory", "mandatory", "remediate", "disabled")
ALL_POLICIES = "all"
"""Config key the engine applies to every policy of the pack (enforcement level only)."""
ENVIRONMENTS = "environments"
"""Top-level key of a config file naming Pulumi ESC environments (the engine's)."""
CLI_CHECK_ENV = "GPU_CAAS_PACK_CONFIG_CLI_CHECK"
"""Set to `off` to skip reading the config file from the `pulumi` command line (tests
use it to exercise the `Configure` check alone)."""


class PackConfigError(ValueError):
    """The pack's config has problems; `problems` holds one message per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


# --------------------------------------------------------------------------- #
# Schemas
# --------------------------------------------------------------------------- #


def policy_keys(policy: Policy) -> list[str]:
    """Config keys `policy` takes: `enforcementLevel` and its schema's properties."""
    schema = policy.config_schema
    properties = sorted(schema.properties) if schema is not None and schema.properties else []
    return [ENFORCEMENT_LEVEL, *properties]


def policy_config_schema(policy: Policy) -> dict[str, Any]:
    """JSON Schema of one policy's config object: its properties, `enforcementLevel`,
    and nothing else (`additionalProperties: false`)."""
    schema = policy.config_schema
    properties: dict[str, Any] = {
        ENFORCEMENT_LEVEL: {"type": "string", "enum": list(ENFORCEMENT_LEVELS)},
        **(dict(schema.properties) if schema is not None and schema.properties else {}),
    }
    result: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if schema is not None and schema.required:
        result["required"] = list(schema.required)
    return result


def pack_config_schema(policies: Sequence[Policy]) -> dict[str, Any]:
    """JSON Schema of a whole `--policy-pack-config` file for a pack of `policies`:
    one key per policy (an enforcement level, or the policy's config object), `all`
    (an enforcement level for every policy), `environments` (ESC), nothing else."""
    level = {"type": "string", "enum": list(ENFORCEMENT_LEVELS)}
    properties: dict[str, Any] = {
        policy.name: {"oneOf": [level, policy_config_schema(policy)]} for policy in policies
    }
    properties[ALL_POLICIES] = {
        "oneOf": [
            level,
            {
                "type": "object",
                "properties": {ENFORCEMENT_LEVEL: level},
                "additionalProperties": False,
            },
        ]
    }
    properties[ENVIRONMENTS] = {"type": "array", "items": {"type": "string"}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }


# --------------------------------------------------------------------------- #
# Checks
# --------------------------------------------------------------------------- #


def config_problems(
    pack: str, policies: Sequence[Policy], config: Mapping[str, Any], source: str
) -> list[str]:
    """Every unknown policy name and unknown config key in `config`, one message each.

    Args:
        pack: the pack's name, for messages.
        policies: the pack's policies.
        config: the parsed config: policy name -> enforcement level string or object.
        source: where the config came from (a file path), prefixed to each message.
    """
    by_name = {policy.name: policy for policy in policies}
    problems: list[str] = []
    for name, value in config.items():
        if name == ENVIRONMENTS:
            continue
        if name == ALL_POLICIES:
            allowed = [ENFORCEMENT_LEVEL]
        elif name in by_name:
            allowed = policy_keys(by_name[name])
        else:
            problems.append(
                f"{source}: {name!r} is not a policy of pack {pack}"
                f"{_did_you_mean(name, by_name)}; its policies: "
                f"{', '.join(sorted(by_name))} (or {ALL_POLICIES!r} for every policy)"
            )
            continue
        if not isinstance(value, Mapping):
            continue  # an enforcement level string; the engine checks its value
        for key in value:
            if key not in allowed:
                problems.append(
                    f"{source}: {name}.{key}: unknown key{_did_you_mean(key, allowed)}; "
                    f"{name} takes: {', '.join(allowed)}"
                )
    return problems


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.75)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_config(
    pack: str, policies: Sequence[Policy], config: Mapping[str, Any], source: str
) -> None:
    """Raise `PackConfigError` when `config_problems` finds anything."""
    problems = config_problems(pack, policies, config, source)
    if problems:
        raise PackConfigError(problems)


# --------------------------------------------------------------------------- #
# The config file on the pulumi command line
# --------------------------------------------------------------------------- #


def config_file_for(argv: Sequence[str], cwd: Path, pack_dir: Path) -> Path | None:
    """The `--policy-pack-config` file that `argv` (a `pulumi preview/up` command line,
    run in `cwd`) gives for the pack in `pack_dir`, or None.

    The engine pairs the n-th `--policy-pack-config` with the n-th `--policy-pack`
    (each flag may repeat, take `=value`, or hold comma-separated values).
    """
    packs = _flag_values(argv, "--policy-pack")
    configs = _flag_values(argv, "--policy-pack-config")
    target = pack_dir.resolve()
    for pack, config in zip(packs, configs, strict=False):
        if (cwd / pack).resolve() == target:
            return cwd / config
    return None


def _flag_values(argv: Sequence[str], flag: str) -> list[str]:
    values: list[str] = []
    args = list(argv)
    for index, arg in enumerate(args):
        if arg == flag and index + 1 < len(args):
            raw = args[index + 1]
        elif arg.startswith(flag + "="):
            raw = arg[len(flag) + 1 :]
        else:
            continue
        values.extend(v for v in raw.split(",") if v)
    return values


def _pulumi_command_line(max_depth: int = 4) -> tuple[list[str], Path] | None:
    """argv and working directory of the `pulumi` process that started this pack (the
    pack's parent is the language host, whose parent is the CLI); None when not found
    or not on Linux. Only a process whose argv names `--policy-pack-config` is used,
    and nothing of it is printed."""
    pid = os.getppid()
    for _ in range(max_depth):
        proc = Path("/proc") / str(pid)
        try:
            argv = [a.decode() for a in (proc / "cmdline").read_bytes().split(b"\0") if a]
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        if (
            argv
            and Path(argv[0]).name.startswith("pulumi")
            and any(
                a == "--policy-pack-config" or a.startswith("--policy-pack-config=") for a in argv
            )
        ):
            try:
                return argv, Path(os.readlink(proc / "cwd"))
            except OSError:
                return None
        if parent <= 1:
            return None
        pid = parent
    return None


def command_line_problems(pack: str, policies: Sequence[Policy], pack_dir: Path) -> list[str]:
    """`config_problems` of the config file the `pulumi` command line gives this pack;
    empty when there is none (or it cannot be found or parsed: then the engine
    reports, or the `Configure` check catches what reaches the pack)."""
    found = _pulumi_command_line()
    if found is None:
        return []
    argv, cwd = found
    path = config_file_for(argv, cwd, pack_dir)
    if path is None:
        return []
    try:
        config = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return []
    if not isinstance(config, Mapping):
        return []
    shown = str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)
    return config_problems(pack, policies, config, shown)


# --------------------------------------------------------------------------- #
# The hook
# --------------------------------------------------------------------------- #


def configure_request_config(request: Any) -> dict[str, dict[str, Any]]:
    """`ConfigureAnalyzerRequest.policyConfig` as `{policy: {key: value}}`, with
    `enforcementLevel` present when the engine set one (non-zero enum)."""
    from google.protobuf import json_format  # type: ignore[import-untyped]

    config: dict[str, dict[str, Any]] = {}
    for name in request.policyConfig:
        entry = request.policyConfig[name]
        properties = dict(json_format.MessageToDict(entry.properties))
        if entry.enforcementLevel:
            properties[ENFORCEMENT_LEVEL] = "set"
        config[name] = properties
    return config


def install_pack_config_check(pack: str, policies: Sequence[Policy], pack_dir: Path) -> None:
    """Make the pack refuse unknown policies and keys (module docstring). Called by each
    pack's `__main__.py` before it builds the `PolicyPack`. Idempotent."""
    import grpc  # type: ignore[import-untyped]
    from pulumi_policy import policy as sdk

    servicer = sdk._PolicyAnalyzerServicer
    if getattr(servicer.Configure, "_gpu_caas_config_check", False):
        return
    original_info: Callable[..., Any] = servicer.GetAnalyzerInfo
    original_configure: Callable[..., Any] = servicer.Configure

    def get_analyzer_info(self: Any, request: Any, context: Any) -> Any:
        off = os.environ.get(CLI_CHECK_ENV, "").lower() in ("0", "off", "false")
        problems = [] if off else command_line_problems(pack, policies, pack_dir)
        if problems:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "\n".join(problems))
        return original_info(self, request, context)

    def configure(self: Any, request: Any, context: Any) -> Any:
        problems = config_problems(
            pack, policies, configure_request_config(request), "policy pack config"
        )
        if problems:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "\n".join(problems))
        return original_configure(self, request, context)

    configure._gpu_caas_config_check = True  # type: ignore[attr-defined]
    servicer.GetAnalyzerInfo = get_analyzer_info  # type: ignore[method-assign]
    servicer.Configure = configure  # type: ignore[method-assign]
