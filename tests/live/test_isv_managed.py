"""isv-managed (`Pulumi.isv-inference.yaml`) on a live local cluster, from `up` to `destroy`.

The ISV's kubeconfig points at the local cluster. Tests run in file order on one
stack: the first `up` is killed (SIGKILL of the CLI) and recovered, then the stack
must show no diff, take day-2 changes that touch only what they should, enforce
isolation on the server, keep every secret out of state, survive a SIGINT, and
destroy cleanly.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sandbox.chart_mirror import ChartMirror
from sandbox.cluster import ADMIN_TOKEN
from sandbox.workspace import interrupt
from stacks.config.loader import CONFIG_KEY
from stacks.engine_tmpdir import PREFIX
from stacks.fleet.runner import FleetOptions, run_fleet
from stacks.fleet.selection import TenantStack
from stacks.fleet.summary import TenantResult
from tests.live import flavor_checks
from tests.live.checks import (
    ObjectRef,
    changes,
    explain,
    managed_objects,
    present_on_server,
    urn_name,
    urn_type,
)
from tests.live.conftest import LiveStack, live_stack
from tests.live.isolation import (
    assert_pod_security_enforced,
    assert_rbac_isolates_teams,
    gpu_pod,
)

pytestmark = [pytest.mark.engine, pytest.mark.live]

EXAMPLE = "isv-inference"
TEAM_A, GROUP_A = "serving", "globex:serving"
TEAM_B, GROUP_B = "research", "globex:research"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, mirror: ChartMirror) -> Iterator[LiveStack]:
    with live_stack(tmp_path_factory.mktemp("isv"), EXAMPLE, mirror) as stack:
        yield stack


def _teams(live: LiveStack) -> list[dict[str, Any]]:
    document = yaml.safe_load(live.workspace.stack_file_path.read_text())
    teams: list[dict[str, Any]] = document["config"][CONFIG_KEY]["teams"]
    return teams


def _set(live: LiveStack, dotted: str, value: object) -> None:
    live.workspace.edit_config({f"{CONFIG_KEY}.{dotted}": value})


def _preview_json(live: LiveStack) -> dict[str, list[str]]:
    run = live.workspace.preview("--json")
    assert run.returncode == 0, run.describe()
    print("\n".join(explain(run)))  # shown on failure
    return changes(run)


def _up(live: LiveStack) -> None:
    run = live.workspace.up()
    assert run.returncode == 0, f"{run.describe()}\n{live.describe()}"


def test_killed_first_up_recovers_with_refresh(live: LiveStack) -> None:
    """SIGKILL of the CLI mid-`up`, then `refresh` and `up`: converged, nothing pending."""
    workspace = live.workspace
    process = workspace.start(
        "up", "--yes", "--non-interactive", "--skip-preview", "--stack", workspace.stack
    )
    # Kill once the engine is applying: the first namespace exists on the server.
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and process.poll() is None:
        listed = live.cluster.kubectl("get", "namespaces", "-l", "gpu-caas.io/tenant", "-o", "name")
        if listed.stdout.strip():
            break
        time.sleep(0.2)
    code = interrupt(process, signal.SIGKILL, after=0)
    assert code != 0, "the killed up finished before it could be interrupted"
    for run in workspace.recover():
        assert run.returncode == 0, run.describe()
    _up(live)
    assert workspace.pending_operations() == []


def test_every_planned_resource_exists_on_the_server(live: LiveStack) -> None:
    assert len(managed_objects(live.workspace)) >= 20
    flavor_checks.everything_exists(live)
    # Both mirror paths were used: the https repository and the OCI registry (KAI).
    served = [path for _method, path, status in live.mirror.requests if status == 200]
    assert any(path.endswith("/index.yaml") for path in served), served
    assert any(path.startswith("/v2/") and "/manifests/" in path for path in served), served


def test_no_perpetual_diff(live: LiveStack) -> None:
    flavor_checks.no_changes(live)


def _files_holding(directory: Path, secret: str) -> set[Path]:
    found = set()
    for path in directory.glob("kubeconfig*"):
        with contextlib.suppress(OSError):
            if path.is_file() and secret in path.read_text(errors="replace"):
                found.add(path)
    return found


def test_no_admin_kubeconfig_is_left_in_tmp(live: LiveStack, tmp_path: Path) -> None:
    # The Kubernetes provider writes its kubeconfig to $TMPDIR/kubeconfig<digits> and
    # never removes it (stacks/engine_tmpdir.py). A plain pulumi command shows it...
    exposed = tmp_path / "plain-tmpdir"
    exposed.mkdir(mode=0o700)
    try:
        plain = subprocess.run(
            ["pulumi", "preview", "--non-interactive", "--stack", live.workspace.stack],
            cwd=live.workspace.project,
            env={**live.workspace.environment(), "TMPDIR": str(exposed)},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert plain.returncode == 0, plain.stderr[-2000:]
        assert _files_holding(exposed, ADMIN_TOKEN), "the provider no longer leaves a kubeconfig"
    finally:
        shutil.rmtree(exposed, ignore_errors=True)
    # ...gpu-caas' tools run each command with a private TMPDIR, removed afterwards.
    machine_tmp = Path(tempfile.gettempdir())
    before = _files_holding(machine_tmp, ADMIN_TOKEN), set(machine_tmp.glob(f"{PREFIX}*"))
    live.workspace.preview().check()
    after = _files_holding(machine_tmp, ADMIN_TOKEN), set(machine_tmp.glob(f"{PREFIX}*"))
    assert after == before


def test_adding_a_team_creates_only_its_resources(live: LiveStack) -> None:
    teams = _teams(live)
    teams.append({"name": TEAM_B, "gpuQuota": 2, "idpGroups": [GROUP_B]})
    _set(live, "teams", teams)
    planned = _preview_json(live)
    unexpected = {
        op: [u for u in urns if TEAM_B not in urn_name(u) and urn_type(u) != "Queue"]
        for op, urns in planned.items()
    }
    assert planned.get("create"), planned
    assert set(planned) <= {"create", "update"}, planned
    # The tenant's department Queue sums the team quotas: it is the one update.
    assert all(not urns for op, urns in unexpected.items()), unexpected
    _up(live)
    assert live.cluster.kubectl("get", "namespace", TEAM_B).returncode == 0


def test_team_members_are_confined_to_their_namespace(live: LiveStack) -> None:
    platform = sorted(
        ref.name
        for ref in managed_objects(live.workspace)
        if ref.kind == "Namespace" and ref.name not in (TEAM_A, TEAM_B)
    )
    assert platform, "no platform namespace found"
    assert_rbac_isolates_teams(live.cluster, TEAM_A, GROUP_A, TEAM_B, platform)


def test_pod_security_rejects_privileged_pods(live: LiveStack) -> None:
    assert_pod_security_enforced(live.cluster, TEAM_A, GROUP_A)


def test_gpu_quota_and_nodeport_are_enforced(live: LiveStack) -> None:
    user = ("alice", [GROUP_B])
    over = gpu_pod("too-many-gpus", {"nvidia.com/gpu": "3"})  # research's quota is 2
    refused = live.cluster.kubectl(
        "create",
        "-n",
        TEAM_B,
        "-f",
        "-",
        stdin=json.dumps(over),
        as_user=user[0],
        as_groups=user[1],
    )
    assert refused.returncode != 0 and "exceeded quota" in refused.stderr, refused.stderr
    # MIG slices count too: 2 GPUs of small-models' layout yield 2 x 2 1g.12gb slices.
    slices = gpu_pod("too-many-slices", {"nvidia.com/mig-1g.12gb": "5"})
    refused = live.cluster.kubectl(
        "create", "-n", TEAM_B, "-f", "-",
        stdin=json.dumps(slices), as_user=user[0], as_groups=user[1],
    )  # fmt: skip
    assert refused.returncode != 0 and "exceeded quota" in refused.stderr, refused.stderr
    # The time-sliced `embeddings` group is serving's: research's quota holds 0 replicas
    # of it, serving's its gpuQuota x 4 (issue 10; stacks/config/gpu_quota.py).
    shared = gpu_pod("a-shared-gpu", {"nvidia.com/gpu.shared": "1"})
    refused = live.cluster.kubectl(
        "create", "-n", TEAM_B, "-f", "-",
        stdin=json.dumps(shared), as_user=user[0], as_groups=user[1],
    )  # fmt: skip
    assert refused.returncode != 0 and "exceeded quota" in refused.stderr, refused.stderr
    hard = live.cluster.kubectl(
        "get", "resourcequota", "-n", TEAM_A, "-o", "jsonpath={.items[0].spec.hard}"
    )
    assert int(json.loads(hard.stdout)["requests.nvidia.com/gpu.shared"]) > 0, hard.stdout
    within = gpu_pod("two-gpus", {"nvidia.com/gpu": "2"})
    admitted = live.cluster.kubectl(
        "create", "-n", TEAM_B, "--dry-run=server", "-f", "-",
        stdin=json.dumps(within), as_user=user[0], as_groups=user[1],
    )  # fmt: skip
    assert admitted.returncode == 0, admitted.stderr
    node_port = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "exposed"},
        "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80}]},
    }
    refused = live.cluster.kubectl(
        "create", "-n", TEAM_B, "-f", "-",
        stdin=json.dumps(node_port), as_user=user[0], as_groups=user[1],
    )  # fmt: skip
    assert refused.returncode != 0 and "services.nodeports" in refused.stderr, refused.stderr


def test_gpu_pods_land_on_matching_gpu_nodes(live: LiveStack) -> None:
    """The real scheduler places each GPU request on a node group that offers it; a pod
    without the GPU toleration has nowhere to go."""
    groups = {node.name: node.node_group for node in live.services.nodes}
    cases = {
        "whole-gpu": ({"nvidia.com/gpu": "1"}, {"llm", "embeddings"}),
        "mig-slice": ({"nvidia.com/mig-1g.12gb": "1"}, {"small-models"}),
    }
    for name, (resources, expected) in cases.items():
        pod = gpu_pod(name, resources)
        created = live.cluster.kubectl("create", "-n", TEAM_A, "-f", "-", stdin=json.dumps(pod))
        assert created.returncode == 0, created.stderr
        ready = live.cluster.kubectl(
            "wait", "-n", TEAM_A, f"pod/{name}", "--for=condition=Ready", "--timeout=120s",
            timeout=180,
        )  # fmt: skip
        assert ready.returncode == 0, ready.stderr
        node = live.cluster.kubectl(
            "get", "-n", TEAM_A, f"pod/{name}", "-o", "jsonpath={.spec.nodeName}"
        ).stdout
        assert groups.get(node) in expected, f"{name} ran on {node} ({groups.get(node)})"
    untolerated = gpu_pod("no-toleration", {"nvidia.com/gpu": "1"}, tolerate_gpu_taint=False)
    live.cluster.kubectl("create", "-n", TEAM_A, "-f", "-", stdin=json.dumps(untolerated))
    time.sleep(3)
    reason = live.cluster.kubectl(
        "get", "-n", TEAM_A, "pod/no-toleration",
        "-o", "jsonpath={.status.conditions[?(@.type=='PodScheduled')].reason}",
    )  # fmt: skip
    assert reason.stdout == "Unschedulable", reason.stdout
    live.cluster.kubectl("delete", "pods", "--all", "-n", TEAM_A, "--wait=true")


def test_state_holds_no_plaintext_secret(live: LiveStack) -> None:
    exported = json.dumps(live.workspace.export())
    ngc = live.workspace.pulumi(
        "config",
        "get",
        "--path",
        f"{CONFIG_KEY}.gpu.nim.ngcApiKey",
        "--stack",
        live.workspace.stack,
    )
    assert ngc.returncode == 0 and ngc.stdout.strip(), ngc.stderr
    secrets = {
        "cluster admin token": ADMIN_TOKEN,
        "kubeconfig": live.cluster.kubeconfig.read_text().strip(),
        "NGC API key": ngc.stdout.strip(),
    }
    leaked = [what for what, value in secrets.items() if value in exported]
    assert leaked == [], f"plaintext in `pulumi stack export`: {leaked}"
    assert "PRIVATE KEY-----" not in exported


def test_quota_change_updates_only_quota_objects(live: LiveStack) -> None:
    teams = _teams(live)
    for team in teams:
        if team["name"] == TEAM_B:
            team["gpuQuota"] = 4
    _set(live, "teams", teams)
    planned = _preview_json(live)
    assert set(planned) == {"update"}, planned
    kinds = {urn_type(urn) for urn in planned["update"]}
    assert kinds <= {"ResourceQuota", "Queue"}, planned
    _up(live)
    hard = live.cluster.kubectl(
        "get", "resourcequota", "-n", TEAM_B, "-o", "jsonpath={.items[0].spec.hard}"
    )
    assert json.loads(hard.stdout)["requests.nvidia.com/gpu"] == "4"


def test_mig_layout_change_updates_only_gpu_configuration(live: LiveStack) -> None:
    document = yaml.safe_load(live.workspace.stack_file_path.read_text())
    groups = document["config"][CONFIG_KEY]["nodeGroups"]
    for group in groups:
        if group["name"] == "small-models":
            group["sharing"]["mig"]["layout"] = {"3g.47gb": 2}
    _set(live, "nodeGroups", groups)
    planned = _preview_json(live)
    assert set(planned) == {"update"}, planned
    # The device-plugin and MIG configs (updated in place, never deleted first), the
    # GPU Operator's cluster-wide MIG strategy (mixed -> single: one profile left), the
    # team quotas' per-profile MIG lines (gone with the mixed strategy), the KAI
    # queues, whose GPU units follow the layout (stacks/config/gpu_quota.py), and the
    # autoscaled group's NodePool limits and NodeOverlay capacity (what its nodes will
    # advertise: components/gpu/advertised.py).
    kinds = {urn_type(urn) for urn in planned["update"]}
    assert kinds == {
        "ConfigMap", "Release", "ResourceQuota", "Queue", "NodePool", "NodeOverlay"
    }, planned  # fmt: skip
    pools = {urn_name(u) for u in planned["update"] if urn_type(u) in {"NodePool", "NodeOverlay"}}
    assert all(name.endswith("-small-models") for name in pools), planned
    _up(live)
    hard = live.cluster.kubectl(
        "get", "resourcequota", "-n", TEAM_A, "-o", "jsonpath={.items[0].spec.hard}"
    )
    assert not [key for key in json.loads(hard.stdout) if "mig-" in key], hard.stdout


def test_fleet_drift_check_names_what_changed_outside_pulumi(
    live: LiveStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`fleet refresh --preview-only` (the scheduled drift check) on the live stack: clean
    while nothing changed, then the quota someone edited with kubectl is named; `up`
    puts it back."""
    workspace = live.workspace
    # The fleet validates offline in this process first: the throwaway stack's opt-in
    # to the examples' dev passphrase must be visible here too.
    for key in ("GPU_CAAS_ALLOW_DEV_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE"):
        if key in workspace.environment():
            monkeypatch.setenv(key, workspace.environment()[key])

    def drift_check() -> TenantResult:
        options = FleetOptions(
            operation="refresh-preview",
            work_dir=tmp_path / "fleet",
            parallel=1,
            retries=0,
            env=workspace.environment(),
            project_dir=workspace.project,
        )
        tenant = TenantStack(workspace.stack, workspace.stack_file_path, "isv-managed")
        [result] = run_fleet([tenant], options).results
        return result

    clean = drift_check()
    assert (clean.result, clean.drifted) == ("succeeded", []), (clean.failure, clean.errors)
    quota = live.cluster.kubectl("get", "resourcequota", "-n", TEAM_A, "-o", "name")
    assert quota.returncode == 0 and quota.stdout.strip(), quota.stderr
    edited = live.cluster.kubectl(
        "patch", quota.stdout.split()[0], "-n", TEAM_A, "--type=json",
        "-p", '[{"op": "replace", "path": "/spec/hard/requests.nvidia.com~1gpu", "value": "99"}]',
        "--field-manager", "someone-with-kubectl",
    )  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    drift = drift_check()
    # Drift fails the check (the scheduled job goes red) and names the resource.
    assert (drift.result, drift.failure) == ("failed", "drift"), drift.errors
    assert [urn_type(urn) for urn in drift.drifted] == ["ResourceQuota"], drift.drifted
    assert TEAM_A in drift.drifted[0]
    workspace.refresh()
    _up(live)
    run = workspace.preview("--expect-no-changes", "--refresh")
    assert run.returncode == 0, run.describe()


