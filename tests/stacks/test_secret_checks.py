"""Secret checks of stack files and of the config the engine sends
(`stacks.config.secret_checks`): plain text, decryption, shape, the dev passphrase."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.config import ConfigError, parse_tenant
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
                "anyone who can read the stack file can read it; set it again with `pulumi "
                "config set --secret --path 'gpu-caas:tenant.hosts[1].ssh.privateKey' -- "
                '"$(cat <private key file>)"`'
            ],
        ),
        (
            "isv-managed",
            {".controlPlane.external.kubeconfig"},
            [
                "gpu-caas:tenant.controlPlane.external.kubeconfig: is plain text, not a Pulumi "
                "secret: anyone who can read the stack file can read it; set it again with "
                "`pulumi config set --secret --path 'gpu-caas:tenant.controlPlane.external."
                'kubeconfig\' -- "$(cat <kubeconfig file>)"`'
            ],
        ),
    ],
)
def test_plaintext_problems(flavor: str, plaintext: set[str], expected: list[str]) -> None:
    document = stack_document(sample(flavor), plaintext=plaintext)
    problems = plaintext_problems(document["config"]["gpu-caas:tenant"])
    assert [str(p) for p in problems] == expected
    _assert_no_secret(_all_messages(problems))


def test_plain_api_key_gets_a_value_placeholder() -> None:
    tenant = {"gpu": {"nim": {"enabled": True, "ngcApiKey": "nvapi-SAMPLE-NGC-KEY"}}}
    [problem] = plaintext_problems(tenant)
    assert problem.path == "gpu-caas:tenant.gpu.nim.ngcApiKey"
    assert problem.message.endswith(
        "`pulumi config set --secret --path 'gpu-caas:tenant.gpu.nim.ngcApiKey' -- '<API key>'`"
    )
    _assert_no_secret(str(problem))


def test_missing_private_key_says_how_to_set_it() -> None:
    tenant = sample("tenant-managed")
    del tenant["hosts"][0]["ssh"]["privateKey"]
    with pytest.raises(ConfigError) as caught:
        parse_tenant(tenant)
    assert caught.value.lines() == [
        "gpu-caas:tenant.hosts[0].ssh.privateKey: is required; set it with `pulumi config set "
        "--secret --path 'gpu-caas:tenant.hosts[0].ssh.privateKey' -- \"$(cat <private key "
        'file>)"`, or for many hosts declare the key once under sshKeys and refer to it with '
        "ssh.privateKeyRef or scope it to the host's node group, rack or the whole tenant "
        "(docs/inventory.md)"
    ]


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
    assert "stack 'acme' uses the passphrase secrets provider" in warnings
    assert "--secrets-provider" in warnings and "awskms://" in warnings


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
        "--secret --path 'gpu-caas:tenant.hosts[2].ssh.privateKey' -- \"$(cat <private key "
        'file>)"`'
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
    assert "set it with `pulumi config set --secret --path 'gpu-caas:tenant." in errors
    assert value not in errors


def test_dev_passphrase_is_for_examples_only() -> None:
    document = stack_document(sample("tenant-managed"), passphrase=DEV_PASSPHRASE)
    errors, _ = _check(document, "acme")  # found even without a passphrase in the env
    assert "stack 'acme' is encrypted with the public dev passphrase" in errors
    assert "pulumi stack change-secrets-provider" in errors
    errors, warnings = _check(document, "acme", GPU_CAAS_ALLOW_DEV_PASSPHRASE="1")
    assert errors == ""
    assert "public dev passphrase" in warnings and "GPU_CAAS_ALLOW_DEV_PASSPHRASE=1" in warnings
    errors, warnings = _check(document, "dev")
    assert errors == warnings == ""


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
    assert "pulumi config set --secret --path" in problems[0].message
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
