"""The stack's full mirror list, offline: `python -m stacks mirror-list Pulumi.<stack>.yaml`.

The stack exports only a short `mirrorList` (counts and a digest, `mirror_list_output`);
the whole list, every chart and image the stack needs upstream and after mirroring, is
rendered here by running the real program (`stacks.deploy`) under Pulumi mocks, as a
first preview: every platform module records its charts and images in
`components.mirrors` while its resources are constructed, so the list is the one the
engine's run builds, by the same code (tests/engine/test_mirror_list.py compares the
digests). Nothing is contacted, and no secret is needed or read: secrets the stack
file holds encrypted are unknown values during the run.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import pulumi

from components.mirrors import MirrorList
from stacks.config import ConfigError, TenantConfig, load_stack_file
from stacks.config.secret import Secret

PROJECT = "gpu-caas"
COMMAND = "python -m stacks mirror-list"
REPO_ROOT = Path(__file__).resolve().parents[1]
"""Where `python -m stacks` runs (the repository root)."""
SANDBOX_PROJECT = Path(".sandbox") / "pulumi" / "project"
"""Where `make sandbox` keeps its stack files, relative to the repository root."""


def stack_file_name(stack: str) -> str:
    """`Pulumi.<stack>.yaml`."""
    return f"Pulumi.{stack}.yaml"


def stack_file_argument(stack: str, project: Path | None = None, root: Path | None = None) -> str:
    """The stack file as `python -m stacks mirror-list` takes it from the repository
    root: `Pulumi.<stack>.yaml` for a program run in the root (or anywhere outside it),
    the path relative to the root for a project below it (`make sandbox`:
    `.sandbox/pulumi/project/Pulumi.sandbox-<example>.yaml`).

    Args:
        stack: the stack name.
        project: the program's directory (default: the working directory, where the
            engine runs the program).
        root: the repository root (default `REPO_ROOT`).
    """
    directory = Path.cwd() if project is None else project
    name = stack_file_name(stack)
    try:
        below = directory.resolve().relative_to((root or REPO_ROOT).resolve())
    except ValueError:
        return name
    return (below / name).as_posix()


def digest(listing: MirrorList) -> str:
    """SHA-256 (hex) of the list's canonical JSON (`canonical_json`)."""
    return hashlib.sha256(canonical_json(listing).encode("utf-8")).hexdigest()


def canonical_json(listing: MirrorList) -> str:
    """The list as compact JSON with sorted keys: what `digest` hashes."""
    return json.dumps(listing.to_output(), sort_keys=True, separators=(",", ":"))


def mirror_list_output(listing: MirrorList, stack: str) -> dict[str, object]:
    """The short `mirrorList` stack output:
    `{"charts": int, "images": int, "sha256": str, "fullList": str}`.

    `fullList` is the command that prints the whole list, run from the repository root
    (`stack_file_argument`); its `sha256` line equals this digest when the list is the
    same.
    """
    return {
        "charts": len(listing.charts),
        "images": len(listing.images),
        "sha256": digest(listing),
        "fullList": f"{COMMAND} {stack_file_argument(stack)}",
    }


def render_text(listing: MirrorList) -> str:
    """Human-readable list: charts (`upstream repo chart version -> mirror`), images
    (`upstream -> mirror` when redirected), then the counts and the digest."""
    lines = [f"charts ({len(listing.charts)}):"]
    for chart in listing.charts:
        line = f"  {chart.upstream_repository} {chart.chart} {chart.version}"
        if chart.repository != chart.upstream_repository:
            line += f" -> {chart.repository}"
        lines.append(line)
    lines.append(f"images ({len(listing.images)}):")
    for image in listing.images:
        line = f"  {image.upstream}"
        if image.image != image.upstream:
            line += f" -> {image.image}"
        lines.append(line)
    lines.append(f"sha256: {digest(listing)}")
    return "\n".join(lines) + "\n"