def test_sigint_mid_update_converges(live: LiveStack) -> None:
    """Ctrl-C during an update: the CLI stops cleanly; `up` again finishes the change."""
    teams = [t for t in _teams(live) if t["name"] != TEAM_B]
    _set(live, "teams", teams)  # removing team B deletes its namespace and objects
    workspace = live.workspace
    process = workspace.start(
        "up", "--yes", "--non-interactive", "--skip-preview", "--stack", workspace.stack
    )
    interrupt(process, signal.SIGINT, after=4)
    refreshed = workspace.refresh("--clear-pending-creates")
    assert refreshed.returncode == 0, refreshed.describe()
    _up(live)
    assert workspace.pending_operations() == []
    run = workspace.preview("--expect-no-changes")
    assert run.returncode == 0, run.describe()
    assert present_on_server(live.cluster, [ObjectRef("v1", "Namespace", "", TEAM_B)]) == []


def test_destroy_removes_everything_in_bounded_time(live: LiveStack, tmp_path: Path) -> None:
    refs = managed_objects(live.workspace)
    namespaces = [ref for ref in refs if ref.kind == "Namespace"]
    start = time.monotonic()
    run = live.workspace.destroy(timeout=900)
    elapsed = time.monotonic() - start
    assert run.returncode == 0, run.describe()
    assert elapsed < 600, f"destroy took {elapsed:.0f}s"
    assert live.workspace.resources() == [] or all(
        r.get("type", "").startswith("pulumi:") for r in live.workspace.resources()
    )
    assert present_on_server(live.cluster, refs) == []
    assert present_on_server(live.cluster, namespaces) == []
    releases = live.cluster.kubectl("get", "secrets", "-A", "-l", "owner=helm", "-o", "name")
    assert releases.stdout.strip() == "", releases.stdout
