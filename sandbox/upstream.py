"""Upstream reference files: the lock, where the tests find them, `make upstream`.

The tests, the sandbox and the live tests read byte-for-byte copies of upstream files
(CRDs, chart values, AICR recipes, Pod Security conformance fixtures). They are an
input of the project, never committed: `upstream.lock.json` at the repository root
lists every one (`LockedFile`: local path, repository, path in it, commit, git blob
sha1, size). One directory, the *upstream root*, holds them laid out as

    <root>/crds/...                                     (provenance: crds/SOURCES.md)
    <root>/conformance/pod-security/restricted-v1.37/... (conformance/pod-security/SOURCES.md)

`upstream_root()` picks it: `$GPU_CAAS_UPSTREAM_DIR` when set, else `../shared` beside
the repository when present, else the `make upstream` cache when complete.
`copy_problem()` checks the chosen copy against the lock (git blob hashes, once per
process) and returns the one message the test session stops with.

    python -m sandbox.upstream lock [--from DIR]  regenerate upstream.lock.json from DIR's
                                                  SOURCES.md tables (default ../shared)
    python -m sandbox.upstream fetch              `make upstream`: fetch every locked file into
                                                  the cache, verify it; a no-op when complete
    python -m sandbox.upstream check              which copy the tests use; exit 1 if unusable

Environment: `GPU_CAAS_UPSTREAM_DIR` (the root above), `GPU_CAAS_UPSTREAM_CACHE` (cache
base, default `${XDG_CACHE_HOME:-~/.cache}/gpu-caas/upstream`), `GPU_CAAS_UPSTREAM_URL`
(default `https://raw.githubusercontent.com`; files are fetched from
`<url>/<repository>/<commit>/<path>`).
"""

from __future__ import annotations

import argparse
import errno
import functools
import hashlib
import http.client
import json
import os
import re
import socket
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCK_FILE = REPO / "upstream.lock.json"
"""The committed lock (`python -m sandbox.upstream lock` writes it)."""

UPSTREAM_DIR_ENV = "GPU_CAAS_UPSTREAM_DIR"
"""Environment variable naming the upstream root: the directory holding `crds/` and
`conformance/` (default `../shared` beside the repository)."""
CACHE_ENV = "GPU_CAAS_UPSTREAM_CACHE"
"""Environment variable naming the `make upstream` cache base directory."""
BASE_URL_ENV = "GPU_CAAS_UPSTREAM_URL"
"""Environment variable overriding where `make upstream` fetches from."""
DEFAULT_BASE_URL = "https://raw.githubusercontent.com"

DEFAULT_SHARED = REPO.parent / "shared"
TREES = ("crds", "conformance")
"""Top-level directories of the upstream root that hold locked files."""
SOURCES = "SOURCES.md"
"""Provenance file name; not an upstream file, so not locked (the fetcher writes one)."""

_SHA1 = re.compile(r"^[0-9a-f]{40}$")


class UpstreamError(Exception):
    """A lock, a copy or a fetch that cannot be used; the message lists every file."""


class UnreachableError(UpstreamError):
    """The source host cannot be resolved or connected to: no file can be fetched, so
    `fetch` stops at the first such failure with one message instead of one per file."""


@dataclass(frozen=True)
class LockedFile:
    """One upstream file, byte for byte."""

    local: str
    """Path under the upstream root, `/`-separated, e.g. `crds/kyverno/values.yaml`."""
    repository: str
    """GitHub `owner/name`."""
    path: str
    """Path in the repository at `commit`."""
    commit: str
    """40-hex commit sha1."""
    blob: str
    """Git blob sha1 of the content (`git hash-object`)."""
    size: int
    """Bytes."""
    ref: str = ""
    """What the commit is (tag, `HEAD (...)`), from SOURCES.md; informational."""

    def origin(self) -> str:
        """`owner/name:path@commit`, for messages."""
        return f"{self.repository}:{self.path}@{self.commit[:12]}"


