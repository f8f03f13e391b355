"""The upstream reference files: the lock, root resolution, `make upstream`, the message."""

from __future__ import annotations

import contextlib
import errno
import http.client
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
from collections.abc import Iterator
from dataclasses import replace
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from sandbox import upstream
from sandbox.services import KAMAJI_CRDS, KARPENTER_CRDS
from sandbox.upstream import (
    BASE_URL_ENV,
    CACHE_ENV,
    SOURCES,
    TREES,
    UPSTREAM_DIR_ENV,
    Lock,
    UnreachableError,
    UpstreamError,
    build_lock,
    copy_problem,
    default_lock,
    fetch,
    file_url,
    git_blob_sha1,
    load_lock,
    render_lock,
    resolve_root,
    unreachable_reason,
    upstream_root,
    verify_copy,
)
from sandbox.upstream_copies import CHART_COPIES

REPO = Path(__file__).resolve().parents[2]
LOCK = default_lock()
ROOT = upstream_root()


# --------------------------------------------------------------------------- #
# The lock against the copy the tests use
# --------------------------------------------------------------------------- #


def test_every_locked_file_is_there_with_its_hash() -> None:
    assert verify_copy(ROOT, LOCK) == []


def test_every_file_of_the_reference_trees_is_locked() -> None:
    # Tests glob whole folders (the CRD index reads every crds/**/*.yaml), so every
    # file under the trees is one the tests may read.
    present = {
        path.relative_to(ROOT).as_posix()
        for tree in TREES
        for path in (ROOT / tree).rglob("*")
        if path.is_file() and path.name != SOURCES
    }
    assert present == {locked.local for locked in LOCK.files}


def test_the_lock_is_what_the_generator_writes_for_this_copy() -> None:
    # Regenerate with `python -m sandbox.upstream lock` when ../shared changes.
    assert build_lock(ROOT).files == LOCK.files


def test_the_committed_lock_is_rendered_by_render_lock() -> None:
    text = (REPO / "upstream.lock.json").read_text(encoding="utf-8")
    assert render_lock(LOCK) == text


def test_the_lock_has_both_trees_and_full_provenance() -> None:
    trees = {locked.local.split("/", 1)[0] for locked in LOCK.files}
    assert trees == set(TREES)
    conformance = [f for f in LOCK.files if f.local.startswith("conformance/")]
    assert len(conformance) == 99  # 23 pass + 76 fail (conformance/pod-security/SOURCES.md)
    assert {f.repository for f in conformance} == {"kubernetes/pod-security-admission"}
    assert all(f.path.startswith("test/testdata/restricted/v1.37/") for f in conformance)
    assert all(f.local.endswith(f.path.rsplit("/", 2)[-2] + "/" + f.path.rsplit("/", 1)[-1])
               for f in conformance)  # fmt: skip
    assert all("/" in f.repository and f.size > 0 for f in LOCK.files)


def test_what_the_sandbox_reads_is_locked() -> None:
    locals_ = {locked.local for locked in LOCK.files}
    used = [f"crds/{path}" for path in KAMAJI_CRDS + KARPENTER_CRDS]
    used += [f"crds/{c.values}" for c in CHART_COPIES.values() if c.values]
    assert [path for path in used if path not in locals_] == []
    folders = [f"crds/{s.directory}/" for c in CHART_COPIES.values() for s in c.crds]
    assert [d for d in folders if not any(p.startswith(d) for p in locals_)] == []


@pytest.mark.parametrize(
    ("data", "blob"),
    [
        # `git hash-object` of an empty file and of "hello\n".
        (b"", "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391"),
        (b"hello\n", "ce013625030ba8dba906f756967f9e9ca394464a"),
    ],
)
def test_git_blob_sha1(data: bytes, blob: str) -> None:
    assert git_blob_sha1(data) == blob


