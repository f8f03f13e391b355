"""Config errors: every problem of a stack config, one line each, with its key path.

Exception tree:

    ConfigError            all problems of one `gpu-caas:tenant` value (never partial)

A problem is `(path, message)`: `path` is the full key path as written in
`Pulumi.<stack>.yaml` (e.g. `gpu-caas:tenant.nodeGroups[1].sharing.mig.layout`), the
message says what is wrong and what is allowed. Messages are built from pydantic's
`loc`/`msg`/`ctx`, never from `str(ValidationError)`, which echoes input values (and
therefore secrets): a bad value is shown only when its key cannot hold a `Secret`
(`count: 'eight' is not an integer`), never when it can.

Problems found reading a stack file also carry where the offending key is
(`Pulumi.x.yaml:42:7: gpu-caas:tenant.hosts[3].gpu.count: ...`), like a compiler.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from enum import Enum
from typing import Any

from pydantic import BaseModel, ValidationError

from stacks.config.commands import name_stack
from stacks.config.secret import Secret

ROOT = "gpu-caas:tenant"
"""The one structured config key holding the whole tenant."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_KEY_PATH_PART = re.compile(r'\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|\["([^"]*)"\]')
_VALUE_LIMIT = 60
"""Longer values (certificates, kubeconfigs, scripts) are never echoed."""
_PRIVATE_KEY_BEGIN = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----")
_OPENSSH_KEY_BODY = "b3BlbnNzaC1rZXktdjE"
"""The base64 of `openssh-key-v1`, how every OpenSSH private key's body starts."""
_DER_KEY_BODY = re.compile(r"MII[A-Za-z0-9+/]{60,}")
"""How the base64 body of a PEM key (PKCS#1, PKCS#8: DER, `0x30 0x82`) starts."""
_BASE64_RUN = r"(?:[A-Za-z0-9+/=]|(?:\s|\\[rn])+(?=[A-Za-z0-9+/]{16}))*"
"""base64 text across line breaks, whether as such (LF, CRLF, YAML indentation or
folding into spaces) or written out (`\\n`, `\\r\\n`, as `repr` shows them); a break
counts only before another 16 base64 characters, so the words after a key stay."""
_CREDENTIALS: tuple[tuple[re.Pattern[str], str], ...] = (
    # A whole PEM/OpenSSH private key, or what is left of one cut short: its base64
    # lines, up to the first other character.
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"
            rf"(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|(?:\s|\\[rn])*{_BASE64_RUN})",
            re.DOTALL,
        ),
        "<a private key, not shown>",
    ),
    # A key's body without its armour lines: OpenSSH, or PEM (two 64-character lines on).
    (re.compile(_OPENSSH_KEY_BODY + _BASE64_RUN), "<a private key, not shown>"),
    (
        re.compile(r"MII[A-Za-z0-9+/]{61}(?:\s|\\[rn])+[A-Za-z0-9+/]{64}" + _BASE64_RUN),
        "<a private key, not shown>",
    ),
    # base64 of `-----BEGIN`: a kubeconfig's client-key-data / certificate data.
    (re.compile(r"LS0tLS1CRUdJTi" + _BASE64_RUN), "<base64 key or certificate, not shown>"),
    # NGC API keys: `nvapi-` and about 64 characters (a name like `nvapi-docs` stays).
    (re.compile(r"\bnvapi-[A-Za-z0-9_\-]{40,}"), "<an NGC API key, not shown>"),
    # A JSON Web Token (a Kubernetes service-account or OIDC token): base64url of a
    # JSON header (`{"...` is `eyJ`), a payload and a signature.
    (
        re.compile(r"\beyJ[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"),
        "<a token, not shown>",
    ),
)
"""Credentials that must not reach a terminal even when pasted into a field that is not
a secret (`redact_credentials`); the shapes gpu-caas handles: SSH keys, kubeconfigs,
service-account tokens, NGC API keys."""


def looks_like_private_key(value: str) -> bool:
    """Whether `value` holds a PEM or OpenSSH private key (or the start of one)."""
    return (
        bool(_PRIVATE_KEY_BEGIN.search(value))
        or _OPENSSH_KEY_BODY in value
        or bool(_DER_KEY_BODY.search(value))
    )


