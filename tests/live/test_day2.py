"""Day 2 on a live local cluster (issue 14): every operation a reviewed stack-file change.

The dev tenant (kubeadm over SSH, fake hosts, kwok nodes) plus one spare host. Tests run
in file order on one stack: a first `up --continue-on-error` in which one host's join
fails, then the re-run that joins only it (issue 12); relabel and retaint a node group
(only the node steps change, foreign labels survive); mark a host failed and move the
spare in (the preview shows the join of the spare and the cordon of the failed host);
remove the failed host (drain, Node deletion, `kubeadm reset`); upgrade Kubernetes one
minor (every host drained, upgraded and back, in order); refuse a downgrade and a
skipped minor at preview with the key named; destroy.

Drains, label and taint changes and Node deletions run for real against the API server
(`kubectl` from the program's local commands); what a host does over SSH is played by
its fake host (sandbox/fake_hosts.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.chart_mirror import ChartMirror
from sandbox.workspace import ROOT
from stacks.config.loader import CONFIG_KEY
from tests.live import flavor_checks
from tests.live.checks import changes, explain, urn_name, urn_type
from tests.live.conftest import LiveStack, live_stack

pytestmark = [pytest.mark.engine, pytest.mark.live]

EXAMPLE = "dev"
SPARE = "gpu-2"
FAILED = "gpu-0"
BROKEN = "gpu-1"
"""Its first join fails (a fake host refusing it): the bring-up test."""
BROKEN_GROUP = "notebooks"
FIRST_CONTROL_PLANE = "cp-0"
"""Runs `kubeadm init` and mints the bootstrap tokens."""
TOKEN = "dev-control-plane-join-token"
STEPS = ("join", "drain", "upgrade", "node")
GROUP = "train"
FOREIGN_LABEL = "example.com/set-by-someone-else"


def _with_a_spare(directory: Path) -> Path:
    """The dev stack file with a third H100 host marked `spare` (same rack as the others;
    it reuses gpu-1's encrypted key: same file, same salt)."""
    document = yaml.safe_load((ROOT / f"Pulumi.{EXAMPLE}.yaml").read_text())
    tenant = document["config"][CONFIG_KEY]
    template = next(h for h in tenant["hosts"] if h["name"] == "gpu-1")
    tenant["hosts"].append({**template, "name": SPARE, "address": "192.0.2.22", "state": "spare"})
    path = directory / f"Pulumi.{EXAMPLE}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, mirror: ChartMirror) -> Iterator[LiveStack]:
    directory = tmp_path_factory.mktemp("day2")
    stack_file = _with_a_spare(directory)
    with live_stack(directory, EXAMPLE, mirror, stack_file=stack_file) as stack:
        yield stack


def _tenant(live: LiveStack) -> dict[str, Any]:
    document = yaml.safe_load(live.workspace.stack_file_path.read_text())
    tenant: dict[str, Any] = document["config"][CONFIG_KEY]
    return tenant


def _set(live: LiveStack, key: str, value: object) -> None:
    live.workspace.edit_config({f"{CONFIG_KEY}.{key}": value})


def _planned(live: LiveStack) -> dict[str, list[str]]:
    run = live.workspace.preview("--json")
    assert run.returncode == 0, run.describe()
    print("\n".join(explain(run)))  # shown on failure
    return changes(run)


def _names(planned: dict[str, list[str]], op: str) -> set[str]:
    return {urn_name(urn) for urn in planned.get(op, [])}


def _up(live: LiveStack) -> None:
    run = live.workspace.up()
    assert run.returncode == 0, f"{run.describe()}\n{live.describe()}"


def _node(live: LiveStack, name: str) -> dict[str, Any] | None:
    got = live.cluster.kubectl("get", "node", name, "-o", "json")
    if got.returncode != 0:
        return None
    node: dict[str, Any] = json.loads(got.stdout)
    return node


def _group(tenant: dict[str, Any], name: str) -> dict[str, Any]:
    group: dict[str, Any] = next(g for g in tenant["nodeGroups"] if g["name"] == name)
    return group


def test_a_host_that_fails_to_join_stops_only_itself_and_a_rerun_retries_only_it(
    live: LiveStack,
) -> None:
    """Issue 12's bring-up: with `--continue-on-error` a host whose join fails does not
    stop the other hosts; the update names it; the next `up` runs only its steps."""
    hosts = live.services.hosts
    assert hosts is not None
    hosts.refuse_joins.add(BROKEN)
    try:
        run = live.workspace.up("--continue-on-error")
    finally:
        hosts.refuse_joins.discard(BROKEN)
    assert run.returncode != 0, run.describe()
    output = run.stdout + run.stderr
    assert f"dev-{BROKEN_GROUP}-join-{BROKEN}" in output, output
    assert f"gpu-caas: {BROKEN}: kubeadm join failed its preflight checks" in output, output
    # The other worker went all the way: joined, labelled, schedulable.
    other = _node(live, FAILED)
    assert other is not None and not other["spec"].get("unschedulable"), other
    assert other["metadata"]["labels"]["gpu-caas.io/node-group"] == GROUP
    assert _node(live, BROKEN) is None
    # The record says who joined: everyone but the broken host.
    joined = live.workspace.outputs()["deployed"]["joinedHosts"]
    assert BROKEN not in joined and FAILED in joined and FIRST_CONTROL_PLANE in joined, joined

    # The re-run plans the broken host's steps, a fresh bootstrap token for it (the one
    # minted for the first run may have expired by the time of a retry), and nothing
    # for any other host.
    planned = _planned(live)
    host_steps = {
        name for op in ("create", "update", "replace", "delete")
        for name in _names(planned, op) if re.search(r"-(join|drain|upgrade|node)-gpu-", name)
    }  # fmt: skip
    assert host_steps == {f"dev-{BROKEN_GROUP}-{step}-{BROKEN}" for step in STEPS}, planned
    assert _names(planned, "replace") & {TOKEN} == {TOKEN}, planned
    before = len(hosts.sessions)
    _up(live)
    assert live.workspace.pending_operations() == []
    # SSH: the broken host's steps, and the first control-plane host minting the token.
    retried = {s.host for s in hosts.sessions[before:]}
    assert retried == {BROKEN, FIRST_CONTROL_PLANE}, hosts.sessions[before:]
    assert _node(live, BROKEN) is not None
    # Everyone joined: the token stays as it is from now on.
    assert live.workspace.outputs()["deployed"]["joinedHosts"] == sorted(joined + [BROKEN])
    assert TOKEN not in _names(_planned(live), "replace")


def test_up_joins_every_host_but_the_spare(live: LiveStack) -> None:
    assert live.services.hosts is not None
    joined = {s.host for s in live.services.hosts.sessions if s.kind == "join"}
    assert SPARE not in joined and FAILED in joined
    assert _node(live, SPARE) is None
    flavor_checks.no_changes(live)
    deployed = live.workspace.outputs()["deployed"]
    assert deployed["kubernetesVersion"] == "1.34.2"
    assert deployed["hosts"][SPARE]["state"] == "spare"


def test_relabel_and_retaint_change_only_the_node_steps(live: LiveStack) -> None:
    labelled = live.cluster.kubectl("label", "node", FAILED, f"{FOREIGN_LABEL}=kept")
    assert labelled.returncode == 0, labelled.stderr
    tenant = _tenant(live)
    groups = tenant["nodeGroups"]
    _group(tenant, GROUP)["labels"] = {"example.com/pool": "blue"}
    _group(tenant, GROUP)["taints"] = [
        {"key": "example.com/reserved", "value": "ml", "effect": "NoSchedule"}
    ]
    _set(live, "nodeGroups", groups)
    planned = _planned(live)
    assert set(planned) == {"update"}, planned
    # On the hosts, only the node step changes (no join, drain or upgrade runs again);
    # the GPU Operator's DaemonSets learn to tolerate the group's new taint.
    commands = {urn_name(u) for u in planned["update"] if "$command:" in u}
    assert commands == {f"dev-{GROUP}-node-{FAILED}"}, planned
    assert {urn_type(u) for u in planned["update"]} <= {"Command", "Release"}, planned
    _up(live)
    node = _node(live, FAILED)
    assert node is not None
    assert node["metadata"]["labels"]["example.com/pool"] == "blue"
    taints = {(t["key"], t.get("value"), t["effect"]) for t in node["spec"].get("taints", [])}
    assert ("example.com/reserved", "ml", "NoSchedule") in taints

    # Dropped from the config: gone from the Node; what others set stays.
    _group(tenant, GROUP)["labels"] = {}
    _group(tenant, GROUP)["taints"] = []
    _set(live, "nodeGroups", groups)
    _up(live)
    node = _node(live, FAILED)
    assert node is not None
    labels = node["metadata"]["labels"]
    assert "example.com/pool" not in labels and labels[FOREIGN_LABEL] == "kept"
    assert not [t for t in node["spec"].get("taints", []) if t["key"] == "example.com/reserved"]
    assert not node["spec"].get("unschedulable")


def test_replacing_a_failed_host_with_the_spare(live: LiveStack) -> None:
    tenant = _tenant(live)
    hosts = tenant["hosts"]
    for host in hosts:
        if host["name"] == FAILED:
            host["state"] = "failed"
        if host["name"] == SPARE:
            host.pop("state")
            host["replaces"] = FAILED
    _set(live, "hosts", hosts)
    groups = tenant["nodeGroups"]
    _group(tenant, GROUP)["hosts"] = [FAILED, SPARE]
    _set(live, "nodeGroups", groups)
    planned = _planned(live)
    created = _names(planned, "create")
    assert {f"dev-{GROUP}-{step}-{SPARE}" for step in STEPS} <= (created), planned
    assert f"dev-{GROUP}-node-{FAILED}" in _names(planned, "update"), planned
    assert {f"dev-{GROUP}-drain-{FAILED}", f"dev-{GROUP}-upgrade-{FAILED}"} <= _names(
        planned, "delete"
    ), planned
    assert f"dev-{GROUP}-join-{FAILED}" not in _names(planned, "delete"), planned
    _up(live)
    failed = _node(live, FAILED)
    assert failed is not None and failed["spec"].get("unschedulable") is True
    assert {"key": "gpu-caas.io/host-state", "value": "failed", "effect": "NoExecute"} in (
        failed["spec"].get("taints", [])
    )
    spare = _node(live, SPARE)
    assert spare is not None and not spare["spec"].get("unschedulable")
    assert spare["metadata"]["labels"]["gpu-caas.io/node-group"] == GROUP
    flavor_checks.no_changes(live)


def test_removing_the_failed_host_drains_deletes_and_resets_it(live: LiveStack) -> None:
    tenant = _tenant(live)
    _group(tenant, GROUP)["hosts"] = [SPARE]
    _set(live, "nodeGroups", tenant["nodeGroups"])
    hosts = [h for h in tenant["hosts"] if h["name"] != FAILED]
    for host in hosts:
        host.pop("replaces", None)
    _set(live, "hosts", hosts)
    planned = _planned(live)
    assert {f"dev-{GROUP}-node-{FAILED}", f"dev-{GROUP}-join-{FAILED}"} <= _names(
        planned, "delete"
    ), planned
    _up(live)
    assert _node(live, FAILED) is None
    assert live.services.hosts is not None
    assert (FAILED, "reset") in {(s.host, s.kind) for s in live.services.hosts.sessions}


def test_kubernetes_upgrade_drains_upgrades_and_returns_every_host(live: LiveStack) -> None:
    _set(live, "kubernetes.version", "1.35.0")
    planned = _planned(live)
    replaced = _names(planned, "replace")
    hosts = ["cp-0", "gpu-1", SPARE]
    for host in hosts:
        assert any(name.endswith(f"-upgrade-{host}") for name in replaced), planned
        assert any(name.endswith(f"-drain-{host}") for name in replaced), planned
    _up(live)
    for host in hosts:
        node = _node(live, host)
        assert node is not None
        assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.35.0", host
        assert not node["spec"].get("unschedulable"), host
    assert live.services.hosts is not None
    upgraded = [s.host for s in live.services.hosts.sessions if s.kind == "upgrade"]
    # The control plane first, then the workers.
    assert upgraded.index("cp-0") < min(upgraded.index("gpu-1"), upgraded.index(SPARE))
    assert live.workspace.outputs()["deployed"]["kubernetesVersion"] == "1.35.0"
    assert _planned(live) == {}, "the upgrade left a diff behind"


def test_a_downgrade_is_refused_at_preview_naming_the_key(live: LiveStack) -> None:
    """A skipped minor cannot be tried live (no pin admits 1.37 yet, issue 9's window):
    tests/stacks/test_config_upgrades.py covers it."""
    _set(live, "kubernetes.version", "1.34.2")
    try:
        run = live.workspace.preview()
        assert run.returncode != 0, run.describe()
        output = run.stdout + run.stderr
        assert "kubernetes.version" in output and "1.35.0" in output, output
    finally:
        _set(live, "kubernetes.version", "1.35.0")
    flavor_checks.no_changes(live)


def test_destroy_leaves_nothing(live: LiveStack) -> None:
    flavor_checks.destroy_is_clean(live)
    nodes = live.cluster.kubectl("get", "nodes", "-o", "name")
    assert nodes.stdout.strip() == "", f"nodes left behind: {nodes.stdout}"
