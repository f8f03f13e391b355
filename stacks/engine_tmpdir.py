"""A private temporary directory for each pulumi command gpu-caas runs.

The Kubernetes provider writes its kubeconfig, credentials included, to a new file
`$TMPDIR/kubeconfig<digits>` each time it is configured with one, so Helm can read it,
and never removes it (`writeKubeconfigToFile` in pulumi-kubernetes
`provider/pkg/provider/util.go`, called from `Configure` in `provider.go`, at the
pinned commit f47bc2d6f199). Every preview or update of a deployed tenant configures
the tenant's provider with the cluster-admin kubeconfig, so each one would leave a copy
of it in the machine's `/tmp` (mode 0600, but on a shared runner it stays after the
job).

So the pulumi commands gpu-caas starts (the fleet runner, the sandbox, the bench, the
tests' workspaces and previews) run with `TMPDIR` set to a directory of their own,
made here with mode 0700 and removed when the command ends, whatever its outcome;
`make preview` does the same in shell (`scripts/private-tmpdir.sh`). For plain `pulumi`
commands, docs/operations.md ("Kubeconfigs the Kubernetes provider leaves in TMPDIR")
gives it in a shell. Pulumi's own `-v` log files go to `TMPDIR` too, and with it.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

PREFIX = "gpu-caas-pulumi-"
"""Name prefix of the private directories (under the machine's own temp directory)."""


@contextmanager
def private_tmpdir() -> Iterator[Path]:
    """A new empty directory, mode 0700, removed with everything in it on exit (also
    when the body raises).

    Raises:
        OSError: the machine's temp directory is not writable.
    """
    path = Path(tempfile.mkdtemp(prefix=PREFIX))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def with_tmpdir(env: Mapping[str, str], directory: Path) -> dict[str, str]:
    """`env` with `TMPDIR` (read by Go's `os.TempDir`, Python's `tempfile` and the
    shell tools of local commands) pointing at `directory`."""
    return {**env, "TMPDIR": str(directory)}
