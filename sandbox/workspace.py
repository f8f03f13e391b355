"""Run an example stack with the real Pulumi engine against a local cluster.

A `StackWorkspace` is a throwaway Pulumi project directory: the program's files are
symlinked from the repository (so the stack runs the code under test), `Pulumi.yaml`
points at the repository's `.venv`, and the example's stack file is copied under a
new stack name with its `encryptionsalt`, so its `secure:` values stay readable with
the dev passphrase. Non-secret overrides (chart mirrors) are written into that copy;
secret ones (kubeconfigs) go through `pulumi config set --secret`, so they are
encrypted like a user's would be. The state lives in a local backend inside the
workspace.

The CLI runs with `--non-interactive`; its JSON event stream (preview) and exit codes
are what the tests read. Debug output is never requested: it can echo secrets.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stacks.config.example_stacks import ALLOW_DEV_PASSPHRASE_ENV, DEV_PASSPHRASE
from stacks.engine_tmpdir import private_tmpdir, with_tmpdir

ROOT = Path(__file__).resolve().parents[1]
PROGRAM_FILES = ("__main__.py", "components", "stacks")
POLICY_PACKS = tuple(sorted(p.parent for p in (ROOT / "policies").glob("*/PulumiPolicy.yaml")))


def engine_environment(backend: Path, *, allow_dev_passphrase: bool = False) -> dict[str, str]:
    """This process's environment for the pulumi CLI on a private local `backend`:
    offline (no update checks, plugin downloads or registry lookups), no prompts, and
    the dev passphrase unless one is set.

    `allow_dev_passphrase` sets `GPU_CAAS_ALLOW_DEV_PASSPHRASE=1`, without which the
    program refuses a stack that is not an example but is on the dev passphrase: only
    for throwaway stacks made from an example (tests, the sandbox). Otherwise the
    variable is removed, so a refusal is what the user would see.
    """
    env = dict(os.environ)
    env.pop(ALLOW_DEV_PASSPHRASE_ENV, None)
    if allow_dev_passphrase:
        env[ALLOW_DEV_PASSPHRASE_ENV] = "1"
    env.update(
        PULUMI_BACKEND_URL=backend.as_uri(),
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_DISABLE_REGISTRY_RESOLVE="true",
        PULUMI_DIY_BACKEND_NO_LEGACY_WARNING="true",
        PULUMI_SKIP_CONFIRMATIONS="true",
    )
    env.setdefault("PULUMI_CONFIG_PASSPHRASE", DEV_PASSPHRASE)
    return env


class PulumiError(RuntimeError):
    """A pulumi command failed; the message holds its command line and output tail."""


@dataclass
class Run:
    """One finished pulumi command."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def check(self) -> Run:
        """Return self, or raise `PulumiError` when the command failed."""
        if self.returncode != 0:
            raise PulumiError(self.describe())
        return self

    def describe(self) -> str:
        """Command, exit code, the diagnostics and summary (no debug output is ever on)."""
        out = self.stdout
        diagnostics = ""
        if "Diagnostics:" in out:
            diagnostics = out[out.index("Diagnostics:") :]
            for end in ("\nOutputs:", "\nResources:"):
                if end in diagnostics:
                    diagnostics = diagnostics[: diagnostics.index(end)]
        summary = out[out.index("Resources:") :] if "Resources:" in out else out[-3000:]
        return (
            f"pulumi {' '.join(self.args)} -> {self.returncode} in {self.seconds:.1f}s\n"
            f"{diagnostics[:12000]}\n{summary[:2000]}\n{self.stderr[-3000:]}"
        )


def set_path(tree: dict[str, Any], dotted: str, value: object) -> None:
    """Set `value` at a dotted key path of nested mappings, creating maps on the way."""
    *parents, last = dotted.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


