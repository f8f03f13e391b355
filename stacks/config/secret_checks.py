"""Secrets that cannot leak by accident: the checks `python -m stacks validate`, the
program and the platform-safety pack run on a stack's secrets.

* Plain text: every value at a `Secret` field of `gpu-caas:tenant` must be a Pulumi
  secret (`{secure: v1:...}` in `Pulumi.<stack>.yaml`). In the engine, Pulumi decrypts
  `secure:` values before the program and the packs see the config, and it marks
  secrecy per top-level key only (`gpu-caas:tenant` as a whole), so a nested plain
  value cannot be told from a decrypted secret there: the check reads the stack file.
* Decryption (offline, passphrase provider): every `secure:` value must decrypt with
  this stack's key (a value copied from another stack does not).
* Shape: a decrypted SSH key, kubeconfig or API key must look like one
  (`stacks.config.secret_shapes`).
* The public dev passphrase (`stacks.config.example_stacks.DEV_PASSPHRASE`) is for the
  example stacks only.

Every problem names the key path and the exact `pulumi config set --secret --path`
command that fixes it. No message ever contains a secret value.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from stacks.config.errors import ROOT, Problem, key_path
from stacks.config.example_stacks import (
    ALLOW_DEV_PASSPHRASE_ENV,
    DEV_PASSPHRASE,
    is_example_stack,
)
from stacks.config.passphrase import (
    PASSPHRASE_ENV,
    PASSPHRASE_FILE_ENV,
    DecryptionError,
    PassphraseCrypter,
    PassphraseError,
    passphrase_from_env,
)
from stacks.config.secret import Secret
from stacks.config.secret_shapes import shape_problem
from stacks.config.tenant import TenantConfig

SALT_KEY = "encryptionsalt"
PROVIDER_KEY = "secretsprovider"
PRODUCTION_PROVIDERS = (
    "`pulumi stack init <stack> --secrets-provider <provider>` (or, for an existing stack, "
    "`pulumi stack change-secrets-provider <provider>`) with awskms://alias/<key>, "
    "azurekeyvault://<vault>.vault.azure.net/keys/<key>, "
    "gcpkms://projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<key> or "
    "hashivault://<key>"
)
"""The secrets providers to recommend for a real tenant, as a command."""

_STACK_FILE = re.compile(r"^Pulumi\.(?P<stack>[^/]+)\.ya?ml$")


@dataclass(frozen=True)
class SecretValue:
    """The raw value at one `Secret` field of a tenant config (repr hides the value)."""

    path: str
    """Full key path, e.g. `gpu-caas:tenant.hosts[0].ssh.privateKey`."""
    kind: type[Secret]
    """The field's type (`SshPrivateKey`, `Kubeconfig`, `ApiKey`)."""
    value: Any = field(repr=False)
    """A string (plain text, or decrypted by the engine) or `{"secure": "v1:..."}`."""

    @property
    def ciphertext(self) -> str | None:
        """The `secure:` ciphertext, None when the value is not encrypted."""
        if isinstance(self.value, Mapping) and isinstance(self.value.get("secure"), str):
            return str(self.value["secure"])
        return None


