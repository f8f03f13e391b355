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
`config_problems` names each unknown policy (listing the valid ones, or the pack of
this repository it belongs to) and each unknown key (listing the policy's keys); a file
whose policies all belong to another pack is reported once, as the config of that pack
given to the wrong `--policy-pack`. `install_pack_config_check` runs it in the pack, at
two points:

* `GetAnalyzerInfo`, the engine's first call, before it reads the config: every
  `--policy-pack-config` file on the `pulumi` command line that goes with a pack of this
  repository (`KNOWN_PACKS`) is read and checked (Linux `/proc`; elsewhere this step
  finds nothing and is skipped), so even an unknown policy without `enforcementLevel` is
  reported by name, and the problems of every file come at once (the engine stops at the
  first pack that fails to start);
* `Configure`, which receives the config however it was given (file, Pulumi Cloud,
  ESC): unknown keys and unknown policies that carry an `enforcementLevel`.

Either way the pack answers with an error the engine prints as `error: <message>`.
"""

from __future__ import annotations

import difflib
import importlib
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


REPO = Path(__file__).resolve().parents[2]
KNOWN_PACKS: dict[str, tuple[str, str]] = {
    "platform-safety": ("gpu-caas-platform-safety", "policies.gpu_caas_policies.platform_safety"),
    "tenant-isolation": (
        "gpu-caas-tenant-isolation",
        "policies.gpu_caas_policies.tenant_isolation",
    ),
}
"""The packs of this repository: directory under `policies/` -> (pack name, module whose
`POLICIES` are the pack's policies)."""


def known_pack(pack_dir: Path) -> tuple[str, Sequence[Policy]] | None:
    """`(pack name, policies)` of the pack of this repository in `pack_dir`, or None."""
    for directory, (name, module) in KNOWN_PACKS.items():
        if pack_dir.resolve() == (REPO / "policies" / directory).resolve():
            return name, importlib.import_module(module).POLICIES
    return None


def known_packs() -> dict[str, Sequence[Policy]]:
    """Every pack of this repository: name -> policies."""
    return {name: importlib.import_module(module).POLICIES for name, module in KNOWN_PACKS.values()}


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
    pack: str,
    policies: Sequence[Policy],
    config: Mapping[str, Any],
    source: str,
    other_packs: Mapping[str, Sequence[Policy]] | None = None,
    *,
    what: str = "this file",
) -> list[str]:
    """Every unknown policy name and unknown config key in `config`, one message each;
    one message in all when every policy it names belongs to one of `other_packs` (the
    config of that pack, paired with the wrong `--policy-pack`).

    Args:
        pack: the pack's name, for messages.
        policies: the pack's policies.
        config: the parsed config: policy name -> enforcement level string or object.
        source: where the config came from (a file path), prefixed to each message.
        other_packs: other packs' names -> policies, to say whose policy a name is.
        what: how the swapped-config message names `config` ("this file").
    """
    by_name = {policy.name: policy for policy in policies}
    owners = {
        policy.name: other
        for other, other_policies in (other_packs or {}).items()
        if other != pack
        for policy in other_policies
    }
    named = [name for name in config if name not in (ENVIRONMENTS, ALL_POLICIES)]
    foreign = {owners.get(name) for name in named if name not in by_name}
    if named and not any(name in by_name for name in named) and len(foreign) == 1:
        (other,) = foreign
        if other is not None:
            return [
                f"{source}: {what} looks like the config of pack {other} (it configures "
                f"{_listed(named)}), not of {pack}; paired with the wrong --policy-pack? The "
                "n-th --policy-pack-config goes with the n-th --policy-pack."
            ]
    problems: list[str] = []
    for name, value in config.items():
        if name == ENVIRONMENTS:
            continue
        if name == ALL_POLICIES:
            allowed = [ENFORCEMENT_LEVEL]
        elif name in by_name:
            allowed = policy_keys(by_name[name])
        else:
            hint = (
                f" (it is a policy of pack {owners[name]})"
                if name in owners
                else _did_you_mean(name, by_name)
            )
            problems.append(
                f"{source}: {name!r} is not a policy of pack {pack}{hint}; its policies: "
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


def _listed(names: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return f"{shown} and {len(names) - limit} more" if len(names) > limit else shown


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


def config_pairs(argv: Sequence[str], cwd: Path) -> list[tuple[Path, Path]]:
    """`(pack directory, config file)` for every `--policy-pack-config` that `argv` (a
    `pulumi preview/up` command line, run in `cwd`) gives, in command-line order.

    The engine pairs the n-th `--policy-pack-config` with the n-th `--policy-pack`
    (each flag may repeat, take `=value`, or hold comma-separated values).
    """
    packs = _flag_values(argv, "--policy-pack")
    configs = _flag_values(argv, "--policy-pack-config")
    return [(cwd / pack, cwd / config) for pack, config in zip(packs, configs, strict=False)]


def config_file_for(argv: Sequence[str], cwd: Path, pack_dir: Path) -> Path | None:
    """The `--policy-pack-config` file that `argv` (run in `cwd`) gives for the pack in
    `pack_dir`, or None (`config_pairs`)."""
    target = pack_dir.resolve()
    return next((c for p, c in config_pairs(argv, cwd) if p.resolve() == target), None)


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
    """The problems of every config file the `pulumi` command line gives a pack of this
    repository or this pack (`files_problems`); empty when there is none or the command
    line cannot be read (then the `Configure` check catches what reaches the pack)."""
    found = _pulumi_command_line()
    if found is None:
        return []
    argv, cwd = found
    return files_problems(config_pairs(argv, cwd), cwd, (pack, policies, pack_dir))


def files_problems(
    pairs: Sequence[tuple[Path, Path]],
    cwd: Path,
    this: tuple[str, Sequence[Policy], Path] | None = None,
) -> list[str]:
    """`config_problems` of each `(pack directory, config file)` pair whose pack is one
    of this repository's (`KNOWN_PACKS`) or `this` (`(name, policies, directory)`), in
    order, every file's problems at once; a file that cannot be read or is not a JSON
    object is one problem. Pairs of other packs are left to the engine."""
    others = {**known_packs(), **({this[0]: this[1]} if this is not None else {})}
    problems: list[str] = []
    for pack_dir, path in pairs:
        if this is not None and pack_dir.resolve() == this[2].resolve():
            pack, policies = this[0], this[1]
        else:
            found = known_pack(pack_dir)
            if found is None:
                continue
            pack, policies = found
        shown = str(path.relative_to(cwd)) if path.is_relative_to(cwd) else str(path)
        try:
            config = json.loads(path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError) as error:
            problems.append(f"{shown}: cannot read the config of pack {pack}: {error}")
            continue
        if not isinstance(config, Mapping):
            problems.append(
                f"{shown}: the config of pack {pack} must be a JSON object keyed by policy name"
            )
            continue
        problems += config_problems(pack, policies, config, shown, others)
    return problems


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
            pack,
            policies,
            configure_request_config(request),
            "policy pack config",
            known_packs(),
            what="this config",
        )
        if problems:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "\n".join(problems))
        return original_configure(self, request, context)

    configure._gpu_caas_config_check = True  # type: ignore[attr-defined]
    servicer.GetAnalyzerInfo = get_analyzer_info  # type: ignore[method-assign]
    servicer.Configure = configure  # type: ignore[method-assign]
