"""Live tests: `pulumi up` of the example stacks onto a local cluster (see docs/testing.md).

Session-wide: the stand-in charts are built once from ../shared/crds and served by one
local chart mirror (https repository and OCI) on 127.0.0.1. Per test module: a fresh
local cluster (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)
with the stack's simulated nodes, fake SSH hosts for its inventory, Kamaji played for
hosted control planes, and a throwaway Pulumi project and backend. Each module's tests
run in file order against that one stack: up, no-op preview, day-2 changes, isolation
checks, interruption, destroy.

Logs (the cluster components', the chart mirror's, every pulumi run's) stay in the
pytest temp directory, which pytest keeps for the last runs; failures print the path.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sandbox.chart_mirror import ChartMirror
from sandbox.cluster import LocalCluster, running_cluster
from sandbox.services import Services, Targets, chart_mirror, prepare_stack, stack_services
from sandbox.workspace import ROOT, StackWorkspace
from stacks.config.loader import load_stack_file


@pytest.fixture(scope="session")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChartMirror]:
    """The local chart mirror with a stand-in of every chart in components/versions.py."""
    with chart_mirror(tmp_path_factory.mktemp("chart-mirror")) as served:
        yield served


@dataclass
class LiveStack:
    """One example stack on its own local cluster."""

    services: Services
    workspace: StackWorkspace

    @property
    def cluster(self) -> LocalCluster:
        return self.services.cluster

    @property
    def mirror(self) -> ChartMirror:
        return self.services.mirror

    def describe(self) -> str:
        """Where the logs are, for assertion messages."""
        return f"cluster logs: {self.cluster.workdir}; pulumi project: {self.workspace.directory}"


@contextlib.contextmanager
def live_stack(
    directory: Path, example: str, mirror: ChartMirror, stack_file: Path | None = None
) -> Iterator[LiveStack]:
    """`Pulumi.<example>.yaml` (or `stack_file`, a variant of it with the example's
    encryption salt) ready for `pulumi up` on a fresh local cluster."""
    stack_file = stack_file or ROOT / f"Pulumi.{example}.yaml"
    config = load_stack_file(stack_file)
    with (
        running_cluster(directory / "cluster") as cluster,
        stack_services(cluster, config, mirror) as services,
    ):
        workspace = StackWorkspace(
            directory=directory / "pulumi",
            stack_file=stack_file,
            stack=f"live-{example}",
            env=mirror.trust_env({}),
        )
        workspace.init()
        prepare_stack(workspace, config, cluster, Targets.of(services))
        try:
            yield LiveStack(services, workspace)
        finally:
            # `StackWorkspace.start` (killed and interrupted updates) leaves its TMPDIR,
            # with the provider's kubeconfigs, to the workspace's owner.
            shutil.rmtree(workspace.directory / "tmp", ignore_errors=True)