def test_load_lock_names_the_bad_entry(tmp_path: Path) -> None:
    path = tmp_path / "lock.json"
    path.write_text('{"files": [{"local": "crds/a.yaml", "repository": "o/r", "path": "a", '
                    '"commit": "123", "blob": "' + "0" * 40 + '", "size": 1}]}')  # fmt: skip
    with pytest.raises(UpstreamError, match=r"files\[0\] \(crds/a.yaml\).*40 hex"):
        load_lock(path)
    with pytest.raises(UpstreamError, match="python -m sandbox.upstream lock"):
        load_lock(tmp_path / "absent.json")
    path.write_text("<<<<<<< a merge conflict")
    with pytest.raises(UpstreamError, match="is not a lock file"):
        load_lock(path)


# --------------------------------------------------------------------------- #
# The generator on a small tree
# --------------------------------------------------------------------------- #

COMMIT = "a" * 40
TABLE = """# Sources

## Version notes per repository

- **o/one**: HEAD = tag v1.0.0

## Files

| file (under shared/crds) | bytes | repository | path | commit | ref/tag |
|---|---|---|---|---|---|
| one/a.yaml | 2 | o/one | deploy/a.yaml | {commit} | v1.0.0 |
| one/v1/b.yaml | 3 | o/one | deploy/b.yaml | {commit} | v1.0.0 |
"""
SECTIONS = """# Sources

## fixtures-v1/

| | |
|---|---|
| repository | [o/two](https://github.com/o/two). |
| path | `test/data/v1/pass/*.yaml` (1 files) and `test/data/v1/fail/*.yaml` (2 files) |
| commit | `{commit}` (snapshot HEAD) |
"""


def _tree(root: Path) -> Path:
    files = {
        "crds/SOURCES.md": TABLE.format(commit=COMMIT),
        "crds/one/a.yaml": "a\n",
        "crds/one/v1/b.yaml": "bb\n",
        "conformance/ps/SOURCES.md": SECTIONS.format(commit=COMMIT),
        "conformance/ps/fixtures-v1/pass/p.yaml": "p\n",
        "conformance/ps/fixtures-v1/fail/f0.yaml": "f0\n",
        "conformance/ps/fixtures-v1/fail/f1.yaml": "f1\n",
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_build_lock_reads_both_sources_formats(tmp_path: Path) -> None:
    lock = build_lock(_tree(tmp_path))
    assert [(f.local, f.repository, f.path, f.ref) for f in lock.files] == [
        ("conformance/ps/fixtures-v1/fail/f0.yaml", "o/two", "test/data/v1/fail/f0.yaml", ""),
        ("conformance/ps/fixtures-v1/fail/f1.yaml", "o/two", "test/data/v1/fail/f1.yaml", ""),
        ("conformance/ps/fixtures-v1/pass/p.yaml", "o/two", "test/data/v1/pass/p.yaml", ""),
        ("crds/one/a.yaml", "o/one", "deploy/a.yaml", "v1.0.0"),
        ("crds/one/v1/b.yaml", "o/one", "deploy/b.yaml", "v1.0.0"),
    ]
    assert {f.commit for f in lock.files} == {COMMIT}
    assert lock.files[3].blob == git_blob_sha1(b"a\n") and lock.files[3].size == 2
    assert lock.notes == {"crds/SOURCES.md": {"o/one": "HEAD = tag v1.0.0"}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: (r / "crds/one/extra.yaml").write_text("x"),
         "crds/one/extra.yaml: present under .* but in no SOURCES.md"),
        (lambda r: (r / "crds/one/a.yaml").unlink(),
         "crds/one/a.yaml: listed in a SOURCES.md but missing"),
        (lambda r: (r / "crds/one/a.yaml").write_text("abc\n"),
         "crds/one/a.yaml: 4 bytes, SOURCES.md says 2"),
        (lambda r: (r / "conformance/ps/fixtures-v1/fail/f1.yaml").unlink(),
         "test/data/v1/fail/.yaml says 2 files, conformance/ps/fixtures-v1/fail has 1"),
    ],
)  # fmt: skip
def test_build_lock_refuses_a_copy_that_differs_from_its_sources(
    tmp_path: Path, change, message: str
) -> None:
    root = _tree(tmp_path)
    change(root)
    with pytest.raises(UpstreamError, match=message.replace("/.yaml", r"/\*\.yaml")):
        build_lock(root)


