"""containerd hosts.toml rendering for registry mirrors."""

from __future__ import annotations

import subprocess
import tomllib

import pytest

from components.cluster.registry_mirrors import (
    apply_script,
    hosts_toml,
    mirror_files,
    remove_script,
)


@pytest.mark.parametrize(
    ("registry", "mirror", "url", "override_path"),
    [
        ("nvcr.io", "harbor.initech.example/nvcr", "https://harbor.initech.example/v2/nvcr", True),
        ("registry.k8s.io", "mirror.example", "https://mirror.example", False),
        ("ghcr.io", "https://mirror.example:5000/", "https://mirror.example:5000", False),
        (
            "docker.io",
            "http://10.0.0.5:5000/hub/library",
            "http://10.0.0.5:5000/v2/hub/library",
            True,
        ),
    ],
)
def test_hosts_toml(registry: str, mirror: str, url: str, override_path: bool) -> None:
    parsed = tomllib.loads(hosts_toml(registry, mirror))
    assert parsed["server"] == f"https://{registry}"
    assert parsed["host"] == {
        url: {
            "capabilities": ["pull", "resolve"],
            **({"override_path": True} if override_path else {}),
        }
    }


def test_one_file_per_registry_in_certs_d() -> None:
    files = mirror_files({"nvcr.io": "m.example/nvcr", "ghcr.io": "m.example/ghcr"})
    assert list(files) == [
        "/etc/containerd/certs.d/ghcr.io/hosts.toml",
        "/etc/containerd/certs.d/nvcr.io/hosts.toml",
    ]


def test_scripts_are_valid_shell_and_symmetric() -> None:
    mirrors = {"nvcr.io": "m.example/nvcr", "registry.k8s.io": "m.example/k8s"}
    apply, remove = apply_script(mirrors), remove_script(mirrors)
    for script in (apply, remove):
        assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    for path in mirror_files(mirrors):
        assert f"tee '{path}'" in apply
        assert f"rm -f '{path}'" in remove
    # containerd must actually read certs.d, or the mirrors would be silently ignored.
    assert "containerd config dump" in apply and "exit 1" in apply
