"""The node lifecycle scripts: their environment (pure), and the scripts themselves run
for real by dash (POSIX sh) with kubectl against a live local cluster whose Nodes kwok
plays (`sandbox.cluster`): label and taint syncs, failed hosts, drains blocked by a
PodDisruptionBudget, Node removal."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pulumi_command as command
import pytest
import yaml

from components.cluster import node_lifecycle
from components.cluster.node_lifecycle import (
    CORDONED_ANNOTATION,
    DRAIN_FOR_UPGRADE,
    DRAIN_SCRIPT,
    MANAGED_LABELS_ANNOTATION,
    MANAGED_TAINTS_ANNOTATION,
    REMOVE_NODE,
    SYNC_NODE,
    SYNC_SCRIPT,
    inline_script,
    labels_env,
    node_environment,
    script_command,
    taints_env,
)
from components.cluster.types import Taint
from sandbox.cluster import KWOK_NODE_ANNOTATION, LocalCluster, running_cluster
from tests.support.mocks import RecordingMocks, run

SCRIPTS = {"drain": DRAIN_FOR_UPGRADE, "sync": SYNC_NODE, "remove": REMOVE_NODE}
ROOT = Path(__file__).resolve().parents[3]
DRAIN_COMMAND = script_command(DRAIN_SCRIPT, ROOT)
SYNC_COMMAND = script_command(SYNC_SCRIPT, ROOT)
KUBECONFIG = "apiVersion: v1\nkind: Config\nusers: [{name: a, user: {token: NODE-SECRET}}]\n"

# --------------------------------------------------------------------------- #
# The environment (pure)
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({}, ""),
        ({"b": "2", "a": "1"}, "a=1\nb=2"),
        ({"gpu-caas.io/node-group": "train", "empty": ""},
         "empty=\ngpu-caas.io/node-group=train"),
    ],
)  # fmt: skip
def test_labels_env(labels: dict[str, str], expected: str) -> None:
    assert labels_env(labels) == expected


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"a b": "1"}, "label key 'a b' is not a valid"),
        ({"a=b": "1"}, "label key 'a=b' is not a valid"),
        ({"a": "x\ny"}, "label a: value 'x\\\\ny' is not a valid"),
        ({"a": "x,y"}, "label a: value 'x,y' is not a valid"),
        ({"Bad.Prefix/a": "1"}, "label key 'Bad.Prefix/a'"),
    ],
)
def test_labels_env_refuses_what_the_api_server_would(labels: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        labels_env(labels)


@pytest.mark.parametrize(
    ("taints", "expected"),
    [
        ([], ""),
        ([Taint("nvidia.com/gpu", "present", "NoSchedule"), Taint("ded", "", "NoExecute")],
         "nvidia.com/gpu=present:NoSchedule\nded:NoExecute"),
        # One key, two effects: two taints.
        ([Taint("k", "v", "NoSchedule"), Taint("k", "v", "PreferNoSchedule")],
         "k=v:NoSchedule\nk=v:PreferNoSchedule"),
    ],
)  # fmt: skip
def test_taints_env(taints: list[Taint], expected: str) -> None:
    assert taints_env(taints) == expected


@pytest.mark.parametrize(
    ("taints", "message"),
    [
        ([Taint("k", "v", "NoScheduled")], "effect 'NoScheduled' is not one of NoSchedule"),
        ([Taint("k", "a:b", "NoSchedule")], "taint k: value 'a:b' is not valid"),
        ([Taint("k:x", "", "NoSchedule")], "taint key 'k:x'"),
        ([Taint("k", "1", "NoSchedule"), Taint("k", "2", "NoSchedule")],
         "taint k:NoSchedule is given twice"),
    ],
)  # fmt: skip
def test_taints_env_refuses_what_the_api_server_would(taints: list[Taint], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        taints_env(taints)


def test_node_environment_keeps_only_the_kubeconfig_secret() -> None:
    mocks = RecordingMocks()

    def program() -> None:
        command.local.Command(
            "acme-train-node-gpu-0",
            create=SYNC_NODE,
            environment=node_environment(
                node="gpu-0",
                kubeconfig=KUBECONFIG,
                version="1.35.1",
                labels={"gpu-caas.io/node-group": "train"},
                taints=[Taint("nvidia.com/gpu", "present", "NoSchedule")],
                state="failed",
                drain_timeout_seconds=600,
                delete_emptydir_data=False,
            ),
        )

    run(program, mocks)
    registered = mocks.one("command:local:Command", "acme-train-node-gpu-0")
    assert registered.inputs["environment"] == {
        "KUBECONFIG_DATA": KUBECONFIG,
        "NODE": "gpu-0",
        "VERSION": "1.35.1",
        "LABELS": "gpu-caas.io/node-group=train",
        "TAINTS": "nvidia.com/gpu=present:NoSchedule",
        "STATE": "failed",
        "DRAIN_TIMEOUT": "600",
        "DELETE_EMPTYDIR": "false",
        "READY_TIMEOUT": "600",
    }
    assert registered.is_secret("environment.KUBECONFIG_DATA")
    assert not registered.is_secret("environment.NODE")
    assert mocks.leaks("NODE-SECRET") == []


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"state": "spare"}, "node gpu-0: state 'spare' is not one of active, failed"),
        ({"drain_timeout_seconds": 0}, "timeouts must be > 0 seconds"),
        ({"ready_timeout_seconds": -1}, "timeouts must be > 0 seconds"),
    ],
)
def test_node_environment_refuses(overrides: dict[str, Any], message: str) -> None:
    arguments: dict[str, Any] = {
        "node": "gpu-0",
        "kubeconfig": KUBECONFIG,
        "version": None,
        "labels": {},
        "taints": [],
        "state": "active",
        "drain_timeout_seconds": 60,
        "delete_emptydir_data": True,
        **overrides,
    }
    with pytest.raises(ValueError, match=message):
        node_environment(**arguments)


@pytest.mark.parametrize(
    ("name", "inputs"),
    [
        ("drain", {"KUBECONFIG_DATA", "NODE", "VERSION", "DRAIN_TIMEOUT", "DELETE_EMPTYDIR"}),
        ("sync", {"KUBECONFIG_DATA", "NODE", "VERSION", "LABELS", "TAINTS", "STATE",
                  "READY_TIMEOUT"}),
        ("remove", {"KUBECONFIG_DATA", "NODE", "DRAIN_TIMEOUT", "DELETE_EMPTYDIR"}),
    ],
)  # fmt: skip
def test_scripts_are_posix_sh_reading_only_their_inputs(name: str, inputs: set[str]) -> None:
    """The environment variables each script reads (the drain command's environment
    is filtered to its own, so a label change is no drain update)."""
    script = SCRIPTS[name]
    assert subprocess.run(["dash", "-n"], input=script, text=True, check=False).returncode == 0
    assert set(re.findall(r"\$\{?([A-Z][A-Z_]*)", script)) == inputs
    assert '"$KUBECONFIG_DATA" > "$kc"' in script
    assert not re.search(r"\b(jq|python3?)\b", script)


@pytest.mark.parametrize(
    ("name", "text"), [(DRAIN_SCRIPT, DRAIN_FOR_UPGRADE), (SYNC_SCRIPT, SYNC_NODE)]
)
def test_a_step_runs_its_script_file_named_with_the_digest_of_its_text(
    name: str, text: str
) -> None:
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    assert script_command(name, ROOT) == f"sh components/cluster/scripts/{name} # sha256:{digest}"


def test_the_script_path_is_relative_to_the_project_directory(tmp_path: Path) -> None:
    """The program and the command provider both run in the project directory; from
    anywhere else the path still leads to the same file."""
    command_line = script_command(DRAIN_SCRIPT, tmp_path)
    path = command_line.split()[1]
    assert not path.startswith("/")
    assert (tmp_path / path).resolve() == (node_lifecycle.SCRIPTS / DRAIN_SCRIPT).resolve()


def test_a_script_file_must_load_the_library_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "node-lib.sh").write_text("# lib\n\nk() { :; }\n")
    (tmp_path / "node-drain-lib.sh").write_text("# drain lib\n\ndrain_node() { :; }\n")
    (tmp_path / "node-x.sh").write_text("# x\n\necho no library\n")
    (tmp_path / "node-y.sh").write_text(
        '# y\n\n. "${0%/*}/node-lib.sh"\n. "${0%/*}/node-drain-lib.sh"\necho y\n'
    )
    (tmp_path / "node-z.sh").write_text('# z\n\n. "${0%/*}/node-drain-lib.sh"\necho z\n')
    monkeypatch.setattr(node_lifecycle, "SCRIPTS", tmp_path)
    for name in ("node-x.sh", "node-z.sh"):
        with pytest.raises(ValueError, match="must load node-lib.sh first"):
            inline_script(name)
    # Inlined: each library's text (without its description) where the file loads it.
    assert inline_script("node-y.sh") == "# y\n\nk() { :; }\ndrain_node() { :; }\necho y\n"


# --------------------------------------------------------------------------- #
# Live: the scripts against a real API server (kwok plays the kubelets)
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster(tmp_path_factory.mktemp("node-lifecycle-cluster")) as running:
        yield running


def _kubectl(cluster: LocalCluster, *args: str, stdin: str | None = None) -> str:
    done = cluster.kubectl(*args, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _register(
    cluster: LocalCluster,
    name: str,
    *,
    version: str = "v1.34.2",
    labels: Mapping[str, str] | None = None,
    taints: list[dict[str, str]] | None = None,
) -> None:
    """A Node as a kubelet registers it (kwok marks it Ready), reporting `version`."""
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/hostname": name, **(labels or {})},
            "annotations": {KWOK_NODE_ANNOTATION: "fake"},
        },
        "spec": {"taints": taints or []},
    }
    _kubectl(cluster, "create", "-f", "-", stdin=yaml.safe_dump(node))
    # kwok's first status keeps a nodeInfo that is already there; set it afterwards.
    _kubectl(cluster, "wait", f"node/{name}", "--for=condition=Ready", "--timeout=60s")
    _set_version(cluster, name, version)


def _set_version(cluster: LocalCluster, name: str, version: str) -> None:
    patch = json.dumps({"status": {"nodeInfo": {"kubeletVersion": version}}})
    _kubectl(cluster, "patch", "node", name, "--subresource", "status", "--type", "merge",
             "-p", patch)  # fmt: skip


def _node(cluster: LocalCluster, name: str) -> dict[str, Any]:
    node: dict[str, Any] = json.loads(_kubectl(cluster, "get", "node", name, "-o", "json"))
    return node


def _annotations(node: Mapping[str, Any]) -> dict[str, str]:
    annotations: dict[str, str] = node["metadata"].get("annotations", {})
    return annotations


def _taints(node: Mapping[str, Any]) -> set[str]:
    return {
        f"{t['key']}={t.get('value', '')}:{t['effect']}"
        for t in node["spec"].get("taints", [])
        if t["key"] != "node.kubernetes.io/unschedulable"
    }


def _env(
    cluster: LocalCluster,
    *,
    node: str,
    version: str | None = "1.34.2",
    labels: Mapping[str, str] | None = None,
    taints: list[Taint] | None = None,
    state: str = "active",
    drain_timeout: int = 30,
    ready_timeout: int = 60,
) -> dict[str, str]:
    """The commands' environment as `node_environment` builds it, for a shell."""
    environment = node_environment(
        node=node,
        kubeconfig="unused",  # a secret Output; the plain text is passed below
        version=version,
        labels=labels or {},
        taints=taints or [],
        state=state,
        drain_timeout_seconds=drain_timeout,
        delete_emptydir_data=True,
        ready_timeout_seconds=ready_timeout,
    )
    env = {key: value for key, value in environment.items() if isinstance(value, str)}
    env["KUBECONFIG_DATA"] = cluster.kubeconfig.read_text()
    env["PATH"] = os.environ["PATH"]
    # kubectl keeps its discovery cache under $HOME/.kube: the cluster's own directory,
    # never the working directory (the checkout) that an unset HOME would mean.
    env["HOME"] = str(cluster.workdir)
    return env


