"""Generated tenant-managed tenants of any number of GPU hosts, for `make bench` and tests.

The shape a new user grows the dev tenant into: 3 HA control-plane hosts and H100
hosts in node groups (and racks) of 16, the hosts in an inventory file
(`inventory.file`), one SSH key declared once under `sshKeys` (a Pulumi secret the
caller sets) and used by every host by scope. `stack_document` is the
`Pulumi.<stack>.yaml` without the secret; `inventory_document` is the inventory file.
"""

from __future__ import annotations

from typing import Any

GROUP_SIZE = 16
"""Hosts per node group and per rack."""
CONTROL_PLANE_HOSTS = 3
INVENTORY_FILE = "inventory.yaml"
"""Where the generated stack's inventory file lives, relative to the project."""
SSH_KEY_PATH = "gpu-caas:tenant.sshKeys[0].privateKey"
"""The one secret of a generated stack: `pulumi config set --secret --path` it."""


def group_name(index: int) -> str:
    """Name of node group (and rack) `index`: `train-000`."""
    return f"train-{index:03d}"


def host_name(index: int) -> str:
    """Name of GPU host `index`: `gpu-0000`."""
    return f"gpu-{index:04d}"


def _address(index: int) -> str:
    """A documentation-range-like private address, unique per index (< 65536)."""
    return f"10.{100 + index // 65536}.{index // 256 % 256}.{index % 256 + 0}"


def inventory_document(gpu_hosts: int) -> dict[str, Any]:
    """The inventory file of a tenant of `gpu_hosts` H100 hosts (+3 control plane).

    Hosts carry no SSH settings: the tenant's `sshKeys[0]` (unscoped) applies.
    """
    hosts: list[dict[str, Any]] = [
        {
            "name": f"cp-{i}",
            "address": _address(i + 1),
            "role": "control-plane",
            "topology": {"rack": "mgmt-01"},
        }
        for i in range(CONTROL_PLANE_HOSTS)
    ]
    for i in range(gpu_hosts):
        group = group_name(i // GROUP_SIZE)
        hosts.append(
            {
                "name": host_name(i),
                "address": _address(i + 16),
                "nodeGroup": group,
                "gpu": {"model": "H100-80GB", "count": 8},
                "topology": {"rack": group},
            }
        )
    return {"hosts": hosts}


def tenant_config(gpu_hosts: int, name: str = "bench") -> dict[str, Any]:
    """`gpu-caas:tenant` of the generated tenant, without the SSH key's value (set it
    at `SSH_KEY_PATH`); a placeholder `{"secure": ...}` is not written."""
    groups = (gpu_hosts + GROUP_SIZE - 1) // GROUP_SIZE
    return {
        "name": name,
        "displayName": f"Generated tenant of {gpu_hosts} GPU hosts",
        "flavor": "tenant-managed",
        "kubernetes": {"version": "1.34.2"},
        "controlPlane": {
            "ha": True,
            "size": "large",
            "kubeadm": {"endpoint": f"api.{name}.example:6443"},
        },
        "inventory": {"file": INVENTORY_FILE},
        "sshKeys": [{"name": "fleet", "user": "ubuntu"}],
        "nodeGroups": [{"name": group_name(g)} for g in range(groups)],
        "teams": [{"name": "ml", "gpuQuota": 8 * gpu_hosts, "idpGroups": [f"{name}-ml"]}],
        "isolation": {
            "imageVerification": {
                "publicKey": (
                    "-----BEGIN PUBLIC KEY-----\n"
                    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwzVrsHF5x6/gLuZYXhJWt6oYhIkp\n"
                    "fs/v0dItgzbxndR/AHd/REa1ke/rb1T3L/9QCHti/o36gT5hXLKF3xK0Hg==\n"
                    "-----END PUBLIC KEY-----"
                )
            }
        },
        "services": {
            "csi": {
                "sharedDatasets": {
                    "driver": "nfs",
                    "nfs": {"server": f"nfs.{name}.example", "share": f"/exports/{name}"},
                    "defaultClass": True,
                },
                "localScratch": {"driver": "local-path"},
            }
        },
    }


def with_placeholder_key(
    tenant: dict[str, Any], ciphertext: str = "v1:placeholder"
) -> dict[str, Any]:
    """`tenant` with `sshKeys[0].privateKey` as an encrypted-looking placeholder, for
    offline validation (`load_stack_file` checks the shape, never decrypts)."""
    keys = [dict(key) for key in tenant["sshKeys"]]
    keys[0]["privateKey"] = {"secure": ciphertext}
    return {**tenant, "sshKeys": keys}
