"""`Secret`: a stack-config value that must never be printed, logged or serialized.

In the engine, Pulumi decrypts `secure:` values before the program reads
`gpu-caas:tenant`, so a secret field arrives as a plain string. Offline, `python -m
stacks validate` reads the stack file itself, where the same field is the encrypted
mapping `{"secure": "v1:..."}`; that is accepted too (the shape is valid, the value is
simply unavailable).
"""

from __future__ import annotations

from typing import Any

import pulumi
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

REDACTED = "[secret]"


class SecretUnavailableError(RuntimeError):
    """A secret is only its encrypted placeholder (the stack file was read directly)."""


class Secret:
    """A secret string from the stack config; repr/str are `[secret]`.

    Components receive it only as `secret.output()`, a `pulumi.Output.secret`.
    """

    __slots__ = ("_encrypted", "_value")

    def __init__(self, value: str | None, *, encrypted: str | None = None) -> None:
        self._value = value
        self._encrypted = encrypted

    @property
    def is_encrypted(self) -> bool:
        """True when only the encrypted `secure:` placeholder is known."""
        return self._value is None

    def output(self) -> pulumi.Output[str]:
        """The value as a secret Output.

        Raises:
            SecretUnavailableError: the value is the encrypted placeholder of a stack
                file read without the engine (e.g. by `python -m stacks validate`).
        """
        if self._value is None:
            raise SecretUnavailableError(
                "this secret is still encrypted (the stack file was read without the "
                "Pulumi engine); run `pulumi preview`/`pulumi up` to use it"
            )
        return pulumi.Output.secret(self._value)

    def __repr__(self) -> str:
        return REDACTED

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return (self._value, self._encrypted) == (other._value, other._encrypted)

    def __hash__(self) -> int:
        return hash((self._value, self._encrypted))

    @classmethod
    def _validate(cls, value: Any) -> Secret:
        # Messages never echo the input: it is a secret.
        if isinstance(value, Secret):
            return value
        if isinstance(value, str):
            if not value:
                raise ValueError("the secret is empty; set a value")
            return cls(value)
        if (
            isinstance(value, dict)
            and set(value) == {"secure"}
            and isinstance(value["secure"], str)
        ):
            return cls(None, encrypted=value["secure"])
        raise ValueError(
            "expected a secret string; set it with "
            "`pulumi config set --secret --path '<key path>' <value>`"
        )

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            # Even if a caller forgets `exclude`, a dump shows only the redaction.
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda _v: REDACTED, when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "description": (
                "A secret. Set it with `pulumi config set --secret --path ...`; the "
                "stack file then holds `secure: v1:...`."
            ),
            "anyOf": [
                {"type": "string", "minLength": 1},
                {
                    "type": "object",
                    "properties": {"secure": {"type": "string"}},
                    "required": ["secure"],
                    "additionalProperties": False,
                },
            ],
        }