def _run(cluster: LocalCluster, script: str, **inputs: Any) -> subprocess.CompletedProcess[str]:
    """`script` run by dash (POSIX sh) with `_env(cluster, **inputs)`, in the repository
    (as the command provider runs it in the project directory)."""
    return subprocess.run(
        ["dash", "-c", script],
        cwd=ROOT,
        env=_env(cluster, **inputs),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.engine
@pytest.mark.live
def test_sync_sets_exactly_the_managed_labels_and_taints(cluster: LocalCluster) -> None:
    _register(
        cluster,
        "sync-0",
        labels={"feature.node.kubernetes.io/foreign": "true"},
        taints=[{"key": "foreign", "value": "x", "effect": "NoSchedule"}],
    )
    first = _run(
        cluster,
        SYNC_NODE,
        node="sync-0",
        labels={"a": "1", "b": "2"},
        taints=[Taint("t1", "v", "NoSchedule"), Taint("t2", "", "PreferNoSchedule")],
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == "node sync-0 is in line (kubelet v1.34.2)\n"
    node = _node(cluster, "sync-0")
    assert node["metadata"]["annotations"][MANAGED_LABELS_ANNOTATION] == "a,b"
    assert node["metadata"]["annotations"][MANAGED_TAINTS_ANNOTATION] == (
        "t1:NoSchedule,t2:PreferNoSchedule"
    )
    assert _taints(node) == {"foreign=x:NoSchedule", "t1=v:NoSchedule", "t2=:PreferNoSchedule"}

    second = _run(
        cluster,
        SYNC_NODE,
        node="sync-0",
        labels={"a": "9", "c": "3"},
        taints=[Taint("t1", "w", "NoSchedule")],
    )
    assert second.returncode == 0, second.stderr
    node = _node(cluster, "sync-0")
    labels = node["metadata"]["labels"]
    assert {k: v for k, v in labels.items() if len(k) == 1} == {"a": "9", "c": "3"}
    assert labels["feature.node.kubernetes.io/foreign"] == "true"
    assert _taints(node) == {"foreign=x:NoSchedule", "t1=w:NoSchedule"}
    assert node["metadata"]["annotations"][MANAGED_LABELS_ANNOTATION] == "a,c"
    assert node["metadata"]["annotations"][MANAGED_TAINTS_ANNOTATION] == "t1:NoSchedule"
    assert not node["spec"].get("unschedulable")


@pytest.mark.engine
@pytest.mark.live
@pytest.mark.parametrize(
    ("name", "cordoned_by_hand"),
    [
        # gpu-caas cordons it, so returning it uncordons it.
        ("failed-0", False),
        # Cordoned by hand before it was marked failed: it stays cordoned when returned.
        ("failed-1", True),
    ],
)
def test_a_failed_host_is_cordoned_and_marked_until_it_is_active_again(
    cluster: LocalCluster, name: str, cordoned_by_hand: bool
) -> None:
    _register(cluster, name)
    if cordoned_by_hand:
        _kubectl(cluster, "cordon", name)
    labels = {"gpu-caas.io/node-group": "train"}
    # A failed host may be down: no waiting for Ready or the version.
    failed = _run(cluster, SYNC_NODE, node=name, labels=labels, state="failed",
                  version="9.9.9")  # fmt: skip
    assert failed.returncode == 0, failed.stderr
    node = _node(cluster, name)
    assert node["spec"]["unschedulable"] is True
    assert _annotations(node).get(CORDONED_ANNOTATION) == (None if cordoned_by_hand else "failed")
    assert node["metadata"]["labels"]["gpu-caas.io/host-state"] == "failed"
    assert _taints(node) == {"gpu-caas.io/host-state=failed:NoExecute"}
    assert node["metadata"]["labels"]["gpu-caas.io/node-group"] == "train"

    back = _run(cluster, SYNC_NODE, node=name, labels=labels)
    assert back.returncode == 0, back.stderr
    node = _node(cluster, name)
    assert bool(node["spec"].get("unschedulable")) is cordoned_by_hand
    assert (f"gpu-caas: node {name} stays cordoned" in back.stderr) is cordoned_by_hand
    assert CORDONED_ANNOTATION not in _annotations(node)
    assert "gpu-caas.io/host-state" not in node["metadata"]["labels"]
    assert _taints(node) == set()


@pytest.mark.engine
@pytest.mark.live
@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("hand-0", {}),  # a person cordoned it for maintenance
        # The GPU Operator's upgrade controller cordoned it and waits for jobs to end.
        ("hand-1", {"nvidia.com/gpu-driver-upgrade-state": "wait-for-jobs-required"}),
    ],
)
def test_sync_leaves_a_node_cordoned_by_someone_else_cordoned(
    cluster: LocalCluster, name: str, labels: dict[str, str]
) -> None:
    _register(cluster, name, labels=labels)
    _kubectl(cluster, "cordon", name)
    synced = _run(cluster, SYNC_NODE, node=name, labels={"a": "1"})
    assert synced.returncode == 0, synced.stderr
    assert synced.stdout == f"node {name} is in line (kubelet v1.34.2)\n"
    assert (
        f"gpu-caas: node {name} stays cordoned: someone else cordoned it (a person, node "
        "health, the GPU Operator's driver upgrade), not gpu-caas (no gpu-caas.io/cordoned "
        f"annotation); 'kubectl uncordon {name}' once that work is done\n"
    ) in synced.stderr
    node = _node(cluster, name)
    assert node["spec"]["unschedulable"] is True
    assert node["metadata"]["labels"]["a"] == "1"
    # Once its owner uncordons it, a sync has nothing to say.
    _kubectl(cluster, "uncordon", name)
    again = _run(cluster, SYNC_NODE, node=name, labels={"a": "1"})
    assert again.returncode == 0, again.stderr
    assert "cordon" not in again.stderr
    assert not _node(cluster, name)["spec"].get("unschedulable")