@dataclass
class SecretReport:
    """What the secret checks found: errors fail validate, warnings are printed."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


# --------------------------------------------------------------------------- #
# Walking the models
# --------------------------------------------------------------------------- #


def _secret_kind(annotation: Any) -> type[Secret] | None:
    """The `Secret` (sub)class an annotation is, or is an Optional/Annotated of."""
    if isinstance(annotation, type):
        return annotation if issubclass(annotation, Secret) else None
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _secret_kind(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kinds = [k for a in typing.get_args(annotation) if (k := _secret_kind(a)) is not None]
        return kinds[0] if kinds else None
    return None


def _walk(annotation: Any, raw: Any, parts: tuple[str | int, ...]) -> Iterator[SecretValue]:
    kind = _secret_kind(annotation)
    if kind is not None:
        if raw is not None:
            yield SecretValue(key_path(*parts), kind, raw)
        return
    if raw is None:
        return
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        yield from _walk(args[0], raw, parts)
    elif origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is not type(None):
                yield from _walk(arg, raw, parts)
    elif origin in (list, tuple, Sequence) and isinstance(raw, list):
        for index, item in enumerate(raw):
            yield from _walk(args[0] if args else Any, item, (*parts, index))
    elif origin in (dict, Mapping) and isinstance(raw, Mapping):
        for key, item in raw.items():
            yield from _walk(args[-1] if args else Any, item, (*parts, str(key)))
    elif (
        isinstance(annotation, type)
        and issubclass(annotation, BaseModel)
        and isinstance(raw, Mapping)
    ):
        for name, info in annotation.model_fields.items():
            for key in dict.fromkeys((info.alias or name, name)):
                if key in raw:
                    yield from _walk(info.annotation, raw[key], (*parts, key))


def secret_values(raw_tenant: Any, model: type[BaseModel] = TenantConfig) -> list[SecretValue]:
    """Every value set at a `Secret` field of a raw `gpu-caas:tenant` mapping.

    Walks the pydantic models (nested models, Optionals, lists and maps of models;
    camelCase aliases and snake_case names), not the data, so only fields declared as
    secrets count. Unknown keys and wrong types are skipped: schema validation reports
    them. One entry per path (a union of models can reach a path twice).
    """
    found: dict[str, SecretValue] = {}
    for value in _walk(model, raw_tenant, ()):
        found.setdefault(value.path, value)
    return list(found.values())


def secret_fields(model: type[BaseModel] = TenantConfig) -> dict[str, type[Secret]]:
    """`dotted field path -> Secret kind` of every `Secret` field reachable from `model`
    (lists as `[]`, maps as `{}`); for docs and the "every secret has a shape" test."""
    fields: dict[str, type[Secret]] = {}

    def visit(annotation: Any, prefix: str, depth: int) -> None:
        kind = _secret_kind(annotation)
        if kind is not None:
            fields[prefix] = kind
            return
        if depth > 12:
            return
        origin, args = typing.get_origin(annotation), typing.get_args(annotation)
        if origin in (typing.Annotated,):
            visit(args[0], prefix, depth + 1)
        elif origin in (typing.Union, types.UnionType):
            for arg in args:
                visit(arg, prefix, depth + 1)
        elif origin in (list, tuple, Sequence) and args:
            visit(args[0], prefix + "[]", depth + 1)
        elif origin in (dict, Mapping) and args:
            visit(args[-1], prefix + "{}", depth + 1)
        elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for name, info in annotation.model_fields.items():
                dot = "." if prefix else ""
                visit(info.annotation, f"{prefix}{dot}{info.alias or name}", depth + 1)

    visit(model, "", 0)
    return fields


# --------------------------------------------------------------------------- #
# Plain text
# --------------------------------------------------------------------------- #


def plaintext_problem(value: SecretValue) -> Problem:
    """The problem of a secret field holding plain text (the value is not shown)."""
    return Problem(
        value.path,
        "is plain text, not a Pulumi secret: anyone who can read the stack file can read "
        f"it; set it again with `{value.kind.set_command(value.path)}`",
    )


def plaintext_problems(raw_tenant: Any) -> list[Problem]:
    """One problem per `Secret` field of a stack file's raw `gpu-caas:tenant` that holds
    a plain string instead of `{secure: ...}` (empty strings are left to the schema)."""
    return [
        plaintext_problem(value)
        for value in secret_values(raw_tenant)
        if isinstance(value.value, str) and value.value
    ]


# --------------------------------------------------------------------------- #
# Shapes
# --------------------------------------------------------------------------- #


def shape_problems(values: Sequence[SecretValue]) -> list[Problem]:
    """Shape problems of the plain (decrypted) string values among `values`."""
    problems = []
    for value in values:
        if not isinstance(value.value, str):
            continue
        problem = shape_problem(value.kind, value.value)
        if problem is not None:
            problems.append(
                Problem(
                    value.path,
                    f"{problem}; it must be {value.kind.what}: set it with "
                    f"`{value.kind.set_command(value.path)}`",
                )
            )
    return problems


# --------------------------------------------------------------------------- #
# Stack files and secrets providers
# --------------------------------------------------------------------------- #


def stack_name_of(path: Path) -> str | None:
    """The stack name of a `Pulumi.<stack>.yaml` path (None for other file names)."""
    match = _STACK_FILE.match(path.name)
    return match.group("stack") if match else None


def uses_passphrase_provider(document: Mapping[str, Any]) -> bool:
    """True when a stack file's secrets provider is `passphrase` (an `encryptionsalt`
    and no other `secretsprovider`)."""
    provider = document.get(PROVIDER_KEY)
    return isinstance(document.get(SALT_KEY), str) and provider in (None, "", "passphrase")


def dev_passphrase_problem(stack: str | None, allowed: bool) -> Problem:
    """The problem of a non-example stack encrypted with the public dev passphrase."""
    name = f"stack '{stack}'" if stack else "this stack"
    message = (
        f"{name} is encrypted with the public dev passphrase of the example stacks (it is "
        "printed in the README), so anyone can read its secrets; re-key it with a secrets "
        f"provider of your own: {PRODUCTION_PROVIDERS}, then rotate any real secret it held"
    )
    if allowed:
        return Problem(SALT_KEY, f"{message} (allowed for a throwaway stack by "
                       f"{ALLOW_DEV_PASSPHRASE_ENV}=1)")  # fmt: skip
    return Problem(
        SALT_KEY,
        f"{message}; for a throwaway test stack only, set {ALLOW_DEV_PASSPHRASE_ENV}=1",
    )


def passphrase_provider_warning(stack: str | None) -> Problem:
    """The warning for a non-example stack on the passphrase provider."""
    name = f"stack '{stack}'" if stack else "this stack"
    return Problem(
        PROVIDER_KEY,
        f"{name} uses the passphrase secrets provider: its secrets are as safe as a "
        "passphrase every operator must share; for a production tenant use a KMS or Vault "
        f"provider: {PRODUCTION_PROVIDERS}",
    )


def _encrypted_values(config: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """`(key path, ciphertext)` of every `secure:` value in a stack file's `config`."""

    def walk(raw: Any, root: str, parts: tuple[str | int, ...]) -> Iterator[tuple[str, str]]:
        if isinstance(raw, Mapping):
            secure = raw.get("secure")
            if set(raw) == {"secure"} and isinstance(secure, str):
                yield key_path(*parts, root=root), secure
                return
            for key, item in raw.items():
                yield from walk(item, root, (*parts, str(key)))
        elif isinstance(raw, list):
            for index, item in enumerate(raw):
                yield from walk(item, root, (*parts, index))

    for key, raw in config.items():
        yield from walk(raw, str(key), ())


