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
  example stacks only; an empty passphrase is for no stack.
* The passphrase provider itself is worth a warning for a stack that is not an example,
  unless the stack file accepts it (`gpu-caas:secretsProviderAcknowledged: passphrase`).

Every problem names the key path and the exact command that fixes it, with the stack
named (`--stack`) and the value on stdin, never on the command line. No message ever
contains a secret value.
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

from stacks.config.commands import stack_option
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
from stacks.config.stack_file import SECRETS_PROVIDER_ACK_KEY
from stacks.config.tenant import TenantConfig

SALT_KEY = "encryptionsalt"
PROVIDER_KEY = "secretsprovider"
PRODUCTION_PROVIDERS = (
    "awskms://alias/<key>, azurekeyvault://<vault>.vault.azure.net/keys/<key>, "
    "gcpkms://projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<key> or hashivault://<key>"
)
"""The secrets providers to recommend for a real tenant (KMS and Vault keys)."""
SECRETS_PROVIDERS_DOC = "docs/quickstart.md#secrets-providers"
"""Where the quickstart explains secrets providers, re-keying and the acknowledgement."""
ACKNOWLEDGED_PASSPHRASE = "passphrase"
"""The value of `gpu-caas:secretsProviderAcknowledged` that accepts the passphrase
provider."""

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


def plaintext_problem(value: SecretValue, stack: str | None = None) -> Problem:
    """The problem of a secret field holding plain text (the value is not shown); the
    fix command names `stack` (None: the `--stack <stack>` placeholder)."""
    return Problem(
        value.path,
        "is plain text, not a Pulumi secret: it has been readable in the stack file (and "
        "in git history, if the file was committed), so treat it as leaked: rotate it (a "
        "new key, the old one revoked) and set the new one with "
        f"{value.kind.set_hint(value.path, stack)}",
    )


def plaintext_problems(raw_tenant: Any, stack: str | None = None) -> list[Problem]:
    """One problem per `Secret` field of a stack file's raw `gpu-caas:tenant` that holds
    a plain string instead of `{secure: ...}` (empty strings are left to the schema)."""
    return [
        plaintext_problem(value, stack)
        for value in secret_values(raw_tenant)
        if isinstance(value.value, str) and value.value
    ]


# --------------------------------------------------------------------------- #
# Shapes
# --------------------------------------------------------------------------- #


def shape_problems(values: Sequence[SecretValue], stack: str | None = None) -> list[Problem]:
    """Shape problems of the plain (decrypted) string values among `values`; the fix
    commands name `stack` (None: the `--stack <stack>` placeholder)."""
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
                    f"{value.kind.set_hint(value.path, stack)}",
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


def rekey_commands(stack: str | None, passphrase: str) -> str:
    """How to re-key a stack now encrypted with `passphrase` (public or empty, so it is
    shown): to a passphrase of one's own, or to a KMS or Vault key.

    `pulumi stack change-secrets-provider` opens the stack with `PULUMI_CONFIG_PASSPHRASE`
    (else `PULUMI_CONFIG_PASSPHRASE_FILE`) and, for `passphrase`, reads the new passphrase
    at its prompt: from stdin when stdin is not a terminal (CLI v3.259.0; it has no
    variable or flag for the new one). Without a terminal and without stdin the new
    passphrase is empty: hence the `< <new passphrase file>`.
    """
    # Tools never print a passphrase, not even the public one (a CI log or PR comment
    # would carry it); the empty one is shown as it is.
    current = "''" if passphrase == "" else "<current passphrase>"
    change = (
        f"PULUMI_CONFIG_PASSPHRASE={current} pulumi stack "
        f"change-secrets-provider {stack_option(stack)}"
    )
    return (
        f"re-key it to a passphrase of your own with `{change} passphrase < <new "
        "passphrase file>` (then `unset PULUMI_CONFIG_PASSPHRASE; export "
        "PULUMI_CONFIG_PASSPHRASE_FILE=<new passphrase file>`) or, for production, to a KMS "
        f"or Vault key with `{change} <provider>` ({PRODUCTION_PROVIDERS}); see "
        f"{SECRETS_PROVIDERS_DOC}"
    )


def _stack_name(stack: str | None) -> str:
    return f"stack '{stack}'" if stack else "this stack"


def dev_passphrase_problem(stack: str | None, allowed: bool) -> Problem:
    """The problem of a non-example stack encrypted with the public dev passphrase."""
    message = (
        f"{_stack_name(stack)} is encrypted with the public dev passphrase of the example "
        "stacks (it is printed in the README), so anyone can read its secrets; "
        f"{rekey_commands(stack, DEV_PASSPHRASE)}, then rotate any real secret it held"
    )
    if allowed:
        return Problem(SALT_KEY, f"{message} (allowed for a throwaway stack by "
                       f"{ALLOW_DEV_PASSPHRASE_ENV}=1)")  # fmt: skip
    return Problem(
        SALT_KEY,
        f"{message}; for a throwaway test stack only, set {ALLOW_DEV_PASSPHRASE_ENV}=1",
    )