@dataclass(frozen=True)
class Lock:
    """The parsed lock file."""

    files: tuple[LockedFile, ...]
    notes: dict[str, dict[str, str]] = field(default_factory=dict, compare=False)
    """SOURCES.md path -> repository -> version note (written into fetched copies)."""
    digest: str = ""
    """First 16 hex digits of the sha256 of the lock file's bytes (names the cache)."""


def git_blob_sha1(data: bytes) -> str:
    """The git blob id of `data`, as `git hash-object` prints it (40 hex digits)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------- #
# The lock file
# --------------------------------------------------------------------------- #


def load_lock(path: Path = LOCK_FILE) -> Lock:
    """Parse a lock file.

    Raises:
        UpstreamError: when the file is missing or not JSON with a `files` list, or an
            entry lacks a field or has a malformed commit/blob (the message names the entry and
            `python -m sandbox.upstream lock` as the fix).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError as error:
        raise UpstreamError(
            f"{path} is missing; regenerate it with `python -m sandbox.upstream lock`"
        ) from error
    try:
        data = json.loads(raw)
        entries = list(data["files"])
    except (ValueError, KeyError, TypeError) as error:
        raise UpstreamError(
            f"{path} is not a lock file ({error}); regenerate it with "
            "`python -m sandbox.upstream lock`"
        ) from error
    files = []
    for index, entry in enumerate(entries):
        try:
            locked = LockedFile(**entry)
        except TypeError as error:
            raise UpstreamError(f"{path}: files[{index}]: {error}") from error
        if not (_SHA1.match(locked.commit) and _SHA1.match(locked.blob)):
            raise UpstreamError(
                f"{path}: files[{index}] ({locked.local}): commit and blob must be 40 hex "
                "digits; regenerate with `python -m sandbox.upstream lock`"
            )
        files.append(locked)
    digest = hashlib.sha256(raw).hexdigest()[:16]
    return Lock(tuple(files), data.get("notes", {}), digest)


@functools.cache
def default_lock() -> Lock:
    """`load_lock(LOCK_FILE)`, once per process."""
    return load_lock()


