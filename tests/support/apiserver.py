"""A throwaway Kubernetes API server (etcd + kube-apiserver) on loopback, for tests.

`make setup-test` builds kube-apiserver and etcd from the Go module proxy (see
scripts/toolchain/kube-apiserver and scripts/toolchain/etcd). This starts them on
free 127.0.0.1 ports with a static admin token, so tests can ask a real API server
to validate what gpu-caas renders: `kubectl apply --server-side --dry-run=server
--validate=strict` rejects unknown fields (which Kubernetes otherwise prunes
silently), schema violations and the CRDs' CEL rules.

No controllers run (no kube-controller-manager): objects are validated and stored,
never reconciled. Everything is stopped and deleted on exit.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

TOKEN = "gpu-caas-test-admin-token"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise AssertionError(
            f"{name} is not on PATH: run the tests through `make test` "
            "(`make setup-test` builds it; `. scripts/env.sh` puts it on PATH)"
        )
    return path


@dataclass
class ApiServer:
    """A running API server and the kubeconfig to reach it."""

    kubeconfig: Path
    url: str

    def kubectl(
        self, *args: str, stdin: str | None = None, timeout: int = 300
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this server."""
        return subprocess.run(
            [_binary("kubectl"), "--kubeconfig", str(self.kubeconfig), *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _wait_ready(url: str, deadline: float, process: subprocess.Popen[bytes], log: Path) -> None:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    request = urllib.request.Request(f"{url}/readyz", headers={"Authorization": f"Bearer {TOKEN}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"kube-apiserver exited:\n{log.read_text()[-3000:]}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(request, context=context, timeout=2) as response,
        ):
            if response.status == 200:
                return
        time.sleep(0.5)
    raise AssertionError(f"kube-apiserver not ready in time:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def running_apiserver(workdir: Path, timeout: float = 120) -> Iterator[ApiServer]:
    """Start etcd and kube-apiserver under `workdir`; stop them on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    etcd_port, peer_port, api_port = _free_port(), _free_port(), _free_port()
    key = workdir / "sa.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], capture_output=True, check=True)
    (workdir / "tokens.csv").write_text(f'{TOKEN},admin,admin,"system:masters"\n')
    etcd_log, api_log = workdir / "etcd.log", workdir / "kube-apiserver.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes.append(
            subprocess.Popen(
                [
                    _binary("etcd"),
                    "--data-dir",
                    str(workdir / "etcd"),
                    "--listen-client-urls",
                    f"http://127.0.0.1:{etcd_port}",
                    "--advertise-client-urls",
                    f"http://127.0.0.1:{etcd_port}",
                    "--listen-peer-urls",
                    f"http://127.0.0.1:{peer_port}",
                    "--initial-advertise-peer-urls",
                    f"http://127.0.0.1:{peer_port}",
                    "--initial-cluster",
                    f"default=http://127.0.0.1:{peer_port}",
                    "--log-level",
                    "warn",
                ],
                stdout=etcd_log.open("wb"),
                stderr=subprocess.STDOUT,
            )
        )
        api = subprocess.Popen(
            [
                _binary("kube-apiserver"),
                "--etcd-servers",
                f"http://127.0.0.1:{etcd_port}",
                "--bind-address",
                "127.0.0.1",
                "--advertise-address",
                "127.0.0.1",
                "--secure-port",
                str(api_port),
                "--cert-dir",
                str(workdir / "certs"),
                "--token-auth-file",
                str(workdir / "tokens.csv"),
                "--authorization-mode",
                "AlwaysAllow",
                "--service-account-issuer",
                "https://kubernetes.default.svc",
                "--service-account-key-file",
                str(key),
                "--service-account-signing-key-file",
                str(key),
                "--service-cluster-ip-range",
                "10.96.0.0/16",
                # No controllers run: the ServiceAccount admission would wait for
                # token controllers that never come.
                "--disable-admission-plugins",
                "ServiceAccount",
            ],
            stdout=api_log.open("wb"),
            stderr=subprocess.STDOUT,
        )
        processes.append(api)
        url = f"https://127.0.0.1:{api_port}"
        _wait_ready(url, time.monotonic() + timeout, api, api_log)
        kubeconfig = workdir / "kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "test",
                            "cluster": {"server": url, "insecure-skip-tls-verify": True},
                        }
                    ],
                    "users": [{"name": "admin", "user": {"token": TOKEN}}],
                    "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
                    "current-context": "test",
                }
            )
        )
        os.chmod(kubeconfig, 0o600)
        yield ApiServer(kubeconfig=kubeconfig, url=url)
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=20)
            if process.poll() is None:
                process.kill()
