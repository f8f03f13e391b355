"""Run many tenant stacks through the Pulumi Automation API.

Each stack runs in its own workspace directory (`<work dir>/<tenant>/`): a Pulumi
project whose program files are symlinks to this repository and whose stack file is a
copy of `Pulumi.<tenant>.yaml`. Two stacks never share a directory, because the CLI
keeps the selected stack per project directory and concurrent selection in one
directory races (pulumi#8186). The state backend is the caller's
(`PULUMI_BACKEND_URL`), the same CLI (`pulumi` on PATH, from `make setup`) and the same
policy packs as `make preview`.

At most `parallel` stacks run at once. A run that fails with a transient engine error
(the gRPC `Unavailable` family: pulumi#7782 saw 4 of 10 concurrent Python updates
fail that way) is retried with exponential backoff, when it is safe: previews and
refresh previews always, `up`/`refresh`/`destroy` only if the engine failed before it
touched a resource. One tenant's failure never stops the others.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml
from pulumi.automation import (
    CommandError,
    EngineEvent,
    LocalWorkspaceOptions,
    PulumiCommand,
    Stack,
    create_or_select_stack,
    select_stack,
)

from stacks.engine_tmpdir import private_tmpdir, with_tmpdir
from stacks.fleet.events import Outcome
from stacks.fleet.selection import TenantStack
from stacks.fleet.summary import (
    FAILED,
    NOT_RUN,
    SUCCEEDED,
    FleetSummary,
    TenantResult,
    classify,
    diff_mirror_lists,
)

ROOT = Path(__file__).resolve().parents[2]
PROGRAM_FILES = ("__main__.py", "components", "stacks")
"""What the program imports: symlinked into every stack's workspace directory."""
POLICY_PACKS: tuple[Path, ...] = tuple(
    sorted(p.parent for p in (ROOT / "policies").glob("*/PulumiPolicy.yaml"))
)
"""Every policy pack of the repository (the ones `make preview` runs)."""

OPERATIONS = ("validate", "preview", "up", "refresh", "refresh-preview", "destroy")
READ_ONLY = frozenset({"validate", "preview", "refresh-preview"})
CREATES_STACK = frozenset({"preview", "up"})
"""Operations that create a stack missing from the backend (a new tenant); the others
fail on it."""

TRANSIENT_PATTERNS: tuple[str, ...] = (
    "code = Unavailable",
    "transport is closing",
    "error reading from server: EOF",
    "connection reset by peer",
    "connection refused",
    "failed to connect to all addresses",
    "Socket closed",
)
"""Engine failures worth another attempt: gRPC connections between the CLI, the
language host, providers and policy analyzers dropped under load (pulumi#7782). A
config error, a policy violation or a locked stack is never transient."""

PASSPHRASE_ENV_PREFIX = "PULUMI_CONFIG_PASSPHRASE_"
"""`PULUMI_CONFIG_PASSPHRASE_<TENANT>` (tenant upper-cased, `-` -> `_`) is that
tenant's passphrase, for fleets whose passphrase stacks do not share one."""


class FleetError(ValueError):
    """The fleet cannot run at all (no CLI, bad options); the message says the fix."""


class Progress(Protocol):
    """Where the runner reports each tenant's phase (`stacks.fleet.progress`)."""

    def update(
        self, tenant: str, *, phase: str | None = None, started: int = 0, finished: int = 0
    ) -> None: ...

    def done(self, result: TenantResult) -> None: ...


class NoProgress:
    """A `Progress` that shows nothing (tests, `--quiet`)."""

    def update(
        self, tenant: str, *, phase: str | None = None, started: int = 0, finished: int = 0
    ) -> None:
        """Ignore a phase change."""

    def done(self, result: TenantResult) -> None:
        """Ignore a finished tenant."""