def render_lock(lock: Lock) -> str:
    """The lock file text: JSON with one file entry per line (reviewable diffs)."""
    entries = ",\n".join(
        "    " + json.dumps(asdict(locked), separators=(", ", ": ")) for locked in lock.files
    )
    notes = json.dumps(lock.notes, indent=2, sort_keys=True).replace("\n", "\n  ")
    return (
        "{\n"
        '  "comment": "Every upstream file the tests, the sandbox and the live tests read, '
        "byte for byte. Generated by `python -m sandbox.upstream lock` from the SOURCES.md "
        "files of ../shared; fetched by `make upstream`; see docs/testing.md. Do not edit "
        'by hand.",\n'
        f'  "notes": {notes},\n'
        f'  "files": [\n{entries}\n  ]\n'
        "}\n"
    )


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _files_table(text: str) -> list[dict[str, str]]:
    """Rows of the markdown table whose header starts with `file`, keyed by header."""
    rows: list[dict[str, str]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            if cells[0].startswith("file"):
                header = [cell.split(" ")[0].split("/")[0] for cell in cells]
            continue
        if set(line) <= set("|-: "):
            continue
        rows.append(dict(zip(header, cells, strict=False)))
    return rows


def _version_notes(text: str) -> dict[str, str]:
    """`- **owner/name**: note` bullets -> {owner/name: note}."""
    return dict(re.findall(r"^- \*\*([\w.-]+/[\w.-]+)\*\*: (.+)$", text, re.MULTILINE))


@dataclass(frozen=True)
class _Documented:
    local: str
    repository: str
    path: str
    commit: str
    ref: str
    size: int | None


def _documented_by_table(sources: Path, root: Path) -> list[_Documented]:
    base = sources.parent.relative_to(root).as_posix()
    return [
        _Documented(
            f"{base}/{row['file']}",
            row["repository"],
            row["path"],
            row["commit"],
            row.get("ref", ""),
            int(row["bytes"]),
        )
        for row in _files_table(sources.read_text(encoding="utf-8"))
    ]


def _documented_by_sections(sources: Path, root: Path) -> list[_Documented]:
    """`## <dir>/` sections with a `| repository | path | commit |` key/value table; the
    path row names globs with counts: `` `a/b/pass/*.yaml` (23 files) ``."""
    base = sources.parent.relative_to(root).as_posix()
    found: list[_Documented] = []
    problems: list[str] = []
    for section in re.split(r"^## ", sources.read_text(encoding="utf-8"), flags=re.M)[1:]:
        folder = section.splitlines()[0].strip().rstrip("/")
        keys = {}
        for line in section.splitlines():
            cells = _cells(line) if line.startswith("|") else []
            if len(cells) == 2 and cells[0] in ("repository", "path", "commit"):
                keys[cells[0]] = cells[1]
        if set(keys) != {"repository", "path", "commit"}:
            continue
        repository = re.search(r"\[([\w.-]+/[\w.-]+)\]", keys["repository"])
        commit = re.search(r"`([0-9a-f]{40})`", keys["commit"])
        globs = re.findall(r"`([^`]+)`\s*\((\d+) files\)", keys["path"])
        if not (repository and commit and globs):
            problems.append(f"{sources}: section {folder}: repository, commit or path unreadable")
            continue
        parents = [pattern.rsplit("/", 1)[0] for pattern, _ in globs]
        common = os.path.commonpath(parents) if len(parents) > 1 else parents[0]
        for pattern, count in globs:
            upstream_dir, name_glob = pattern.rsplit("/", 1)
            below = os.path.relpath(upstream_dir, common)
            local_dir = Path(folder) if below == "." else Path(folder) / below
            matched = sorted((sources.parent / local_dir).glob(name_glob))
            if len(matched) != int(count):
                problems.append(
                    f"{sources}: {pattern} says {count} files, {base}/{local_dir.as_posix()} "
                    f"has {len(matched)}"
                )
            found += [
                _Documented(
                    f"{base}/{(local_dir / p.name).as_posix()}",
                    repository[1],
                    f"{upstream_dir}/{p.name}",
                    commit[1],
                    "",
                    None,
                )
                for p in matched
            ]
    if problems:
        raise UpstreamError("\n".join(problems))
    return found


def build_lock(root: Path) -> Lock:
    """The lock for the copy at `root`: every file under `TREES`, from its SOURCES.md.

    A SOURCES.md with a `| file | bytes | repository | path | commit | ref/tag |` table
    documents one file per row; one without such a table documents folders per
    `## <dir>/` section (the conformance fixtures).

    Raises:
        UpstreamError: listing every file present but documented by no SOURCES.md,
            every documented file that is missing, and every size that differs from
            the table.
    """
    documented: list[_Documented] = []
    notes: dict[str, dict[str, str]] = {}
    for tree in TREES:
        for sources in sorted((root / tree).rglob(SOURCES)):
            text = sources.read_text(encoding="utf-8")
            key = sources.relative_to(root).as_posix()
            if _files_table(text):
                documented += _documented_by_table(sources, root)
                notes[key] = _version_notes(text)
            else:
                documented += _documented_by_sections(sources, root)
    present = {
        path.relative_to(root).as_posix()
        for tree in TREES
        for path in (root / tree).rglob("*")
        if path.is_file() and path.name != SOURCES
    }
    by_local = {item.local: item for item in documented}
    problems = [
        f"{local}: present under {root} but in no SOURCES.md (document it or remove it)"
        for local in sorted(present - set(by_local))
    ] + [
        f"{local}: listed in a SOURCES.md but missing under {root}"
        for local in sorted(set(by_local) - present)
    ]
    files = []
    for local in sorted(present & set(by_local)):
        item = by_local[local]
        data = (root / local).read_bytes()
        if item.size is not None and item.size != len(data):
            problems.append(f"{local}: {len(data)} bytes, SOURCES.md says {item.size}")
        blob = git_blob_sha1(data)
        files.append(
            LockedFile(local, item.repository, item.path, item.commit, blob, len(data), item.ref)
        )
    if problems:
        raise UpstreamError("cannot lock " + str(root) + ":\n  " + "\n  ".join(problems))
    return Lock(tuple(files), notes)


# --------------------------------------------------------------------------- #
# Which copy, and is it complete
# --------------------------------------------------------------------------- #


def cache_base() -> Path:
    """`$GPU_CAAS_UPSTREAM_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/gpu-caas/upstream`."""
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "gpu-caas" / "upstream"


def cache_dir(lock: Lock | None = None) -> Path:
    """Where `make upstream` puts the files of `lock`: `<cache base>/<lock digest>`."""
    return cache_base() / (lock or default_lock()).digest


def missing_files(root: Path, lock: Lock) -> list[LockedFile]:
    """Locked files absent under `root` or of the wrong size (no hashing)."""
    missing = []
    for locked in lock.files:
        try:
            size = (root / locked.local).stat().st_size
        except OSError:
            size = -1
        if size != locked.size:
            missing.append(locked)
    return missing


@dataclass(frozen=True)
class Resolved:
    """The upstream root chosen, and why."""

    root: Path
    source: str
    """`$GPU_CAAS_UPSTREAM_DIR`, `../shared`, `make upstream cache` or `none`."""


def resolve_root(lock: Lock | None = None) -> Resolved:
    """`$GPU_CAAS_UPSTREAM_DIR` if set; else `<repo>/../shared` if it has `crds/`; else
    the `make upstream` cache if complete; else `none` with root `<repo>/../shared`."""
    configured = os.environ.get(UPSTREAM_DIR_ENV)
    if configured:
        return Resolved(Path(configured).expanduser().resolve(), f"${UPSTREAM_DIR_ENV}")
    if (DEFAULT_SHARED / "crds").is_dir():
        return Resolved(DEFAULT_SHARED.resolve(), "../shared")
    cached = cache_dir(lock)
    if cached.is_dir() and not missing_files(cached, lock or default_lock()):
        return Resolved(cached, "make upstream cache")
    return Resolved(DEFAULT_SHARED.resolve(), "none")


def upstream_root() -> Path:
    """The upstream root (`resolve_root().root`); `crds/` and `conformance/` are in it."""
    return resolve_root().root


def crds_root() -> Path:
    """`<upstream root>/crds`: CRDs, chart values, AICR recipes (crds/SOURCES.md)."""
    return upstream_root() / "crds"


def conformance_root() -> Path:
    """`<upstream root>/conformance`: Kubernetes' Pod Security fixtures."""
    return upstream_root() / "conformance"


@dataclass(frozen=True)
class Problem:
    """One locked file that is not as locked under a root."""

    locked: LockedFile
    found: str
    """`missing`, or `<blob> (<size> bytes)` of what is there."""


@functools.cache
def _verify_cached(root: Path, files: tuple[LockedFile, ...]) -> tuple[Problem, ...]:
    return tuple(verify_copy(root, Lock(files)))


def verify_copy(root: Path, lock: Lock) -> list[Problem]:
    """Every locked file under `root` that is missing or whose git blob hash differs.

    Reads and hashes every locked file (about 11 MB, some 30 ms).
    """
    problems = []
    for locked in lock.files:
        try:
            data = (root / locked.local).read_bytes()
        except OSError:
            problems.append(Problem(locked, "missing"))
            continue
        blob = git_blob_sha1(data)
        if blob != locked.blob:
            problems.append(Problem(locked, f"{blob} ({len(data)} bytes)"))
    return problems


def describe_problems(problems: Iterable[Problem], limit: int = 12) -> list[str]:
    """One line per problem (at most `limit`, then a count of the rest)."""
    listed = list(problems)
    lines = [
        f"{p.locked.local}: missing"
        if p.found == "missing"
        else f"{p.locked.local}: blob {p.found}, lock says {p.locked.blob} "
        f"({p.locked.size} bytes) from {p.locked.origin()}"
        for p in listed[:limit]
    ]
    if len(listed) > limit:
        lines.append(f"... and {len(listed) - limit} more")
    return lines


def copy_problem(lock: Lock | None = None) -> str | None:
    """None when the chosen upstream root holds every locked file with its hash; else the
    one message to stop with: which files, `make upstream`, `GPU_CAAS_UPSTREAM_DIR`.

    Verified once per process and root (`verify_copy`)."""
    lock = lock or default_lock()
    resolved = resolve_root(lock)
    root = resolved.root
    problems = _verify_cached(root, lock.files)
    if not problems:
        return None
    if resolved.source == "none":
        where = (
            f"No upstream reference files: no {DEFAULT_SHARED}/crds beside the repository, "
            f"no complete `make upstream` cache at {cache_dir(lock)}, and "
            f"{UPSTREAM_DIR_ENV} is not set."
        )
    elif len(problems) == len(lock.files) and all(p.found == "missing" for p in problems):
        where = f"{root} (from {resolved.source}) holds none of the upstream reference files."
    else:
        missing = sum(p.found == "missing" for p in problems)
        where = (
            f"The upstream reference files at {root} (from {resolved.source}) are not the "
            f"locked ones: {missing} missing, {len(problems) - missing} changed:\n  "
            + "\n  ".join(describe_problems(problems))
        )
    hint = ""
    if resolved.source.startswith("$") and root.name == "crds" and (root / SOURCES).is_file():
        hint = (
            f"\n{UPSTREAM_DIR_ENV} points at a crds/ folder; it names the folder that "
            f"holds crds/ and conformance/: {UPSTREAM_DIR_ENV}={root.parent}"
        )
    return (
        f"{where}{hint}\n"
        f"The tests read the {len(lock.files)} upstream files listed in "
        f"{LOCK_FILE.name} (repository, path, commit, git blob hash). Either\n"
        f"  * run `make upstream`: fetches them from GitHub at the locked commits into "
        f"{cache_dir(lock)} and verifies each hash; the tests then find them there; or\n"
        f"  * set {UPSTREAM_DIR_ENV}=<path> to an existing copy: the directory holding "
        "crds/ and conformance/ (on the project's machines, ../shared)."
    )


# --------------------------------------------------------------------------- #
# make upstream
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class FetchReport:
    """What `fetch` did."""

    root: Path
    fetched: tuple[str, ...]
    """Local paths downloaded this run."""
    present: int
    """Files already there with the right hash."""


def file_url(base_url: str, locked: LockedFile) -> str:
    """`<base>/<owner>/<name>/<commit>/<path>` (raw.githubusercontent.com's layout)."""
    quoted = urllib.parse.quote(locked.path)
    return f"{base_url.rstrip('/')}/{locked.repository}/{locked.commit}/{quoted}"


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


_UNREACHABLE_ERRNOS = {
    errno.ENETUNREACH: "network unreachable",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ECONNREFUSED: "connection refused",
}


def unreachable_reason(error: BaseException) -> str | None:
    """Why no request to the host can succeed, when `error` says so; None for errors
    that may concern one file or pass (HTTP statuses, a reset or a timeout while reading).

    Host-level: the name does not resolve (`socket.gaierror`), the connection is refused
    or the network/host is unreachable, or connecting timed out (urllib wraps errors of
    the connect phase in `URLError`; a read timeout comes unwrapped and is retried)."""
    if isinstance(error, urllib.error.HTTPError):
        return None
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host name: {reason.strerror or reason}"
    if isinstance(reason, OSError) and reason.errno in _UNREACHABLE_ERRNOS:
        return _UNREACHABLE_ERRNOS[reason.errno]
    if isinstance(error, urllib.error.URLError) and isinstance(reason, TimeoutError):
        return "connecting timed out"
    return None


def _download(url: str, attempts: int, timeout: float, backoff: float) -> bytes:
    """GET `url`; transport errors and 5xx/429 are retried `attempts` times in all.

    Raises:
        UnreachableError: at once, when the host cannot be resolved or reached
            (`unreachable_reason`).
        UpstreamError: with the last error.
    """
    last = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return bytes(response.read())
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code} {error.reason}"
            if error.code < 500 and error.code != 429:
                break
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            reason = unreachable_reason(error)
            if reason is not None:
                raise UnreachableError(reason) from error
            last = str(getattr(error, "reason", error))
    raise UpstreamError(last)