def _try_open(passphrase: str, salt: str) -> PassphraseCrypter | None:
    try:
        return PassphraseCrypter.open(passphrase, salt)
    except PassphraseError:
        return None


def check_stack_document(
    document: Mapping[str, Any], stack: str | None, env: Mapping[str, str]
) -> SecretReport:
    """Every secret check `python -m stacks validate` runs on one stack file.

    Errors: plain-text secrets; a non-example stack encrypted with the dev passphrase
    (a warning with `GPU_CAAS_ALLOW_DEV_PASSPHRASE=1`); a passphrase from `env` that does
    not open the stack's `encryptionsalt`; `secure:` values that do not decrypt with this
    stack's key; decrypted secrets of the wrong shape. Warnings: a non-example stack on
    the passphrase provider; secrets left unchecked because no passphrase is set.

    Decryption needs the passphrase provider and a passphrase (`env`, or the dev
    passphrase, which is always tried: it is public). Other providers (KMS, Vault) are
    not contacted: their stacks get the plain-text check only.
    """
    report = SecretReport()
    config = document.get("config")
    config = config if isinstance(config, Mapping) else {}
    raw_tenant = config.get(ROOT)
    report.errors += plaintext_problems(raw_tenant)
    if not uses_passphrase_provider(document):
        return report
    salt = str(document[SALT_KEY])
    example = stack is not None and is_example_stack(stack)
    if not example:
        report.warnings.append(passphrase_provider_warning(stack))
    env_source = PASSPHRASE_ENV if PASSPHRASE_ENV in env else PASSPHRASE_FILE_ENV
    try:
        passphrase = passphrase_from_env(env)
    except PassphraseError as error:
        report.errors.append(Problem(PASSPHRASE_FILE_ENV, str(error)))
        passphrase = None
    env_crypter = _try_open(passphrase, salt) if passphrase is not None else None
    if passphrase == DEV_PASSPHRASE:
        dev_crypter = env_crypter
    elif not example or env_crypter is None:
        dev_crypter = _try_open(DEV_PASSPHRASE, salt)
    else:
        dev_crypter = None
    if dev_crypter is not None and not example:
        allowed = env.get(ALLOW_DEV_PASSPHRASE_ENV) == "1"
        (report.warnings if allowed else report.errors).append(
            dev_passphrase_problem(stack, allowed)
        )
    if passphrase is not None and env_crypter is None and not (example and dev_crypter):
        report.errors.append(
            Problem(
                SALT_KEY,
                f"{env_source} does not open this stack's encryptionsalt: it is not this "
                "stack's passphrase (preview would fail); set the passphrase the stack was "
                "created with. Secrets were not checked",
            )
        )
    crypter = env_crypter or dev_crypter
    encrypted = list(_encrypted_values(config))
    if crypter is None:
        if encrypted and passphrase is None:
            report.warnings.append(
                Problem(
                    SALT_KEY,
                    f"secrets not checked: set {PASSPHRASE_ENV} (or {PASSPHRASE_FILE_ENV}) "
                    "to check that they decrypt and have the right shape",
                )
            )
        return report
    decrypted: dict[str, str] = {}
    kinds = {value.path: value.kind for value in secret_values(raw_tenant)}
    for path, ciphertext in encrypted:
        try:
            decrypted[path] = crypter.decrypt(ciphertext)
        except DecryptionError:
            command = kinds.get(path, Secret).set_command(path)
            report.errors.append(
                Problem(
                    path,
                    "does not decrypt with this stack's key: it was encrypted for another "
                    f"stack (copied from one?); set it again: `{command}`",
                )
            )
    report.errors += shape_problems(
        [
            SecretValue(value.path, value.kind, decrypted[value.path])
            for value in secret_values(raw_tenant)
            if value.path in decrypted
        ]
    )
    return report


