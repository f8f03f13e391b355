"""Re-record the engine event streams under `recorded/` (not a test; run by hand).

    . scripts/env.sh && python -m tests.stacks.fleet.record_previews

Each file is the real CLI's streaming JSON preview (`pulumi preview --json` with
PULUMI_ENABLE_STREAMING_JSON_PREVIEW: one engine event per line, the events the
Automation API receives), with
debug diagnostics, the per-resource lists of passed policies
(`policyAnalyzeSummaryEvent`, `policyRemediateSummaryEvent`) and resource inputs and
outputs in step metadata dropped (types, URNs, operations and diffs stay): the summary
reads nothing else, and the files stay small.

- `dev-first-preview.jsonl`: `pulumi preview` of Pulumi.dev.yaml with both packs on an
  empty backend (55 creates, the packs' reports as info diagnostics);
- `bad-cluster-admin-preview.jsonl`: the engine fixture that binds a tenant group to
  cluster-admin, with both packs (mandatory violations);
- `replace-preview.jsonl`: after `pulumi up` of a two-command program, a preview that
  changes one command's `triggers` (a replacement) and the other's `create` (an update).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import textwrap
from pathlib import Path
from typing import Any

from sandbox.workspace import engine_environment
from stacks.fleet.runner import POLICY_PACKS, ROOT, prepare_workspace
from stacks.fleet.selection import TenantStack

HERE = Path(__file__).parent / "recorded"


def _trim(event: dict[str, Any]) -> dict[str, Any] | None:
    if "policyAnalyzeSummaryEvent" in event or "policyRemediateSummaryEvent" in event:
        return None  # per-resource lists of every policy that passed: large, unread
    diag = event.get("diagnosticEvent")
    if diag is not None and diag.get("severity") == "debug":
        return None
    for kind in ("resourcePreEvent", "resOutputsEvent", "resOpFailedEvent"):
        metadata = (event.get(kind) or {}).get("metadata")
        for side in ("old", "new"):
            if metadata and metadata.get(side):
                state = metadata[side]
                metadata[side] = {k: state[k] for k in ("type", "urn", "custom") if k in state}
    return event


def _run(args: list[str], cwd: Path, env: dict[str, str], log: Path | None = None) -> None:
    extra = ["--json"] if log else []
    env = {**env, "PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true"}
    done = subprocess.run(
        ["pulumi", *args, *extra],
        cwd=cwd,
        env=env,
        check=False,
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(f"pulumi {args[0]} in {cwd.name}: exit {done.returncode} {done.stderr.strip()[-300:]}")
    if log:
        log.write_text(done.stdout)


def _save(log: Path, name: str) -> None:
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    events = [_trim(json.loads(line)) for line in lines]
    kept = [json.dumps(e, sort_keys=True) for e in events if e is not None]
    (HERE / name).write_text("\n".join(kept) + "\n")
    print(f"wrote {HERE / name} ({len(kept)} events)")


def _packs() -> list[str]:
    return [arg for pack in POLICY_PACKS for arg in ("--policy-pack", str(pack))]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "backend").mkdir()
        env = engine_environment(work / "backend")
        dev = prepare_workspace(
            ROOT, TenantStack("dev", ROOT / "Pulumi.dev.yaml", "tenant-managed"), work / "dev"
        )
        _run(["stack", "init", "dev", "--secrets-provider", "passphrase"], dev, env)
        _run(
            ["preview", "--stack", "dev", "--non-interactive", *_packs()],
            dev,
            env,
            work / "dev.log",
        )
        _save(work / "dev.log", "dev-first-preview.jsonl")

        bad = ROOT / "tests/engine/fixtures/bad-cluster-admin"
        env_bad = engine_environment(work / "backend", allow_dev_passphrase=True)
        _run(["stack", "init", "test", "--secrets-provider", "passphrase"], bad, env_bad)
        _run(
            ["preview", "--stack", "test", "--non-interactive", *_packs()],
            bad,
            env_bad,
            work / "bad.log",
        )
        _run(["stack", "rm", "test", "--yes", "--force", "--preserve-config"], bad, env_bad)
        _save(work / "bad.log", "bad-cluster-admin-preview.jsonl")

        program = work / "replace"
        program.mkdir()
        (program / "Pulumi.yaml").write_text(
            "name: fleet-record\nruntime:\n  name: python\n  options:\n"
            f"    virtualenv: {ROOT / '.venv'}\n"
        )
        (program / "__main__.py").write_text(
            textwrap.dedent("""\
            import os
            import pulumi
            import pulumi_command as command

            version = os.environ["RECORD_VERSION"]
            command.local.Command("triggered", create="true", triggers=[version])
            command.local.Command("echo", create=f"echo v{version}")
            """)
        )
        _run(["stack", "init", "record", "--secrets-provider", "passphrase"], program, env_bad)
        _run(
            ["up", "--yes", "--stack", "record", "--non-interactive"],
            program,
            {**env_bad, "RECORD_VERSION": "1"},
        )
        _run(
            ["preview", "--stack", "record", "--non-interactive"],
            program,
            {**env_bad, "RECORD_VERSION": "2"},
            work / "replace.log",
        )
        _save(work / "replace.log", "replace-preview.jsonl")


if __name__ == "__main__":
    main()
