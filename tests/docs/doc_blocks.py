"""Read the commands, paths and make targets the user-facing docs mention, and run the
runnable blocks as a new user would, in a throwaway copy of the repository.

A fenced block is runnable when the line before it is an HTML comment starting with
`<!-- doc-test` (invisible on GitHub): `bash`/`sh` blocks run as written, in order, in
one shell per document, so `. scripts/env.sh` and `export`s carry over from one block
to the next as they do for a reader.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.envfile import read_env_file

ROOT = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/quickstart.md", "docs/policies.md")
"""The documents whose commands a new user follows first."""

MARKER = "<!-- doc-test"
_FENCE = re.compile(r"^```(\S*)\s*$")

# Linked or copied into a repository copy: the program, packs and helpers are the
# repository's own (symlinks), what a user edits or the scripts write is copied.
_LINKED = ("__main__.py", "components", "stacks", "policies", "sandbox", "bench", "docs", ".venv")
_COPIED = ("Pulumi.yaml", "Makefile", "pyproject.toml")


@dataclass(frozen=True)
class Block:
    """One fenced block of a markdown document."""

    doc: str
    line: int
    """1-based line of the opening fence."""
    lang: str
    text: str
    marker: str | None
    """The `<!-- doc-test ... -->` comment right before the fence, if any."""

    @property
    def runnable(self) -> bool:
        """A marked shell block: run as written by the docs tests."""
        return self.marker is not None and self.lang in ("bash", "sh")


def blocks(doc: str) -> list[Block]:
    """Every fenced block of `doc` (a path relative to the repository root)."""
    lines = (ROOT / doc).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        start = i
        i += 1
        body: list[str] = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        previous = lines[start - 1].strip() if start > 0 else ""
        found.append(
            Block(
                doc=doc,
                line=start + 1,
                lang=match.group(1),
                text="\n".join(body) + "\n",
                marker=previous if previous.startswith(MARKER) else None,
            )
        )
        i += 1
    return found


def runnable_blocks(doc: str) -> list[Block]:
    """The marked shell blocks of `doc`, in document order."""
    return [b for b in blocks(doc) if b.runnable]


def prose(doc: str) -> str:
    """`doc` without its fenced blocks (inline code, links and text)."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    return re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)


# --------------------------------------------------------------------------- #
# Mentioned paths and make targets
# --------------------------------------------------------------------------- #

_TOP = r"(?:\.ci|\.vscode|bench|components|docs|policies|sandbox|scripts|stacks|tests)"
_REPO_PATH = re.compile(
    r"(?<![\w./~$:-])("
    rf"{_TOP}/[\w.*<>/-]*[\w*>/]"
    r"|Pulumi(?:\.[\w*<>-]+)?\.yaml"
    r"|(?:README|CHANGELOG)\.md|pyproject\.toml"
    r")"
)
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_MAKE = re.compile(r"(?<![\w-])make ([a-z][\w-]*)")


def mentioned_paths(doc: str) -> set[str]:
    """Repository paths `doc` names anywhere (text, inline code, code blocks)."""
    text = (ROOT / doc).read_text(encoding="utf-8")
    return {m.rstrip(".") for m in _REPO_PATH.findall(text)}


def links(doc: str) -> set[str]:
    """Relative link targets of `doc` (no URLs, no in-page anchors)."""
    return {
        target
        for target in _LINK.findall(prose(doc))
        if not re.match(r"[a-z]+:", target) and not target.startswith("#")
    }


def make_targets_mentioned(doc: str) -> set[str]:
    """Make targets `doc` tells the reader to run (`make <target>` in code)."""
    code = "\n".join(re.findall(r"`([^`\n]+)`", prose(doc)))
    code += "\n" + "\n".join(b.text for b in blocks(doc) if b.lang in ("bash", "sh", ""))
    return set(_MAKE.findall(code))


def makefile_targets() -> set[str]:
    """Targets the Makefile defines."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([a-z][\w-]*):", text, flags=re.M))


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    slug = heading.strip().lower()
    slug = re.sub(r"[^\w\- ]", "", slug)
    return slug.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Anchors of every heading in the markdown file `path`."""
    text = re.sub(r"^```.*?^```", "", path.read_text(encoding="utf-8"), flags=re.S | re.M)
    return {github_anchor(h) for h in re.findall(r"^#+ (.+)$", text, flags=re.M)}


