"""Day-2 commands under mocks: what runs on which host, in which order, with which secret.

Per host: `join` (once) -> `drain` (local) -> `upgrade` (over SSH) -> `node` (local),
control plane before workers, `rollout.max_unavailable` hosts of a group at a time;
failed hosts keep only their join and a node step in state `failed`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi
import pytest

from components.cluster import (
    ControlPlaneArgs,
    ControlPlaneBackend,
    KubeadmArgs,
    NodeGroupArgs,
    Rollout,
    TenantCluster,
    TenantClusterArgs,
    node_lifecycle,
)
from components.cluster.types import HostedArgs
from tests.components.cluster.helpers import (
    MANAGEMENT_KUBECONFIG,
    PRIVATE_KEY,
    SECRETS,
    TENANT_KUBECONFIG,
    command_outputs,
    host,
)
from tests.support.mocks import RecordingMocks, Registered, run

LOCAL = "command:local:Command"
REMOTE = "command:remote:Command"


def _cluster(
    *,
    workers: tuple[str, ...] = ("gpu-0", "gpu-1", "gpu-2"),
    failed: tuple[str, ...] = (),
    max_unavailable: int = 1,
    control_plane: tuple[str, ...] = ("cp-0", "cp-1"),
    hosted: bool = False,
    version: str = "1.35.0",
) -> Callable[[], dict[str, Any]]:
    def program() -> dict[str, Any]:
        def hosts(names: tuple[str, ...], base: int) -> list[Any]:
            return [
                host(name, f"10.0.{base}.{i + 10}", gpu_product="NVIDIA-H100-80GB-HBM3")
                for i, name in enumerate(names)
            ]

        if hosted:
            cp = ControlPlaneArgs(
                cluster_name="acme",
                kubernetes_version=version,
                backend=ControlPlaneBackend.HOSTED,
                hosted=HostedArgs(
                    management_kubeconfig=pulumi.Output.secret(MANAGEMENT_KUBECONFIG),
                    namespace="tenant-acme",
                ),
            )
        else:
            cp = ControlPlaneArgs(
                cluster_name="acme",
                kubernetes_version=version,
                backend=ControlPlaneBackend.KUBEADM,
                kubeadm=KubeadmArgs(hosts=hosts(control_plane, 0), endpoint="api.acme.example"),
            )
        group = NodeGroupArgs(
            cluster_name="acme",
            group_name="train",
            kubernetes_version=version,
            gpu_product="NVIDIA-H100-80GB-HBM3",
            hosts=hosts(workers, 1),
            failed_hosts=hosts(failed, 2),
            labels={"example.com/pool": "blue"},
            rollout=Rollout(max_unavailable=max_unavailable, drain_timeout_seconds=120),
        )
        TenantCluster("acme", TenantClusterArgs(control_plane=cp, node_groups=[group]))
        return {}

    return program


def _deploy(**kw: Any) -> RecordingMocks:
    mocks = RecordingMocks(command_outputs)
    run(_cluster(**kw), mocks)
    return mocks


def _depends(mocks: RecordingMocks, resource: Registered) -> set[str]:
    return {mocks.by_urn(urn).name for urn in resource.dependencies}


def test_each_worker_is_drained_upgraded_and_returned_in_that_order() -> None:
    mocks = _deploy()
    for worker in ("gpu-0", "gpu-1", "gpu-2"):
        drain = mocks.one(LOCAL, f"acme-train-drain-{worker}")
        upgrade = mocks.one(REMOTE, f"acme-train-upgrade-{worker}")
        node = mocks.one(LOCAL, f"acme-train-node-{worker}")
        assert f"acme-train-join-{worker}" in _depends(mocks, drain)
        assert _depends(mocks, upgrade) >= {f"acme-train-drain-{worker}"}
        assert _depends(mocks, node) >= {f"acme-train-upgrade-{worker}"}
        # A version change replaces the drain and the upgrade (one of each per host in
        # the preview); the node step updates.
        assert drain.inputs["triggers"] == upgrade.inputs["triggers"] == ["1.35.0"]
        assert "triggers" not in node.inputs or not node.inputs["triggers"]
        assert upgrade.inputs["connection"]["host"].startswith("10.0.1.")
        assert "kubeadm upgrade node" in upgrade.inputs["create"]
        # The creates run the script files (a few bytes per host in state and in every
        # preview); the delete carries its text (the checkout may change before it runs).
        sync = node_lifecycle.script_command(node_lifecycle.SYNC_SCRIPT)
        assert node.inputs["create"] == sync
        assert sync.startswith("sh components/cluster/scripts/node-sync.sh # sha256:")
        assert node.inputs["delete"] == node_lifecycle.REMOVE_NODE
        assert drain.inputs["create"] == node_lifecycle.script_command(node_lifecycle.DRAIN_SCRIPT)


def test_one_worker_at_a_time_by_default() -> None:
    mocks = _deploy()
    assert "acme-train-node-gpu-0" in _depends(mocks, mocks.one(LOCAL, "acme-train-drain-gpu-1"))
    assert "acme-train-node-gpu-1" in _depends(mocks, mocks.one(LOCAL, "acme-train-drain-gpu-2"))
    first = _depends(mocks, mocks.one(LOCAL, "acme-train-drain-gpu-0"))
    assert not [n for n in first if "-node-" in n]


def test_max_unavailable_drains_that_many_hosts_at_once() -> None:
    mocks = _deploy(workers=("gpu-0", "gpu-1", "gpu-2", "gpu-3"), max_unavailable=2)
    for first in ("gpu-0", "gpu-1"):
        drain = mocks.one(LOCAL, f"acme-train-drain-{first}")
        assert not [n for n in _depends(mocks, drain) if "-node-" in n]
    assert "acme-train-node-gpu-0" in _depends(mocks, mocks.one(LOCAL, "acme-train-drain-gpu-2"))
    assert "acme-train-node-gpu-1" in _depends(mocks, mocks.one(LOCAL, "acme-train-drain-gpu-3"))


def _longest_chain(mocks: RecordingMocks) -> int:
    """Registrations in the longest chain of resources that each wait for the previous
    one's registration (a dependency or the parent): a preview takes at least that many
    engine round trips one after the other."""
    by_urn = {r.urn: r for r in mocks.resources}
    depth: dict[str, int] = {}

    def of(urn: str) -> int:
        if urn not in depth:
            resource = by_urn[urn]
            waits = [u for u in (*resource.dependencies, resource.parent) if u in by_urn]
            depth[urn] = 1 + max((of(u) for u in waits), default=0)
        return depth[urn]

    return max(of(urn) for urn in by_urn)


@pytest.mark.parametrize(("max_unavailable", "growth"), [(1, 3 * 4), (2, 3 * 2), (6, 0)])
def test_how_the_longest_chain_grows_with_the_group(max_unavailable: int, growth: int) -> None:
    """The rollout order adds three links (drain, upgrade, node step) per
    `max_unavailable` hosts: from 2 to 6 workers, 12 links one at a time, 6 two at a
    time, none when all may go at once. Each link is an engine round trip in every
    preview (docs/inventory.md, "Cost of a preview at scale")."""

    def chain(workers: int) -> int:
        names = tuple(f"gpu-{i}" for i in range(workers))
        return _longest_chain(_deploy(workers=names, max_unavailable=max_unavailable))

    assert chain(6) - chain(2) == growth


def test_the_control_plane_goes_first_host_by_host() -> None:
    mocks = _deploy()
    first = mocks.one(REMOTE, "acme-control-plane-upgrade-cp-0")
    second = mocks.one(REMOTE, "acme-control-plane-upgrade-cp-1")
    assert "kubeadm upgrade apply" in first.inputs["create"]
    assert "kubeadm upgrade node" in second.inputs["create"]
    assert "acme-control-plane-node-cp-0" in _depends(
        mocks, mocks.one(LOCAL, "acme-control-plane-drain-cp-1")
    )
    # Node groups depend on the whole control plane: the workers' first drain waits for
    # the last control-plane host's node step (the SDK expands component dependencies).
    group = mocks.one("gpu-caas:cluster:NodeGroup", "acme-train")
    assert {"acme-control-plane-node-cp-1", "acme-control-plane-upgrade-cp-1"} <= _depends(
        mocks, group
    )


def test_hosted_workers_wait_for_kamaji_to_report_the_version() -> None:
    mocks = _deploy(hosted=True, control_plane=())
    upgraded = mocks.one(LOCAL, "acme-control-plane-upgraded")
    assert upgraded.inputs["environment"]["VERSION"] == "v1.35.0"
    assert upgraded.inputs["triggers"] == ["1.35.0"]
    assert upgraded.is_secret("environment.KUBECONFIG_DATA")
    assert "status.kubernetesResources.version.version" in upgraded.inputs["create"]
    assert not [n for n in mocks.names(REMOTE) if n.startswith("acme-control-plane-upgrade")]


def test_the_admin_kubeconfig_stays_on_this_machine() -> None:
    """Drains and node steps run locally with the kubeconfig as a secret environment
    variable; no remote command ever receives it (the SSH key only reaches `connection`)."""
    mocks = _deploy()
    for command in mocks.of_type(LOCAL):
        if "-drain-" in command.name or "-node-" in command.name:
            assert command.is_secret("environment.KUBECONFIG_DATA"), command.name
            assert command.inputs["environment"]["KUBECONFIG_DATA"] == TENANT_KUBECONFIG
    for command in mocks.of_type(REMOTE):
        if "-upgrade-" in command.name:
            assert "stdin" not in command.inputs or not command.inputs["stdin"]
            assert "environment" not in command.inputs or not command.inputs["environment"]
            assert command.is_secret("connection.privateKey")
            assert command.inputs["connection"]["privateKey"] == PRIVATE_KEY
    for secret in SECRETS:
        assert mocks.leaks(secret) == [], secret


def test_the_node_step_carries_labels_taints_and_drain_settings() -> None:
    mocks = _deploy()
    env = mocks.one(LOCAL, "acme-train-node-gpu-1").inputs["environment"]
    assert env["NODE"] == "gpu-1" and env["STATE"] == "active" and env["VERSION"] == "1.35.0"
    labels = dict(line.split("=", 1) for line in env["LABELS"].splitlines())
    assert labels["example.com/pool"] == "blue"
    assert labels["gpu-caas.io/node-group"] == "train"
    # GPU Feature Discovery owns the product label once the GPU stack runs.
    assert "nvidia.com/gpu.product" not in labels
    assert "nvidia.com/gpu=present:NoSchedule" in env["TAINTS"].splitlines()
    assert env["DRAIN_TIMEOUT"] == "120"
    drain = mocks.one(LOCAL, "acme-train-drain-gpu-1").inputs["environment"]
    # A label change must not show as a drain change in the preview.
    assert "LABELS" not in drain and "TAINTS" not in drain and "STATE" not in drain


def test_a_failed_host_keeps_its_join_and_is_only_cordoned() -> None:
    mocks = _deploy(workers=("gpu-0", "gpu-2"), failed=("gpu-1",))
    assert mocks.one(REMOTE, "acme-train-join-gpu-1")
    assert not [n for n in mocks.names(REMOTE) if n == "acme-train-upgrade-gpu-1"]
    assert not [n for n in mocks.names(LOCAL) if n == "acme-train-drain-gpu-1"]
    node = mocks.one(LOCAL, "acme-train-node-gpu-1")
    assert node.inputs["environment"]["STATE"] == "failed"
    group = mocks.one("gpu-caas:cluster:NodeGroup", "acme-train")
    assert group.inputs["hosts"] == ["gpu-0", "gpu-2"]
    assert group.inputs["failedHosts"] == ["gpu-1"]


def _waits_for(mocks: RecordingMocks, name: str) -> set[str]:
    """Every resource `name` waits for, directly or through others (by name)."""
    by_name = {r.name: r for r in mocks.resources}
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in _depends(mocks, by_name[todo.pop()]):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


@pytest.mark.parametrize(
    ("max_unavailable", "held_back"),
    [(1, {"gpu-1", "gpu-2", "gpu-3"}), (2, {"gpu-2"})],
)
def test_a_failed_join_holds_back_its_lane_of_the_rollout(
    max_unavailable: int, held_back: set[str]
) -> None:
    """docs/inventory.md, "Bring-up of many hosts": host i's drain waits for host
    i - maxUnavailable's node step, so a join that fails (here gpu-0's) holds back the
    steps of the later hosts of its lane; the other lane and every join go on."""
    workers = ("gpu-0", "gpu-1", "gpu-2", "gpu-3")
    mocks = _deploy(workers=workers, max_unavailable=max_unavailable)
    failed_join = "acme-train-join-gpu-0"
    waiting = {w for w in workers[1:] if failed_join in _waits_for(mocks, f"acme-train-node-{w}")}
    assert waiting == held_back
    for worker in workers[1:]:
        assert failed_join not in _waits_for(mocks, f"acme-train-join-{worker}")


def test_an_unreachable_host_is_tried_as_the_docs_say() -> None:
    """docs/inventory.md, "Bring-up of many hosts": 31 SSH tries (the first and 30
    retries) of up to 15 s each; the waits between them are the command provider's."""
    connection = _deploy().one(REMOTE, "acme-train-join-gpu-0").inputs["connection"]
    assert (connection["dialErrorLimit"], connection["perDialTimeout"]) == (30, 15)


