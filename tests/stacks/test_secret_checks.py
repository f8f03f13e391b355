"""Secret checks of stack files and of the config the engine sends
(`stacks.config.secret_checks`): plain text, decryption, shape, the dev passphrase."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.config import ConfigError, Problem, parse_tenant
from stacks.config.example_stacks import DEV_PASSPHRASE
from stacks.config.passphrase import PassphraseCrypter
from stacks.config.secret import ApiKey, Kubeconfig, Secret, SshPrivateKey
from stacks.config.secret_checks import (
    check_stack_document,
    config_matches,
    engine_secret_problems,
    plaintext_problems,
    secret_fields,
    secret_values,
    stack_name_of,
    uses_passphrase_provider,
)
from tests.stacks.samples import ISV_KUBECONFIG, PRIVATE_KEY, sample

ROOT = Path(__file__).resolve().parents[2]
OWN_PASSPHRASE = "a passphrase of our own"  # noqa: S105 - test value
PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPUBLICPUBLICPUBLICPUBLIC me@host"
SECRETS = (PRIVATE_KEY, PUBLIC_KEY, ISV_KUBECONFIG, "nvapi-SAMPLE-NGC-KEY")

_crypters: dict[str, tuple[str, PassphraseCrypter]] = {}


def _crypter(passphrase: str) -> tuple[str, PassphraseCrypter]:
    """One salt per passphrase for the whole module (PBKDF2 is cached per salt)."""
    if passphrase not in _crypters:
        _crypters[passphrase] = PassphraseCrypter.new(passphrase)
    return _crypters[passphrase]


def _encrypt(value: Any, crypter: PassphraseCrypter, paths: set[str], at: str = "") -> Any:
    """`value` with every string at a path in `paths` replaced by `{secure: ...}`."""
    if isinstance(value, dict):
        return {k: _encrypt(v, crypter, paths, f"{at}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [_encrypt(v, crypter, paths, f"{at}[{i}]") for i, v in enumerate(value)]
    if at in paths and isinstance(value, str):
        return {"secure": crypter.encrypt(value)}
    return value


def _secret_paths(tenant: dict[str, Any]) -> set[str]:
    return {v.path.removeprefix("gpu-caas:tenant") for v in secret_values(tenant)}


def stack_document(
    tenant: dict[str, Any],
    passphrase: str = OWN_PASSPHRASE,
    plaintext: set[str] = frozenset(),  # type: ignore[assignment]
) -> dict[str, Any]:
    """A stack file on the passphrase provider whose secrets are encrypted, except the
    paths in `plaintext` (relative to `gpu-caas:tenant`, e.g. `.hosts[0].ssh.privateKey`)."""
    salt, crypter = _crypter(passphrase)
    encrypted = _encrypt(copy.deepcopy(tenant), crypter, _secret_paths(tenant) - plaintext)
    return {"encryptionsalt": salt, "config": {"gpu-caas:tenant": encrypted}}


def _all_messages(problems: list[Any]) -> str:
    return "\n".join(str(p) for p in problems)


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        for line in secret.splitlines():
            if len(line) > 8:
                assert line not in text, line


# --------------------------------------------------------------------------- #
# Walking the models
# --------------------------------------------------------------------------- #


def test_every_secret_field_has_a_shape() -> None:
    fields = secret_fields()
    assert fields == {
        "controlPlane.hosted.managementKubeconfig": Kubeconfig,
        "controlPlane.external.kubeconfig": Kubeconfig,
        "hosts[].ssh.privateKey": SshPrivateKey,
        "sshKeys[].privateKey": SshPrivateKey,
        "gpu.nim.ngcApiKey": ApiKey,
    }
    assert all(kind is not Secret for kind in fields.values())


def test_secret_values_follow_models_lists_and_both_key_spellings() -> None:
    tenant = sample("tenant-managed")
    tenant["hosts"][1]["ssh"] = {"user": "u", "private_key": {"secure": "v1:x:y"}}
    tenant["labels"] = {"privateKey": "not a secret field"}
    tenant["unknownKey"] = {"privateKey": "ignored"}
    found = {v.path: v for v in secret_values(tenant)}
    assert set(found) == {
        "gpu-caas:tenant.hosts[0].ssh.privateKey",
        "gpu-caas:tenant.hosts[1].ssh.private_key",
        "gpu-caas:tenant.hosts[2].ssh.privateKey",
    }
    assert found["gpu-caas:tenant.hosts[1].ssh.private_key"].ciphertext == "v1:x:y"
    assert found["gpu-caas:tenant.hosts[0].ssh.privateKey"].ciphertext is None
    assert PRIVATE_KEY not in repr(found["gpu-caas:tenant.hosts[0].ssh.privateKey"])


# --------------------------------------------------------------------------- #
# Plain text
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("flavor", "plaintext", "expected"),
    [
        ("tenant-managed", set(), []),
        (
            "tenant-managed",
            {".hosts[1].ssh.privateKey"},
            [
                "gpu-caas:tenant.hosts[1].ssh.privateKey: is plain text, not a Pulumi secret: "
                "it has been readable in the stack file (and in git history, if the file was "
                "committed), so treat it as leaked: rotate it (a new key, the old one revoked) "
                "and set the new one with `pulumi config set --stack acme --secret --path "
                "'gpu-caas:tenant.hosts[1].ssh.privateKey' < <private key file>`"
            ],
        ),
        (
            "isv-managed",
            {".controlPlane.external.kubeconfig"},
            [
                "gpu-caas:tenant.controlPlane.external.kubeconfig: is plain text, not a Pulumi "
                "secret: it has been readable in the stack file (and in git history, if the "
                "file was committed), so treat it as leaked: rotate it (a new key, the old one "
                "revoked) and set the new one with `pulumi config set --stack acme --secret "
                "--path 'gpu-caas:tenant.controlPlane.external.kubeconfig' < <kubeconfig file>`"
            ],
        ),
    ],
)
def test_plaintext_problems(flavor: str, plaintext: set[str], expected: list[str]) -> None:
    document = stack_document(sample(flavor), plaintext=plaintext)
    problems = plaintext_problems(document["config"]["gpu-caas:tenant"], "acme")
    assert [str(p) for p in problems] == expected
    _assert_no_secret(_all_messages(problems))


def test_plain_api_key_is_set_again_from_a_file_on_stdin() -> None:
    tenant = {"gpu": {"nim": {"enabled": True, "ngcApiKey": "nvapi-SAMPLE-NGC-KEY"}}}
    [problem] = plaintext_problems(tenant)
    assert problem.path == "gpu-caas:tenant.gpu.nim.ngcApiKey"
    # The stack is unknown here: the placeholder, filled in by validate and the program.
    assert problem.message.endswith(
        "`pulumi config set --stack <stack> --secret --path 'gpu-caas:tenant.gpu.nim.ngcApiKey' "
        "< <file holding the key>`"
    )
    assert problem.for_stack("acme").message.endswith(
        "`pulumi config set --stack acme --secret --path 'gpu-caas:tenant.gpu.nim.ngcApiKey' "
        "< <file holding the key>`"
    )
    _assert_no_secret(str(problem))


def test_missing_private_key_says_how_to_set_it() -> None:
    tenant = sample("tenant-managed")
    del tenant["hosts"][0]["ssh"]["privateKey"]
    with pytest.raises(ConfigError) as caught:
        parse_tenant(tenant)
    assert caught.value.for_stack("acme").lines() == [
        "gpu-caas:tenant.hosts[0].ssh.privateKey: is required; set it with `pulumi config set "
        "--stack acme --secret --path 'gpu-caas:tenant.hosts[0].ssh.privateKey' < <private key "
        "file>`, or for many hosts declare the key once under sshKeys and refer to it with "
        "ssh.privateKeyRef or scope it to the host's node group, rack or the whole tenant "
        "(docs/inventory.md)"
    ]


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        (SshPrivateKey, "< <private key file>"),
        (Kubeconfig, "< <kubeconfig file>"),
        (ApiKey, "< <file holding the key>"),
        (Secret, "< <file holding the value>"),
    ],
)
def test_every_fix_command_names_the_stack_and_reads_the_value_from_stdin(
    kind: type[Secret], expected: str
) -> None:
    command = kind.set_command("gpu-caas:tenant.x", "acme")
    assert (
        command == f"pulumi config set --stack acme --secret --path 'gpu-caas:tenant.x' {expected}"
    )
    assert kind.set_hint("gpu-caas:tenant.x") == (
        f"`pulumi config set --stack <stack> --secret --path 'gpu-caas:tenant.x' {expected}`"
    )


# --------------------------------------------------------------------------- #
# Stack files (python -m stacks validate)
# --------------------------------------------------------------------------- #


def _check(document: dict[str, Any], stack: str | None, **env: str) -> tuple[str, str]:
    report = check_stack_document(document, stack, env)
    errors, warnings = _all_messages(report.errors), _all_messages(report.warnings)
    _assert_no_secret(errors + warnings)
    return errors, warnings


def test_examples_pass_with_or_without_the_passphrase_in_the_environment() -> None:
    for path in sorted(ROOT.glob("Pulumi.*.yaml")):
        document = yaml.safe_load(path.read_text())
        for env in ({}, {"PULUMI_CONFIG_PASSPHRASE": DEV_PASSPHRASE}):
            report = check_stack_document(document, stack_name_of(path), env)
            assert report.errors == report.warnings == [], (path, env)


def test_own_passphrase_decrypts_and_checks_shapes() -> None:
    document = stack_document(sample("isv-managed"))
    errors, warnings = _check(document, "acme", PULUMI_CONFIG_PASSPHRASE=OWN_PASSPHRASE)
    assert errors == ""
    assert warnings == (
        "secretsprovider: stack 'acme' uses the passphrase secrets provider, as safe as a "
        "passphrase shared by every operator: for production use a KMS or Vault key "
        "(docs/quickstart.md#secrets-providers), or accept it with `pulumi config set --stack "
        "acme gpu-caas:secretsProviderAcknowledged passphrase`"
    )
    assert "\n" not in warnings and len(warnings) < 300


@pytest.mark.parametrize(
    ("acknowledged", "provider", "errors", "warnings"),
    [
        (None, None, [], ["secretsprovider"]),
        ("passphrase", None, [], []),
        ("yes", None, ["gpu-caas:secretsProviderAcknowledged"], ["secretsprovider"]),
        (True, None, ["gpu-caas:secretsProviderAcknowledged"], ["secretsprovider"]),
        ("passphrase", "awskms://alias/acme", [], ["gpu-caas:secretsProviderAcknowledged"]),
        (None, "awskms://alias/acme", [], []),
    ],
)
def test_the_passphrase_provider_can_be_acknowledged_in_the_stack_file(
    acknowledged: object, provider: str | None, errors: list[str], warnings: list[str]
) -> None:
    document = stack_document(sample("tenant-managed"))
    if acknowledged is not None:
        document["config"]["gpu-caas:secretsProviderAcknowledged"] = acknowledged
    if provider is not None:
        document["secretsprovider"] = provider
    report = check_stack_document(document, "acme", {"PULUMI_CONFIG_PASSPHRASE": OWN_PASSPHRASE})
    assert [p.path for p in report.errors] == errors
    assert [p.path for p in report.warnings] == warnings
    if errors:
        assert "must be `passphrase`" in report.errors[0].message


def test_passphrase_file_is_read(tmp_path: Path) -> None:
    file = tmp_path / "passphrase"
    file.write_text(OWN_PASSPHRASE + "\n")
    tenant = sample("tenant-managed")
    tenant["hosts"][0]["ssh"]["privateKey"] = PUBLIC_KEY
    errors, _ = _check(stack_document(tenant), "acme", PULUMI_CONFIG_PASSPHRASE_FILE=str(file))
    assert "hosts[0].ssh.privateKey: is a public key" in errors


def test_wrong_passphrase_is_named() -> None:
    document = stack_document(sample("tenant-managed"))
    errors, _ = _check(document, "acme", PULUMI_CONFIG_PASSPHRASE="not it")
    assert errors == (
        "encryptionsalt: PULUMI_CONFIG_PASSPHRASE does not open this stack's encryptionsalt: "
        "it is not this stack's passphrase (preview would fail); set the passphrase the stack "
        "was created with. Secrets were not checked"
    )


def test_wrong_passphrase_says_that_the_variable_hides_the_file(tmp_path: Path) -> None:
    """Both set: pulumi (and validate) use PULUMI_CONFIG_PASSPHRASE; the right passphrase
    in the file is not even read."""
    file = tmp_path / "passphrase"
    file.write_text(OWN_PASSPHRASE + "\n")
    document = stack_document(sample("tenant-managed"))
    errors, _ = _check(
        document,
        "acme",
        PULUMI_CONFIG_PASSPHRASE="not it",
        PULUMI_CONFIG_PASSPHRASE_FILE=str(file),
    )
    assert errors == (
        "encryptionsalt: PULUMI_CONFIG_PASSPHRASE does not open this stack's encryptionsalt: "
        "it is not this stack's passphrase (preview would fail); set the passphrase the stack "
        "was created with; PULUMI_CONFIG_PASSPHRASE is set and overrides "
        "PULUMI_CONFIG_PASSPHRASE_FILE (as it does for pulumi): `unset PULUMI_CONFIG_PASSPHRASE` "
        "to use the file. Secrets were not checked"
    )
    # The file alone opens the stack.
    errors, _ = _check(document, "acme", PULUMI_CONFIG_PASSPHRASE_FILE=str(file))
    assert errors == ""
    # A wrong file alone is named as the file.
    file.write_text("not it\n")
    errors, _ = _check(document, "acme", PULUMI_CONFIG_PASSPHRASE_FILE=str(file))
    assert errors.startswith("encryptionsalt: PULUMI_CONFIG_PASSPHRASE_FILE does not open")
    assert "overrides" not in errors


def test_no_passphrase_leaves_secrets_unchecked_with_a_warning() -> None:
    errors, warnings = _check(stack_document(sample("tenant-managed")), "acme")
    assert errors == ""
    assert "secrets not checked: set PULUMI_CONFIG_PASSPHRASE" in warnings


def test_value_copied_from_another_stack_is_named() -> None:
    tenant = sample("tenant-managed")
    document = stack_document(tenant)
    _, other = PassphraseCrypter.new(OWN_PASSPHRASE)  # another stack: another salt
    ssh = document["config"]["gpu-caas:tenant"]["hosts"][2]["ssh"]
    ssh["privateKey"] = {"secure": other.encrypt(PRIVATE_KEY)}
    errors, _ = _check(document, "acme", PULUMI_CONFIG_PASSPHRASE=OWN_PASSPHRASE)
    assert errors == (
        "gpu-caas:tenant.hosts[2].ssh.privateKey: does not decrypt with this stack's key: it "
        "was encrypted for another stack (copied from one?); set it again: `pulumi config set "
        "--stack acme --secret --path 'gpu-caas:tenant.hosts[2].ssh.privateKey' < <private "
        "key file>`"
    )


@pytest.mark.parametrize(
    ("flavor", "path", "value", "expected"),
    [
        ("tenant-managed", ["hosts", 0, "ssh", "privateKey"], PUBLIC_KEY, "is a public key"),
        ("tenant-managed", ["hosts", 1, "ssh", "privateKey"], "~/.ssh/id_ed25519", "file path"),
        ("isv-managed", ["controlPlane", "external", "kubeconfig"], "~/.kube/config", "file path"),
        ("isv-managed", ["controlPlane", "external", "kubeconfig"], "apiVersion: v1", "kubeconfig"),
    ],
)
def test_decrypted_secrets_of_the_wrong_shape(
    flavor: str, path: list[str | int], value: str, expected: str
) -> None:
    tenant = sample(flavor)
    node: Any = tenant
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    errors, _ = _check(stack_document(tenant), "acme", PULUMI_CONFIG_PASSPHRASE=OWN_PASSPHRASE)
    assert expected in errors
    assert "set it with `pulumi config set --stack acme --secret --path 'gpu-caas:tenant." in errors
    assert value not in errors


def test_dev_passphrase_is_for_examples_only() -> None:
    document = stack_document(sample("tenant-managed"), passphrase=DEV_PASSPHRASE)
    errors, _ = _check(document, "acme")  # found even without a passphrase in the env
    assert "stack 'acme' is encrypted with the public dev passphrase" in errors
    assert (
        "re-key it to a passphrase of your own with `PULUMI_CONFIG_PASSPHRASE=<current "
        "passphrase> pulumi stack change-secrets-provider --stack acme passphrase < <new "
        "passphrase file>`"
    ) in errors
    assert (
        "`PULUMI_CONFIG_PASSPHRASE=<current passphrase> pulumi stack change-secrets-provider "
        "--stack acme <provider>` (awskms://alias/<key>"
    ) in errors
    assert DEV_PASSPHRASE not in errors  # never printed, not even the public one
    errors, warnings = _check(document, "acme", GPU_CAAS_ALLOW_DEV_PASSPHRASE="1")
    assert errors == ""
    assert "public dev passphrase" in warnings and "GPU_CAAS_ALLOW_DEV_PASSPHRASE=1" in warnings
    errors, warnings = _check(document, "dev")
    assert errors == warnings == ""


EMPTY_PASSPHRASE_ERROR = (
    "encryptionsalt: stack 'acme' is encrypted with an empty passphrase (an empty "
    "PULUMI_CONFIG_PASSPHRASE or passphrase file, or `pulumi stack change-secrets-provider "
    "passphrase` run without a terminal), so anyone can read its secrets; re-key it to a "
    "passphrase of your own with `PULUMI_CONFIG_PASSPHRASE='' pulumi stack "
    "change-secrets-provider --stack acme passphrase < <new passphrase file>` (then `unset "
    "PULUMI_CONFIG_PASSPHRASE; export PULUMI_CONFIG_PASSPHRASE_FILE=<new passphrase file>`) "
    "or, for production, to a KMS or Vault key with `PULUMI_CONFIG_PASSPHRASE='' pulumi stack "
    "change-secrets-provider --stack acme <provider>` (awskms://alias/<key>, "
    "azurekeyvault://<vault>.vault.azure.net/keys/<key>, "
    "gcpkms://projects/<p>/locations/<l>/keyRings/<r>/cryptoKeys/<key> or hashivault://<key>); "
    "see docs/quickstart.md#secrets-providers, then rotate any real secret it held"
)


@pytest.mark.parametrize("source", ["none", "variable", "empty file", "blank file"])
def test_empty_passphrase_is_refused(tmp_path: Path, source: str) -> None:
    """However the empty passphrase is (or is not) given, validate finds it: like the dev
    passphrase, it is public."""
    env = {
        "none": {},
        "variable": {"PULUMI_CONFIG_PASSPHRASE": ""},
        "empty file": {"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "empty")},
        "blank file": {"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "blank")},
    }[source]
    (tmp_path / "empty").write_text("")
    (tmp_path / "blank").write_text("\n")
    tenant = sample("tenant-managed")
    tenant["hosts"][0]["ssh"]["privateKey"] = PUBLIC_KEY
    document = stack_document(tenant, passphrase="")
    errors, warnings = _check(document, "acme", **env)
    # Decrypted with the empty passphrase, so the shapes were checked too.
    assert errors.splitlines() == [
        EMPTY_PASSPHRASE_ERROR,
        "gpu-caas:tenant.hosts[0].ssh.privateKey: is a public key: give the private key (the "
        "file without .pub); it must be an SSH private key (PEM or OpenSSH, unencrypted): set "
        "it with `pulumi config set --stack acme --secret --path "
        "'gpu-caas:tenant.hosts[0].ssh.privateKey' < <private key file>`",
    ]
    assert "secrets not checked" not in warnings
    # An example stack is no exception; GPU_CAAS_ALLOW_DEV_PASSPHRASE does not allow it.
    errors, _ = _check(document, "dev", GPU_CAAS_ALLOW_DEV_PASSPHRASE="1", **env)
    assert "stack 'dev' is encrypted with an empty passphrase" in errors


def test_empty_passphrase_with_a_wrong_one_set() -> None:
    document = stack_document(sample("tenant-managed"), passphrase="")
    errors, _ = _check(document, "acme", PULUMI_CONFIG_PASSPHRASE="not it")
    assert errors.splitlines() == [
        EMPTY_PASSPHRASE_ERROR,
        # The secrets were checked (the empty passphrase opened the stack).
        "encryptionsalt: PULUMI_CONFIG_PASSPHRASE does not open this stack's encryptionsalt: "
        "it is not this stack's passphrase (preview would fail); set the passphrase the stack "
        "was created with",
    ]


def test_other_secrets_providers_get_the_plaintext_check_only() -> None:
    tenant = sample("tenant-managed")
    document = stack_document(tenant, plaintext={".hosts[0].ssh.privateKey"})
    document["secretsprovider"] = "awskms://alias/acme"
    document["encryptedkey"] = "AQICAHh..."
    assert not uses_passphrase_provider(document)
    report = check_stack_document(document, "acme", {"PULUMI_CONFIG_PASSPHRASE": "x"})
    assert [p.path for p in report.errors] == ["gpu-caas:tenant.hosts[0].ssh.privateKey"]
    assert report.warnings == []


@pytest.mark.parametrize(
    ("name", "stack"),
    [("Pulumi.dev.yaml", "dev"), ("Pulumi.acme-prod.yml", "acme-prod"), ("stack.yaml", None)],
)
def test_stack_name_of(name: str, stack: str | None) -> None:
    assert stack_name_of(Path("/x") / name) == stack


# --------------------------------------------------------------------------- #
# In the engine (program, policy pack)
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("file_value", "engine_value", "expected"),
    [
        ({"a": 1, "b": [1, {"c": "x"}]}, {"a": 1, "b": [1, {"c": "x"}]}, True),
        ({"k": {"secure": "v1:..."}}, {"k": "decrypted"}, True),
        ({"k": {"secure": "v1:..."}}, {"k": 3}, False),
        ({"a": 1}, {"a": 2}, False),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [1], False),
        ({"a": [1]}, {"a": {"0": 1}}, False),
    ],
)
def test_config_matches(file_value: Any, engine_value: Any, expected: bool) -> None:
    assert config_matches(file_value, engine_value) is expected


def _engine_view(tenant: dict[str, Any]) -> dict[str, Any]:
    """What the engine sends: the same config with every secret decrypted."""
    return copy.deepcopy(tenant)


def test_engine_reads_the_stack_file_field_by_field(tmp_path: Path) -> None:
    tenant = sample("tenant-managed")
    document = stack_document(tenant, plaintext={".hosts[1].ssh.privateKey"})
    (tmp_path / "Pulumi.acme.yaml").write_text(yaml.safe_dump(document))
    problems = engine_secret_problems(
        "acme", _engine_view(tenant), True, [tmp_path / "elsewhere", tmp_path], {}
    )
    assert [p.path for p in problems] == ["gpu-caas:tenant.hosts[1].ssh.privateKey"]
    assert "pulumi config set --stack acme --secret --path" in problems[0].message
    _assert_no_secret(_all_messages(problems))


def test_engine_falls_back_to_the_secret_marks_without_a_matching_file(tmp_path: Path) -> None:
    tenant = sample("tenant-managed")
    other = copy.deepcopy(tenant)
    other["name"] = "someone-else"  # a file, but not this config: ignored
    (tmp_path / "Pulumi.acme.yaml").write_text(yaml.safe_dump(stack_document(other)))
    marked = engine_secret_problems("acme", _engine_view(tenant), True, [tmp_path], {})
    assert marked == []
    unmarked = engine_secret_problems("acme", _engine_view(tenant), False, [tmp_path], {})
    assert [p.path for p in unmarked] == [f"gpu-caas:tenant.hosts[{i}].ssh.privateKey" for i in
                                          range(3)]  # fmt: skip


def test_engine_refuses_a_non_example_stack_on_the_dev_passphrase(tmp_path: Path) -> None:
    tenant = sample("tenant-managed")
    document = stack_document(tenant, passphrase=DEV_PASSPHRASE)
    for stack in ("acme", "dev"):
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))
    dev_env = {"PULUMI_CONFIG_PASSPHRASE": DEV_PASSPHRASE}

    def problems(stack: str, env: dict[str, str], **kwargs: Any) -> list[str]:
        found = engine_secret_problems(stack, tenant, True, [tmp_path], env, **kwargs)
        return [p.path for p in found]

    assert problems("acme", dev_env) == ["encryptionsalt"]
    assert problems("acme", {**dev_env, "GPU_CAAS_ALLOW_DEV_PASSPHRASE": "1"}) == []
    assert problems("acme", dev_env, check_passphrase=False) == []
    assert problems("acme", {"PULUMI_CONFIG_PASSPHRASE": "own"}) == []
    assert problems("dev", dev_env) == []
    # Without the stack file the secrets provider is unknown: not judged.
    assert problems("acme", dev_env) == ["encryptionsalt"]
    (tmp_path / "Pulumi.acme.yaml").unlink()
    assert problems("acme", dev_env) == []


def test_engine_refuses_a_stack_on_an_empty_passphrase(tmp_path: Path) -> None:
    tenant = sample("tenant-managed")
    (tmp_path / "empty").write_text("\n")
    for stack in ("acme", "dev"):
        document = stack_document(tenant, passphrase="")
        (tmp_path / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump(document))

    def problems(stack: str, env: dict[str, str], **kwargs: Any) -> list[Problem]:
        return engine_secret_problems(stack, tenant, True, [tmp_path], env, **kwargs)

    empty_file = {"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "empty")}
    for env in ({"PULUMI_CONFIG_PASSPHRASE": ""}, empty_file):
        [refused] = problems("acme", env)
        assert str(refused) == EMPTY_PASSPHRASE_ERROR
        assert [p.path for p in problems("dev", env)] == ["encryptionsalt"]
        assert [p.path for p in problems("dev", {**env, "GPU_CAAS_ALLOW_DEV_PASSPHRASE": "1"})] == [
            "encryptionsalt"
        ]
        assert problems("acme", env, check_passphrase=False) == []
    # The variable wins over the file, as in the CLI: a non-empty one is not refused.
    assert problems("acme", {"PULUMI_CONFIG_PASSPHRASE": "own", **empty_file}) == []
    # An empty passphrase of a stack whose salt is another passphrase's: not this stack's
    # (the engine would not have run), nothing to refuse.
    (tmp_path / "Pulumi.acme.yaml").write_text(yaml.safe_dump(stack_document(tenant)))
    assert problems("acme", {"PULUMI_CONFIG_PASSPHRASE": ""}) == []
