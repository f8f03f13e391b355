"""Run `pulumi preview` on the real engine and collect what it reports.

The engine's streaming JSON events (PULUMI_ENABLE_STREAMING_JSON_PREVIEW) carry
policy violations, diagnostics and the summary. Debug-level diagnostics can hold
plaintext secrets (they echo registration payloads), so they are dropped here
and never printed.

Every preview runs against a throwaway local backend (a temp directory), so the
tests never touch the user's `.pulumi/` state.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from sandbox.workspace import engine_environment
from stacks.config.example_stacks import is_example_stack
from stacks.engine_tmpdir import private_tmpdir, with_tmpdir

ROOT = Path(__file__).resolve().parents[2]
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""How the event stream spells a value unknown at preview."""
POLICY_PACKS = sorted(p.parent for p in (ROOT / "policies").glob("*/PulumiPolicy.yaml"))


@dataclass
class PolicyViolation:
    """One policy that fired, as the engine reported it."""

    pack: str
    policy: str
    level: str
    urn: str
    message: str


@dataclass
class PreviewResult:
    """What one preview reported."""

    returncode: int
    result: str
    resource_changes: dict[str, int]
    violations: list[PolicyViolation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    steps: list[dict[str, object]] = field(default_factory=list)
    outputs: dict[str, object] = field(default_factory=dict)
    """The stack's outputs as planned: values unknown at preview are the engine's
    unknown sentinel (`UNKNOWN`); secrets come masked, as the CLI shows them."""
    infos: list[str] = field(default_factory=list)
    """Info diagnostics (e.g. what the policy packs print), debug output excluded."""
    stderr: str = ""

    def describe(self) -> str:
        """A readable account for assertion messages (no debug output, no secrets)."""
        lines = [f"result={self.result} rc={self.returncode} changes={self.resource_changes}"]
        lines += [f"  error: {e.strip()}" for e in self.errors]
        lines += [f"  warning: {w.strip()}" for w in self.warnings]
        lines += [
            f"  policy {v.pack}/{v.policy} [{v.level}] {v.urn}: {v.message.strip()}"
            for v in self.violations
        ]
        if self.stderr.strip():
            lines.append("  stderr: " + self.stderr.strip()[-2000:])
        return "\n".join(lines)


def require_pulumi() -> str:
    """Path of the `pulumi` CLI `make setup` provided; a clear failure otherwise."""
    path = shutil.which("pulumi")
    if path is None:
        raise AssertionError(
            "the pulumi CLI is not on PATH: run the tests through `make test` "
            "(it runs `make setup` and sources scripts/env.sh)"
        )
    return path


def engine_env(backend: Path, *, allow_dev_passphrase: bool = False) -> dict[str, str]:
    """Environment for a preview on a private local backend (JSON event stream on);
    `allow_dev_passphrase`: see `sandbox.workspace.engine_environment`."""
    return {
        **engine_environment(backend, allow_dev_passphrase=allow_dev_passphrase),
        "PULUMI_ENABLE_STREAMING_JSON_PREVIEW": "true",
    }


def preview(
    project_dir: Path,
    stack: str,
    backend: Path,
    policy_packs: list[Path] | None = None,
    timeout: int = 900,
    policy_pack_configs: list[Path] | None = None,
    allow_dev_passphrase: bool | None = None,
) -> PreviewResult:
    """Select (or create) `stack` on `backend` and preview it with the policy packs
    (`policy_pack_configs`: one `--policy-pack-config` file per pack, in pack order).

    A stack that is not an example runs with `GPU_CAAS_ALLOW_DEV_PASSPHRASE=1` (test
    stacks are throwaway copies on the dev passphrase) unless `allow_dev_passphrase`
    says otherwise."""
    pulumi = require_pulumi()
    if allow_dev_passphrase is None:
        allow_dev_passphrase = not is_example_stack(stack)
    with private_tmpdir() as tmp:
        env = with_tmpdir(engine_env(backend, allow_dev_passphrase=allow_dev_passphrase), tmp)
        return _select_and_preview(
            pulumi, project_dir, stack, backend, env, policy_packs, timeout, policy_pack_configs
        )


def _select_and_preview(
    pulumi: str,
    project_dir: Path,
    stack: str,
    backend: Path,
    env: dict[str, str],
    policy_packs: list[Path] | None,
    timeout: int,
    policy_pack_configs: list[Path] | None,
) -> PreviewResult:
    backend.mkdir(parents=True, exist_ok=True)
    select = subprocess.run(
        [pulumi, "stack", "select", stack, "--create", "--secrets-provider", "passphrase"],
        cwd=project_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if select.returncode != 0:
        raise AssertionError(f"pulumi stack select {stack} failed: {select.stderr.strip()}")
    args = [pulumi, "preview", "--stack", stack, "--json", "--non-interactive"]
    for pack in POLICY_PACKS if policy_packs is None else policy_packs:
        args += ["--policy-pack", str(pack)]
    for config in policy_pack_configs or []:
        args += ["--policy-pack-config", str(config)]
    proc = subprocess.run(
        args, cwd=project_dir, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    return parse_events(proc.stdout, proc.returncode, proc.stderr)


def parse_events(stdout: str, returncode: int, stderr: str = "") -> PreviewResult:
    """Fold the engine's JSON event stream into a PreviewResult."""
    result = PreviewResult(
        returncode=returncode, result="unknown", resource_changes={}, stderr=stderr
    )
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if (pol := event.get("policyEvent")) is not None:
            result.violations.append(
                PolicyViolation(
                    pack=pol.get("policyPackName", ""),
                    policy=pol.get("policyName", ""),
                    level=pol.get("enforcementLevel", ""),
                    urn=pol.get("resourceUrn", ""),
                    message=pol.get("message", ""),
                )
            )
        elif (diag := event.get("diagnosticEvent")) is not None:
            severity = diag.get("severity")
            if severity == "error":
                result.errors.append(diag.get("message", ""))
            elif severity == "warning":
                result.warnings.append(diag.get("message", ""))
            elif severity in ("info", "info#err"):
                result.infos.append(diag.get("message", ""))
        elif (pre := event.get("resourcePreEvent")) is not None:
            result.steps.append(pre.get("metadata", {}))
        elif (outs := event.get("resOutputsEvent")) is not None:
            metadata = outs.get("metadata", {})
            new = metadata.get("new") or {}
            if metadata.get("type") == "pulumi:pulumi:Stack" and new.get("outputs"):
                result.outputs = dict(new["outputs"])
        elif (summary := event.get("summaryEvent")) is not None:
            result.result = summary.get("result", "unknown")
            result.resource_changes = summary.get("resourceChanges", {}) or {}
    return result
