"""Session-wide checks that run before any test module is collected.

The upstream reference files (upstream.lock.json) are read at import time by test
modules (tests/support/upstream.py and the modules using it). Without a copy, or with
one that differs from the lock, the session stops here with one message naming the
files and the two ways to get them (`make upstream`, `GPU_CAAS_UPSTREAM_DIR`) instead
of a FileNotFoundError per module during collection.
"""

from __future__ import annotations

import pytest

from sandbox.upstream import UpstreamError, copy_problem


def pytest_configure(config: pytest.Config) -> None:
    """Stop the session (exit status 4, usage error) when the upstream copy is unusable.

    Raises:
        pytest.UsageError: with `sandbox.upstream.copy_problem()`'s message, or the
            lock file's error when upstream.lock.json is missing or malformed.
    """
    try:
        problem = copy_problem()
    except UpstreamError as error:
        problem = str(error)
    if problem:
        raise pytest.UsageError(problem)
