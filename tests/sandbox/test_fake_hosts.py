"""Stand-in hosts answer gpu-caas's own scripts over real SSH (no cluster needed here)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import asyncssh
import pytest

from components.cluster import kubeadm
from components.cluster.registry_mirrors import apply_script
from sandbox.cluster import LocalCluster
from sandbox.fake_hosts import CA_HASH, CERTIFICATE_KEY, JOIN_TOKEN, FakeHosts, loopback_address
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