def redact_credentials(text: str) -> str:
    """`text` with every credential of `_CREDENTIALS` replaced by what it is.

    Every `Problem` passes its path and message through this: a rule that quotes what
    the user wrote (a reference that names nothing, a misspelt name) must not print a
    key pasted into the wrong field to the terminal or a CI log.
    """
    for pattern, replacement in _CREDENTIALS:
        text = pattern.sub(replacement, text)
    return text


_CLOSE = 0.6
"""difflib ratio from which a misspelt name suggests a candidate (difflib's default)."""


@dataclass(frozen=True, order=True)
class Problem:
    """One config problem.

    `path` is the full key path (empty for a problem of the file itself, e.g. a YAML
    syntax error). `file`, `line` and `column` (1-based) say where the offending key is
    when the problem was found reading a stack file (`load_stack_file`); the engine
    hands the program the config without its file, so there they are None.
    """

    path: str
    message: str
    file: str | None = None
    line: int | None = None
    column: int | None = None

    def __post_init__(self) -> None:
        # Frozen: set through object.__setattr__, once, before anyone reads them.
        object.__setattr__(self, "path", redact_credentials(self.path))
        object.__setattr__(self, "message", redact_credentials(self.message))

    @property
    def location(self) -> str | None:
        """`file:line:column` (or just `file`), or None when not read from a file."""
        if self.file is None:
            return None
        if self.line is None:
            return self.file
        return f"{self.file}:{self.line}:{self.column or 1}"

    def at(self, file: str, line: int | None = None, column: int | None = None) -> Problem:
        """This problem, located in `file` (at 1-based `line`/`column`, if known)."""
        return replace(self, file=file, line=line, column=column)

    def for_stack(self, stack: str | None) -> Problem:
        """This problem with the `--stack <stack>` placeholder of its fix commands
        naming `stack` (`stacks.config.commands.name_stack`; unchanged for None)."""
        return replace(self, message=name_stack(self.message, stack))

    @property
    def text(self) -> str:
        """`<key path>: <message>` (just the message for a problem of the whole file)."""
        return f"{self.path}: {self.message}" if self.path else self.message

    def __str__(self) -> str:
        location = self.location
        return f"{location}: {self.text}" if location else self.text


