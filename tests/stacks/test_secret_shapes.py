"""Shape checks of decrypted secrets: right kind of value, never echoed."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from stacks.config.secret import ApiKey, Kubeconfig, Secret, SshPrivateKey
from stacks.config.secret_shapes import (
    api_key_problem,
    kubeconfig_problem,
    shape_problem,
    ssh_private_key_problem,
)

_ED25519 = ed25519.Ed25519PrivateKey.generate()
_RSA = rsa.generate_private_key(public_exponent=65537, key_size=2048)
_EC = ec.generate_private_key(ec.SECP256R1())
_NONE = ser.NoEncryption()


def _text(data: bytes) -> str:
    return data.decode()


OPENSSH = _text(_ED25519.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.OpenSSH, _NONE))
RSA_PEM = _text(_RSA.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.TraditionalOpenSSL, _NONE))
PKCS8 = _text(_EC.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, _NONE))


def _sshstr(data: bytes) -> bytes:
    return len(data).to_bytes(4, "big") + data


def _encrypted_openssh_key() -> str:
    """An `ssh-keygen -N <passphrase>` style key (aes256-ctr + bcrypt KDF), built by hand:
    writing one with `cryptography` needs the optional bcrypt module."""
    public = _ED25519.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH)
    blob = (
        b"openssh-key-v1\0"
        + _sshstr(b"aes256-ctr")
        + _sshstr(b"bcrypt")
        + _sshstr(_sshstr(bytes(16)) + (16).to_bytes(4, "big"))
        + (1).to_bytes(4, "big")
        + _sshstr(base64.b64decode(public.split()[1]))
        + _sshstr(bytes(64))
    )
    body = base64.b64encode(blob).decode()
    lines = [body[i : i + 70] for i in range(0, len(body), 70)]
    return "\n".join(
        ["-----BEGIN OPENSSH PRIVATE KEY-----", *lines, "-----END OPENSSH PRIVATE KEY-----", ""]
    )


ENCRYPTED = _encrypted_openssh_key()
ENCRYPTED_PEM = _text(
    _RSA.private_bytes(
        ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.BestAvailableEncryption(b"pw")
    )
)
PUBLIC = _text(_ED25519.public_key().public_bytes(ser.Encoding.OpenSSH, ser.PublicFormat.OpenSSH))
PUBLIC_PEM = _text(
    _RSA.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo)
)
TRUNCATED = "\n".join(OPENSSH.splitlines()[:3] + OPENSSH.splitlines()[-1:])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (OPENSSH, None),
        (OPENSSH.rstrip("\n"), None),  # `"$(cat key)"` drops the final newline
        (RSA_PEM, None),
        (PKCS8, None),
        (ENCRYPTED, "is encrypted with a passphrase"),
        (ENCRYPTED_PEM, "is encrypted with a passphrase"),
        (PUBLIC, "is a public key"),
        (PUBLIC_PEM, "is a public key"),
        ("~/.ssh/id_ed25519", "is a file path"),
        ("/home/me/.ssh/id_rsa", "is a file path"),
        ("id_ed25519.pem", "is a file path"),
        ("hunter2", "is not a PEM or OpenSSH private key"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "is not a PEM"),
        (TRUNCATED, "is not a valid private key"),
    ],
)
def test_ssh_private_key(value: str, expected: str | None) -> None:
    problem = ssh_private_key_problem(value)
    assert problem is None if expected is None else problem is not None and expected in problem


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: 'https://api.example:6443'}
users:
- name: u
  user: {token: SECRET-TOKEN}
contexts:
- name: ctx
  context: {cluster: c, user: u}
current-context: ctx
"""


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (KUBECONFIG, None),
        ('{"clusters": [{"name": "c"}], "users": [{"name": "u"}], "contexts": [{"name": "x",'
         ' "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}', None),
        ("~/.kube/config", "is a file path"),
        ("/etc/kubernetes/admin.conf", "is a file path"),
        ("clusters: [unclosed", "is not YAML"),
        ("just text", "is not a kubeconfig"),
        (KUBECONFIG.replace("clusters:\n- name: c\n", "clusters: []\nx:\n- name: c\n"),
         "without clusters"),
        (KUBECONFIG.replace("users:", "nobody:"), "without users"),
        (KUBECONFIG.replace("current-context: ctx\n", ""), "without current-context"),
        (KUBECONFIG.replace("current-context: ctx", "current-context: other"),
         "names no context"),
        (KUBECONFIG.replace("{cluster: c, user: u}", "{cluster: gone, user: u}"),
         "names a cluster or user not in it"),
    ],
)  # fmt: skip
def test_kubeconfig(value: str, expected: str | None) -> None:
    problem = kubeconfig_problem(value)
    assert problem is None if expected is None else problem is not None and expected in problem


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("nvapi-abc123", None),
        ("", "is empty"),
        ("   ", "is empty"),
        ("\n", "is empty"),
        # Line breaks at the end (`pulumi config set ... < key-file` drops only one final
        # `\n`, not a CRLF file's `\r`): dropped on use.
        ("nvapi-abc123\n", None),
        ("nvapi-abc123\r\n", None),
        ("nvapi-abc\n123", "whitespace or a line break"),
        ("\tnvapi-abc123", "whitespace or a line break"),
        ("two words", "whitespace or a line break"),
        # A base64 key may contain `/` (even start with one), a path has two or more parts.
        ("bXlrZXk6MTIz/NDU2+Nzg5", None),
        ("/bXlrZXk6MTIzNDU2", None),
        # File paths given instead of the key (the kubeconfig's path case, for API keys).
        ("~/.ngc/key.txt", "is a file path, not the key: set the key itself"),
        ("/home/x/key", "is a file path, not the key"),
        ("./ngc-key", "is a file path, not the key"),
        ("$HOME/.ngc/key", "is a file path, not the key"),
        ("ngc-api-key.txt", "is a file path, not the key"),
    ],
)
def test_api_key(value: str, expected: str | None) -> None:
    problem = api_key_problem(value)
    assert problem is None if expected is None else problem is not None and expected in problem


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        (SshPrivateKey, PUBLIC),
        (SshPrivateKey, "hunter2-not-a-key"),
        (SshPrivateKey, TRUNCATED),
        (Kubeconfig, KUBECONFIG.replace("users:", "nobody:")),
        (Kubeconfig, "token-instead-of-kubeconfig"),
        (ApiKey, "nvapi-SECRET part"),
    ],
)
def test_messages_never_contain_the_value(kind: type[Secret], value: str) -> None:
    problem = shape_problem(kind, value)
    assert problem is not None
    for line in value.splitlines():
        for word in line.split():
            if len(word) >= 6:
                assert word not in problem, (word, problem)
    assert "SECRET-TOKEN" not in problem


def test_dispatch_by_kind() -> None:
    assert shape_problem(SshPrivateKey, OPENSSH) is None
    assert shape_problem(Kubeconfig, KUBECONFIG) is None
    assert shape_problem(ApiKey, "nvapi-x") is None
    assert shape_problem(Secret, "anything") is None
    assert shape_problem(Secret, "") == "is empty"