# --------------------------------------------------------------------------- #
# In the engine (program and policy pack)
# --------------------------------------------------------------------------- #


def config_matches(file_value: Any, engine_value: Any) -> bool:
    """True when a stack file's raw value is the value the engine sent: equal, except
    that a `{secure: ...}` in the file matches the string the engine decrypted."""
    if isinstance(file_value, Mapping) and set(file_value) == {"secure"}:
        return isinstance(engine_value, str)
    if isinstance(file_value, Mapping):
        return (
            isinstance(engine_value, Mapping)
            and set(map(str, file_value)) == set(map(str, engine_value))
            and all(config_matches(v, engine_value[str(k)]) for k, v in file_value.items())
        )
    if isinstance(file_value, list):
        return (
            isinstance(engine_value, list)
            and len(file_value) == len(engine_value)
            and all(config_matches(a, b) for a, b in zip(file_value, engine_value, strict=True))
        )
    return bool(file_value == engine_value)


def find_stack_document(
    stack: str, directories: Sequence[Path], engine_tenant: Any
) -> dict[str, Any] | None:
    """The first `<dir>/Pulumi.<stack>.yaml` whose `gpu-caas:tenant` is the config the
    engine sent (`config_matches`); None when no such file is found (config from
    elsewhere, e.g. `--config-file`)."""
    for directory in dict.fromkeys(directories):
        path = directory / f"Pulumi.{stack}.yaml"
        try:
            document = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        config = document.get("config") if isinstance(document, dict) else None
        if isinstance(config, dict) and config_matches(config.get(ROOT), engine_tenant):
            found: dict[str, Any] = document
            return found
    return None


def engine_secret_problems(
    stack: str,
    engine_tenant: Any,
    tenant_is_secret: bool,
    directories: Sequence[Path],
    env: Mapping[str, str],
    *,
    check_passphrase: bool = True,
) -> list[Problem]:
    """Plain-text secrets (and, with `check_passphrase`, the dev passphrase) of a stack
    the engine runs, before any resource is registered.

    Args:
        stack: the stack name.
        engine_tenant: `gpu-caas:tenant` as the engine sent it (secrets decrypted).
        tenant_is_secret: whether the engine marks `gpu-caas:tenant` secret
            (`PULUMI_CONFIG_SECRET_KEYS`, `config_secret_keys`): true as soon as one
            value in it is `secure:`.
        directories: where to look for `Pulumi.<stack>.yaml` (the project directory).
        env: the environment (`PULUMI_CONFIG_PASSPHRASE`, `GPU_CAAS_ALLOW_DEV_PASSPHRASE`).
        check_passphrase: refuse a non-example stack run with the dev passphrase.

    With the stack file, it decides field by field, and a stack on the passphrase
    provider run with `PULUMI_CONFIG_PASSPHRASE` (or `_FILE`) equal to the dev passphrase
    is refused. Without it (config from elsewhere, or unit tests under mocks), a tenant
    that the engine does not mark secret while a `Secret` field is set holds that
    secret in plain text, and the secrets provider is unknown, so the passphrase is not
    judged.
    """
    document = find_stack_document(stack, directories, engine_tenant)
    if document is not None:
        problems = plaintext_problems(document["config"].get(ROOT))
        passphrase_stack = uses_passphrase_provider(document)
    else:
        problems = (
            []
            if tenant_is_secret
            else [
                plaintext_problem(value)
                for value in secret_values(engine_tenant)
                if isinstance(value.value, str) and value.value
            ]
        )
        passphrase_stack = False  # provider unknown (no stack file): not judged
    if (
        check_passphrase
        and passphrase_stack
        and not is_example_stack(stack)
        and env.get(ALLOW_DEV_PASSPHRASE_ENV) != "1"
    ):
        try:
            passphrase = passphrase_from_env(env)
        except PassphraseError:
            passphrase = None
        if passphrase == DEV_PASSPHRASE:
            problems.append(dev_passphrase_problem(stack, allowed=False))
    return problems


def decrypted_shape_problems(engine_tenant: Any) -> list[Problem]:
    """Shape problems of the secrets in `gpu-caas:tenant` as the engine sent it
    (decrypted strings)."""
    return shape_problems(secret_values(engine_tenant))