def render_json(listing: MirrorList) -> str:
    """`{"charts": [...], "images": [...]}` as before the output was shortened (the
    entries of `MirrorList.to_output`), indented, keys sorted."""
    return json.dumps(listing.to_output(), indent=2, sort_keys=True) + "\n"


class _EchoMocks(pulumi.runtime.Mocks):
    """Every resource's outputs are its inputs; calls return nothing."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        # `readStackOutputs` (the deployed record, read for the join-token renewal)
        # finds no record: a first deployment. The SDK's mock monitor iterates the
        # failures, so an empty list, never None.
        return {}, []


async def _value(value: Any) -> Any:
    return value


def _unknown_secret() -> pulumi.Output[str]:
    """A secret Output whose value is unknown (as a first preview shows a value that only
    `pulumi up` produces)."""
    value: Awaitable[Any] = _value(None)
    return pulumi.Output(set(), value, _value(False), _value(True))


@contextmanager
def _encrypted_secrets_are_unknown() -> Iterator[None]:
    """Let `Secret.output()` of an encrypted stack-file secret yield an unknown secret
    instead of raising `SecretUnavailableError` (values are never decrypted here)."""
    original = Secret.output

    def output(self: Secret) -> pulumi.Output[str]:
        return _unknown_secret() if self.is_encrypted else original(self)

    Secret.output = output  # type: ignore[method-assign]
    try:
        yield
    finally:
        Secret.output = original  # type: ignore[method-assign]


def offline_mirror_list(config: TenantConfig, stack: str) -> MirrorList:
    """Run the stack's program under mocks (a first preview) and return its mirror list.

    Args:
        config: the validated tenant config (secrets may be encrypted placeholders).
        stack: the stack name (`Pulumi.<stack>.yaml`).

    Raises:
        Exception: whatever the program raises for this config (a bug: the config was
            validated, and `pulumi preview` would fail the same way).
    """
    import stacks
    from components.mirrors import stack_mirror_list

    pulumi.runtime.set_mocks(_EchoMocks(), project=PROJECT, stack=stack, preview=True)
    listing = MirrorList()

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> None:
        with _encrypted_secrets_are_unknown():
            stacks.deploy(config)
        listing.merge(stack_mirror_list())

    program()
    return listing


def stack_name_of(path: Path) -> str:
    """`Pulumi.dev.yaml` -> `dev`.

    Raises:
        ValueError: the file is not named `Pulumi.<stack>.yaml`.
    """
    name = path.name
    if not (name.startswith("Pulumi.") and name.endswith(".yaml")) or name == "Pulumi.yaml":
        raise ValueError(f"{path}: not a stack file; give Pulumi.<stack>.yaml")
    return name[len("Pulumi.") : -len(".yaml")]


def run_command(
    path: Path, as_json: bool, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    """`python -m stacks mirror-list <stack file> [--json]`; returns the exit code
    (0 listed, 1 invalid config, 2 not a stack file, or a sandbox stack's file named
    without its `.sandbox/pulumi/project/` path). `out`/`err` default to the
    process's stdout/stderr."""
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        stack = stack_name_of(path)
    except ValueError as error:
        print(error, file=err)
        return 2
    sandbox_copy = SANDBOX_PROJECT / path.name
    if not path.exists() and (REPO_ROOT / sandbox_copy).is_file():
        print(
            f"{path}: no such file; the sandbox's stack file is {sandbox_copy} (from the "
            f"repository root: {COMMAND} {sandbox_copy})",
            file=err,
        )
        return 2
    try:
        config = load_stack_file(path)
    except ConfigError as error:
        # Like `validate`: problems located in the file carry `file:line:column`.
        for problem in error.problems:
            print(problem if getattr(problem, "file", None) else f"{path}: {problem}", file=err)
        return 1
    listing = offline_mirror_list(config, stack)
    out.write(render_json(listing) if as_json else render_text(listing))
    return 0
