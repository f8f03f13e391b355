"""`python -m stacks fleet ...`: many tenant stacks at once (docs/fleet.md).

    python -m stacks fleet {validate,preview,up,refresh,destroy} [--stacks GLOB]
        [--parallel N] [--json FILE] [--markdown FILE] [--yes] [--preview-only]
    python -m stacks fleet operator-manifests [--stacks GLOB] --git-url URL --branch B
    python -m stacks fleet affected [--changed FILE]

Exit codes: 0 every tenant succeeded; 1 a tenant failed; 2 bad usage or refused
(`up`/`destroy` of several tenants without confirmation).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from stacks.fleet.selection import TenantStack, affected_stacks, discover, parse_globs

ROOT = Path(__file__).resolve().parents[2]
ENGINE_COMMANDS = ("validate", "preview", "up", "refresh", "destroy")
CONFIRM = frozenset({"up", "destroy"})


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `fleet` and its subcommands to the `python -m stacks` parser."""
    fleet = sub.add_parser(
        "fleet",
        help="run many tenant stacks (Automation API) or emit Pulumi Kubernetes Operator manifests",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = fleet.add_subparsers(dest="fleet_command", required=True)
    for name in ENGINE_COMMANDS:
        command = commands.add_parser(name, help=f"{name} every selected tenant stack")
        _selection(command)
        command.add_argument("--parallel", type=int, default=2, help="stacks at once (2)")
        command.add_argument(
            "--retries",
            type=int,
            default=2,
            help="extra attempts after a transient engine failure (2)",
        )
        command.add_argument("--json", type=Path, metavar="FILE", help="write the summary")
        command.add_argument(
            "--markdown",
            type=Path,
            metavar="FILE",
            help="write the summary as Markdown (the PR comment)",
        )
        command.add_argument("--title", default="", help="heading of the Markdown summary")
        command.add_argument(
            "--work-dir",
            type=Path,
            help="parent of the per-stack workspaces (default: a temporary "
            "directory, removed afterwards)",
        )
        command.add_argument(
            "--mirror-base",
            type=Path,
            metavar="DIR",
            help="<tenant>.json mirror lists of the base revision: report "
            "the charts and images each tenant adds or drops",
        )
        command.add_argument("--quiet", action="store_true", help="no live progress display")
        if name in CONFIRM:
            command.add_argument(
                "--yes", action="store_true", help=f"{name} several tenants without asking"
            )
        if name == "refresh":
            command.add_argument(
                "--preview-only",
                action="store_true",
                help="drift check: preview the refresh, fail a tenant whose resources drifted",
            )
    manifests = commands.add_parser(
        "operator-manifests", help="Pulumi Kubernetes Operator v2 Stacks for the tenants"
    )
    _selection(manifests)
    manifests.add_argument("--git-url", required=True, help="repository the operator clones")
    manifests.add_argument("--branch", required=True, help="branch the Stacks track")
    manifests.add_argument("--namespace", default="gpu-caas-fleet")
    manifests.add_argument("--backend", help="state backend URL (default: Pulumi Cloud)")
    manifests.add_argument("--organization", help="Pulumi Cloud organization of the stacks")
    manifests.add_argument("--image", help="workspace image (pinned deps and kubectl)")
    manifests.add_argument("--repo-dir", help="project directory inside the repository")
    manifests.add_argument("--git-auth-secret", help="Secret with the clone token")
    manifests.add_argument("--output", type=Path, help="write here instead of stdout")
    affected = commands.add_parser(
        "affected", help="stacks a change affects (changed paths on stdin or --changed)"
    )
    affected.add_argument("--changed", type=Path, help="file of changed paths, one a line")
    affected.add_argument("--dir", type=Path, default=ROOT, help=argparse.SUPPRESS)


def _selection(command: argparse.ArgumentParser) -> None:
    command.add_argument(
        "--stacks", metavar="GLOB", help="stack names to run, comma-separated globs (default: all)"
    )
    command.add_argument(
        "--dir",
        type=Path,
        default=ROOT,
        help="directory of the Pulumi.<stack>.yaml files (the project)",
    )


def confirm(operation: str, stacks: list[TenantStack], answer: TextIO, out: TextIO) -> bool:
    """Ask before `up`/`destroy` of several tenants; only `yes` proceeds. A closed or
    non-interactive input refuses."""
    names = ", ".join(s.name for s in stacks)
    print(f"{operation} {len(stacks)} tenants ({names})? type 'yes' to go on: ", end="", file=out)
    out.flush()
    if not answer.isatty():
        print("\nrefused: input is not a terminal; pass --yes", file=out)
        return False
    return answer.readline().strip() == "yes"


def _run_engine(args: argparse.Namespace) -> int:
    # Imported here: `python -m stacks validate` and friends need none of this.
    from rich.console import Console

    from stacks.fleet.progress import LiveProgress
    from stacks.fleet.runner import FleetOptions, run_fleet
    from stacks.fleet.summary import dump_json, render_markdown, render_table

    stacks = discover(args.dir, parse_globs(args.stacks))
    operation = args.fleet_command
    if operation == "refresh" and args.preview_only:
        operation = "refresh-preview"
    many = operation in CONFIRM and len(stacks) > 1 and not args.yes
    if many and not confirm(operation, stacks, sys.stdin, sys.stderr):
        return 2
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="gpu-caas-fleet-"))
    try:
        options = FleetOptions(
            operation=operation,
            work_dir=work_dir,
            parallel=args.parallel,
            retries=args.retries,
            project_dir=args.dir,
            mirror_base=args.mirror_base,
        )
        console = Console(stderr=True, quiet=args.quiet)
        with LiveProgress({s.name: s.flavor for s in stacks}, console) as progress:
            summary = run_fleet(stacks, options, progress)
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    out = Console()
    if not out.is_terminal:
        out = Console(width=160)  # CI logs: no terminal width to follow
    out.print(render_table(summary))
    if args.json:
        args.json.write_text(dump_json(summary), encoding="utf-8")
    if args.markdown:
        args.markdown.write_text(render_markdown(summary, title=args.title), encoding="utf-8")
    return 1 if summary.failed else 0


def _manifests(args: argparse.Namespace) -> int:
    from stacks.fleet.operator import OperatorOptions, operator_manifests, render

    stacks = discover(args.dir, parse_globs(args.stacks))
    options = OperatorOptions(
        git_url=args.git_url,
        branch=args.branch,
        namespace=args.namespace,
        backend=args.backend,
        organization=args.organization,
        repo_dir=args.repo_dir,
        git_auth_secret=args.git_auth_secret,
        **({"image": args.image} if args.image else {}),
    )
    text = render(operator_manifests(stacks, options))
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output} ({len(stacks)} tenants)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _affected(args: argparse.Namespace) -> int:
    changed = (args.changed.read_text() if args.changed else sys.stdin.read()).splitlines()
    names = [s.name for s in discover(args.dir)]
    print(",".join(affected_stacks(changed, names)))
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the parsed `fleet` command; returns the exit code (errors on stderr)."""
    try:
        if args.fleet_command == "operator-manifests":
            return _manifests(args)
        if args.fleet_command == "affected":
            return _affected(args)
        return _run_engine(args)
    except ValueError as error:  # FleetError and OperatorError included
        print(f"python -m stacks fleet {args.fleet_command}: {error}", file=sys.stderr)
        return 2