class ConfigError(Exception):
    """The stack config is invalid; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        """One line per problem: `[<file>:<line>:<column>: ]<key path>: <message>`."""
        return [str(p) for p in self.problems]

    def for_stack(self, stack: str | None) -> ConfigError:
        """The same problems, their fix commands naming `stack` (`Problem.for_stack`)."""
        return ConfigError([p.for_stack(stack) for p in self.problems])


def in_reading_order(problems: Iterable[Problem]) -> list[Problem]:
    """`problems` grouped by file (in the order the files first appear), each file's by
    line then column; problems of the whole file (no line) first, problems read from no
    file last. Stable: problems at the same place keep their order."""
    problems = list(problems)
    files: dict[str | None, int] = {}
    for problem in problems:
        files.setdefault(problem.file, len(files))
    if None in files:
        files[None] = len(files)

    def key(problem: Problem) -> tuple[int, int, int]:
        return (files[problem.file], problem.line or 0, problem.column or 0)

    return sorted(problems, key=key)


def plural(
    count: int, singular: str, plural_form: str | None = None, *, counted: bool = True
) -> str:
    """`count` and the word in the right number (`counted=False`: the word alone).

    >>> plural(1, "node group"), plural(2, "address", "addresses")
    ('1 node group', '2 addresses')
    >>> plural(1, "uses", "use", counted=False)
    'uses'
    """
    word = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count} {word}" if counted else word


def closest_match(word: str, candidates: Iterable[str], *, cutoff: float = _CLOSE) -> str | None:
    """The candidate a misspelt `word` most likely meant, or None.

    Close means difflib's ratio >= `cutoff` (default 0.6: a typo, a missing or doubled
    letter, a case slip); the comparison ignores case, and of equally close candidates
    the first wins.
    """
    best: tuple[float, str | None] = (cutoff, None)
    for candidate in candidates:
        ratio = difflib.SequenceMatcher(None, word.casefold(), candidate.casefold()).ratio()
        if ratio > best[0] or (ratio == best[0] and best[1] is None):
            best = (ratio, candidate)
    return best[1]


def did_you_mean(word: str, candidates: Iterable[str], *, quote: str = "'") -> str:
    """`"did you mean 'x'?"` for `closest_match(word, candidates)`, or "" if none."""
    match = closest_match(word, candidates)
    return f"did you mean {quote}{match}{quote}?" if match else ""


def parse_key_path(path: str, root: str = ROOT) -> tuple[str | int, ...] | None:
    """The parts of a key path rendered by `key_path`, or None if it is not one.

    >>> parse_key_path('gpu-caas:tenant.nodeGroups[1].labels["example.com/x"]')
    ('nodeGroups', 1, 'labels', 'example.com/x')
    """
    if not path.startswith(root):
        return None
    rest = path[len(root) :]
    parts: list[str | int] = []
    position = 0
    for match in _KEY_PATH_PART.finditer(rest):
        if match.start() != position:
            return None
        name, index, quoted = match.groups()
        parts.append(int(index) if index is not None else (name or quoted or ""))
        position = match.end()
    return tuple(parts) if position == len(rest) else None


def key_path(*parts: str | int, root: str = ROOT) -> str:
    """Render a key path: strings as `.key` (or `["a/b"]`), ints as `[i]`.

    >>> key_path("nodeGroups", 1, "labels", "example.com/x")
    'gpu-caas:tenant.nodeGroups[1].labels["example.com/x"]'
    """
    out = root
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENT.match(part):
            out += f".{part}"
        else:
            out += f'["{part}"]'
    return out


def problems_from_validation_error(
    error: ValidationError, model: type[BaseModel], root: str = ROOT
) -> list[Problem]:
    """Turn a pydantic error into problems; input values only where no secret can be.

    A bad value is shown (`'eight' is not an integer`) only when it is a short scalar
    at a key whose type holds no `Secret` anywhere; everything else (secrets, unknown
    keys, mappings, multi-line text) is never echoed.
    """
    problems = []
    for item in error.errors(include_url=False):
        loc = tuple(item["loc"])
        shown = _shown_value(model, loc, item.get("input"), item["type"])
        path = key_path(*loc, root=root)
        message = _message(item["type"], item["msg"], model, loc, shown)
        if item["type"] in ("missing", "value_error"):
            message += _secret_hint(model, loc, path)
        problems.append(Problem(path, message))
    return problems


def _secret_hint(model: type[BaseModel], loc: tuple[str | int, ...], path: str) -> str:
    """`; set it with <pulumi config set --stack <stack> --secret ...>` when `loc` is a
    secret field (missing, or not a secret string)."""
    annotation = _annotation_at(model, loc)
    if isinstance(annotation, type) and issubclass(annotation, Secret):
        return f"; set it with {annotation.set_hint(path)}"
    return ""


_TYPE_MESSAGES = {
    "int_parsing": "is not an integer",
    "int_type": "is not an integer",
    "int_from_float": "is not an integer",
    "float_parsing": "is not a number",
    "float_type": "is not a number",
    "bool_parsing": "is not a boolean; use true or false",
    "bool_type": "is not a boolean; use true or false",
    "string_type": "is not a string; quote it",
}
"""Pydantic type errors whose message is clearer as `<value> <phrase>`."""


def _message(
    kind: str,
    msg: str,
    model: type[BaseModel],
    loc: tuple[str | int, ...],
    shown: str | None = None,
) -> str:
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        if not allowed:
            return "unknown key"
        hint = did_you_mean(str(loc[-1]), allowed, quote="`") if loc else ""
        listed = ", ".join(allowed)
        if hint:
            return f"unknown key; {hint} (allowed keys: {listed})"
        return f"unknown key; allowed keys: {listed}"
    if kind == "value_error" and msg.startswith("Value error, "):
        text = msg.removeprefix("Value error, ")
    elif kind == "assertion_error" and msg.startswith("Assertion failed, "):
        text = msg.removeprefix("Assertion failed, ")
    else:
        text = msg[:1].lower() + msg[1:]
    if shown is None:
        return text
    if kind in _TYPE_MESSAGES:
        return f"{shown} {_TYPE_MESSAGES[kind]}"
    if kind in ("value_error", "assertion_error"):
        bare = shown.strip("'")
        if bare and bare in text:
            return text  # the rule's message already names the value
        if text.startswith("must "):
            return f"{shown} {text}"
    return f"got {shown}; {text}"


def _shown_value(
    model: type[BaseModel], loc: tuple[str | int, ...], value: Any, kind: str
) -> str | None:
    """The bad input as written in YAML, or None when it must not (or need not) be shown."""
    if kind in ("missing", "extra_forbidden"):
        return None
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = str(value)
    elif isinstance(value, str):
        if "\n" in value or len(value) > _VALUE_LIMIT:
            return None
        text = repr(value)
    else:
        return None  # None, mappings and lists: shape errors, and they may hold secrets
    annotation = _annotation_at(model, loc)
    if annotation is _UNRESOLVED or _may_hold_secret(annotation, set()):
        return None
    return text


_UNRESOLVED: Any = object()


def _annotation_at(model: type[BaseModel], loc: Iterable[str | int]) -> Any:
    """The declared type at `loc` (list items by index, map values by key), or _UNRESOLVED."""
    current: Any = model
    for part in loc:
        current = _strip(current)
        if current is _UNRESOLVED:
            return _UNRESOLVED
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(part, str):
            field = next((f for n, f in current.model_fields.items() if part in (f.alias, n)), None)
            if field is None:
                return _UNRESOLVED
            current = field.annotation
        elif origin in (list, tuple, set, frozenset) and isinstance(part, int) and args:
            current = args[0]
        elif origin is dict and isinstance(part, str) and len(args) == 2:
            current = args[1]
        else:
            return _UNRESOLVED
    return _strip(current)


def _strip(annotation: Any) -> Any:
    """Drop Annotated and Optional; a real union (several types) is _UNRESOLVED."""
    for _ in range(8):
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            members = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(members) != 1:
                return _UNRESOLVED
            annotation = members[0]
        else:
            return annotation
    return _UNRESOLVED


def _may_hold_secret(annotation: Any, seen: set[type]) -> bool:
    """Whether a value of `annotation` can be (or contain) a `Secret`; unknown: yes."""
    if annotation is _UNRESOLVED or annotation is Any or annotation is object:
        return True
    if isinstance(annotation, type):
        if issubclass(annotation, Secret):
            return True
        if issubclass(annotation, BaseModel):
            if annotation in seen:
                return False
            seen.add(annotation)
            return any(
                _may_hold_secret(f.annotation, seen) for f in annotation.model_fields.values()
            )
        if issubclass(annotation, Enum | str | int | float | bool):
            return False
    origin = typing.get_origin(annotation)
    if origin is None:
        # Plain value types (IPv4Network, ...) are fine; anything else: assume it can.
        return not isinstance(annotation, type)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _may_hold_secret(args[0], seen)
    return any(_may_hold_secret(a, seen) for a in args if a is not Ellipsis)


def _allowed_keys(model: type[BaseModel], loc: Iterable[str | int]) -> list[str]:
    """camelCase keys allowed at `loc` (walks models through lists/optionals/dicts)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        current = _unwrap(current)
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return []
        field = next(
            (f for n, f in current.model_fields.items() if (f.alias or n) == part or n == part),
            None,
        )
        if field is None:
            return []
        current = field.annotation
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return [f.alias or n for n, f in current.model_fields.items()]
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/list/dict wrappers down to the model type, if any."""
    for _ in range(4):
        origin = typing.get_origin(annotation)
        if origin is None:
            return annotation
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if origin in (typing.Union, types.UnionType, list, tuple, typing.Annotated):
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if models else args[0]
        elif origin is dict:
            annotation = args[-1]
        else:
            return annotation
    return annotation
