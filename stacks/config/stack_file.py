"""Read a `Pulumi.<stack>.yaml` file and say where in it each problem is.

`read_stack_file` parses the file with PyYAML's composer, which keeps the position
of every key, so a problem's key path (`gpu-caas:tenant.hosts[3].gpu.count`) maps
back to `Pulumi.x.yaml:42:7`, the line and column of that key, like a compiler's
`file:line:column`. A key the problem is about but the file does not have (a
required key that is missing) is located at the nearest key the file does have.

Problems of the file itself (YAML syntax errors, repeated keys, misspelt config
keys) are found here too; the tenant config is validated by `stacks.config.loader`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from stacks.config.errors import (
    ROOT,
    ConfigError,
    Problem,
    closest_match,
    key_path,
    parse_key_path,
)

PROJECT = ROOT.split(":", 1)[0]
"""The project's config namespace (`gpu-caas`): every key in it is read by the program."""

SECRETS_PROVIDER_ACK_KEY = f"{PROJECT}:secretsProviderAcknowledged"
"""Config key by which a stack's owners accept its secrets provider: `passphrase`
silences validate's passphrase-provider warning (`stacks.config.secret_checks`)."""

PROJECT_KEYS = frozenset({ROOT, SECRETS_PROVIDER_ACK_KEY})
"""The config keys of the project's namespace that are read (any other is a problem)."""

_NEAR_ROOT = 0.8
"""difflib ratio from which another config key is taken for a misspelt `gpu-caas:tenant`
(stricter than for keys inside the tenant: other namespaces' keys are legitimate)."""


@dataclass(frozen=True)
class StackFile:
    """A parsed stack file: its `config:` mapping and the YAML nodes to locate keys.

    Attributes:
        path: the file.
        config: the `config:` mapping (`{}` when the file has none).
    """

    path: Path
    config: Mapping[str, Any]
    _config_key: Node | None
    _config_node: MappingNode | None

    @property
    def stack(self) -> str:
        """The stack name: `<stack>` of `Pulumi.<stack>.yaml` (else the file's stem)."""
        name = self.path.name
        if name.startswith("Pulumi.") and name.endswith((".yaml", ".yml")):
            return name[len("Pulumi.") :].rsplit(".", 1)[0]
        return self.path.stem

    def locate(self, problem: Problem) -> Problem:
        """`problem` with this file and the 1-based line/column of its key.

        Key paths under `gpu-caas:tenant` are followed as far as the file has them;
        another top-level config key (`problem.path` is the key itself) is located
        at that key; anything else at the `config:` key, or at the file alone.
        """
        file = str(self.path)
        node = self._position(problem.path)
        if node is None:
            return problem.at(file)
        return problem.at(file, node.start_mark.line + 1, node.start_mark.column + 1)

    def locate_all(self, problems: Iterable[Problem]) -> list[Problem]:
        """Every problem, located (see `locate`)."""
        return [self.locate(problem) for problem in problems]

    def _position(self, path: str) -> Node | None:
        if self._config_node is None:
            return self._config_key
        parts = parse_key_path(path)
        root = _entry(self._config_node, ROOT if parts is not None else path)
        if root is None:
            return self._config_key
        key, value = root
        where: Node = key
        for part in parts or ():
            found = _child(value, part)
            if found is None:
                break
            where, value = found
        return where


def read_stack_file(path: Path) -> StackFile:
    """Parse `path` as a stack file and check the file itself.

    Raises:
        ConfigError: located problems: the file is unreadable, not valid YAML (with the
            parser's line and column), not a mapping, repeats a key (YAML would keep
            only the last one), or has config keys that look like a misspelt
            `gpu-caas:tenant` (or are in the project's namespace, where the program
            reads nothing else).
    """
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        raise ConfigError([Problem("", f"cannot read the stack file: {reason}", file)]) from None
    except UnicodeDecodeError:
        raise ConfigError(
            [Problem("", "cannot read the stack file: not UTF-8 text", file)]
        ) from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        document = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        raise ConfigError([_syntax_problem(error, file)]) from None
    except yaml.YAMLError as error:
        raise ConfigError([Problem("", f"not valid YAML: {error}", file)]) from None
    finally:
        loader.dispose()
    if document is None:
        document = {}
    if not isinstance(document, dict) or not (node is None or isinstance(node, MappingNode)):
        raise ConfigError(
            [Problem("", "not a stack file: expected a mapping with a `config:` key", file, 1, 1)]
        )
    repeated = list(_repeated_keys(node, [])) if node is not None else []
    if repeated:
        raise ConfigError([p.at(file, line, column) for p, line, column in repeated])
    entry = _entry(node, "config") if isinstance(node, MappingNode) else None
    config = document.get("config")
    if config is None:
        config = {}
    config_node = entry[1] if entry else None
    if not isinstance(config, dict) or not isinstance(config_node, MappingNode | None):
        where = entry[0].start_mark if entry else None
        raise ConfigError(
            [
                Problem(
                    "",
                    "`config:` must be a mapping of config keys",
                    file,
                    where.line + 1 if where else None,
                    where.column + 1 if where else None,
                )
            ]
        )
    stack_file = StackFile(
        path, config, entry[0] if entry else None, config_node if config_node else None
    )
    problems = config_key_problems(config)
    if problems:
        raise ConfigError(stack_file.locate_all(problems))
    return stack_file


