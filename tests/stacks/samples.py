"""Minimal valid tenant configs per flavor, as raw dicts (what the engine hands over)."""

from __future__ import annotations

import copy
import functools
from typing import Any

# A real (parseable) unencrypted Ed25519 key, made from the bytes 0..31: the program
# checks that a private key is one. Its fourth line holds the private bytes.
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtz\n"
    "c2gtZWQyNTUxOQAAACADoQe/884Qvh1w3RjnS8CZZ+TWMJulDV8d3IZkElUxuAAA\n"
    "AIg24z+1NuM/tQAAAAtzc2gtZWQyNTUxOQAAACADoQe/884Qvh1w3RjnS8CZZ+TW\n"
    "MJulDV8d3IZkElUxuAAAAEAAAQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0e\n"
    "HwOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4AAAAAAECAwQF\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
PRIVATE_KEY_MARKER = PRIVATE_KEY.splitlines()[4]
MANAGEMENT_KUBECONFIG = (
    "apiVersion: v1\nkind: Config\nclusters:\n- name: m\n  cluster: {server: 'https://mgmt.example:6443'}\n"
    "contexts:\n- name: m\n  context: {cluster: m, user: u}\ncurrent-context: m\n"
    "users:\n- name: u\n  user: {token: SAMPLE-MANAGEMENT-TOKEN}\n"
)
ISV_KUBECONFIG = MANAGEMENT_KUBECONFIG.replace("mgmt.example", "isv.example").replace(
    "SAMPLE-MANAGEMENT-TOKEN", "SAMPLE-ISV-TOKEN"
)
SECRETS = (PRIVATE_KEY_MARKER, "SAMPLE-MANAGEMENT-TOKEN", "SAMPLE-ISV-TOKEN")
# Image verification is on by default and needs a cosign public key (public, not secret).
COSIGN_PUBLIC_KEY = (
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwzVrsHF5x6/gLuZYXhJWt6oYhIkp\n"
    "fs/v0dItgzbxndR/AHd/REa1ke/rb1T3L/9QCHti/o36gT5hXLKF3xK0Hg==\n"
    "-----END PUBLIC KEY-----"
)
ISOLATION: dict[str, Any] = {"imageVerification": {"publicKey": COSIGN_PUBLIC_KEY}}
# Autoscaled node groups need Karpenter; `custom` accepts any NodeClass kind.
AUTOSCALING: dict[str, Any] = {"autoscaling": {"enabled": True, "provider": "custom"}}


def _host(name: str, address: str, role: str = "worker", **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "address": address,
        "role": role,
        "ssh": {"user": "ubuntu", "privateKey": PRIVATE_KEY},
        **extra,
    }


TENANT_MANAGED: dict[str, Any] = {
    "name": "acme",
    "flavor": "tenant-managed",
    "kubernetes": {"version": "1.34.2"},
    "controlPlane": {"ha": False, "size": "small"},
    "hosts": [
        _host("cp-0", "10.0.0.10", "control-plane"),
        _host(
            "gpu-0",
            "10.0.1.10",
            gpu={"model": "H100-80GB", "count": 8},
            topology={"rack": "r1", "rails": ["rail-0"]},
        ),
        _host("gpu-1", "10.0.1.11", gpu={"model": "H100-80GB", "count": 8}),
    ],
    "nodeGroups": [
        {"name": "train", "hosts": ["gpu-0"]},
        {
            "name": "inference",
            "hosts": ["gpu-1"],
            "sharing": {"mode": "mig", "mig": {"layout": {"3g.40gb": 2}}},
        },
    ],
    "teams": [{"name": "ml", "gpuQuota": 8, "idpGroups": ["acme:ml"]}],
    "isolation": ISOLATION,
}

NCP_MANAGED: dict[str, Any] = {
    "name": "acme",
    "flavor": "ncp-managed",
    "kubernetes": {"version": "1.34"},
    "controlPlane": {
        "ha": True,
        "size": "medium",
        "hosted": {"managementKubeconfig": MANAGEMENT_KUBECONFIG},
    },
    "hosts": [
        _host("gpu-0", "10.0.1.10", gpu={"model": "H200-141GB", "count": 8}),
        # CPU capacity for the platform's controllers: a hosted tenant has no
        # control-plane nodes and GPU nodes are tainted (stacks/config/placement.py).
        _host("sys-0", "10.0.0.20"),
    ],
    "nodeGroups": [
        {"name": "system", "hosts": ["sys-0"]},
        {"name": "train", "hosts": ["gpu-0"]},
        {
            "name": "burst",
            "autoscale": {
                "maxNodes": 4,
                "gpu": {"model": "H200-141GB", "count": 8},
                "nodeClass": {"group": "karpenter.example", "kind": "NodeClass", "name": "h200"},
            },
        },
    ],
    "services": AUTOSCALING,
    "isolation": ISOLATION,
}

ISV_MANAGED: dict[str, Any] = {
    "name": "acme",
    "flavor": "isv-managed",
    "kubernetes": {"version": "1.35.0"},
    "controlPlane": {"external": {"kubeconfig": ISV_KUBECONFIG}},
    "nodeGroups": [
        {
            "name": "serve",
            "autoscale": {
                "minNodes": 1,
                "maxNodes": 8,
                "gpu": {"model": "H100-94GB", "count": 2},
                "nodeClass": {"group": "karpenter.example", "kind": "NodeClass", "name": "nvl"},
            },
            "sharing": {"mode": "time-slicing", "timeSlicing": {"replicas": 4}},
            # Time-sliced GPUs belong to one team (`nodeGroups[].team`).
            "team": "serving",
        }
    ],
    "teams": [{"name": "serving", "gpuQuota": 8, "idpGroups": ["acme:serving"]}],
    "services": AUTOSCALING,
    "isolation": ISOLATION,
}

SAMPLES = {"tenant-managed": TENANT_MANAGED, "ncp-managed": NCP_MANAGED, "isv-managed": ISV_MANAGED}


def sample(flavor: str) -> dict[str, Any]:
    """A deep copy of the sample config of `flavor`."""
    return copy.deepcopy(SAMPLES[flavor])


@functools.cache
def rsa_private_key_pem(key_size: int = 2048, *, pkcs8: bool = False) -> str:
    """A real, unencrypted RSA private key in PEM: PKCS#1 (`BEGIN RSA PRIVATE KEY`, as
    `ssh-keygen -m PEM` writes) or PKCS#8 (`BEGIN PRIVATE KEY`). One per arguments and
    test process (a 4096-bit key takes about a second to generate)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8
        if pkcs8
        else serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
