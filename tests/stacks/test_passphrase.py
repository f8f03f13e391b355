"""Pulumi's passphrase secrets format, offline (`stacks.config.passphrase`).

The example stack files were encrypted by the real CLI, so decrypting them proves the
format; tests/engine/test_passphrase_cli.py checks both directions against a fresh CLI.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from stacks.config.example_stacks import DEV_PASSPHRASE
from stacks.config.passphrase import (
    DecryptionError,
    PassphraseCrypter,
    PassphraseError,
    passphrase_from_env,
)

ROOT = Path(__file__).resolve().parents[2]


def test_the_cli_encrypted_examples_decrypt() -> None:
    document = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())
    crypter = PassphraseCrypter.open(DEV_PASSPHRASE, document["encryptionsalt"])
    ssh = document["config"]["gpu-caas:tenant"]["hosts"][0]["ssh"]
    assert crypter.decrypt(ssh["privateKey"]["secure"]).startswith(
        "-----BEGIN OPENSSH PRIVATE KEY-----"
    )


def test_round_trip_and_a_fresh_salt_opens_only_with_its_passphrase() -> None:
    salt, crypter = PassphraseCrypter.new("correct horse")
    value = crypter.encrypt("s3cret\nline two")
    assert value.startswith("v1:") and value.count(":") == 2
    assert PassphraseCrypter.open("correct horse", salt).decrypt(value) == "s3cret\nline two"
    with pytest.raises(PassphraseError, match="does not open"):
        PassphraseCrypter.open("wrong", salt)


def test_a_value_of_another_stack_does_not_decrypt() -> None:
    _, ours = PassphraseCrypter.new("same passphrase")
    _, theirs = PassphraseCrypter.new("same passphrase")  # another salt: another key
    with pytest.raises(DecryptionError, match="another key"):
        ours.decrypt(theirs.encrypt("x"))


@pytest.mark.parametrize("value", ["", "v1:abc", "v2:AAAA:AAAA", "v1:!!:AAAA", "plain"])
def test_malformed_values(value: str) -> None:
    _, crypter = PassphraseCrypter.new("p")
    with pytest.raises(DecryptionError, match="not a `v1"):
        crypter.decrypt(value)


@pytest.mark.parametrize("salt", ["", "v1:onlytwo", "v2:AAAA:v1:AA:AA", "v1:!!:v1:AA:AA"])
def test_malformed_salts(salt: str) -> None:
    with pytest.raises(PassphraseError):
        PassphraseCrypter.open("p", salt)


def test_repr_hides_the_key() -> None:
    _, crypter = PassphraseCrypter.new("p")
    assert repr(crypter) == "PassphraseCrypter([key])"


def test_passphrase_from_env(tmp_path: Path) -> None:
    file = tmp_path / "passphrase"
    file.write_text("  from-file \n")
    assert passphrase_from_env({}) is None
    assert passphrase_from_env({"PULUMI_CONFIG_PASSPHRASE": ""}) == ""  # set, even empty
    assert passphrase_from_env({"PULUMI_CONFIG_PASSPHRASE_FILE": str(file)}) == "from-file"
    both = {"PULUMI_CONFIG_PASSPHRASE": "env", "PULUMI_CONFIG_PASSPHRASE_FILE": str(file)}
    assert passphrase_from_env(both) == "env"
    with pytest.raises(PassphraseError, match="PULUMI_CONFIG_PASSPHRASE_FILE"):
        passphrase_from_env({"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "missing")})