def config_key_problems(config: Mapping[str, Any]) -> list[Problem]:
    """Config keys the program would silently ignore, and `gpu-caas:tenant` missing.

    A key in the project namespace other than `PROJECT_KEYS`, or one that looks
    like a misspelt `gpu-caas:tenant` (`gpu-cass:tenant`, `tenant`), is a problem at
    that key ("did you mean"). Without `gpu-caas:tenant` and without such a key, the
    problem is the missing key. Each problem's path is the config key itself.
    """
    problems = []
    for key in config:
        if key in PROJECT_KEYS or not isinstance(key, str):
            continue
        namespace, _, name = key.rpartition(":")
        if namespace == PROJECT or name == ROOT.split(":", 1)[1] or _near_root(key):
            ack = closest_match(key, [ROOT, SECRETS_PROVIDER_ACK_KEY]) == SECRETS_PROVIDER_ACK_KEY
            problems.append(
                Problem(
                    key,
                    f"unknown config key; did you mean `{SECRETS_PROVIDER_ACK_KEY}`?"
                    if ack
                    else f"unknown config key; did you mean `{ROOT}`? (the {PROJECT} program "
                    f"reads only `{ROOT}`)",
                )
            )
    if ROOT not in config and not problems:
        problems.append(
            Problem(ROOT, "is not set; add it under `config:` (see docs/quickstart.md)")
        )
    return problems


def _near_root(key: str) -> bool:
    return closest_match(key, [ROOT], cutoff=_NEAR_ROOT) is not None


def _syntax_problem(error: yaml.MarkedYAMLError, file: str) -> Problem:
    """A YAML syntax error at the parser's line and column, with its context."""
    message = f"not valid YAML: {error.problem}"
    context = error.context_mark
    if error.context and context is not None:
        message += f" ({error.context} at line {context.line + 1}, column {context.column + 1})"
    elif error.context:
        message += f" ({error.context})"
    if "<block" in (error.problem or ""):
        message += "; check the indentation"
    mark = error.problem_mark
    if mark is None:
        return Problem("", message, file)
    return Problem("", message, file, mark.line + 1, mark.column + 1)


def node_at(root: Node, parts: Iterable[str | int]) -> Node:
    """The node of the deepest key of `parts` (a parsed key path) that the document
    under `root` has: the key itself for a mapping entry, the item for a list index
    (`root` when not even the first part is there)."""
    where, value = root, root
    for part in parts:
        found = _child(value, part)
        if found is None:
            break
        where, value = found
    return where


def repeated_key_problems(root: Node, file: str) -> list[Problem]:
    """Keys given twice in one mapping anywhere under `root` (YAML keeps only the last
    value), located in `file`; paths are dotted from the document's root."""
    return [
        Problem(p.path.lstrip("."), p.message, file, line, column)
        for p, line, column in _repeated_keys(root, [""])
    ]


def _entry(node: Node | None, key: str) -> tuple[Node, Node] | None:
    """The (key node, value node) of `key` in a mapping node, or None."""
    if not isinstance(node, MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def _child(node: Node, part: str | int) -> tuple[Node, Node] | None:
    """(node to point at, node to descend into) for one key-path part, or None."""
    if isinstance(part, str):
        return _entry(node, part)
    if isinstance(node, SequenceNode) and 0 <= part < len(node.value):
        item: Node = node.value[part]
        return item, item
    return None


def _repeated_keys(
    node: Node, parts: list[str | int], seen: set[int] | None = None
) -> Iterator[tuple[Problem, int, int]]:
    """Keys given twice in one mapping, anywhere in the document: (problem, line, column)."""
    seen = set() if seen is None else seen
    if id(node) in seen:  # an alias of a node already walked
        return
    seen.add(id(node))
    if isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _repeated_keys(item, [*parts, index], seen)
    elif isinstance(node, MappingNode):
        first: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key is not None and key in first:
                line = first[key].start_mark.line + 1
                mark = key_node.start_mark
                yield (
                    Problem(
                        _display_path([*parts, key]),
                        f"is given twice (first at line {line}); YAML keeps only the last "
                        "value: remove one",
                    ),
                    mark.line + 1,
                    mark.column + 1,
                )
            elif key is not None:
                first[key] = key_node
            yield from _repeated_keys(value_node, [*parts, key if key is not None else "?"], seen)


def _display_path(parts: list[str | int]) -> str:
    """A key path: under `config.gpu-caas:tenant` as the program names it, else dotted."""
    if parts[:1] == ["config"] and len(parts) > 1:
        return key_path(*parts[2:], root=str(parts[1]))
    return key_path(*parts[1:], root=str(parts[0])) if parts else ""
