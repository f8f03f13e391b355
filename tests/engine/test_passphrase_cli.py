"""Our passphrase crypto against the real CLI, both ways, on a throwaway local backend;
and the fix command our messages print really fixes a plain-text secret."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from sandbox.workspace import engine_environment
from stacks.config.passphrase import PassphraseCrypter
from stacks.config.secret_checks import plaintext_problems
from tests.engine.harness import require_pulumi
from tests.stacks.samples import PRIVATE_KEY, sample

pytestmark = pytest.mark.engine

PASSPHRASE = "not the dev passphrase"  # noqa: S105 - test value
PATH = "gpu-caas:tenant.hosts[0].ssh.privateKey"


def _pulumi(project: Path, env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [require_pulumi(), "--non-interactive", *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, f"pulumi {args[:3]}: {proc.stderr.strip()[-2000:]}"
    return proc.stdout


def test_cli_and_python_read_each_others_secrets(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: gpu-caas\nruntime: python\n")
    env = {**engine_environment(tmp_path / "backend"), "PULUMI_CONFIG_PASSPHRASE": PASSPHRASE}
    (tmp_path / "backend").mkdir()
    _pulumi(project, env, "stack", "init", "t", "--secrets-provider", "passphrase")
    stack_file = project / "Pulumi.t.yaml"
    # A tenant whose first private key was set without --secret, as the issue shows.
    document = yaml.safe_load(stack_file.read_text())
    document.setdefault("config", {})["gpu-caas:tenant"] = sample("tenant-managed")
    stack_file.write_text(yaml.safe_dump(document))
    assert [p.path for p in plaintext_problems(sample("tenant-managed"))][0] == PATH

    # The fix command our message prints (argv, not a shell: the value is the key text).
    _pulumi(project, env, "config", "set", "-s", "t", "--secret", "--path", PATH, "--", PRIVATE_KEY)
    document = yaml.safe_load(stack_file.read_text())
    tenant = document["config"]["gpu-caas:tenant"]
    assert set(tenant["hosts"][0]["ssh"]["privateKey"]) == {"secure"}
    assert PATH not in [p.path for p in plaintext_problems(tenant)]

    # CLI -> Python.
    crypter = PassphraseCrypter.open(PASSPHRASE, document["encryptionsalt"])
    ciphertext = tenant["hosts"][0]["ssh"]["privateKey"]["secure"]
    assert crypter.decrypt(ciphertext) == PRIVATE_KEY

    # Python -> CLI.
    tenant["hosts"][1]["ssh"]["privateKey"] = {"secure": crypter.encrypt("from python\nline 2")}
    stack_file.write_text(yaml.safe_dump(document))
    value = _pulumi(
        project, env, "config", "get", "--path", "gpu-caas:tenant.hosts[1].ssh.privateKey"
    )
    assert value.rstrip("\n") == "from python\nline 2"