@pytest.mark.engine
@pytest.mark.live
@pytest.mark.parametrize(
    ("name", "cordoned_by_hand"),
    [
        ("upgrade-0", False),  # gpu-caas's cordon: the sync after the upgrade undoes it
        ("upgrade-1", True),  # someone else's: drained for the upgrade, and kept cordoned
    ],
)
def test_the_sync_after_a_drain_uncordons_only_a_cordon_of_its_own(
    cluster: LocalCluster, name: str, cordoned_by_hand: bool
) -> None:
    # As the program runs them: from their files (`script_command`).
    _register(cluster, name, version="v1.34.2")
    if cordoned_by_hand:
        _kubectl(cluster, "cordon", name)
    drained = _run(cluster, DRAIN_COMMAND, node=name, version="1.35.1")
    assert drained.returncode == 0, drained.stderr
    node = _node(cluster, name)
    assert node["spec"]["unschedulable"] is True
    assert _annotations(node).get(CORDONED_ANNOTATION) == (None if cordoned_by_hand else "upgrade")
    # A re-run (say, after a drain that timed out) keeps what the first run recorded.
    again = _run(cluster, DRAIN_COMMAND, node=name, version="1.35.1")
    assert again.returncode == 0, again.stderr
    assert _annotations(_node(cluster, name)).get(CORDONED_ANNOTATION) == (
        None if cordoned_by_hand else "upgrade"
    )

    _set_version(cluster, name, "v1.35.1")  # the upgrade step ran
    synced = _run(cluster, SYNC_COMMAND, node=name, version="1.35.1")
    assert synced.returncode == 0, synced.stderr
    node = _node(cluster, name)
    assert bool(node["spec"].get("unschedulable")) is cordoned_by_hand
    assert CORDONED_ANNOTATION not in _annotations(node)
    if cordoned_by_hand:
        assert f"gpu-caas: node {name} stays cordoned" in synced.stderr
    else:
        assert f"node/{name} uncordoned (gpu-caas had cordoned it: upgrade)\n" in synced.stderr


