"""docs/quickstart.md, followed literally by a new user, end to end.

Its marked blocks run in order in one bash shell (tests/docs/doc_blocks.py): `make
setup` and `. scripts/env.sh`; validate and `make preview` of `dev`; then a new tenant
`acme`, copied from an example, created with a private passphrase file (the documented
commands make it), every secret set again with the documented `pulumi config set
--secret --path` from a real throwaway ed25519 key in `~/.ssh/acme`, validated and
previewed with both packs. HOME is a temporary directory, the backend the copy's own
`.pulumi/`. No secret value may appear in any output, in the stack file or in the
backend's state.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.docs.doc_blocks import (
    ROOT,
    new_user_env,
    repo_copy,
    resources_to_create,
    run_blocks,
    runnable_blocks,
)

pytestmark = pytest.mark.engine

# The gb200-baremetal example, which the quickstart copies, has 9 hosts.
ACME_HOSTS = 9


def _redacted(text: str, secrets: list[str]) -> str:
    """`text` with every secret value blanked, for assertion messages."""
    for secret in secrets:
        text = text.replace(secret, "[secret]")
    return text


def _warnings(output: str) -> set[str]:
    """The warnings of `python -m stacks validate` output, without file and position."""
    return {
        line.split(": warning: ", 1)[1] for line in output.splitlines() if ": warning: " in line
    }


def _secret_fragments(key: str, passphrase: str) -> list[str]:
    """The passphrase, the key, and each base64 line of its body: a leak of any of them
    counts (a key printed re-wrapped or cut would still show whole lines)."""
    body = [line for line in key.splitlines() if line and not line.startswith("-----")]
    return [passphrase, key.strip(), *body]


def test_quickstart_new_tenant_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    key_file = home / ".ssh" / "acme"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "acme", "-f", str(key_file)],
        check=True,
        timeout=60,
    )
    repo = repo_copy(tmp_path / "repo")
    doc_blocks = runnable_blocks("docs/quickstart.md")
    run = run_blocks(doc_blocks, repo, new_user_env(home))

    key = key_file.read_text(encoding="utf-8")
    passphrase_file = home / ".config/gpu-caas/acme.passphrase"
    assert passphrase_file.is_file(), run.output[-4000:]
    passphrase = passphrase_file.read_text(encoding="utf-8").strip()
    secrets = _secret_fragments(key, passphrase)
    output = _redacted(run.output, secrets)

    assert run.returncode == 0, output[-6000:]
    setup, dev, acme = run.block_outputs()
    assert "example stacks on the local backend" in setup, setup
    assert "Pulumi.dev.yaml: ok" in dev, dev
    assert resources_to_create(dev) > 0
    assert "Pulumi.acme.yaml: ok (tenant-managed" in acme, acme
    # The documented steps add no warning to the example's own but the passphrase
    # provider (validate recommends KMS or Vault for production, as the quickstart says).
    example_check = subprocess.run(
        [str(ROOT / ".venv/bin/python"), "-m", "stacks", "validate", "Pulumi.gb200-baremetal.yaml"],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    added = _warnings(acme) - _warnings(example_check.stderr)
    assert all(w.startswith("secretsprovider: ") for w in added), added
    assert resources_to_create(acme) > 0, acme
    for pack in ("gpu-caas-tenant-isolation", "gpu-caas-platform-safety"):
        assert pack in acme, acme[-3000:]

    # A private passphrase, not the examples' public one, and only its owner reads it.
    assert passphrase and passphrase != "gpu-caas-dev-passphrase"  # noqa: S105
    assert passphrase_file.stat().st_mode & 0o077 == 0

    # Every secret of the copied example was set again, and is stored encrypted.
    stack_file = repo / "Pulumi.acme.yaml"
    document = yaml.safe_load(stack_file.read_text(encoding="utf-8"))
    hosts = document["config"]["gpu-caas:tenant"]["hosts"]
    assert len(hosts) == ACME_HOSTS
    example = yaml.safe_load((ROOT / "Pulumi.gb200-baremetal.yaml").read_text(encoding="utf-8"))
    assert document["encryptionsalt"] != example["encryptionsalt"]
    for index, host in enumerate(hosts):
        secure = host["ssh"]["privateKey"]["secure"]
        assert (
            secure
            != example["config"]["gpu-caas:tenant"]["hosts"][index]["ssh"]["privateKey"]["secure"]
        ), f"hosts[{index}]: the example's secret was kept"

    # No secret value in plain text anywhere: output, stack file, backend state.
    leaks = [s for s in secrets if s in run.output]
    assert not leaks, f"{len(leaks)} secret value(s) printed by the quickstart's commands"
    stack_text = stack_file.read_text(encoding="utf-8")
    assert not [s for s in secrets if s in stack_text], "a secret in plain text in the stack file"
    state_files = [p for p in (repo / ".pulumi").rglob("*") if p.is_file()]
    assert state_files
    for path in state_files:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert not [s for s in secrets if s in text], f"a secret in plain text in {path.name}"