def empty_passphrase_problem(stack: str | None) -> Problem:
    """The problem of a stack encrypted with an empty passphrase (no opt-in)."""
    return Problem(
        SALT_KEY,
        f"{_stack_name(stack)} is encrypted with an empty passphrase (an empty "
        f"{PASSPHRASE_ENV} or passphrase file, or `pulumi stack change-secrets-provider "
        "passphrase` run without a terminal), so anyone can read its secrets; "
        f"{rekey_commands(stack, '')}, then rotate any real secret it held",
    )


def passphrase_provider_warning(stack: str | None) -> Problem:
    """The one-line warning for a non-example stack on the passphrase provider that
    its stack file does not acknowledge."""
    return Problem(
        PROVIDER_KEY,
        f"{_stack_name(stack)} uses the passphrase secrets provider, as safe as a passphrase "
        f"shared by every operator: for production use a KMS or Vault key "
        f"({SECRETS_PROVIDERS_DOC}), or accept it with `pulumi config set "
        f"{stack_option(stack)} {SECRETS_PROVIDER_ACK_KEY} {ACKNOWLEDGED_PASSPHRASE}`",
    )


def acknowledgement_problems(
    config: Mapping[str, Any], passphrase_stack: bool
) -> tuple[bool, list[Problem], list[Problem]]:
    """`(accepted, errors, warnings)` of a stack file's `gpu-caas:secretsProviderAcknowledged`.

    `passphrase` accepts the passphrase provider; any other value is an error; the key on
    a stack with another provider is a warning (it acknowledges nothing).
    """
    if SECRETS_PROVIDER_ACK_KEY not in config:
        return False, [], []
    if config[SECRETS_PROVIDER_ACK_KEY] != ACKNOWLEDGED_PASSPHRASE:
        wrong = Problem(
            SECRETS_PROVIDER_ACK_KEY,
            f"must be `{ACKNOWLEDGED_PASSPHRASE}` (the secrets provider this stack uses and "
            "its owners accept), or be removed",
        )
        return False, [wrong], []
    if not passphrase_stack:
        stale = Problem(
            SECRETS_PROVIDER_ACK_KEY,
            "accepts the passphrase secrets provider, but this stack uses another one: "
            "remove the key",
        )
        return False, [], [stale]
    return True, [], []


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
    (a warning with `GPU_CAAS_ALLOW_DEV_PASSPHRASE=1`); any stack encrypted with an empty
    passphrase; a passphrase from `env` that does not open the stack's `encryptionsalt`
    (saying so when `PULUMI_CONFIG_PASSPHRASE` hides `PULUMI_CONFIG_PASSPHRASE_FILE`);
    `secure:` values that do not decrypt with this stack's key; decrypted secrets of the
    wrong shape; a `gpu-caas:secretsProviderAcknowledged` other than `passphrase`.
    Warnings: a non-example stack on the passphrase provider that its stack file does
    not acknowledge; secrets left unchecked because no passphrase is set.

    Decryption needs the passphrase provider and a passphrase (`env`, or the dev
    passphrase and the empty one, which are tried when `env` has none that opens the
    stack: both are public). Other providers (KMS, Vault) are not contacted: their stacks
    get the plain-text check only. Fix commands name `stack` (None: `--stack <stack>`).
    """
    report = SecretReport()
    config = document.get("config")
    config = config if isinstance(config, Mapping) else {}
    raw_tenant = config.get(ROOT)
    report.errors += plaintext_problems(raw_tenant, stack)
    passphrase_stack = uses_passphrase_provider(document)
    accepted, ack_errors, ack_warnings = acknowledgement_problems(config, passphrase_stack)
    report.errors += ack_errors
    report.warnings += ack_warnings
    if not passphrase_stack:
        return report
    salt = str(document[SALT_KEY])
    example = stack is not None and is_example_stack(stack)
    if not example and not accepted:
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
    if passphrase == "":
        empty_crypter = env_crypter
    elif env_crypter is None and dev_crypter is None:
        empty_crypter = _try_open("", salt)  # ~0.5 s, only when nothing else opened it
    else:
        empty_crypter = None
    if dev_crypter is not None and not example:
        allowed = env.get(ALLOW_DEV_PASSPHRASE_ENV) == "1"
        (report.warnings if allowed else report.errors).append(
            dev_passphrase_problem(stack, allowed)
        )
    if empty_crypter is not None:
        report.errors.append(empty_passphrase_problem(stack))
    crypter = env_crypter or dev_crypter or empty_crypter
    if passphrase is not None and env_crypter is None and not (example and dev_crypter):
        report.errors.append(wrong_passphrase_problem(env_source, env, checked=bool(crypter)))
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
            hint = kinds.get(path, Secret).set_hint(path, stack)
            report.errors.append(
                Problem(
                    path,
                    "does not decrypt with this stack's key: it was encrypted for another "
                    f"stack (copied from one?); set it again: {hint}",
                )
            )
    report.errors += shape_problems(
        [
            SecretValue(value.path, value.kind, decrypted[value.path])
            for value in secret_values(raw_tenant)
            if value.path in decrypted
        ],
        stack,
    )
    return report


def wrong_passphrase_problem(
    source: str, env: Mapping[str, str], *, checked: bool = False
) -> Problem:
    """The problem of a passphrase (from the variable `source`) that does not open the
    stack; when `PULUMI_CONFIG_PASSPHRASE` is set, it also says that it overrides
    `PULUMI_CONFIG_PASSPHRASE_FILE` if that is set too (as the CLI reads them).
    `checked`: the secrets were checked anyway (the stack opened with a public
    passphrase)."""
    message = (
        f"{source} does not open this stack's encryptionsalt: it is not this stack's "
        "passphrase (preview would fail); set the passphrase the stack was created with"
    )
    if source == PASSPHRASE_ENV and env.get(PASSPHRASE_FILE_ENV):
        message += (
            f"; {PASSPHRASE_ENV} is set and overrides {PASSPHRASE_FILE_ENV} (as it does for "
            f"pulumi): `unset {PASSPHRASE_ENV}` to use the file"
        )
    return Problem(SALT_KEY, message if checked else f"{message}. Secrets were not checked")


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
    """Plain-text secrets (and, with `check_passphrase`, the dev or an empty passphrase)
    of a stack the engine runs, before any resource is registered.

    Args:
        stack: the stack name (fix commands name it).
        engine_tenant: `gpu-caas:tenant` as the engine sent it (secrets decrypted).
        tenant_is_secret: whether the engine marks `gpu-caas:tenant` secret
            (`PULUMI_CONFIG_SECRET_KEYS`, `config_secret_keys`): true as soon as one
            value in it is `secure:`.
        directories: where to look for `Pulumi.<stack>.yaml` (the project directory).
        env: the environment (`PULUMI_CONFIG_PASSPHRASE`, `PULUMI_CONFIG_PASSPHRASE_FILE`,
            `GPU_CAAS_ALLOW_DEV_PASSPHRASE`).
        check_passphrase: refuse a non-example stack run with the dev passphrase, and
            any stack whose passphrase is empty.

    With the stack file, it decides field by field, and a stack on the passphrase
    provider run with `PULUMI_CONFIG_PASSPHRASE` (or `_FILE`) equal to the dev passphrase
    is refused, as is one whose passphrase is empty (checked against its
    `encryptionsalt`, ~0.5 s, only when the passphrase is empty). Without it (config
    from elsewhere, or unit tests under mocks), a tenant that the engine does not mark
    secret while a `Secret` field is set holds that secret in plain text, and the
    secrets provider is unknown, so the passphrase is not judged.
    """
    document = find_stack_document(stack, directories, engine_tenant)
    if document is not None:
        problems = plaintext_problems(document["config"].get(ROOT), stack)
        passphrase_stack = uses_passphrase_provider(document)
    else:
        problems = (
            []
            if tenant_is_secret
            else [
                plaintext_problem(value, stack)
                for value in secret_values(engine_tenant)
                if isinstance(value.value, str) and value.value
            ]
        )
        passphrase_stack = False  # provider unknown (no stack file): not judged
    if not (check_passphrase and passphrase_stack and document is not None):
        return problems
    try:
        passphrase = passphrase_from_env(env)
    except PassphraseError:
        passphrase = None
    if (
        passphrase == DEV_PASSPHRASE
        and not is_example_stack(stack)
        and env.get(ALLOW_DEV_PASSPHRASE_ENV) != "1"
    ):
        problems.append(dev_passphrase_problem(stack, allowed=False))
    if passphrase == "" and _try_open("", str(document[SALT_KEY])) is not None:
        problems.append(empty_passphrase_problem(stack))
    return problems


def decrypted_shape_problems(engine_tenant: Any, stack: str | None = None) -> list[Problem]:
    """Shape problems of the secrets in `gpu-caas:tenant` as the engine sent it
    (decrypted strings); the fix commands name `stack`."""
    return shape_problems(secret_values(engine_tenant), stack)
