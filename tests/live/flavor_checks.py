"""Checks every flavor's live module runs: up, no diff, nodes as configured, no secrets,
destroy clean. The isv-managed module adds isolation, day-2 changes and interruption."""

from __future__ import annotations

import json
import time

from sandbox.cluster import ADMIN_TOKEN
from sandbox.nodes import SimulatedNode
from tests.live.checks import helm_releases, managed_objects, missing_on_server, present_on_server
from tests.live.conftest import LiveStack

# Labels GPU Feature Discovery and kubelet add on a real node at run time: the fake
# hosts add them too, so compare only what the stack decides.
RUNTIME_LABELS = ("nvidia.com/gpu.", "nvidia.com/mig.capable", "nvidia.com/mig.strategy")


def up_succeeds(live: LiveStack) -> float:
    """`pulumi up` with both packs; returns its duration in seconds."""
    run = live.workspace.up()
    assert run.returncode == 0, f"{run.describe()}\n{live.describe()}"
    assert live.workspace.pending_operations() == []
    return run.seconds


def everything_exists(live: LiveStack) -> None:
    """Every Kubernetes object and Helm release in state is on the server, every chart
    came from the local mirror."""
    refs = managed_objects(live.workspace)
    assert refs, "no Kubernetes object in state"
    assert missing_on_server(live.cluster, refs) == []
    served = {path for _method, path, status in live.mirror.requests if status == 200}
    for namespace, name, chart, version in helm_releases(live.workspace):
        listed = live.cluster.kubectl(
            "get", "secrets", "-n", namespace, "-l", f"owner=helm,name={name},status=deployed",
            "-o", "name",
        )  # fmt: skip
        assert listed.stdout.strip(), f"Helm release {namespace}/{name} is not deployed"
        assert any(chart in path and version.lstrip("v") in path for path in served), (
            f"{chart} {version} did not come from the local mirror"
        )


def no_changes(live: LiveStack) -> None:
    """`pulumi preview --expect-no-changes` right after `up` (no perpetual diff)."""
    run = live.workspace.preview("--expect-no-changes", "--diff")
    assert run.returncode == 0, run.describe()


def nodes_match_config(live: LiveStack) -> None:
    """Every simulated node exists with the labels and taints the stack config implies."""
    problems = []
    for node in live.services.nodes:
        got = live.cluster.kubectl("get", "node", node.name, "-o", "json")
        if got.returncode != 0:
            problems.append(f"{node.name}: not registered")
            continue
        actual = json.loads(got.stdout)
        labels = actual["metadata"].get("labels", {})
        wanted = _decided_labels(node)
        wrong = {k: (labels.get(k), v) for k, v in wanted.items() if labels.get(k) != v}
        if wrong:
            problems.append(f"{node.name}: labels (got, want) {wrong}")
        taints = sorted(
            (t["key"], t.get("value", ""), t["effect"]) for t in actual["spec"].get("taints", [])
        )
        want_taints = sorted((t["key"], t.get("value", ""), t["effect"]) for t in node.taints)
        if taints != want_taints:
            problems.append(f"{node.name}: taints {taints} != {want_taints}")
    assert problems == [], problems


def _decided_labels(node: SimulatedNode) -> dict[str, str]:
    return {k: v for k, v in node.labels.items() if not k.startswith(RUNTIME_LABELS)}


def no_plaintext_secrets(live: LiveStack, *secrets: str) -> None:
    """`pulumi stack export` (inputs included) holds none of `secrets` nor the token."""
    exported = json.dumps(live.workspace.export())
    for value in (ADMIN_TOKEN, live.cluster.kubeconfig.read_text().strip(), *secrets):
        assert value not in exported, "a secret is in plaintext in `pulumi stack export`"
    assert "PRIVATE KEY-----" not in exported


def destroy_is_clean(live: LiveStack, limit: float = 600) -> float:
    """`pulumi destroy` in bounded time; nothing the stack created is left."""
    refs = managed_objects(live.workspace)
    start = time.monotonic()
    run = live.workspace.destroy(timeout=limit + 300)
    elapsed = time.monotonic() - start
    assert run.returncode == 0, run.describe()
    assert elapsed < limit, f"destroy took {elapsed:.0f}s"
    assert [r for r in live.workspace.resources() if r.get("type") != "pulumi:pulumi:Stack"] == []
    assert present_on_server(live.cluster, refs) == []
    releases = live.cluster.kubectl("get", "secrets", "-A", "-l", "owner=helm", "-o", "name")
    assert releases.stdout.strip() == "", releases.stdout
    return elapsed
