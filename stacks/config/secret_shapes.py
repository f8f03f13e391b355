"""Shape checks of decrypted secrets: is the value the kind of thing the field needs?

A public key given as `privateKey`, or a file path given as a kubeconfig, would
otherwise pass until `pulumi up` fails on a host or an API server. Each check takes the
plaintext and returns what is wrong (None when it looks right). Messages describe the
value's shape only; they never contain the value or any part of it.
"""

from __future__ import annotations

import re

import yaml
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    load_pem_private_key,
    load_ssh_private_key,
)

from stacks.config.secret import ApiKey, Kubeconfig, Secret, SshPrivateKey, api_key_text

_PEM_BEGIN = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----")
_PUBLIC_KEY_PREFIXES = ("ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-")
# One line that names a file rather than holding its contents.
_PATH_LIKE = re.compile(
    r"^(~|\.{1,2}/|/|[A-Za-z]:\\|\$HOME|\$\{HOME\})|\.(pem|key|pub|ya?ml|conf|txt)$"
)


def _looks_like_path(value: str) -> bool:
    text = value.strip()
    return "\n" not in text and " " not in text and bool(_PATH_LIKE.search(text))


def ssh_private_key_problem(value: str) -> str | None:
    """What is wrong with an SSH private key's text, or None.

    Accepted: an unencrypted OpenSSH (`BEGIN OPENSSH PRIVATE KEY`) or PEM (`BEGIN RSA
    PRIVATE KEY`, `BEGIN EC PRIVATE KEY`, `BEGIN PRIVATE KEY`) key that parses.
    """
    text = value.strip()
    if _looks_like_path(text):
        return "is a file path, not the key: set the key file's contents"
    if text.startswith(_PUBLIC_KEY_PREFIXES) or "PUBLIC KEY-----" in text:
        return "is a public key: give the private key (the file without .pub)"
    match = _PEM_BEGIN.search(text)
    if match is None or not match.group(1).endswith("PRIVATE KEY"):
        return "is not a PEM or OpenSSH private key (expected -----BEGIN ... PRIVATE KEY-----)"
    data = text.encode("utf-8") + b"\n"
    try:
        if match.group(1) == "OPENSSH PRIVATE KEY":
            load_ssh_private_key(data, password=None)
        else:
            load_pem_private_key(data, password=None)
    except TypeError:
        return (
            "is encrypted with a passphrase, which gpu-caas cannot enter; give an "
            "unencrypted key (it is stored only as a Pulumi secret), e.g. a copy made "
            "with `ssh-keygen -p -N '' -f <copy of the key file>`"
        )
    except (ValueError, UnsupportedAlgorithm):
        return "is not a valid private key (it does not parse; truncated or corrupted?)"
    return None


def _named(items: object) -> dict[str, object]:
    """`name -> entry` of a kubeconfig list (`clusters`, `users`, `contexts`)."""
    if not isinstance(items, list):
        return {}
    return {
        str(item["name"]): item
        for item in items
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]
    }


def kubeconfig_problem(value: str) -> str | None:
    """What is wrong with a kubeconfig's text, or None.

    Needs YAML with at least one cluster and one user, and a `current-context` that
    names a context whose cluster and user exist.
    """
    if _looks_like_path(value):
        return "is a file path, not the kubeconfig: set the file's contents"
    try:
        document = yaml.safe_load(value)
    except yaml.YAMLError:
        return "is not YAML: set the kubeconfig file's contents"
    if not isinstance(document, dict):
        return "is not a kubeconfig (a YAML mapping with clusters, users and contexts)"
    clusters, users = _named(document.get("clusters")), _named(document.get("users"))
    contexts = _named(document.get("contexts"))
    missing = [name for name, found in (("clusters", clusters), ("users", users)) if not found]
    if missing:
        return f"is a kubeconfig without {' and '.join(missing)}"
    current = document.get("current-context")
    if not isinstance(current, str) or not current:
        return "is a kubeconfig without current-context: set it to one of its contexts"
    context = contexts.get(current)
    if not isinstance(context, dict):
        return "is a kubeconfig whose current-context names no context in it"
    body = context.get("context")
    body = body if isinstance(body, dict) else {}
    if body.get("cluster") not in clusters or body.get("user") not in users:
        return "is a kubeconfig whose current context names a cluster or user not in it"
    return None


def api_key_problem(value: str) -> str | None:
    """What is wrong with an API key or token, or None: it must be one non-empty line
    without whitespace, and not a file path (`~/.ngc/key.txt`, `/home/me/ngc-key`).

    Line breaks at its end (a CRLF key file's `\\r`, an extra newline) are dropped when
    the key is used (`stacks.config.secret.api_key_text`), so they are fine; any other
    whitespace would be sent as part of the key and break authentication.
    """
    text = api_key_text(value)
    if not text.strip():
        return "is empty"
    if _looks_like_api_key_path(text):
        return "is a file path, not the key: set the key itself (the file's contents)"
    if any(char.isspace() for char in text):
        return "contains whitespace or a line break: set the key alone, on one line"
    return None


def _looks_like_api_key_path(text: str) -> bool:
    """A file path given as an API key. A key (`nvapi-...`, base64) may contain `/` but
    starts with one rarely, and then is not a path with two or more `/`-separated parts."""
    if not _looks_like_path(text):
        return False
    return not text.startswith("/") or text.count("/") >= 2


def shape_problem(kind: type[Secret], value: str) -> str | None:
    """The shape check of `kind` applied to `value` (None: looks right)."""
    if issubclass(kind, SshPrivateKey):
        return ssh_private_key_problem(value)
    if issubclass(kind, Kubeconfig):
        return kubeconfig_problem(value)
    if issubclass(kind, ApiKey):
        return api_key_problem(value)
    return "is empty" if not value else None