# --------------------------------------------------------------------------- #
# Running blocks as a new user
# --------------------------------------------------------------------------- #


def repo_copy(dest: Path) -> Path:
    """A throwaway copy of the repository at `dest` for running documented commands.

    The program, packs and `.venv` are symlinks to this repository; the stack files,
    Makefile, pyproject.toml and scripts are copies, so commands that write there
    (`cp`, `pulumi stack init`, `make setup` writing `.toolchain/env`) never touch the
    working tree. There is no `.toolchain/` and no `.pulumi/`: `make setup` makes them.
    """
    dest.mkdir(parents=True)
    for name in _LINKED:
        (dest / name).symlink_to(ROOT / name)
    for name in _COPIED:
        shutil.copyfile(ROOT / name, dest / name)
    for stack_file in ROOT.glob("Pulumi.*.yaml"):
        shutil.copyfile(stack_file, dest / stack_file.name)
    shutil.copytree(ROOT / "scripts", dest / "scripts", symlinks=True)
    return dest


def toolchain_cache() -> Path | None:
    """The toolchain cache `make setup` used for this repository (None: a system CLI)."""
    built = read_env_file(ROOT / ".toolchain/env")
    if "GPU_CAAS_TOOLCHAIN_BIN" not in built:
        return None
    # <cache>/tools/<name>-<version>-<hash>/bin
    return Path(built["GPU_CAAS_TOOLCHAIN_BIN"]).parents[2]


def new_user_env(home: Path) -> dict[str, str]:
    """The environment of a new user's shell: no .venv, no toolchain on PATH, no Pulumi
    or gpu-caas variables, HOME = `home`. Only the toolchain cache is shared (through
    `GPU_CAAS_CACHE`), so `make setup` reuses the built CLI instead of building it for
    minutes; a system Pulumi keeps its plugin cache."""
    built = read_env_file(ROOT / ".toolchain/env")
    ours = {
        os.path.normpath(p)
        for p in (
            built.get("GPU_CAAS_TOOLCHAIN_BIN", ""),
            *built.get("GPU_CAAS_TEST_TOOLS_BIN", "").split(":"),
        )
        if p
    }
    ours.add(str(ROOT / ".venv" / "bin"))
    path = [
        p for p in os.environ.get("PATH", "").split(":") if p and os.path.normpath(p) not in ours
    ]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PULUMI_", "GPU_CAAS_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    env.update(PATH=":".join(path), HOME=str(home))
    cache = toolchain_cache()
    if cache is not None:
        env["GPU_CAAS_CACHE"] = str(cache)
    else:
        env["PULUMI_HOME"] = os.environ.get("PULUMI_HOME", str(Path.home() / ".pulumi"))
    return env


@dataclass
class ShellRun:
    """The outcome of running documented blocks in one shell."""

    returncode: int
    output: str
    """stdout and stderr, interleaved."""

    def block_outputs(self) -> list[str]:
        """The output of each block, in order."""
        parts = re.split(r"^::doc-test block \d+::$\n?", self.output, flags=re.M)
        return parts[1:]


def run_blocks(
    doc_blocks: list[Block], cwd: Path, env: dict[str, str], timeout: float = 300
) -> ShellRun:
    """Run `doc_blocks` as written, in order, in one bash shell in `cwd` (stops at the
    first failing command: `set -e -o pipefail`)."""
    script = ["set -e -o pipefail"]
    for i, block in enumerate(doc_blocks):
        script += [f"echo '::doc-test block {i}::'", block.text]
    proc = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    return ShellRun(proc.returncode, proc.stdout)


def resources_to_create(preview_output: str) -> int:
    """The `+ N to create` count of a `pulumi preview` summary."""
    match = re.search(r"^\s*\+ (\d+) to create$", preview_output, flags=re.M)
    if match is None:
        raise AssertionError(f"no 'N to create' summary in:\n{preview_output[-3000:]}")
    return int(match.group(1))
