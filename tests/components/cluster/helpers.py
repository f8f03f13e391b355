"""Shared builders for cluster component tests."""

from __future__ import annotations

from typing import Any

import pulumi
import yaml

from components.cluster.types import SshHost

PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nTEST-PRIVATE-KEY-MATERIAL\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
TOKEN = "abcdef.0123456789abcdef"
CA_HASH = "sha256:" + "ab" * 32
CERT_KEY = "c0ffee" * 10 + "beef"
ADMIN_TOKEN = "TENANT-ADMIN-TOKEN"
MANAGEMENT_TOKEN = "MANAGEMENT-ADMIN-TOKEN"
ISV_TOKEN = "ISV-ADMIN-TOKEN"


def kubeconfig(server: str, token: str) -> str:
    """A minimal kubeconfig with a bearer token."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "c", "cluster": {"server": server}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
            "current-context": "c",
            "users": [{"name": "u", "user": {"token": token}}],
        }
    )


TENANT_KUBECONFIG = kubeconfig("https://api.acme.example:6443", ADMIN_TOKEN)
MANAGEMENT_KUBECONFIG = kubeconfig("https://kamaji.mgmt.example:6443", MANAGEMENT_TOKEN)
ISV_KUBECONFIG = kubeconfig("https://api.isv.example", ISV_TOKEN)


def join_command(certificate_key: bool = False) -> str:
    line = (
        f"kubeadm join api.acme.example:6443 --token {TOKEN} "
        f"--discovery-token-ca-cert-hash {CA_HASH}"
    )
    return line + (f" --certificate-key {CERT_KEY}" if certificate_key else "") + " \n"


def host(name: str, address: str, **kw: Any) -> SshHost:
    """An SSH host whose key is a secret Output (call inside a program)."""
    return SshHost(
        name=name,
        address=address,
        user="ubuntu",
        private_key=pulumi.Output.secret(PRIVATE_KEY),
        **kw,
    )


def command_outputs(args: pulumi.runtime.MockResourceArgs) -> dict[str, Any] | None:
    """Mocked command outputs, as the real commands would print them."""
    name = args.name
    if name.endswith("-init"):
        return {"stdout": TENANT_KUBECONFIG}
    if name.endswith("-join-token"):
        upload = "upload-certs" in args.inputs.get("create", "")
        return {"stdout": join_command(certificate_key=upload)}
    if name.endswith("-admin-kubeconfig"):
        return {"stdout": TENANT_KUBECONFIG}
    if name.endswith("-readyz"):
        return {"stdout": "ready 1.34"}
    if args.typ == "command:remote:Command":
        return {"stdout": "joined"}
    return None


SECRETS = (
    PRIVATE_KEY.splitlines()[1],
    TOKEN,
    CA_HASH,
    CERT_KEY,
    ADMIN_TOKEN,
    MANAGEMENT_TOKEN,
    ISV_TOKEN,
)
"""Secret values that must never appear in a non-secret input."""
