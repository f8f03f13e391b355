"""Config errors: every problem of a stack config, one line each, with its key path.

Exception tree:

    ConfigError            all problems of one `gpu-caas:tenant` value (never partial)

A problem is `(path, message)`: `path` is the full key path as written in
`Pulumi.<stack>.yaml` (e.g. `gpu-caas:tenant.nodeGroups[1].sharing.mig.layout`), the
message says what is wrong and what is allowed. Messages are built from pydantic's
`loc`/`msg`/`ctx`, never from `str(ValidationError)`, which echoes input values (and
therefore secrets).
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

ROOT = "gpu-caas:tenant"
"""The one structured config key holding the whole tenant."""

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, order=True)
class Problem:
    """One config problem."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(Exception):
    """The stack config is invalid; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        """One line per problem: `<key path>: <message>`."""
        return [str(p) for p in self.problems]


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
    """Turn a pydantic error into problems, without ever printing input values."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        loc = tuple(item["loc"])
        problems.append(
            Problem(key_path(*loc, root=root), _message(item["type"], item["msg"], model, loc))
        )
    return problems


def _message(kind: str, msg: str, model: type[BaseModel], loc: tuple[str | int, ...]) -> str:
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, loc[:-1])
        suffix = f"; allowed keys: {', '.join(allowed)}" if allowed else ""
        return f"unknown key{suffix}"
    if kind == "value_error" and msg.startswith("Value error, "):
        return msg.removeprefix("Value error, ")
    if kind == "assertion_error" and msg.startswith("Assertion failed, "):
        return msg.removeprefix("Assertion failed, ")
    return msg[:1].lower() + msg[1:]


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
