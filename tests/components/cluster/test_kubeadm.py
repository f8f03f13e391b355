"""kubeadm rendering, scripts and join-command parsing."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.cluster import kubeadm
from components.cluster.types import JoinParameters, Taint
from tests.components.cluster.helpers import CA_HASH, CERT_KEY, TOKEN, join_command

JOIN = JoinParameters("api.acme.example:6443", TOKEN, CA_HASH, CERT_KEY)
GPU_TAINT = Taint("nvidia.com/gpu", "present", "NoSchedule")


def _init(endpoint: str | None) -> list[dict[str, Any]]:
    return list(
        yaml.safe_load_all(
            kubeadm.render_init_configuration(
                cluster_name="acme",
                version="1.34.2",
                node_name="cp-0",
                advertise_address="10.0.0.10",
                endpoint=endpoint,
                pod_cidr="10.244.0.0/16",
                service_cidr="10.96.0.0/16",
                cri_socket="unix:///run/containerd/containerd.sock",
                labels={"gpu-caas.io/tenant": "acme"},
                taints=[Taint("node-role.kubernetes.io/control-plane", "", "NoSchedule")],
                api_server_args={"max-requests-inflight": "400"},
            )
        )
    )


def test_init_configuration_ha_uses_the_stable_endpoint() -> None:
    init, cluster = _init("api.acme.example")
    assert init["apiVersion"] == cluster["apiVersion"] == "kubeadm.k8s.io/v1beta4"
    assert (init["kind"], cluster["kind"]) == ("InitConfiguration", "ClusterConfiguration")
    assert init["localAPIEndpoint"] == {"advertiseAddress": "10.0.0.10", "bindPort": 6443}
    assert init["nodeRegistration"] == {
        "name": "cp-0",
        "criSocket": "unix:///run/containerd/containerd.sock",
        "taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
        "kubeletExtraArgs": [{"name": "node-labels", "value": "gpu-caas.io/tenant=acme"}],
    }
    assert cluster["kubernetesVersion"] == "v1.34.2"
    assert cluster["clusterName"] == "acme"
    assert cluster["controlPlaneEndpoint"] == "api.acme.example:6443"
    assert cluster["apiServer"]["certSANs"] == ["10.0.0.10", "api.acme.example"]
    assert cluster["apiServer"]["extraArgs"] == [{"name": "max-requests-inflight", "value": "400"}]
    assert cluster["networking"] == {"podSubnet": "10.244.0.0/16", "serviceSubnet": "10.96.0.0/16"}
    assert cluster["etcd"] == {"local": {"dataDir": "/var/lib/etcd"}}


def test_init_configuration_single_node_uses_the_host() -> None:
    _, cluster = _init(None)
    assert cluster["controlPlaneEndpoint"] == "10.0.0.10:6443"
    assert cluster["apiServer"]["certSANs"] == ["10.0.0.10"]


def test_worker_join_configuration() -> None:
    config = yaml.safe_load(
        kubeadm.render_join_configuration(
            node_name="gpu-0",
            join=JOIN,
            cri_socket="unix:///run/containerd/containerd.sock",
            labels={
                "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
                "gpu-caas.io/tenant": "acme",
            },
            taints=[GPU_TAINT],
        )
    )
    assert config["kind"] == "JoinConfiguration"
    assert config["discovery"] == {
        "bootstrapToken": {
            "apiServerEndpoint": "api.acme.example:6443",
            "token": TOKEN,
            "caCertHashes": [CA_HASH],
        }
    }
    registration = config["nodeRegistration"]
    assert registration["name"] == "gpu-0"
    assert registration["taints"] == [
        {"key": "nvidia.com/gpu", "effect": "NoSchedule", "value": "present"}
    ]
    assert registration["kubeletExtraArgs"] == [
        {
            "name": "node-labels",
            "value": "gpu-caas.io/tenant=acme,nvidia.com/gpu.product=NVIDIA-H100-80GB-HBM3",
        }
    ]
    assert "controlPlane" not in config


def test_control_plane_join_configuration() -> None:
    config = yaml.safe_load(
        kubeadm.render_join_configuration(
            node_name="cp-1",
            join=JOIN,
            cri_socket="unix:///run/containerd/containerd.sock",
            labels={},
            taints=[],
            control_plane_address="10.0.0.11",
        )
    )
    assert config["controlPlane"] == {
        "localAPIEndpoint": {"advertiseAddress": "10.0.0.11", "bindPort": 6443},
        "certificateKey": CERT_KEY,
    }
    assert config["nodeRegistration"]["taints"] == []
    assert "kubeletExtraArgs" not in config["nodeRegistration"]


def test_control_plane_join_needs_the_certificate_key() -> None:
    with pytest.raises(ValueError, match="needs the certificate key"):
        kubeadm.render_join_configuration(
            node_name="cp-1",
            join=JoinParameters("e:6443", TOKEN, CA_HASH),
            cri_socket="s",
            labels={},
            taints=[],
            control_plane_address="10.0.0.11",
        )


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        (join_command(), JoinParameters("api.acme.example:6443", TOKEN, CA_HASH)),
        (join_command(certificate_key=True), JOIN),
        (
            f"W1122 warning line\nkubeadm join 10.0.0.1:6443 --token {TOKEN} \\\n"
            f"  --discovery-token-ca-cert-hash {CA_HASH}\n".replace("\\\n", ""),
            JoinParameters("10.0.0.1:6443", TOKEN, CA_HASH),
        ),
    ],
)
def test_parse_join_command(output: str, expected: JoinParameters) -> None:
    assert kubeadm.parse_join_command(output) == expected


@pytest.mark.parametrize("output", ["", "error: forbidden", f"kubeadm join x --token {TOKEN}"])
def test_parse_join_command_rejects_other_output_without_echoing_it(output: str) -> None:
    with pytest.raises(ValueError) as error:
        kubeadm.parse_join_command(output)
    assert TOKEN not in str(error.value)
    assert str(error.value) == "unexpected output of `kubeadm token create`"


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("api.acme.example", "api.acme.example:6443"),
        ("api.acme.example:443", "api.acme.example:443"),
        ("10.0.0.10", "10.0.0.10:6443"),
        ("[fd00::1]", "[fd00::1]:6443"),
        ("[fd00::1]:6443", "[fd00::1]:6443"),
    ],
)
def test_endpoint_with_port(endpoint: str, expected: str) -> None:
    assert kubeadm.endpoint_with_port(endpoint) == expected


SCRIPTS = {
    "init": kubeadm.init_script("1.34.2"),
    "join": kubeadm.join_script("1.34.2"),
    "token": kubeadm.join_token_script(upload_certs=False),
    "token-ha": kubeadm.join_token_script(upload_certs=True),
    "reset": kubeadm.RESET_SCRIPT,
}


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_are_strict_and_take_secrets_only_on_stdin(name: str) -> None:
    script = SCRIPTS[name]
    assert script.startswith("set -eu\numask 077\n")
    # Only these shell variables exist: none of them is filled from a secret input.
    assert set(re.findall(r"\$\{?([A-Za-z_]+)", script)) <= {
        "SUDO",
        "cfg",
        "kc",
        "have",
        "join",
        "key",
        "running",
        "out",
    }


def test_init_and_join_are_idempotent_and_check_the_kubeadm_version() -> None:
    assert "test -f /etc/kubernetes/admin.conf" in SCRIPTS["init"]
    assert "test -f /etc/kubernetes/kubelet.conf" in SCRIPTS["join"]
    for name in ("init", "join"):
        assert "kubeadm version -o short" in SCRIPTS[name]
        assert "v1.34.2" in SCRIPTS[name]
    assert "--upload-certs" in SCRIPTS["init"]
    assert "--certificate-key" in SCRIPTS["token-ha"]
    assert "--certificate-key" not in SCRIPTS["token"]
    assert "--ttl 2h" in SCRIPTS["token"]


@pytest.mark.parametrize("name", ["init", "join"])
def test_bootstrapped_hosts_are_left_to_the_upgrade_step(name: str) -> None:
    """A re-run (a rotated SSH key updates the command) on a bootstrapped host never
    compares versions: after `kubeadm upgrade` the host runs a newer one than the
    script it joined with (components/cluster/upgrade.py owns versions)."""
    script = SCRIPTS[name]
    assert "else" not in script
    assert script.count("kubeadm version -o short") == 1  # the fresh-host check only


@pytest.mark.parametrize("name", SCRIPTS)
def test_scripts_are_valid_shell(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.sh"
    path.write_text(SCRIPTS[name])
    assert subprocess.run(["sh", "-n", str(path)], check=False).returncode == 0


def _run_join(
    tmp_path: Path, join_output: str, join_status: int
) -> subprocess.CompletedProcess[str]:
    """The real join script on this machine with a stub `kubeadm` first on PATH: it
    reports v1.34.2 and answers `join` with `join_output` and `join_status` (the
    machine has no /etc/kubernetes/kubelet.conf: a fresh host)."""
    assert not Path("/etc/kubernetes/kubelet.conf").exists()
    stub = tmp_path / "kubeadm"
    stub.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        "  version) echo v1.34.2 ;;\n"
        f"  join) printf '%s\\n' {shlex.quote(join_output)}; exit {join_status} ;;\n"
        "esac\n"
    )
    stub.chmod(0o755)
    # Not root: the script runs `sudo -n kubeadm ...`; this sudo runs the stub as is.
    sudo = tmp_path / "sudo"
    sudo.write_text('#!/bin/sh\n[ "$1" = -n ] && shift\nexec "$@"\n')
    sudo.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    return subprocess.run(
        ["dash", "-c", kubeadm.join_script("1.34.2")],
        input="kind: JoinConfiguration\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("output", "expired"),
    [
        ("[preflight] Some fatal errors occurred:\n\t[ERROR Port-10250]: Port 10250 in use",
         False),
        ('couldn\'t validate the identity of the API Server: token id "abcdef" is invalid for '
         "this cluster or it has expired", True),
    ],
)  # fmt: skip
def test_a_failed_join_says_so_in_lines_the_provider_shows(
    tmp_path: Path, output: str, expired: bool
) -> None:
    """The command provider withholds a command's output when it has secret inputs, but
    shows its `gpu-caas: ` lines (scripts/toolchain/command/README.md)."""
    done = _run_join(tmp_path, output, 1)
    assert done.returncode == 1
    lines = [line for line in done.stderr.splitlines() if line.startswith("gpu-caas: ")]
    assert any("kubeadm join failed on" in line for line in lines), done.stderr
    assert any("bootstrap token has expired" in line for line in lines) is expired, done.stderr
    assert output.splitlines()[0] in done.stderr  # kubeadm's own output, for the log


def test_a_join_that_works_prints_joined(tmp_path: Path) -> None:
    done = _run_join(tmp_path, "This node has joined the cluster", 0)
    assert (done.returncode, done.stdout) == (0, "joined\n"), done.stderr
    assert "This node has joined the cluster" in done.stderr