def _fetch_one(
    locked: LockedFile,
    root: Path,
    base_url: str,
    attempts: int,
    timeout: float,
    backoff: float,
    stop: threading.Event,
) -> tuple[str, str | None]:
    """`(status, error)`: status `present`, `fetched`, `failed` (error names
    repo/path/commit), `unreachable` (error is the reason; sets `stop`) or `skipped`
    (`stop` was set: the host is unreachable, no request made)."""
    target = root / locked.local
    try:
        if git_blob_sha1(target.read_bytes()) == locked.blob:
            return "present", None
    except OSError:
        pass
    if stop.is_set():
        return "skipped", None
    url = file_url(base_url, locked)
    try:
        data = _download(url, attempts, timeout, backoff)
    except UnreachableError as error:
        stop.set()
        return "unreachable", str(error)
    except UpstreamError as error:
        return "failed", f"{locked.local}: fetching {locked.origin()} failed ({error}): {url}"
    blob = git_blob_sha1(data)
    if blob != locked.blob:
        return "failed", (
            f"{locked.local}: {locked.repository}:{locked.path} at {locked.commit} has blob "
            f"{blob} ({len(data)} bytes), the lock says {locked.blob} ({locked.size} bytes): "
            f"{url}"
        )
    _write_atomically(target, data)
    return "fetched", None