def test_a_host_set_failed_leaves_the_rollout_order() -> None:
    """The remedy the docs give for a host that keeps failing: with `state: failed` no
    other host's steps wait for it (removing it from the inventory does the same)."""
    mocks = _deploy(workers=("gpu-1", "gpu-2", "gpu-3"), failed=("gpu-0",))
    for worker in ("gpu-1", "gpu-2", "gpu-3"):
        assert not {n for n in _waits_for(mocks, f"acme-train-node-{worker}") if "gpu-0" in n}


@pytest.mark.parametrize(
    ("name", "ignored"),
    [
        ("acme-control-plane-init", ["create", "stdin"]),
        ("acme-control-plane-join-cp-1", ["create", "stdin"]),
        ("acme-train-join-gpu-0", ["create", "stdin"]),
        ("acme-train-join-gpu-1", ["create", "stdin", "connection"]),
    ],
)
def test_bootstrap_commands_run_once(name: str, ignored: list[str]) -> None:
    """A new token, version or label set never re-runs init or a join; a failed host's
    join does not even follow a new SSH key (it may be unreachable)."""
    seen: dict[str, list[str]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        seen[args.name] = list(args.opts.ignore_changes or [])

    def program() -> dict[str, Any]:
        pulumi.runtime.register_stack_transformation(record)
        return _cluster(workers=("gpu-0",), failed=("gpu-1",))()

    run(program, RecordingMocks(command_outputs))
    assert seen[name] == ignored
