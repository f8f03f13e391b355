"""`Secret`: a stack-config value that must never be printed, logged or serialized.

In the engine, Pulumi decrypts `secure:` values before the program reads
`gpu-caas:tenant`, so a secret field arrives as a plain string. Offline, `python -m
stacks validate` reads the stack file itself, where the same field is the encrypted
mapping `{"secure": "v1:..."}`; that is accepted too (the shape is valid, the value is
simply unavailable).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pulumi
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from stacks.config.commands import stack_option

REDACTED = "[secret]"


class SecretUnavailableError(RuntimeError):
    """A secret is only its encrypted placeholder (the stack file was read directly)."""


class Secret:
    """A secret string from the stack config; repr/str are `[secret]`.

    Components receive it only as `secret.output()`, a `pulumi.Output.secret`.
    Config fields use a subclass that says what the secret is (`SshPrivateKey`,
    `Kubeconfig`, `ApiKey`): its shape is checked (`stacks.config.secret_checks`) and
    error messages show the matching `pulumi config set --secret` command.
    """

    __slots__ = ("_encrypted", "_value")

    what: ClassVar[str] = "a secret"
    """What the value is, for messages (`is not <what>`)."""
    value_file: ClassVar[str] = "<file holding the value>"
    """The file the fix command reads the value from (`< <file>`, a placeholder). Never
    an argument: a command line is visible to every user of the machine and lands in
    shell history."""

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

    @property
    def plaintext(self) -> str | None:
        """The decrypted value (None when only the encrypted placeholder is known); for
        shape checks only: never print it."""
        return self._value

    @classmethod
    def set_command(cls, path: str, stack: str | None = None) -> str:
        """The command that sets this secret at `path` (a full key path such as
        `gpu-caas:tenant.hosts[0].ssh.privateKey`) of `stack` (None: the `--stack
        <stack>` placeholder, see `stacks.config.commands`), the value on stdin:

        `pulumi config set --stack acme --secret --path '<path>' < <private key file>`

        With no value argument, `pulumi config set` reads the value from stdin when
        stdin is not a terminal (all of it but one final `\\n`; CLI v3.259.0) and prompts
        for it without echo when it is.
        """
        return (
            f"pulumi config set {stack_option(stack)} --secret --path '{path}' < {cls.value_file}"
        )

    @classmethod
    def set_hint(cls, path: str, stack: str | None = None) -> str:
        """`set_command` in backticks, as messages quote it."""
        return f"`{cls.set_command(path, stack)}`"

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
                raise ValueError("the secret is empty")
            return cls(value)
        if (
            isinstance(value, dict)
            and set(value) == {"secure"}
            and isinstance(value["secure"], str)
        ):
            return cls(None, encrypted=value["secure"])
        raise ValueError("expected a secret string (a `secure:` value)")

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
                "A secret. Set it with `pulumi config set --stack <stack> --secret "
                "--path '<key path>' < <file>`; the stack file then holds "
                "`secure: v1:...`."
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


class SshPrivateKey(Secret):
    """An SSH private key: the PEM or OpenSSH text of the key file, unencrypted."""

    __slots__ = ()
    what = "an SSH private key (PEM or OpenSSH, unencrypted)"
    value_file = "<private key file>"


class Kubeconfig(Secret):
    """A kubeconfig: the YAML text of the file, with a cluster, a user and a current
    context."""

    __slots__ = ()
    what = "a kubeconfig (the file's YAML contents)"
    value_file = "<kubeconfig file>"


class ApiKey(Secret):
    """An API key or token: one line, no whitespace.

    Line breaks at its end are dropped: they are not part of a key. (`pulumi config set
    ... < <file>` drops one final `\\n`, but not the `\\r` of a CRLF file or a second
    newline.)
    """

    __slots__ = ()
    what = "an API key (one line, no whitespace)"
    value_file = "<file holding the key>"

    def __init__(self, value: str | None, *, encrypted: str | None = None) -> None:
        super().__init__(None if value is None else api_key_text(value), encrypted=encrypted)


def api_key_text(value: str) -> str:
    """An API key's text as used: without the line breaks at its end.

    >>> api_key_text("nvapi-abc\\n")
    'nvapi-abc'
    """
    return value.rstrip("\r\n")