def unreachable_message(base_url: str, reason: str, total: int, fetched: int, present: int) -> str:
    """The one message of a `make upstream` whose source host cannot be reached."""
    host = urllib.parse.urlsplit(base_url).netloc or base_url
    return (
        f"make upstream: cannot reach {base_url} ({reason}); stopped at the first failure "
        f"({fetched} of {total} files fetched, {present} already there). Either\n"
        f"  * allow network access to {host} (or set {BASE_URL_ENV} to a mirror with its "
        "layout) and run `make upstream` again; or\n"
        f"  * set {UPSTREAM_DIR_ENV}=<path> to an existing copy: the directory holding "
        "crds/ and conformance/ (on the project's machines, ../shared)."
    )


def render_sources(lock: Lock, sources: str) -> str:
    """A SOURCES.md for a fetched copy: version notes and one table row per file under
    the SOURCES.md's folder (the ../shared originals document the same files)."""
    base = sources.rsplit("/", 1)[0] + "/"
    notes = lock.notes.get(sources, {})
    lines = [
        "# Sources of the upstream reference files",
        "",
        f"Written by `make upstream` from gpu-caas's {LOCK_FILE.name}; every file below "
        "was fetched from its repository at the commit shown and verified with its git "
        "blob hash.",
        "",
    ]
    if notes:
        lines += ["## Version notes per repository", ""]
        lines += [f"- **{repository}**: {note}" for repository, note in notes.items()]
        lines.append("")
    lines += [
        "## Files",
        "",
        "| file | bytes | repository | path | commit | ref/tag | blob |",
        "|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {f.local.removeprefix(base)} | {f.size} | {f.repository} | {f.path} | {f.commit} "
        f"| {f.ref} | {f.blob} |"
        for f in lock.files
        if f.local.startswith(base)
    ]
    return "\n".join(lines) + "\n"