def test_lock_cli_writes_the_lock(tmp_path: Path) -> None:
    out, copy = tmp_path / "lock.json", _tree(tmp_path / "copy")
    assert upstream.main(["lock", "--from", str(copy), "--output", str(out)]) == 0
    assert load_lock(out).files == build_lock(copy).files
    (copy / "crds/stray.yaml").write_text("x")
    assert upstream.main(["lock", "--from", str(copy), "--output", str(out)]) == 1


# --------------------------------------------------------------------------- #
# make upstream against a local server
# --------------------------------------------------------------------------- #


class _Upstream:
    """raw.githubusercontent.com's layout on 127.0.0.1: `/<repo>/<commit>/<path>`."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[str] = []
        self.fail_first: set[str] = set()
        self.url = ""


@contextlib.contextmanager
def _serve(
    lock: Lock, source: Path, overrides: dict[str, bytes] | None = None
) -> Iterator[_Upstream]:
    files = {
        file_url("", locked): (overrides or {}).get(locked.local)
        or (source / locked.local).read_bytes()
        for locked in lock.files
    }
    state = _Upstream(files)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            state.requests.append(self.path)
            if self.path in state.fail_first:
                state.fail_first.discard(self.path)
                self.send_error(503)
                return
            body = state.files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _small_lock() -> Lock:
    """Four small locked files from both trees, one in a nested folder."""
    picks = [
        "crds/aicr/recipes/overlays/eks.yaml",
        "crds/gpu-operator/resource.nvidia.com_computedomaincliques.yaml",
        "crds/karpenter/v1.14.1/karpenter.sh_nodeoverlays.yaml",
        "conformance/pod-security/restricted-v1.37/pass/base.yaml",
    ]
    by_local = {locked.local: locked for locked in LOCK.files}
    return Lock(tuple(by_local[p] for p in picks), LOCK.notes, "test")


def test_fetch_writes_verified_files_then_is_a_no_op(tmp_path: Path) -> None:
    lock = _small_lock()
    with _serve(lock, ROOT) as server:
        report = fetch(lock, tmp_path, base_url=server.url, backoff=0)
        assert sorted(report.fetched) == sorted(f.local for f in lock.files)
        assert verify_copy(tmp_path, lock) == []
        assert len(server.requests) == 4
        again = fetch(lock, tmp_path, base_url=server.url, backoff=0)
        assert (again.fetched, again.present, len(server.requests)) == ((), 4, 4)
    sources = (tmp_path / "crds" / SOURCES).read_text()
    assert "- **NVIDIA/gpu-operator**: " in sources
    assert "| aicr/recipes/overlays/eks.yaml | " in sources
    assert (
        "| pod-security/restricted-v1.37/pass/base.yaml | "
        in (tmp_path / "conformance" / SOURCES).read_text()
    )
    assert not [p for p in tmp_path.rglob(".*") if p.is_file()]  # no temp files left


def test_a_wrong_body_is_refused_naming_the_file(tmp_path: Path) -> None:
    lock = _small_lock()
    bad = lock.files[1]
    with (
        _serve(lock, ROOT, {bad.local: b"not the upstream file\n"}) as server,
        pytest.raises(UpstreamError) as raised,
    ):
        fetch(lock, tmp_path, base_url=server.url, backoff=0)
    message = str(raised.value)
    assert f"{bad.local}: {bad.repository}:{bad.path} at {bad.commit} has blob " in message
    assert f"the lock says {bad.blob}" in message and "1 of 4" in message
    assert not (tmp_path / bad.local).exists()
    assert verify_copy(tmp_path, Lock(lock.files[:1] + lock.files[2:])) == []


def test_fetch_resumes_a_partial_cache(tmp_path: Path) -> None:
    lock = _small_lock()
    kept, corrupt = lock.files[0], lock.files[2]
    for locked in (kept, corrupt):
        (tmp_path / locked.local).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / locked.local).write_bytes((ROOT / locked.local).read_bytes())
    (tmp_path / corrupt.local).write_bytes(b"truncated")
    with _serve(lock, ROOT) as server:
        report = fetch(lock, tmp_path, base_url=server.url, backoff=0)
    assert report.present == 1 and kept.local not in report.fetched
    assert sorted(server.requests) == sorted(file_url("", f) for f in lock.files if f is not kept)
    assert verify_copy(tmp_path, lock) == []


def test_transient_errors_are_retried_and_missing_files_are_not(tmp_path: Path) -> None:
    lock = _small_lock()
    absent = replace(lock.files[3], path="test/testdata/restricted/v1.37/pass/absent.yaml")
    lock = Lock((*lock.files[:3], absent), lock.notes, "test")
    with _serve(Lock(lock.files[:3]), ROOT) as server:
        server.fail_first = {file_url("", lock.files[0])}
        with pytest.raises(UpstreamError) as raised:
            fetch(lock, tmp_path, base_url=server.url, backoff=0, attempts=3)
        requests = list(server.requests)
    assert requests.count(file_url("", lock.files[0])) == 2  # 503, then the file
    assert requests.count(file_url("", absent)) == 1  # 404: not retried
    message = str(raised.value)
    assert f"{absent.local}: fetching {absent.origin()} failed (HTTP 404" in message
    assert verify_copy(tmp_path, Lock(lock.files[:3])) == []


def test_make_upstream_builds_a_copy_the_tests_accept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `python -m sandbox.upstream fetch` of the real lock, from a local server serving
    # the reference copy; the result is a complete upstream root.
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    with _serve(LOCK, ROOT) as server:
        monkeypatch.setenv(BASE_URL_ENV, server.url)
        assert upstream.main(["fetch"]) == 0
        assert len(server.requests) == len(LOCK.files)
        assert upstream.main(["fetch"]) == 0  # complete: no request
        assert len(server.requests) == len(LOCK.files)
    cache = tmp_path / "cache" / LOCK.digest
    monkeypatch.setenv(UPSTREAM_DIR_ENV, str(cache))
    assert copy_problem() is None
    assert build_lock(cache).files == LOCK.files
    # tests/components/test_versions.py reads the version notes from crds/SOURCES.md.
    assert "byte-identical to tag v26.7.0" in (cache / "crds" / SOURCES).read_text()


# --------------------------------------------------------------------------- #
# Which copy the tests use, and the one message when there is none
# --------------------------------------------------------------------------- #


def _copy(lock: Lock, target: Path) -> Path:
    for locked in lock.files:
        (target / locked.local).parent.mkdir(parents=True, exist_ok=True)
        (target / locked.local).write_bytes((ROOT / locked.local).read_bytes())
    return target


@pytest.mark.parametrize(
    ("env", "shared", "cache", "expected"),
    [
        ("env", True, True, "$GPU_CAAS_UPSTREAM_DIR"),
        (None, True, True, "../shared"),
        (None, False, True, "make upstream cache"),
        (None, False, "partial", "none"),
        (None, False, False, "none"),
    ],
)
def test_resolution_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env, shared, cache, expected: str
) -> None:
    lock = _small_lock()
    monkeypatch.setattr(upstream, "DEFAULT_SHARED", tmp_path / "shared")
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    if env:
        monkeypatch.setenv(UPSTREAM_DIR_ENV, str(tmp_path / "env"))
    else:
        monkeypatch.delenv(UPSTREAM_DIR_ENV, raising=False)
    if shared:
        _copy(lock, tmp_path / "shared")
    if cache:
        _copy(lock if cache is True else Lock(lock.files[:2]), tmp_path / "cache" / "test")
    resolved = resolve_root(lock)
    assert resolved.source == expected
    roots = {
        "$GPU_CAAS_UPSTREAM_DIR": tmp_path / "env",
        "../shared": tmp_path / "shared",
        "make upstream cache": tmp_path / "cache" / "test",
        "none": tmp_path / "shared",
    }
    assert resolved.root == roots[expected].resolve()


def test_copy_problem_names_changed_and_missing_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lock = _small_lock()
    root = _copy(lock, tmp_path)
    (root / lock.files[0].local).write_bytes(b"edited\n")
    (root / lock.files[3].local).unlink()
    monkeypatch.setenv(UPSTREAM_DIR_ENV, str(root))
    message = copy_problem(lock)
    assert message is not None
    assert f"at {root} (from $GPU_CAAS_UPSTREAM_DIR)" in message
    assert "1 missing, 1 changed" in message
    edited = git_blob_sha1(b"edited\n")
    assert f"{lock.files[0].local}: blob {edited} (7 bytes)" in message
    assert f"lock says {lock.files[0].blob}" in message
    assert f"{lock.files[3].local}: missing" in message
    assert "make upstream" in message and f"{UPSTREAM_DIR_ENV}=<path>" in message
    _copy(lock, root)  # repaired, but the verdict is kept for the process (checked once)
    assert copy_problem(lock) == message
    assert verify_copy(root, lock) == []


def test_a_crds_folder_in_the_variable_gets_a_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "crds").mkdir()
    (tmp_path / "crds" / SOURCES).write_text("# Sources\n")
    monkeypatch.setenv(UPSTREAM_DIR_ENV, str(tmp_path / "crds"))
    message = copy_problem(_small_lock())
    assert message is not None
    assert "holds none of the upstream reference files" in message
    assert "points at a crds/ folder; it names the folder that holds crds/ and " in message
    assert f"{UPSTREAM_DIR_ENV}={tmp_path.resolve()}" in message


def test_a_missing_copy_stops_pytest_with_one_message(tmp_path: Path) -> None:
    env = {**os.environ, UPSTREAM_DIR_ENV: str(tmp_path), CACHE_ENV: str(tmp_path / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "tests/sandbox/test_nodes.py"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 4, done.stdout + done.stderr
    assert done.stderr.count("ERROR: ") == 1, done.stderr
    assert f"ERROR: {tmp_path} (from $GPU_CAAS_UPSTREAM_DIR) holds none of" in done.stderr
    assert "run `make upstream`" in done.stderr
    assert f"set {UPSTREAM_DIR_ENV}=<path> to an existing copy" in done.stderr
    assert "FileNotFoundError" not in done.stdout + done.stderr
    assert "test_nodes.py::" not in done.stdout  # nothing collected


# --------------------------------------------------------------------------- #
# make upstream without a reachable source: one message, at once
# --------------------------------------------------------------------------- #


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests go straight to the address under test, never through a proxy."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_refused_source_stops_at_once_with_one_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_proxy: None
) -> None:
    # The real lock (184 files) against a loopback port that refuses connections: no
    # retries, no per-file lines, both ways out named.
    base = f"http://127.0.0.1:{_closed_port()}"
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.setenv(BASE_URL_ENV, base)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "sandbox.upstream", "fetch"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert time.monotonic() - started < 20, "should stop at the first refused connection"
    assert done.returncode == 1 and done.stdout == "", done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3, done.stderr
    assert lines[0].startswith(f"make upstream: cannot reach {base} (connection refused); ")
    assert f"(0 of {len(LOCK.files)} files fetched, 0 already there)" in lines[0]
    assert f"allow network access to {base.removeprefix('http://')}" in lines[1]
    assert f"set {UPSTREAM_DIR_ENV}=<path> to an existing copy" in lines[2]
    assert "crds/" not in done.stderr.replace("crds/ and", "")  # no file is listed


def test_an_unresolvable_host_stops_at_the_first_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_proxy: None
) -> None:
    # Name resolution fails in-process (no DNS query leaves the machine).
    lookups: list[str] = []

    def no_dns(host: str, *args: object, **kwargs: object) -> object:
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    lock = _small_lock()
    with pytest.raises(UnreachableError) as raised:
        fetch(lock, tmp_path, base_url="https://upstream.invalid", backoff=0, workers=1)
    message = str(raised.value)
    assert message.startswith(
        "make upstream: cannot reach https://upstream.invalid (cannot resolve the host name: "
        "Name or service not known); stopped at the first failure (0 of 4 files fetched"
    )
    assert "allow network access to upstream.invalid" in message
    assert lookups == ["upstream.invalid"]  # one attempt, then no further request
    assert not any(tmp_path.iterdir())


def test_files_already_there_are_counted_when_the_host_is_unreachable(
    tmp_path: Path, no_proxy: None
) -> None:
    lock = _small_lock()
    kept = lock.files[0]
    (tmp_path / kept.local).parent.mkdir(parents=True)
    (tmp_path / kept.local).write_bytes((ROOT / kept.local).read_bytes())
    with pytest.raises(UnreachableError, match=r"\(0 of 4 files fetched, 1 already there\)"):
        fetch(lock, tmp_path, base_url=f"http://127.0.0.1:{_closed_port()}", backoff=0)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (urllib.error.URLError(socket.gaierror(-2, "Name or service not known")),
         "cannot resolve the host name: Name or service not known"),
        (urllib.error.URLError(ConnectionRefusedError(errno.ECONNREFUSED, "refused")),
         "connection refused"),
        (urllib.error.URLError(OSError(errno.ENETUNREACH, "unreachable")), "network unreachable"),
        (urllib.error.URLError(TimeoutError("timed out")), "connecting timed out"),
        # File-specific or passing: retried or reported per file.
        (urllib.error.HTTPError("http://x/a", 404, "Not Found", Message(), None), None),
        (TimeoutError("read timed out"), None),
        (ConnectionResetError(errno.ECONNRESET, "reset"), None),
        (http.client.IncompleteRead(b""), None),
    ],
)  # fmt: skip
def test_unreachable_reason(error: BaseException, expected: str | None) -> None:
    assert unreachable_reason(error) == expected


# --------------------------------------------------------------------------- #
# The check every target that reads the files runs first
# --------------------------------------------------------------------------- #


def test_the_check_runs_on_the_standard_library_alone(tmp_path: Path) -> None:
    # `make test` on a fresh clone runs it before .venv exists: no site-packages (-S -s)
    # and no PYTHON* variables (-E), from the repository root as make does.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), UPSTREAM_DIR_ENV: str(tmp_path)}
    env[CACHE_ENV] = str(tmp_path / "cache")
    done = subprocess.run(
        [sys.executable, "-S", "-s", "-E", "-m", "sandbox.upstream", "check"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith(f"{tmp_path} (from ${UPSTREAM_DIR_ENV}) holds none of the ")
    assert "run `make upstream`" in done.stderr and "Traceback" not in done.stderr
    env[UPSTREAM_DIR_ENV] = str(ROOT)  # a complete copy
    done = subprocess.run(
        [sys.executable, "-S", "-s", "-E", "-m", "sandbox.upstream", "check"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{ROOT} (${UPSTREAM_DIR_ENV}): all {len(LOCK.files)} locked files\n"


@pytest.mark.parametrize("target", ["test", "test-unit", "test-live", "setup-test", "sandbox"])
def test_make_checks_the_upstream_files_before_building_anything(target: str) -> None:
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", target],
        cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first == "python3 -m sandbox.upstream check", done.stdout
    assert done.stdout.index("sandbox.upstream check") < done.stdout.index("scripts/setup.sh")
