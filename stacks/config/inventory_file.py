"""Hosts kept outside the stack config: the inventory file `inventory.file` names.

The engine hands the whole stack config to the program in one environment variable,
which Linux caps at 128 KiB (pulumi/pulumi#8680; `stacks.config.engine_env_limit`): an
in-config inventory of a few dozen to a few hundred hosts (with a key each) no longer
starts. An inventory file keeps
`Pulumi.<tenant>.yaml` small at any size:

```yaml
# inventory/<tenant>.yaml (or .json): the same keys as gpu-caas:tenant.hosts[]
hosts:
  - name: gpu-0000
    address: 10.0.0.10
    nodeGroup: train            # instead of listing it in nodeGroups[].hosts
    gpu: {model: H100-80GB, count: 8}
    topology: {rack: r01}       # ssh: the sshKeys entry of its group/rack/tenant
```

The file is validated by the same models as in-config hosts; it may hold no secret
(an SSH key is declared once under `gpu-caas:tenant.sshKeys` and referred to).
Problems are reported at the file's line and column with the key path inside it:
`inventory/acme.yaml:12:7: hosts[3].address: must be an IP address or DNS name ...`.
A `.json` file must be strict JSON (a trailing comma or a comment is a syntax error at
its line and column); the YAML parser only gives the positions of its keys.

The path is relative to the project directory (the one holding `Pulumi.yaml`): the
program finds it there (`pulumi.get_root_directory()`), `python -m stacks validate`
looks for `Pulumi.yaml` from the stack file's directory upwards.
"""

from __future__ import annotations

import json
import re
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import Node

from stacks.config.base import ConfigModel
from stacks.config.errors import ROOT, ConfigError, Problem, parse_key_path
from stacks.config.inventory import HostConfig
from stacks.config.secret import SshPrivateKey

try:  # libyaml: an order of magnitude faster on thousands of hosts
    _Loader: type[yaml.SafeLoader] = yaml.CSafeLoader  # type: ignore[assignment]
except AttributeError:  # pragma: no cover - PyYAML built without libyaml
    _Loader = yaml.SafeLoader

PROJECT_FILE = "Pulumi.yaml"


class InventoryDocument(ConfigModel):
    """An inventory file: `{hosts: [...]}`, each host as under `gpu-caas:tenant.hosts`."""

    hosts: list[HostConfig]
    """The hosts (bare metal or VMs), with `nodeGroup` saying which group each joins."""