@dataclass
class StackWorkspace:
    """A Pulumi project directory and local backend for one stack (reused if it exists).

    Args:
        directory: empty directory to create the project in.
        stack_file: the example `Pulumi.<name>.yaml` to start from.
        stack: the new stack's name.
        env: extra environment for every pulumi command (e.g. the mirror's CA bundle).
        program: directory holding the program (default: this repository); a fixture
            program directory is used as it is.

    Relative paths are resolved against the working directory when the workspace is
    made: the backend is a `file://` URL, the project's symlinks point at the program,
    and every command runs in the project directory.
    """

    directory: Path
    stack_file: Path
    stack: str
    env: Mapping[str, str] = field(default_factory=dict)
    program: Path | None = None

    def __post_init__(self) -> None:
        self.directory = Path(self.directory).resolve()
        self.stack_file = Path(self.stack_file).resolve()
        if self.program is not None:
            self.program = Path(self.program).resolve()
        self.backend = self.directory / ".state"
        self.project = self.directory / "project"
        if (self.project / "Pulumi.yaml").is_file():
            return  # an existing workspace (`make sandbox` run again): reuse it as it is
        self.project.mkdir(parents=True, exist_ok=True)
        self.backend.mkdir(parents=True, exist_ok=True)
        source = self.program or ROOT
        project = yaml.safe_load((source / "Pulumi.yaml").read_text())
        project.setdefault("runtime", {}).setdefault("options", {})["virtualenv"] = str(
            ROOT / ".venv"
        )
        (self.project / "Pulumi.yaml").write_text(yaml.safe_dump(project, sort_keys=False))
        names = PROGRAM_FILES if self.program is None else ("__main__.py",)
        for name in names:
            (self.project / name).symlink_to(source / name)
        if self.program is not None:
            # Fixture programs import the product's packages from the repository.
            for name in ("components", "stacks"):
                (self.project / name).symlink_to(ROOT / name)
        shutil.copyfile(self.stack_file, self.stack_file_path)

    @property
    def stack_file_path(self) -> Path:
        """The stack's config file inside the workspace."""
        return self.project / f"Pulumi.{self.stack}.yaml"

    def environment(self) -> dict[str, str]:
        """The environment every pulumi command of this workspace runs with (the stack is
        a throwaway copy of an example, on its dev passphrase: allowed)."""
        return {**engine_environment(self.backend, allow_dev_passphrase=True), **self.env}

    def _argv(self, args: Sequence[str]) -> list[str]:
        pulumi = shutil.which("pulumi")
        if pulumi is None:
            raise PulumiError(
                "the pulumi CLI is not on PATH: run `make setup` and `. scripts/env.sh`"
            )
        return [pulumi, *args]

    def pulumi(self, *args: str, timeout: float = 1500, stdin: str | None = None) -> Run:
        """Run `pulumi <args>` in the project (`stdin`: text to send, else none), with a
        private `TMPDIR` removed afterwards (`stacks.engine_tmpdir`); never raises on a
        non-zero exit."""
        start = time.monotonic()
        with private_tmpdir() as tmp:
            proc = subprocess.run(
                self._argv(args),
                cwd=self.project,
                env=with_tmpdir(self.environment(), tmp),
                input=stdin,
                stdin=None if stdin is not None else subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        return Run(tuple(args), proc.returncode, proc.stdout, proc.stderr, time.monotonic() - start)

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start `pulumi <args>` in its own process group (for interruption tests). Its
        `TMPDIR` is `tmp/` in the workspace directory (mode 0700): the command outlives
        this call, so the workspace's owner removes it with the workspace."""
        log = (self.directory / f"{args[0]}-{int(time.time() * 1000)}.log").open("w")
        tmp = self.directory / "tmp"
        tmp.mkdir(mode=0o700, exist_ok=True)
        return subprocess.Popen(
            self._argv(args),
            cwd=self.project,
            env=with_tmpdir(self.environment(), tmp),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )

    def init(self) -> None:
        """Create the stack on the workspace backend (keeps the stack file's salt)."""
        self.pulumi("stack", "init", self.stack, "--secrets-provider", "passphrase").check()

    def edit_config(self, overrides: Mapping[str, object]) -> None:
        """Write non-secret values into the stack file (dotted paths under `config`)."""
        document = yaml.safe_load(self.stack_file_path.read_text())
        for dotted, value in overrides.items():
            key, _, rest = dotted.partition(".")
            config = document.setdefault("config", {})
            if rest:
                config.setdefault(key, {})
                set_path(config[key], rest, value)
            else:
                config[key] = value
        self.stack_file_path.write_text(yaml.safe_dump(document, sort_keys=False))

    def set_secret(self, path: str, value: str) -> None:
        """`pulumi config set --secret --path <path>` with the value on stdin (never argv)."""
        run = self.pulumi(
            "config", "set", "--secret", "--path", path, "--stack", self.stack, stdin=value
        )
        if run.returncode != 0:
            raise PulumiError(f"pulumi config set --secret --path {path}: {run.stderr.strip()}")

    def _packs(self, policy_packs: Sequence[Path] | None) -> list[str]:
        args: list[str] = []
        for pack in POLICY_PACKS if policy_packs is None else policy_packs:
            args += ["--policy-pack", str(pack)]
        return args

    def up(
        self, *extra: str, policy_packs: Sequence[Path] | None = None, timeout: float = 1500
    ) -> Run:
        """`pulumi up --yes` with every policy pack (or `policy_packs`)."""
        return self.pulumi(
            "up", "--yes", "--non-interactive", "--skip-preview", "--stack", self.stack,
            *self._packs(policy_packs), *extra, timeout=timeout,
        )  # fmt: skip

    def preview(self, *extra: str, policy_packs: Sequence[Path] | None = None) -> Run:
        """`pulumi preview` with every policy pack (or `policy_packs`)."""
        return self.pulumi(
            "preview",
            "--non-interactive",
            "--stack",
            self.stack,
            *self._packs(policy_packs),
            *extra,
        )

    def refresh(self, *extra: str) -> Run:
        """`pulumi refresh --yes`."""
        return self.pulumi("refresh", "--yes", "--non-interactive", "--stack", self.stack, *extra)

    def recover(self) -> list[Run]:
        """Recover after a killed `pulumi` CLI, as docs/testing.md tells users to.

        A killed CLI can leave, on a local (`file://`) backend, a checkpoint whose
        attributes sidecar is empty (`repair_file_backend`), its lock on the stack, and
        its in-flight creates as pending operations: the sidecar is removed, `pulumi
        cancel` removes the lock, then `pulumi refresh --clear-pending-creates` reads
        every resource back from the cluster and drops the pending creates.
        """
        repair_file_backend(self.backend)
        cancel = self.pulumi("cancel", "--yes", "--stack", self.stack)
        refresh = self.refresh("--clear-pending-creates")
        return [cancel, refresh]

    def destroy(self, *extra: str, timeout: float = 1500) -> Run:
        """`pulumi destroy --yes`."""
        return self.pulumi(
            "destroy", "--yes", "--non-interactive", "--stack", self.stack, *extra, timeout=timeout
        )

    def export(self) -> dict[str, Any]:
        """`pulumi stack export` (the deployment, secrets still encrypted)."""
        run = self.pulumi("stack", "export", "--stack", self.stack).check()
        exported: dict[str, Any] = json.loads(run.stdout)
        return exported

    def resources(self) -> list[dict[str, Any]]:
        """The resources in the stack's state."""
        deployment = self.export().get("deployment", {})
        return list(deployment.get("resources") or [])

    def pending_operations(self) -> list[dict[str, Any]]:
        """Operations the engine recorded as in flight (left by an interrupted update)."""
        deployment = self.export().get("deployment", {})
        return list(deployment.get("pending_operations") or [])

    def outputs(self, *, show_secrets: bool = False) -> dict[str, Any]:
        """The stack outputs as JSON."""
        args = ["stack", "output", "--json", "--stack", self.stack]
        if show_secrets:
            args.append("--show-secrets")
        run = self.pulumi(*args).check()
        outputs: dict[str, Any] = json.loads(run.stdout)
        return outputs


def repair_file_backend(backend: Path) -> list[Path]:
    """Remove the empty `*.attrs` sidecars a killed CLI can leave in a `file://` backend.

    The file backend (gocloud.dev/blob/fileblob) writes each blob's attributes to
    `<blob>.attrs` with a truncate-then-write (`setAttrs` in fileblob/attrs.go), so a
    SIGKILL in between leaves it empty and every later command fails with
    `failed to load checkpoint: EOF`. A missing sidecar is read as default attributes,
    so removing an empty one is safe. Same by hand:
    `find .pulumi -name '*.attrs' -size 0 -delete`.

    Returns the sidecars removed.
    """
    removed = []
    for sidecar in backend.rglob("*.attrs"):
        if sidecar.is_file() and sidecar.stat().st_size == 0:
            sidecar.unlink()
            removed.append(sidecar)
    return removed


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (Linux /proc). Pulumi starts its plugins in their own
    process groups, so a process-group kill does not reach them."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process has gone
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def interrupt(process: subprocess.Popen[str], sig: signal.Signals, after: float) -> int:
    """Send `sig` to the pulumi CLI `after` seconds after it started; return its exit code.

    SIGINT goes to the CLI alone (as Ctrl-C to a foreground pulumi would, which then
    cancels gracefully); SIGKILL kills the CLI and every process below it (language
    host, program, providers, policy packs) at once, as a killed CI runner would.
    """
    time.sleep(after)
    if process.poll() is None:
        if sig is signal.SIGKILL:
            for pid in [process.pid, *descendants(process.pid)]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        else:
            process.send_signal(sig)
    try:
        return process.wait(timeout=600)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        return process.wait(timeout=60)