@pytest.mark.engine
@pytest.mark.live
def test_a_cordon_by_someone_else_while_the_drain_cordons_is_not_taken_over(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """Someone cordons the Node between the drain's read of `.spec.unschedulable` and its
    write: the write (conditional on the resourceVersion read) is a Conflict, and the
    retry sees the other cordon, so gpu-caas records no cordon of its own."""
    _register(cluster, "race-0")
    # kubectl, but the first `patch` (`k patch node NODE ...`) is preceded by someone
    # else's cordon.
    real = shutil.which("kubectl")
    assert real is not None
    fake = tmp_path / "kubectl"
    fake.write_text(
        "#!/bin/sh\n"
        f'if [ "$3" = patch ] && [ ! -e "{tmp_path}/raced" ]; then\n'
        f'  touch "{tmp_path}/raced"\n'
        f'  "{real}" "$1" "$2" cordon "$5" >/dev/null\n'
        "fi\n"
        f'exec "{real}" "$@"\n'
    )
    fake.chmod(0o755)
    env = _env(cluster, node="race-0", version="1.35.1")
    env["PATH"] = f"{tmp_path}{os.pathsep}{env['PATH']}"
    drained = subprocess.run(["dash", "-c", DRAIN_FOR_UPGRADE], env=env, capture_output=True,
                             text=True, timeout=300, check=False)  # fmt: skip
    assert drained.returncode == 0, drained.stderr
    assert (tmp_path / "raced").exists()
    assert "cordoned by gpu-caas" not in drained.stderr
    node = _node(cluster, "race-0")
    assert node["spec"]["unschedulable"] is True
    assert CORDONED_ANNOTATION not in _annotations(node)


@pytest.mark.engine
@pytest.mark.live
def test_sync_waits_for_the_kubelet_version(cluster: LocalCluster) -> None:
    _register(cluster, "wait-0", version="v1.34.2")
    late = _run(cluster, SYNC_NODE, node="wait-0", version="1.35.1", ready_timeout=4)
    assert late.returncode == 1
    assert late.stderr.strip().splitlines()[-1] == (
        "gpu-caas: node wait-0 is not Ready at kubelet v1.35.1 after 4s "
        "(last seen: Ready=True, kubelet v1.34.2)"
    )
    absent = _run(cluster, SYNC_NODE, node="never-0", ready_timeout=2)
    assert absent.returncode == 1
    assert "node never-0 is not Ready at kubelet v1.34.2 after 2s (last seen: not registered)" in (
        absent.stderr
    )
    # The kubelet comes back at the new version while the step waits.
    env = _env(cluster, node="wait-0", version="1.35.1", ready_timeout=60)
    with subprocess.Popen(
        ["dash", "-c", SYNC_NODE], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    ) as waiting:  # fmt: skip
        time.sleep(3)
        assert waiting.poll() is None
        _set_version(cluster, "wait-0", "v1.35.1")
        out, err = waiting.communicate(timeout=60)
    assert waiting.returncode == 0, err
    assert out == "node wait-0 is in line (kubelet v1.35.1)\n"


@pytest.mark.engine
@pytest.mark.live
def test_drain_for_upgrade_skips_absent_and_current_nodes(cluster: LocalCluster) -> None:
    absent = _run(cluster, DRAIN_FOR_UPGRADE, node="nobody")
    assert (absent.returncode, absent.stdout) == (
        0,
        "node nobody is not registered yet: nothing to drain\n",
    )
    _register(cluster, "current-0", version="v1.35.1")
    current = _run(cluster, DRAIN_FOR_UPGRADE, node="current-0", version="1.35.1")
    assert current.returncode == 0, current.stderr
    assert current.stdout == "node current-0 runs kubelet v1.35.1: nothing to drain\n"
    assert not _node(cluster, "current-0")["spec"].get("unschedulable")


@pytest.mark.engine
@pytest.mark.live
def test_a_reverted_rollout_lifts_the_cordon_it_left(cluster: LocalCluster) -> None:
    """The rollout drained the node, then stopped (the upgrade failed on the host) and
    the config went back to the running version: the drain of that version finds its
    own cordon and lifts it (the node step would never run again)."""
    _register(cluster, "revert-0", version="v1.35.0")
    drained = _run(cluster, DRAIN_FOR_UPGRADE, node="revert-0", version="1.36.0")
    assert drained.returncode == 0, drained.stderr
    assert _node(cluster, "revert-0")["spec"]["unschedulable"] is True
    reverted = _run(cluster, DRAIN_FOR_UPGRADE, node="revert-0", version="1.35.0")
    assert reverted.returncode == 0, reverted.stderr
    assert "uncordoned (an earlier rollout had cordoned it)" in reverted.stdout
    node = _node(cluster, "revert-0")
    assert not node["spec"].get("unschedulable")
    assert CORDONED_ANNOTATION not in _annotations(node)
    # Someone else's cordon is never lifted this way.
    _kubectl(cluster, "cordon", "revert-0")
    again = _run(cluster, DRAIN_FOR_UPGRADE, node="revert-0", version="1.35.0")
    assert again.stdout.endswith("nothing to drain\n"), again.stdout
    assert _node(cluster, "revert-0")["spec"]["unschedulable"] is True


@pytest.mark.engine
@pytest.mark.live
@pytest.mark.parametrize(
    ("version", "says"),
    [
        ("1.34.2", "downgrades are not supported; set the version back to 1.35.1"),
        ("1.35.0", "downgrades are not supported"),
        ("1.37.0", "skips a minor version"),
    ],
)
def test_a_refused_version_never_drains(cluster: LocalCluster, version: str, says: str) -> None:
    name = f"refuse-{version.replace('.', '-')}"
    _register(cluster, name, version="v1.35.1")
    refused = _run(cluster, DRAIN_FOR_UPGRADE, node=name, version=version)
    assert refused.returncode == 1
    assert says in refused.stderr and "(nothing was drained)" in refused.stderr
    assert refused.stderr.startswith(f"gpu-caas: {name}: kubelet v1.35.1")
    assert not _node(cluster, name)["spec"].get("unschedulable")


def _guarded_pod(cluster: LocalCluster, node: str) -> str:
    """A one-replica Deployment on `node` with a PDB `minAvailable: 1`; its pod name."""
    manifests = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": f"web-{node}", "namespace": "default"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": f"web-{node}"}},
                "template": {
                    "metadata": {"labels": {"app": f"web-{node}"}},
                    "spec": {
                        "nodeName": node,
                        "containers": [{"name": "web", "image": "registry.example/web:1"}],
                    },
                },
            },
        },
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": f"web-{node}", "namespace": "default"},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": f"web-{node}"}}},
        },
    ]
    _kubectl(cluster, "apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))
    _kubectl(cluster, "wait", "pods", "-n", "default", "-l", f"app=web-{node}",
             "--for=condition=Ready", "--timeout=60s")  # fmt: skip
    pods = _kubectl(cluster, "get", "pods", "-n", "default", "-l", f"app=web-{node}", "-o", "name")
    return pods.strip().removeprefix("pod/")


@pytest.mark.engine
@pytest.mark.live
def test_a_drain_blocked_by_a_pdb_fails_naming_the_node_and_the_pod(cluster: LocalCluster) -> None:
    _register(cluster, "drain-0")
    pod = _guarded_pod(cluster, "drain-0")
    done = _run(cluster, DRAIN_FOR_UPGRADE, node="drain-0", version="1.35.1", drain_timeout=3)
    assert done.returncode == 1
    assert "gpu-caas: could not drain node drain-0 within 3s; it stays cordoned." in done.stderr
    assert f"gpu-caas:   default/{pod}\n" in done.stderr
    assert "disruption budget" in done.stderr  # kubectl's own reason
    assert _node(cluster, "drain-0")["spec"]["unschedulable"] is True


@pytest.mark.engine
@pytest.mark.live
def test_remove_drains_and_deletes_the_node(cluster: LocalCluster) -> None:
    _register(cluster, "remove-0")
    removed = _run(cluster, REMOVE_NODE, node="remove-0")
    assert removed.returncode == 0, removed.stderr
    assert removed.stdout == "removed remove-0\n"
    assert "node/remove-0 drained" in removed.stderr
    gone = cluster.kubectl("get", "node", "remove-0")
    assert gone.returncode == 1 and "NotFound" in gone.stderr
    again = _run(cluster, REMOVE_NODE, node="remove-0")
    assert (again.returncode, again.stdout) == (
        0,
        "node remove-0 is not registered: nothing to remove\n",
    )


@pytest.mark.engine
@pytest.mark.live
def test_a_node_that_is_not_ready_is_removed_without_a_drain(cluster: LocalCluster) -> None:
    """A failed host's kubelet is gone: evicted pods would wait for it forever."""
    _register(cluster, "dead-0")
    _guarded_pod(cluster, "dead-0")
    _kubectl(cluster, "annotate", "node", "dead-0", f"{KWOK_NODE_ANNOTATION}-")
    not_ready = json.dumps({"status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}})
    _kubectl(cluster, "patch", "node", "dead-0", "--subresource", "status", "--type", "merge",
             "-p", not_ready)  # fmt: skip
    removed = _run(cluster, REMOVE_NODE, node="dead-0", drain_timeout=3)
    assert removed.returncode == 0, removed.stderr
    assert "node dead-0 is not Ready: deleted without a drain" in removed.stderr
    assert cluster.kubectl("get", "node", "dead-0").returncode == 1