def sources_files(lock: Lock) -> list[str]:
    """The SOURCES.md paths a fetched copy gets: one per tree directory with notes, else
    one per tree (`crds/SOURCES.md`, `conformance/SOURCES.md`)."""
    paths = set(lock.notes)
    for locked in lock.files:
        if not any(locked.local.startswith(p.rsplit("/", 1)[0] + "/") for p in paths):
            paths.add(locked.local.split("/", 1)[0] + "/" + SOURCES)
    return sorted(paths)


def fetch(
    lock: Lock,
    root: Path,
    *,
    base_url: str = DEFAULT_BASE_URL,
    attempts: int = 3,
    timeout: float = 30.0,
    backoff: float = 1.0,
    workers: int = 8,
    say: Callable[[str], None] = lambda _: None,
) -> FetchReport:
    """Fetch every locked file missing or different under `root`, verify its git blob
    hash, write it atomically; then write a SOURCES.md per tree.

    A no-op (no request) when every file is there with its hash. Files already right
    are kept, so an interrupted run resumes.

    Raises:
        UnreachableError: at the first failure that concerns the host rather than a
            file (`unreachable_reason`: no DNS, connection refused, ...): no further
            request is made, and the one message names `base_url` and both ways out
            (network access to its host, or `GPU_CAAS_UPSTREAM_DIR`).
        UpstreamError: listing every file that failed (repository, path, commit, and
            the HTTP error or the hash that came back instead); the files that did
            verify are kept.
    """
    stop = threading.Event()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(
            pool.map(
                lambda locked: _fetch_one(locked, root, base_url, attempts, timeout, backoff, stop),
                lock.files,
            )
        )
    fetched = tuple(
        f.local for f, (status, _) in zip(lock.files, results, strict=True) if status == "fetched"
    )
    present = sum(status == "present" for status, _ in results)
    unreachable = next((error for status, error in results if status == "unreachable"), None)
    if unreachable is not None:
        raise UnreachableError(
            unreachable_message(base_url, unreachable, len(lock.files), len(fetched), present)
        )
    errors = [error for _, error in results if error]
    if errors:
        raise UpstreamError(
            f"{len(errors)} of {len(lock.files)} upstream files could not be fetched into "
            f"{root} ({len(fetched)} fetched, {present} already there):\n  " + "\n  ".join(errors)
        )
    for sources in sources_files(lock):
        text = render_sources(lock, sources).encode()
        target = root / sources
        if not target.is_file() or target.read_bytes() != text:
            _write_atomically(target, text)
    say(f"{len(fetched)} fetched, {present} already there: {root}")
    return FetchReport(root, fetched, present)