def project_directory(start: Path) -> Path:
    """The nearest directory from `start` upwards that holds `Pulumi.yaml` (`start`
    itself when none does): where `inventory.file` paths are relative to."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / PROJECT_FILE).is_file():
            return directory
    return start


@dataclass(frozen=True)
class InventoryFile:
    """A read inventory file.

    Attributes:
        path: the file.
        shown: how problems name it (the path as `inventory.file` gives it).
        hosts: its hosts, validated (`HostConfig`).
    """

    path: Path
    shown: str
    hosts: list[HostConfig]

    def locate_all(self, problems: Iterable[Problem]) -> list[Problem]:
        """Problems at `hosts[<i>]...` key paths, at their line and column in this file."""
        return _locate(self.path, self.shown, list(problems))


def _problem(
    shown: str, message: str, line: int | None = None, column: int | None = None
) -> Problem:
    return Problem("", message, shown, line, column)


def _parse(path: Path, shown: str) -> tuple[Any, Node | None]:
    """The file's data and its YAML node (the positions of its keys; None only for a
    JSON file the YAML parser cannot read).

    A `.json` file is parsed as strict JSON (its data); being JSON, it is also YAML,
    whose node gives the positions.

    Raises:
        ConfigError: unreadable, or not YAML/JSON (located).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        tried = path.resolve()
        at = f" at {tried}" if str(tried) != shown else ""
        raise ConfigError(
            [
                Problem(
                    f"{ROOT}.inventory.file",
                    f"cannot read the inventory file {shown!r}{at} ({reason}); the path "
                    "is relative to the project directory (the one holding Pulumi.yaml)",
                )
            ]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError([_problem(shown, "cannot read the inventory file: not UTF-8")]) from None
    if path.suffix == ".json":
        return _parse_json(text.removeprefix("\ufeff"), shown)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        what = "JSON" if path.suffix == ".json" else "YAML"
        raise ConfigError(
            [
                _problem(
                    shown,
                    f"not valid {what}: {error.problem}",
                    mark.line + 1 if mark else None,
                    mark.column + 1 if mark else None,
                )
            ]
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError([_problem(shown, f"not valid YAML or JSON: {error}")]) from None
    finally:
        loader.dispose()
    return data, node


def _parse_json(text: str, shown: str) -> tuple[Any, Node | None]:
    """Strict JSON (`json`), and the YAML node of the same text for positions.

    Every JSON text is YAML, except for what PyYAML cannot read in strings (e.g. a
    `\\ud83d\\ude00` surrogate pair): such a file is read without positions (and
    without the repeated-key check)."""
    try:
        data = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as error:
        raise ConfigError(
            [_problem(shown, f"not valid JSON: {error.msg}", error.lineno, error.colno)]
        ) from None
    except ValueError as error:  # NaN / Infinity, which Python's json would read
        raise ConfigError([_problem(shown, f"not valid JSON: {error}")]) from None
    # In strict JSON a tab can only be whitespace between tokens, which YAML's pure
    # Python scanner refuses in places (indentation); a space keeps every column.
    loader = _Loader(text.replace("\t", " "))
    try:
        node = loader.get_single_node()
    except yaml.YAMLError:
        node = None
    finally:
        loader.dispose()
    return data, node


def _not_json(name: str) -> Any:
    """`NaN`, `Infinity` and `-Infinity`: Python's json reads them, JSON has no such
    value (RFC 8259, section 6)."""
    raise ValueError(f"{name} is not a JSON value (RFC 8259 numbers are finite)")


def _secret_paths() -> list[tuple[tuple[str, ...], ...]]:
    """The secret fields of a host, each key with every spelling the models accept
    (`(("ssh",), ("privateKey", "private_key"))`: camelCase, and the field's name, as
    `populate_by_name` allows), from the models: a secret field added to `HostConfig`
    later is refused in the file too."""
    from stacks.config.secret_checks import secret_fields

    paths = []
    for dotted in secret_fields(HostConfig):
        if "[]" in dotted or "{}" in dotted:  # pragma: no cover - no such field today
            raise NotImplementedError(f"secret field {dotted} inside a list or map of a host")
        model: type[BaseModel] | None = HostConfig
        path = []
        for part in dotted.split("."):
            spellings, inner = [part], None
            for name, info in (model.model_fields if model else {}).items():
                if (info.alias or name) == part:
                    spellings += [name] if name != part else []
                    inner = _model_in(info.annotation)
            path.append(tuple(spellings))
            model = inner
        paths.append(tuple(path))
    return paths


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds (`SshConfig` of `SshConfig | None`), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def _found_at(node: Any, path: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The key paths, as spelt in the file, at which `node` holds a value for `path`."""
    if not path:
        return [()] if node is not None else []
    if not isinstance(node, Mapping):
        return []
    return [
        (key, *rest) for key in path[0] if key in node for rest in _found_at(node[key], path[1:])
    ]


def _no_secret_in_the_file() -> str:
    """What to do instead of a key in the file: declare it once under `sshKeys`, refer
    to it with `ssh.privateKeyRef` (or scope it)."""
    return (
        "an inventory file holds no secret (it is not encrypted): remove this "
        "key, declare the key once as a Pulumi secret with "
        f"{SshPrivateKey.set_hint(f'{ROOT}.sshKeys[<i>].privateKey')} "
        "(and sshKeys[<i>].name), and refer to it with "
        "ssh.privateKeyRef or scope it to racks or node groups; if this file "
        "held a real key, rotate it"
    )


_INLINE_KEY = "privateKey"
"""The host's `ssh.privateKey`: a key of the model, never of the file."""
_SUGGESTS_INLINE_KEY = re.compile(rf"did you mean `{_INLINE_KEY}`\?")
_ALLOWED_KEYS = re.compile(r"(allowed keys: )([^);]*)")


def _in_file_terms(problem: Problem) -> Problem:
    """A problem in the file, without `ssh.privateKey` as a key to use: a suggestion of
    it ("did you mean `privateKey`?" for `privatekey`) says what to do instead, and it
    is left out of the allowed keys."""
    if _INLINE_KEY not in problem.message:
        return problem
    message = _SUGGESTS_INLINE_KEY.sub(lambda _: _no_secret_in_the_file(), problem.message)

    def allowed(match: re.Match[str]) -> str:
        keys = [key for key in match.group(2).split(", ") if key != _INLINE_KEY]
        return match.group(1) + ", ".join(keys)

    return replace(problem, message=_ALLOWED_KEYS.sub(allowed, message))


def _secret_problems(raw: Mapping[str, Any]) -> list[Problem]:
    """A value at any secret field (an SSH key) of the file: never allowed there.

    Looks only at the secret fields' paths of each host (linear, no model walk)."""
    hosts = raw.get("hosts")
    if not isinstance(hosts, list):
        return []
    paths = _secret_paths()
    problems = []
    for i, host in enumerate(hosts):
        for path in paths:
            for found in _found_at(host, path):
                problems.append(Problem(f"hosts[{i}].{'.'.join(found)}", _no_secret_in_the_file()))
    return problems


def read_inventory(path: Path, shown: str) -> InventoryFile:
    """Read and validate an inventory file (YAML, or strict JSON for `.json`).

    Args:
        path: the file.
        shown: how problems name it (the configured path).

    Raises:
        ConfigError: every problem, each at `shown:line:column` with the key path in
            the file (`hosts[3].gpu.count`): unreadable file, syntax errors, repeated
            keys, secrets in the file, schema problems. A suggestion of
            `ssh.privateKey` (refused in the file) points at `ssh.privateKeyRef`.
    """
    from stacks.config.errors import problems_from_validation_error
    from stacks.config.stack_file import repeated_key_problems

    data, node = _parse(path, shown)
    if not isinstance(data, Mapping) or "hosts" not in data:
        raise ConfigError(
            [
                _problem(
                    shown,
                    "not an inventory file: expected a mapping with a `hosts:` list "
                    "(docs/inventory.md)",
                    1,
                    1,
                )
            ]
        )
    problems = repeated_key_problems(node, shown) if node is not None else []
    problems += _locate(path, shown, _secret_problems(data), node)
    if problems:
        raise ConfigError(problems)
    try:
        document = InventoryDocument.model_validate(dict(data))
    except ValidationError as error:
        found = problems_from_validation_error(error, InventoryDocument, root="")
        stripped = [Problem(p.path.lstrip("."), p.message) for p in found]
        raise ConfigError(_locate(path, shown, stripped, node)) from None
    return InventoryFile(path, shown, document.hosts)


def _locate(
    path: Path, shown: str, problems: Sequence[Problem], node: Node | None = None
) -> list[Problem]:
    """`problems` (paths inside the file) at their line/column, in the file's terms
    (`_in_file_terms`); the file is parsed again for positions only when there is
    something to locate and no node was given."""
    if not problems:
        return []
    if node is None:
        try:
            _, node = _parse(path, shown)
        except ConfigError:
            node = None
    from stacks.config.stack_file import node_at

    located = []
    for problem in map(_in_file_terms, problems):
        parts = parse_key_path("." + problem.path if problem.path else "", root="")
        if node is None or parts is None:
            located.append(problem.at(shown))
            continue
        where = node_at(node, parts)
        located.append(problem.at(shown, where.start_mark.line + 1, where.start_mark.column + 1))
    return located


def in_file(
    problems: Iterable[Problem],
    inventory: InventoryFile,
    appended: Mapping[tuple[int, int], int],
) -> list[Problem]:
    """Problems of the merged config, those about the file's hosts moved to the file.

    `gpu-caas:tenant.hosts[<i>]...` becomes `hosts[<i>]...` in the file; a node group's
    host entry that came from a host's `nodeGroup` (`appended`: `(group, entry) -> host`)
    becomes that host's `hosts[<i>].nodeGroup`. Other problems are returned as they are.
    """
    moved: list[Problem] = []
    kept: list[Problem] = []
    for problem in problems:
        parts = parse_key_path(problem.path) if problem.file is None else None
        if parts and parts[0] == "hosts":
            suffix = problem.path[len(ROOT) :].lstrip(".")
            moved.append(Problem(suffix, problem.message))
        elif (
            parts
            and len(parts) >= 4
            and parts[0] == "nodeGroups"
            and parts[2] == "hosts"
            and isinstance(parts[1], int)
            and isinstance(parts[3], int)
            and (parts[1], parts[3]) in appended
        ):
            host = appended[(parts[1], parts[3])]
            moved.append(Problem(f"hosts[{host}].nodeGroup", problem.message))
        else:
            kept.append(problem)
    return [*kept, *inventory.locate_all(moved)]
