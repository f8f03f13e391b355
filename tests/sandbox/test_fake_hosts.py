"""Stand-in hosts answer gpu-caas's own scripts over real SSH (no cluster needed here,
except for the live tests at the end: joins and upgrades change Nodes)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from components.cluster import kubeadm
from components.cluster.registry_mirrors import apply_script
from components.cluster.types import JoinParameters
from components.cluster.upgrade import UpgradeRole, upgrade_script
from sandbox.cluster import LocalCluster, running_cluster
from sandbox.fake_hosts import (
    CA_HASH,
    CERTIFICATE_KEY,
    JOIN_TOKEN,
    FakeHosts,
    checked_version,
    loopback_address,
    upgrade_refusal,
    upgrade_target,
)
from sandbox.services import point_hosts


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[FakeHosts]:
    cluster = LocalCluster(
        url="https://127.0.0.1:6443", kubeconfig=tmp_path / "kubeconfig", workdir=tmp_path
    )
    with FakeHosts(cluster, ["gpu-0", "gpu-1"], {}, kubeconfig="apiVersion: v1\n") as served:
        yield served


def _run(
    endpoint: tuple[str, int], command: str, stdin: str = "", env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    async def go() -> tuple[int, str, str]:
        key = asyncssh.generate_private_key("ssh-ed25519")
        async with asyncssh.connect(
            endpoint[0], endpoint[1], username="ubuntu", client_keys=[key], known_hosts=None
        ) as connection:
            result = await connection.run(command, input=stdin, env=env or {})
            return int(result.exit_status or 0), str(result.stdout), str(result.stderr)

    # A private loop: asyncio.run() would leave the main thread without a current event
    # loop, which the Pulumi mocks of later tests need.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(go())
    finally:
        loop.close()


def test_each_host_has_its_own_loopback_address(hosts: FakeHosts) -> None:
    (a0, p0), (a1, _) = hosts.endpoint("gpu-0"), hosts.endpoint("gpu-1")
    assert (a0, a1) == ("127.0.1.1", "127.0.1.2")
    overridden = point_hosts(
        [{"name": "gpu-0", "address": "192.0.2.20", "ssh": {"user": "ubuntu", "privateKey": "k"}}],
        {h.name: (h.address, h.port) for h in hosts.hosts},
    )
    assert overridden == [
        {
            "name": "gpu-0",
            "address": "127.0.1.1",
            "ssh": {"user": "ubuntu", "privateKey": "k", "port": p0},
        }
    ]


@pytest.mark.parametrize(
    ("index", "address"), [(0, "127.0.1.1"), (249, "127.0.1.250"), (250, "127.0.2.1")]
)
def test_loopback_addresses(index: int, address: str) -> None:
    assert loopback_address(index) == address


@pytest.mark.parametrize("upload_certs", [False, True])
def test_join_token_output_parses_like_kubeadms(hosts: FakeHosts, upload_certs: bool) -> None:
    status, out, _ = _run(
        hosts.endpoint("gpu-0"), kubeadm.join_token_script(upload_certs=upload_certs), stdin="kc"
    )
    assert status == 0
    join = kubeadm.parse_join_command(out)
    assert join.token == JOIN_TOKEN
    assert join.ca_cert_hash == CA_HASH
    assert join.certificate_key == (CERTIFICATE_KEY if upload_certs else None)


def test_registry_mirror_script_is_accepted(hosts: FakeHosts) -> None:
    status, _, _ = _run(hosts.endpoint("gpu-1"), apply_script({"nvcr.io": "mirror.example/nvcr"}))
    assert status == 0
    assert [s.kind for s in hosts.sessions] == ["registry-mirrors"]


def test_an_unknown_script_fails_loudly_and_values_are_not_recorded(hosts: FakeHosts) -> None:
    status, _, err = _run(hosts.endpoint("gpu-0"), "rm -rf /", env={"SECRET_TOKEN": "s3cr3t"})
    assert status == 1
    assert "unrecognised script" in err
    session = hosts.sessions[-1]
    assert session.kind == "unrecognised"
    # The Go command provider sends its `environment` as SSH env requests; a host that
    # refused them would get the script on stdin instead (`/bin/sh -s`).
    assert session.env_names == ("SECRET_TOKEN",)
    assert "s3cr3t" not in repr(hosts.sessions)


@pytest.mark.parametrize(
    ("script", "version"),
    [
        (kubeadm.join_script("1.34.2"), "1.34.2"),
        (kubeadm.init_script("1.35.0"), "1.35.0"),
        (kubeadm.RESET_SCRIPT, None),
    ],
)
def test_the_version_an_init_or_join_installs(script: str, version: str | None) -> None:
    assert checked_version(script) == version


@pytest.mark.parametrize("role", list(UpgradeRole))
def test_the_target_of_an_upgrade(role: UpgradeRole) -> None:
    assert upgrade_target(upgrade_script("1.35.1", role=role)) == "1.35.1"
    with pytest.raises(ValueError, match="no target version"):
        upgrade_target(kubeadm.join_script("1.35.1"))


@pytest.mark.parametrize(
    ("current", "target", "refusal"),
    [
        ("v1.34.2", "1.35.1", None),
        ("v1.35.0", "1.35.1", None),
        ("v1.35.1", "1.35.1", None),
        ("v1.33.9", "1.35.1",
         "the kubelet is at v1.33.9: upgrade one minor version at a time, next to 1.34"),
        ("v1.36.0", "1.35.1",
         "the kubelet is at v1.36.0, newer than v1.35.1: downgrades are not supported"),
        ("v1.35.2", "1.35.1",
         "the kubelet is at v1.35.2, newer than v1.35.1: downgrades are not supported"),
        ("kwok-0.8.0", "1.35.1", "cannot read the version of the kubelet ('kwok-0.8.0')"),
    ],
)  # fmt: skip
def test_upgrades_are_refused_like_the_real_script(
    current: str, target: str, refusal: str | None
) -> None:
    assert upgrade_refusal(current, target) == refusal


@pytest.mark.parametrize("role", list(UpgradeRole))
def test_upgrade_scripts_are_recognised(hosts: FakeHosts, role: UpgradeRole) -> None:
    _run(hosts.endpoint("gpu-0"), upgrade_script("1.35.1", role=role))
    assert [s.kind for s in hosts.sessions] == ["upgrade"]


# --------------------------------------------------------------------------- #
# Live: joins and upgrades on a local cluster (kwok plays the kubelets)
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeHosts]:
    """Fake hosts gpu-0 and gpu-1 on a live cluster, both joined at 1.34.2."""
    with (
        running_cluster(tmp_path_factory.mktemp("fake-hosts-cluster")) as cluster,
        FakeHosts(cluster, ["gpu-0", "gpu-1"], {}, kubeconfig="apiVersion: v1\n") as served,
    ):
        join = JoinParameters(f"{cluster.url.removeprefix('https://')}", JOIN_TOKEN, CA_HASH)
        for name in ("gpu-0", "gpu-1"):
            configuration = kubeadm.render_join_configuration(
                node_name=name,
                join=join,
                cri_socket="unix:///run/containerd/containerd.sock",
                labels={},
                taints=[],
            )
            status, _, err = _run(
                served.endpoint(name), kubeadm.join_script("1.34.2"), stdin=configuration
            )
            assert status == 0, err
        yield served


def _node_info(hosts: FakeHosts, name: str) -> dict[str, str]:
    done = hosts.cluster.kubectl("get", "node", name, "-o", "json")
    assert done.returncode == 0, done.stderr
    info: dict[str, str] = json.loads(done.stdout)["status"]["nodeInfo"]
    return info


@pytest.mark.engine
@pytest.mark.live
def test_a_joined_node_reports_the_kubelet_version_of_its_join(joined: FakeHosts) -> None:
    assert _node_info(joined, "gpu-0")["kubeletVersion"] == "v1.34.2"


@pytest.mark.engine
@pytest.mark.live
def test_an_upgrade_moves_the_node_to_the_target_once(joined: FakeHosts) -> None:
    script = upgrade_script("1.35.0", role=UpgradeRole.WORKER)
    status, out, err = _run(joined.endpoint("gpu-0"), script)
    assert (status, out.splitlines()[-1]) == (0, "upgraded 1.35.0"), err
    assert _node_info(joined, "gpu-0")["kubeletVersion"] == "v1.35.0"
    # kwok's placeholder is no Kubernetes version: left alone.
    assert _node_info(joined, "gpu-0")["kubeProxyVersion"].startswith("kwok-")
    assert _node_info(joined, "gpu-1")["kubeletVersion"] == "v1.34.2"
    again = _run(joined.endpoint("gpu-0"), script)
    assert again[:2] == (0, "already at v1.35.0\n")
    upgrades = [s for s in joined.sessions if s.kind == "upgrade"]
    assert [(s.host, s.exit_status) for s in upgrades] == [("gpu-0", 0), ("gpu-0", 0)]


@pytest.mark.engine
@pytest.mark.live
@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("1.36.0", "upgrade one minor version at a time, next to 1.35"),
        ("1.34.1", "newer than v1.34.1: downgrades are not supported"),
    ],
)
def test_a_skipped_minor_or_a_downgrade_fails_like_the_real_script(
    joined: FakeHosts, target: str, message: str
) -> None:
    script = upgrade_script(target, role=UpgradeRole.FIRST_CONTROL_PLANE)
    status, _, err = _run(joined.endpoint("gpu-1"), script)
    assert status == 1
    assert err.startswith("gpu-caas: gpu-1: check the version skew: the kubelet is at v1.34.2")
    assert message in err
    assert _node_info(joined, "gpu-1")["kubeletVersion"] == "v1.34.2"