# --------------------------------------------------------------------------- #
# CLI
# --------------------------------------------------------------------------- #


def main(argv: list[str] | None = None) -> int:
    """`python -m sandbox.upstream lock|fetch|check`; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m sandbox.upstream", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    lock_cmd = commands.add_parser("lock", help="regenerate upstream.lock.json")
    lock_cmd.add_argument("--from", dest="source", type=Path, default=DEFAULT_SHARED)
    lock_cmd.add_argument("--output", type=Path, default=LOCK_FILE)
    commands.add_parser("fetch", help="fetch every locked file into the cache (make upstream)")
    commands.add_parser("check", help="which copy the tests use, and whether it is complete")
    args = parser.parse_args(argv)
    try:
        if args.command == "lock":
            lock = build_lock(args.source.resolve())
            args.output.write_text(render_lock(lock), encoding="utf-8")
            print(f"{args.output}: {len(lock.files)} files from {args.source}")
            return 0
        lock = default_lock()
        if args.command == "fetch":
            base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
            fetch(lock, cache_dir(lock), base_url=base_url, say=print)
            resolved = resolve_root(lock)
            if resolved.source != "make upstream cache":
                print(f"The tests use {resolved.root} ({resolved.source}) first.")
            return 0
        problem = copy_problem(lock)
        resolved = resolve_root(lock)
        if problem:
            print(problem, file=sys.stderr)
            return 1
        print(f"{resolved.root} ({resolved.source}): all {len(lock.files)} locked files")
        return 0
    except UpstreamError as error:
        print(error, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