@dataclass(frozen=True)
class FleetOptions:
    """How a fleet command runs.

    Attributes:
        operation: one of `OPERATIONS` (`refresh-preview` is the drift check).
        work_dir: parent of the per-stack workspace directories (reused between runs).
        parallel: stacks at once (>= 1).
        retries: extra attempts after a transient failure (>= 0).
        backoff_s: first retry delay in seconds; doubled per retry, plus up to 50%
            jitter.
        policy_packs: pack directories for preview and up (default: every pack).
        policy_pack_configs: one JSON config per pack, in pack order (optional).
        env: extra environment for every CLI run (backend URL, credentials names).
        project_dir: where the program and the `Pulumi.yaml` live.
        mirror_base: directory of `<tenant>.json` mirror lists of the change's base;
            when set, each result carries its mirror-list diff.
    """

    operation: str
    work_dir: Path
    parallel: int = 2
    retries: int = 2
    backoff_s: float = 2.0
    policy_packs: tuple[Path, ...] = POLICY_PACKS
    policy_pack_configs: tuple[Path, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    project_dir: Path = ROOT
    mirror_base: Path | None = None

    def __post_init__(self) -> None:
        if self.operation not in OPERATIONS:
            raise FleetError(f"operation {self.operation!r}: use one of {', '.join(OPERATIONS)}")
        if self.parallel < 1:
            raise FleetError(f"--parallel {self.parallel}: give 1 or more")
        if self.retries < 0:
            raise FleetError(f"--retries {self.retries}: give 0 or more")


def is_transient(text: str) -> bool:
    """True when a failed run's output shows a transient engine error."""
    return any(pattern in text for pattern in TRANSIENT_PATTERNS)


def backoff_delay(attempt: int, base_s: float, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number `attempt` (1-based): `base_s * 2**(attempt-1)`
    plus up to 50% jitter, so retried stacks do not all start again together."""
    delay: float = base_s * 2.0 ** (attempt - 1)
    jitter: float = (rng or random.Random()).uniform(0, delay / 2)
    return delay + jitter


def prepare_workspace(project_dir: Path, stack: TenantStack, directory: Path) -> Path:
    """Create (or refresh) `directory` as the stack's private Pulumi project: its
    `Pulumi.yaml` (virtualenv made absolute), symlinks to `PROGRAM_FILES` and a copy of
    the stack file. Returns `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    project: dict[str, Any] = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    options = project.setdefault("runtime", {}).setdefault("options", {})
    venv = options.get("virtualenv")
    if isinstance(venv, str) and not Path(venv).is_absolute():
        options["virtualenv"] = str(project_dir / venv)
    (directory / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
    for name in PROGRAM_FILES:
        link = directory / name
        if not link.is_symlink():
            link.symlink_to(project_dir / name)
    shutil.copyfile(stack.path, directory / stack.path.name)
    return directory


def secrets_provider_of(path: Path) -> str:
    """The stack file's `secretsprovider` (e.g. `awskms://...`), else `passphrase`."""
    document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    provider = document.get("secretsprovider") if isinstance(document, dict) else None
    return str(provider) if provider else "passphrase"


def tenant_env(tenant: str, base: Mapping[str, str], environ: Mapping[str, str]) -> dict[str, str]:
    """`base` plus `PULUMI_CONFIG_PASSPHRASE` from `PULUMI_CONFIG_PASSPHRASE_<TENANT>`
    when `environ` has it (never printed)."""
    env = dict(base)
    own = environ.get(PASSPHRASE_ENV_PREFIX + tenant.upper().replace("-", "_"))
    if own:
        env["PULUMI_CONFIG_PASSPHRASE"] = own
    return env


def pulumi_command() -> PulumiCommand:
    """The `pulumi` CLI on PATH (the one `make setup` provides).

    Raises:
        FleetError: no `pulumi` on PATH.
    """
    found = shutil.which("pulumi")
    if found is None:
        raise FleetError("the pulumi CLI is not on PATH: run `make setup` and `. scripts/env.sh`")
    return PulumiCommand(root=str(Path(found).resolve().parent.parent))


def validate_offline(stack: TenantStack) -> tuple[list[str], list[str]]:
    """`python -m stacks validate` of one stack file, in process: (errors, warnings),
    each a printed line (`file:line:col: ...`). Not thread-safe (it captures
    stdout/stderr): the runner validates every stack before starting workers."""
    from stacks.__main__ import _validate

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        failed = _validate([stack.path])
    warnings = [line for line in err.getvalue().splitlines() if ": warning: " in line]
    errors = [line for line in err.getvalue().splitlines() if line and line not in warnings]
    if failed and not errors:
        errors = [f"{stack.path}: invalid (python -m stacks validate {stack.path})"]
    return errors, warnings


def mirror_diff_for(options: FleetOptions, stack: TenantStack, result: TenantResult) -> None:
    """Attach the stack's mirror-list diff against `options.mirror_base`, computed by
    `python -m stacks mirror-list --json` in a subprocess (the listing runs the program
    under process-global mocks)."""
    if options.mirror_base is None:
        return
    done = subprocess.run(
        [sys.executable, "-m", "stacks", "mirror-list", str(stack.path), "--json"],
        cwd=options.project_dir,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if done.returncode != 0:
        result.errors.append(f"mirror-list failed: {done.stderr.strip()[-500:]}")
        return
    base_file = options.mirror_base / f"{stack.name}.json"
    base = json.loads(base_file.read_text()) if base_file.is_file() else None
    result.mirror = diff_mirror_lists(base, json.loads(done.stdout))


def _stderr_tail(text: str, limit: int = 2000) -> str:
    """The stderr part of a `CommandError`'s text (its last `limit` characters)."""
    marker = " stderr: "
    if marker in text:
        text = text[text.rindex(marker) + len(marker) :]
    return text.strip()[-limit:]


def _open_stack(
    stack: TenantStack,
    directory: Path,
    options: FleetOptions,
    command: PulumiCommand,
    tmp: Path,
) -> Stack:
    """The tenant's stack, its pulumi commands run with `TMPDIR` = `tmp`
    (`stacks.engine_tmpdir`: the Kubernetes provider leaves kubeconfigs there)."""
    env = with_tmpdir(tenant_env(stack.name, options.env, os.environ), tmp)
    if options.operation == "refresh-preview":
        # `PULUMI_SKIP_CONFIRMATIONS=true` (scripts/env.sh) acts as `--yes`, which the
        # CLI refuses together with `refresh --preview-only`.
        env["PULUMI_SKIP_CONFIRMATIONS"] = "false"
    opts = LocalWorkspaceOptions(
        work_dir=str(directory),
        pulumi_command=command,
        env_vars=env,
        secrets_provider=secrets_provider_of(stack.path),
    )
    if options.operation in CREATES_STACK:
        return create_or_select_stack(stack.name, work_dir=str(directory), opts=opts)
    return select_stack(stack.name, work_dir=str(directory), opts=opts)


def _run_engine(
    target: Stack,
    options: FleetOptions,
    on_event: Callable[[EngineEvent], None],
    on_output: Callable[[str], None],
) -> None:
    packs = [str(p) for p in options.policy_packs]
    configs = [str(p) for p in options.policy_pack_configs] or None
    common: dict[str, Any] = {
        "on_event": on_event,
        "on_output": on_output,
        "color": "never",
        "suppress_progress": True,
    }
    if options.operation == "preview":
        target.preview(policy_packs=packs, policy_pack_configs=configs, **common)
    elif options.operation == "up":
        target.up(policy_packs=packs, policy_pack_configs=configs, **common)
    elif options.operation == "refresh":
        target.refresh(**common)
    elif options.operation == "refresh-preview":
        target.preview_refresh(**common)
    elif options.operation == "destroy":
        target.destroy(**common)


def run_tenant(
    stack: TenantStack,
    options: FleetOptions,
    command: PulumiCommand,
    progress: Progress,
    result: TenantResult,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> TenantResult:
    """Run `options.operation` on one (validated) stack, retrying transient failures;
    fills and returns `result`. Never raises for an engine failure: it is reported."""
    start = time.monotonic()
    directory = prepare_workspace(options.project_dir, stack, options.work_dir / stack.name)
    lock = threading.Lock()
    outcome, output, exit_ok, failure = Outcome(), [], False, ""
    for attempt in range(1, options.retries + 2):
        outcome, chunks = Outcome(), list[str]()

        def on_event(event: EngineEvent, outcome: Outcome = outcome) -> None:
            with lock:
                outcome.add(event)
                started, finished = outcome.started, outcome.finished
            if event.resource_pre_event is not None or event.res_outputs_event is not None:
                progress.update(stack.name, started=started, finished=finished)

        progress.update(stack.name, phase=options.operation + (f" #{attempt}" * (attempt > 1)))
        result.attempts = attempt
        try:
            with private_tmpdir() as tmp:
                target = _open_stack(stack, directory, options, command, tmp)
                _run_engine(target, options, on_event, chunks.append)
            exit_ok, failure = True, ""
        except CommandError as error:
            exit_ok, failure = False, str(error)
        except Exception as error:  # noqa: BLE001 - reported per tenant, never fatal
            exit_ok, failure = False, f"{type(error).__name__}: {error}"
        output = chunks
        retry_safe = options.operation in READ_ONLY or outcome.started == 0
        if exit_ok or not is_transient(failure) or not retry_safe or attempt > options.retries:
            break
        result.retried.append(f"attempt {attempt}: {_stderr_tail(failure, 300)}")
        progress.update(stack.name, phase=f"retrying ({attempt}/{options.retries})")
        sleep(backoff_delay(attempt, options.backoff_s))
    classify(result, outcome, exit_ok, drift=options.operation == "refresh-preview")
    if not exit_ok and not outcome.errors:
        result.errors.append(_stderr_tail(failure) or "the command failed without output")
    result.output = "\n".join(line.rstrip("\n") for line in output)
    mirror_diff_for(options, stack, result)
    result.seconds = time.monotonic() - start
    return result


def run_fleet(
    stacks: Sequence[TenantStack],
    options: FleetOptions,
    progress: Progress | None = None,
    *,
    command: PulumiCommand | None = None,
) -> FleetSummary:
    """Validate every stack offline, then run `options.operation` on the valid ones,
    `options.parallel` at a time. Results keep the order of `stacks`.

    Raises:
        FleetError: the pulumi CLI is missing (engine operations only).
    """
    progress = progress or NoProgress()
    start = time.monotonic()
    results: list[TenantResult] = []
    runnable: list[tuple[TenantStack, TenantResult]] = []
    for stack in stacks:
        result = TenantResult(stack.name, stack.flavor, options.operation)
        progress.update(stack.name, phase="validating")
        result.config_errors, result.config_warnings = validate_offline(stack)
        results.append(result)
        if result.config_errors:
            result.result, result.failure = FAILED, "config"
            progress.done(result)
        elif options.operation == "validate":
            result.result = SUCCEEDED
            progress.done(result)
        else:
            result.result = NOT_RUN
            progress.update(stack.name, phase="queued")
            runnable.append((stack, result))
    if runnable:
        cli = command or pulumi_command()
        options.work_dir.mkdir(parents=True, exist_ok=True)

        def work(item: tuple[TenantStack, TenantResult]) -> None:
            stack, result = item
            run_tenant(stack, options, cli, progress, result)
            progress.done(result)

        with ThreadPoolExecutor(max_workers=options.parallel) as pool:
            list(pool.map(work, runnable))
    return FleetSummary(options.operation, options.parallel, results, time.monotonic() - start)
