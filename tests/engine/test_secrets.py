"""A plain-text secret and the public dev passphrase, on the real engine.

`pulumi config set --path ...privateKey` without `--secret` writes the key into the stack
file in plain text: `python -m stacks validate`, the program and the platform-safety
pack (`stack-secrets-encrypted`) all refuse it, each with the exact
`pulumi config set --stack acme --secret --path ... < <file>` command, and none prints
the key. A stack that is not an example, run with the dev passphrase, is refused unless
`GPU_CAAS_ALLOW_DEV_PASSPHRASE=1`; any stack run with an empty passphrase is refused.
The stack is a throwaway copy of Pulumi.dev.yaml in a temp project (`StackWorkspace`:
the program's files symlinked, so the packs run in the project directory, where the
stack file is).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from sandbox.workspace import StackWorkspace, engine_environment
from stacks.config.example_stacks import DEV_PASSPHRASE
from stacks.config.passphrase import PassphraseCrypter
from tests.engine.harness import ROOT, preview
from tests.stacks.samples import PRIVATE_KEY

pytestmark = pytest.mark.engine

PATH = "gpu-caas:tenant.hosts[1].ssh.privateKey"
FIX = f"pulumi config set --stack acme --secret --path '{PATH}' < <private key file>"
MARKER = PRIVATE_KEY.splitlines()[4]


def _workspace(tmp_path: Path, plaintext: bool) -> StackWorkspace:
    workspace = StackWorkspace(tmp_path / "ws", ROOT / "Pulumi.dev.yaml", "acme")
    if plaintext:
        document = yaml.safe_load(workspace.stack_file_path.read_text())
        document["config"]["gpu-caas:tenant"]["hosts"][1]["ssh"]["privateKey"] = PRIVATE_KEY
        workspace.stack_file_path.write_text(yaml.safe_dump(document, sort_keys=False))
    return workspace


def test_plaintext_private_key_is_refused_by_validate_program_and_pack(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, plaintext=True)

    env = {**engine_environment(workspace.backend, allow_dev_passphrase=True)}
    validate = subprocess.run(
        [sys.executable, "-m", "stacks", "validate", str(workspace.stack_file_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert validate.returncode == 1, validate.stdout + validate.stderr
    assert f"{PATH}: is plain text, not a Pulumi secret" in validate.stderr
    assert FIX in validate.stderr
    assert MARKER not in validate.stdout + validate.stderr

    result = preview(workspace.project, "acme", workspace.backend, allow_dev_passphrase=True)
    detail = result.describe()
    assert result.returncode != 0, detail
    assert any(FIX in error for error in result.errors), detail
    fired = [v for v in result.violations if v.policy == "stack-secrets-encrypted"]
    assert fired and fired[0].level == "mandatory", detail
    assert FIX in fired[0].message, detail
    assert fired[0].urn.endswith("pulumi:pulumi:Stack::gpu-caas-acme"), detail
    assert {str(step.get("type")) for step in result.steps} <= {"pulumi:pulumi:Stack"}, detail
    assert MARKER not in detail + "\n".join(v.message for v in result.violations)


def test_non_example_stack_on_the_dev_passphrase_needs_the_opt_in(tmp_path: Path) -> None:
    workspace = _workspace(tmp_path, plaintext=False)
    refused = preview(workspace.project, "acme", workspace.backend, allow_dev_passphrase=False)
    detail = refused.describe()
    assert refused.returncode != 0, detail
    [error] = [e for e in refused.errors if "dev passphrase" in e]
    assert "stack 'acme' is encrypted with the public dev passphrase" in error
    assert "pulumi stack change-secrets-provider" in error
    assert "GPU_CAAS_ALLOW_DEV_PASSPHRASE=1" in error
    assert {str(step.get("type")) for step in refused.steps} <= {"pulumi:pulumi:Stack"}, detail


def test_a_stack_on_an_empty_passphrase_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dev example re-keyed to the empty passphrase (what `pulumi stack
    change-secrets-provider acme passphrase` does without a terminal), run with
    `PULUMI_CONFIG_PASSPHRASE=""`: the engine decrypts it, the program refuses it, and
    GPU_CAAS_ALLOW_DEV_PASSPHRASE does not help."""
    workspace = _workspace(tmp_path, plaintext=False)
    document = yaml.safe_load(workspace.stack_file_path.read_text())
    dev = PassphraseCrypter.open(DEV_PASSPHRASE, document["encryptionsalt"])
    salt, empty = PassphraseCrypter.new("")

    def rekey(value: object) -> object:
        if isinstance(value, dict) and set(value) == {"secure"}:
            return {"secure": empty.encrypt(dev.decrypt(value["secure"]))}
        if isinstance(value, dict):
            return {k: rekey(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rekey(v) for v in value]
        return value

    document = {**rekey(document), "encryptionsalt": salt}  # type: ignore[dict-item]
    workspace.stack_file_path.write_text(yaml.safe_dump(document, sort_keys=False))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    refused = preview(workspace.project, "acme", workspace.backend, allow_dev_passphrase=True)
    detail = refused.describe()
    assert refused.returncode != 0, detail
    [error] = [e for e in refused.errors if "empty passphrase" in e]
    assert "stack 'acme' is encrypted with an empty passphrase" in error, detail
    assert (
        "`PULUMI_CONFIG_PASSPHRASE='' pulumi stack change-secrets-provider --stack acme "
        "passphrase < <new passphrase file>`"
    ) in error, detail
    assert {str(step.get("type")) for step in refused.steps} <= {"pulumi:pulumi:Stack"}, detail
