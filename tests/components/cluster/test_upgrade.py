"""The upgrade script, run for real by bash and dash on a fake host.

The fake host is a temp directory: PATH holds shims of kubeadm, kubelet, kubectl,
apt-get, apt-mark, dnf, yum, systemctl, sudo, id, hostname and pgrep (small bash
scripts) plus symlinks to the few real tools the script uses (sed, grep, head, test,
readlink), and nothing else, so no real package manager is ever found. `/etc` and
`/proc` live under `root/`: the sudo shim rewrites those paths (every file the script
touches is read or written through `$SUDO`). The version shims print what the state
files hold and the package-manager shims write them, so an install changes what the
next `--version` says, as on a host. Every command that changes the host is logged,
with `sudo ` in front when it ran through sudo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from components.cluster.upgrade import (
    APISERVER_MANIFEST,
    APT_REPOSITORY_FILE,
    RPM_REPOSITORY_FILE,
    UpgradeRole,
    upgrade_script,
)

REAL_TOOLS = ("sed", "grep", "head", "test", "readlink", "cat", "mkdir", "dirname")

_LOG = (
    'log() { if [ -n "${UNDER_SUDO:-}" ]; then p="sudo "; else p=""; fi; echo "$p$*" >> "$LOG"; }\n'
)
_FAIL = (
    'case "${0##*/} $*" in "${FAIL:-@none@}"*) echo "fake ${0##*/}: error" >&2; exit 1 ;; esac\n'
)

SHIMS = {
    "sudo": """
[ "$1" = -n ] && shift
args=()
for a in "$@"; do
  case $a in /etc/*|/proc/*) a="$ROOT$a" ;; esac
  args+=("$a")
done
UNDER_SUDO=1 exec "${args[@]}"
""",
    "id": 'echo "$FAKE_UID"\n',
    "hostname": "echo gpu-0\n",
    "pgrep": '[ -f "$ROOT/kubelet.pid" ] && cat "$ROOT/kubelet.pid"\n',
    "kubelet": 'echo "Kubernetes v$(cat "$STATE/kubelet")"\n',
    "kubectl": 'printf "Client Version: v%s\\nKustomize Version: v5.7.1\\n" '
    '"$(cat "$STATE/kubectl")"\n',
    "kubeadm": _LOG
    + """if [ "$1" = version ]; then echo "v$(cat "$STATE/kubeadm")"; exit 0; fi
log kubeadm "$@"
"""
    + _FAIL
    + """manifest="$ROOT/etc/kubernetes/manifests/kube-apiserver.yaml"
if [ -f "$manifest" ]; then
  tag="v$(cat "$STATE/kubeadm")"
  [ "$2" = apply ] && tag=$3
  sed -i "s#kube-apiserver:v[0-9.]*#kube-apiserver:$tag#" "$manifest"
fi
""",
    "apt-mark": _LOG + 'log apt-mark "$@"\n',
    "apt-get": _LOG
    + 'log apt-get "$@"\n'
    + _FAIL
    + """[ "$1" = install ] || exit 0
for a in "$@"; do
  case $a in *=*) v=${a#*=}; echo "${v%-\\*}" > "$STATE/${a%%=*}" ;; esac
done
""",
    "systemctl": _LOG + 'log systemctl "$@"\n',
}
RPM_SHIM = (
    _LOG
    + 'log "${0##*/}" "$@"\n'
    + """for a in "$@"; do
  case $a in
    kube*-[0-9]*) name=${a%%-[0-9]*}; v=${a#"$name"-}; echo "${v%-\\*}" > "$STATE/$name" ;;
  esac
done
"""
)

APT_LINE = (
    "deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] "
    "https://pkgs.k8s.io/core:/stable:/v{minor}/deb/ /\n"
)
RPM_REPO = """[kubernetes]
name=Kubernetes
baseurl=https://pkgs.k8s.io/core:/stable:/v{minor}/rpm/
enabled=1
gpgcheck=1
gpgkey=https://pkgs.k8s.io/core:/stable:/v{minor}/rpm/repodata/repomd.xml.key
exclude=kubelet kubeadm kubectl cri-tools kubernetes-cni
"""
MANIFEST = "spec:\n  containers:\n  - image: registry.k8s.io/kube-apiserver:v{version}\n"


@dataclass
class Host:
    """A fake host: where its files are, and how to run a script on it."""

    root: Path
    bin: Path
    state: Path
    log: Path
    uid: int = 1000

    def versions(self, kubeadm: str, kubelet: str, kubectl: str | None) -> None:
        self.state.joinpath("kubeadm").write_text(kubeadm)
        self.state.joinpath("kubelet").write_text(kubelet)
        if kubectl is None:
            self.bin.joinpath("kubectl").unlink()
        else:
            self.state.joinpath("kubectl").write_text(kubectl)

    def version(self, package: str) -> str:
        return self.state.joinpath(package).read_text().strip()

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def package_manager(self, name: str | None) -> None:
        if name == "apt-get":
            _shim(self.bin, "apt-get", SHIMS["apt-get"])
            _shim(self.bin, "apt-mark", SHIMS["apt-mark"])
        elif name is not None:
            _shim(self.bin, name, RPM_SHIM)

    def control_plane(self, version: str) -> None:
        manifest = self.file(APISERVER_MANIFEST)
        manifest.parent.mkdir(parents=True, exist_ok=True)
        manifest.write_text(MANIFEST.format(version=version))

    def stale_kubelet(self) -> None:
        """The running kubelet's binary was replaced on disk (/proc/<pid>/exe)."""
        self.root.joinpath("kubelet.pid").write_text("4242\n")
        proc = self.root / "proc" / "4242"
        proc.mkdir(parents=True)
        (proc / "exe").symlink_to("/usr/bin/kubelet (deleted)")

    def run(
        self, script: str, *, shell: str = "bash", fail: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": str(self.bin),
            "ROOT": str(self.root),
            "STATE": str(self.state),
            "LOG": str(self.log),
            "FAKE_UID": str(self.uid),
        }
        if fail is not None:
            env["FAIL"] = fail
        return subprocess.run(
            [shutil.which(shell) or shell, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def commands(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []


def _shim(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/bash\nset -eu\n" + body)
    path.chmod(0o755)


@pytest.fixture
def host(tmp_path: Path) -> Host:
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir()
    state.mkdir()
    for tool in REAL_TOOLS:
        found = shutil.which(tool)
        assert found is not None, tool
        os.symlink(found, bin_dir / tool)
    for name in ("sudo", "id", "hostname", "pgrep", "kubelet", "kubectl", "kubeadm", "systemctl"):
        _shim(bin_dir, name, SHIMS[name])
    (tmp_path / "root").mkdir()
    return Host(root=tmp_path / "root", bin=bin_dir, state=state, log=tmp_path / "log")


def _repository(host: Host, manager: str, minor: str) -> Path:
    if manager == "apt-get":
        path = host.file(APT_REPOSITORY_FILE)
        text = APT_LINE.format(minor=minor)
    else:
        path = host.file(RPM_REPOSITORY_FILE)
        text = RPM_REPO.format(minor=minor)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _installs(manager: str, packages: list[str]) -> list[str]:
    if manager == "apt-get":
        names = " ".join(packages)
        wanted = " ".join(f"{p}=1.35.1-*" for p in packages)
        return [
            f"sudo apt-mark unhold {names}",
            "sudo apt-get update",
            f"sudo apt-get install -y {wanted}",
            f"sudo apt-mark hold {names}",
        ]
    wanted = " ".join(f"{p}-1.35.1-*" for p in packages)
    return [f"sudo {manager} install -y {wanted} --disableexcludes=kubernetes"]


UPGRADE = {
    UpgradeRole.FIRST_CONTROL_PLANE: "sudo kubeadm upgrade apply v1.35.1 --yes",
    UpgradeRole.CONTROL_PLANE: "sudo kubeadm upgrade node",
    UpgradeRole.WORKER: "sudo kubeadm upgrade node",
}
RESTART = ["sudo systemctl daemon-reload", "sudo systemctl restart kubelet"]


@pytest.mark.parametrize("shell", ["bash", "dash"])
@pytest.mark.parametrize("manager", ["apt-get", "dnf", "yum"])
@pytest.mark.parametrize("role", list(UpgradeRole))
def test_one_minor_upgrade_runs_the_documented_sequence(
    host: Host, role: UpgradeRole, manager: str, shell: str
) -> None:
    host.versions("1.34.2", "1.34.2", "1.34.2")
    host.package_manager(manager)
    repository = _repository(host, manager, "1.34")
    if role is not UpgradeRole.WORKER:
        host.control_plane("1.34.2")
    done = host.run(upgrade_script("1.35.1", role=role), shell=shell)
    assert done.returncode == 0, done.stderr
    assert host.commands() == [
        *_installs(manager, ["kubeadm"]),
        UPGRADE[role],
        *_installs(manager, ["kubelet", "kubectl"]),
        *RESTART,
    ]
    assert done.stdout.splitlines()[-1] == "upgraded 1.35.1"
    assert "v1.34/" not in repository.read_text()
    expected = (APT_LINE if manager == "apt-get" else RPM_REPO).format(minor="1.35")
    assert repository.read_text() == expected
    assert (host.version("kubeadm"), host.version("kubelet"), host.version("kubectl")) == (
        "1.35.1",
        "1.35.1",
        "1.35.1",
    )
    if role is not UpgradeRole.WORKER:
        assert "kube-apiserver:v1.35.1" in host.file(APISERVER_MANIFEST).read_text()
    steps = [
        line.removeprefix("gpu-caas: gpu-0: ")
        for line in done.stderr.splitlines()
        if line.startswith("gpu-caas: gpu-0: ")
    ]
    kubeadm_step = (
        "kubeadm upgrade apply v1.35.1"
        if role is UpgradeRole.FIRST_CONTROL_PLANE
        else "kubeadm upgrade node"
    )
    assert steps == [
        "read the installed versions",
        "check the version skew",
        "check kubeadm",
        f"switch {APT_REPOSITORY_FILE if manager == 'apt-get' else RPM_REPOSITORY_FILE} to the "
        "Kubernetes 1.35 packages "
        "(https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/change-package-repository/)",
        "install kubeadm v1.35.1",
        kubeadm_step,
        "check kubelet and kubectl",
        "install kubelet kubectl v1.35.1",
        "restart kubelet",
    ]


@pytest.mark.parametrize("role", list(UpgradeRole))
def test_a_host_at_the_version_is_left_alone(host: Host, role: UpgradeRole) -> None:
    host.versions("1.34.2", "1.34.2", "1.34.2")
    host.package_manager("apt-get")
    _repository(host, "apt-get", "1.34")
    if role is not UpgradeRole.WORKER:
        host.control_plane("1.34.2")
    script = upgrade_script("1.35.1", role=role)
    assert host.run(script).returncode == 0
    before = host.commands()
    again = host.run(script)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["already at v1.35.1"]
    assert host.commands() == before


def test_a_control_plane_host_whose_api_server_lags_is_upgraded(host: Host) -> None:
    """kubelet at the target is not enough on a control-plane host: its static pods
    may not be (an upgrade that stopped after the kubelet was installed by hand)."""
    host.versions("1.35.1", "1.35.1", "1.35.1")
    host.package_manager("apt-get")
    host.control_plane("1.34.2")
    done = host.run(upgrade_script("1.35.1", role=UpgradeRole.CONTROL_PLANE))
    assert done.returncode == 0, done.stderr
    assert host.commands() == ["sudo kubeadm upgrade node", *RESTART]
    assert "kube-apiserver:v1.35.1" in host.file(APISERVER_MANIFEST).read_text()


def test_a_patch_upgrade_keeps_the_repository(host: Host) -> None:
    host.versions("1.35.0", "1.35.0", "1.35.0")
    host.package_manager("apt-get")
    repository = _repository(host, "apt-get", "1.35")
    done = host.run(upgrade_script("1.35.1", role=UpgradeRole.WORKER))
    assert done.returncode == 0, done.stderr
    assert repository.read_text() == APT_LINE.format(minor="1.35")
    assert host.commands()[-1] == "sudo systemctl restart kubelet"


def test_a_mirror_repository_is_not_rewritten(host: Host) -> None:
    host.versions("1.34.2", "1.34.2", "1.34.2")
    host.package_manager("apt-get")
    repository = host.file(APT_REPOSITORY_FILE)
    repository.parent.mkdir(parents=True)
    mirror = "deb https://mirror.example/kubernetes/v1.34/deb/ /\n"
    repository.write_text(mirror)
    done = host.run(upgrade_script("1.35.1", role=UpgradeRole.WORKER))
    assert done.returncode == 0, done.stderr
    assert repository.read_text() == mirror
    assert "switch" not in done.stderr


@pytest.mark.parametrize(
    ("role", "kubelet", "apiserver", "message"),
    [
        (UpgradeRole.WORKER, "1.33.5", None,
         "the kubelet is at v1.33.5: upgrade one minor version at a time, next to 1.34"),
        (UpgradeRole.FIRST_CONTROL_PLANE, "1.34.2", "1.33.1",
         "the control plane (kube-apiserver) is at v1.33.1: upgrade one minor version at a "
         "time, next to 1.34"),
        (UpgradeRole.WORKER, "1.36.0", None,
         "the kubelet is at v1.36.0, newer than v1.35.1: downgrades are not supported"),
        (UpgradeRole.WORKER, "1.35.2", None,
         "the kubelet is at v1.35.2, newer than v1.35.1: downgrades are not supported"),
        (UpgradeRole.CONTROL_PLANE, "1.35.1", "1.36.0",
         "the control plane (kube-apiserver) is at v1.36.0, newer than v1.35.1"),
    ],
)  # fmt: skip
def test_skipped_minors_and_downgrades_are_refused_before_anything_changes(
    host: Host, role: UpgradeRole, kubelet: str, apiserver: str | None, message: str
) -> None:
    host.versions(kubelet, kubelet, kubelet)
    host.package_manager("apt-get")
    if apiserver is not None:
        host.control_plane(apiserver)
    done = host.run(upgrade_script("1.35.1", role=role))
    assert done.returncode == 1
    assert f"gpu-caas: gpu-0: check the version skew: {message}" in done.stderr
    assert host.commands() == []


def test_a_failure_names_the_host_and_step_and_a_rerun_continues(host: Host) -> None:
    host.versions("1.34.2", "1.34.2", "1.34.2")
    host.package_manager("apt-get")
    host.control_plane("1.34.2")
    script = upgrade_script("1.35.1", role=UpgradeRole.FIRST_CONTROL_PLANE)
    failed = host.run(script, fail="kubeadm upgrade")
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1] == (
        "gpu-caas: gpu-0: kubeadm upgrade apply v1.35.1: failed (exit 1)"
    )
    assert host.commands()[-1] == "sudo kubeadm upgrade apply v1.35.1 --yes"
    assert host.version("kubelet") == "1.34.2"
    rerun = host.run(script)
    assert rerun.returncode == 0, rerun.stderr
    # kubeadm is at the target now: not reinstalled.
    assert host.commands()[len(_installs("apt-get", ["kubeadm"])) + 1 :] == [
        "sudo kubeadm upgrade apply v1.35.1 --yes",
        *_installs("apt-get", ["kubelet", "kubectl"]),
        *RESTART,
    ]


def test_a_failed_install_names_the_step(host: Host) -> None:
    host.versions("1.34.2", "1.34.2", "1.34.2")
    host.package_manager("apt-get")
    done = host.run(upgrade_script("1.35.1", role=UpgradeRole.WORKER), fail="apt-get install")
    assert done.returncode == 1
    assert (
        done.stderr.splitlines()[-1] == "gpu-caas: gpu-0: install kubeadm v1.35.1: failed (exit 1)"
    )


def test_an_air_gapped_host_needs_pre_staged_binaries(host: Host) -> None:
    host.uid = 0  # as root: nothing runs through sudo
    host.versions("1.34.2", "1.34.2", "1.34.2")
    done = host.run(upgrade_script("1.35.1", role=UpgradeRole.WORKER))
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        "gpu-caas: gpu-0: check kubeadm: kubeadm not at v1.35.1 and gpu-0 has no apt-get, dnf "
        "or yum: pre-stage kubeadm, kubelet and kubectl v1.35.1 on the host (air-gapped "
        "hosts), then run pulumi up again"
    )
    assert host.commands() == []


def test_as_root_nothing_runs_through_sudo(host: Host) -> None:
    host.uid = 0
    host.versions("1.35.1", "1.34.2", None)  # kubeadm pre-staged, no kubectl
    done = host.run(upgrade_script("1.35.1", role=UpgradeRole.WORKER))
    assert done.returncode == 1
    assert host.commands() == ["kubeadm upgrade node"]
    assert "check kubelet and kubectl: kubelet not at v1.35.1" in done.stderr


def test_pre_staged_binaries_are_used_and_the_kubelet_restarted(host: Host) -> None:
    """All three binaries replaced on disk, kubelet still running the old one: the
    versions match, yet the host is upgraded (kubeadm upgrade node, restart)."""
    host.versions("1.35.1", "1.35.1", "1.35.1")
    host.stale_kubelet()
    done = host.run(upgrade_script("1.35.1", role=UpgradeRole.WORKER))
    assert done.returncode == 0, done.stderr
    assert host.commands() == ["sudo kubeadm upgrade node", *RESTART]
    assert done.stdout.splitlines()[-1] == "upgraded 1.35.1"


@pytest.mark.parametrize("version", ["v1.35.1", "1.35", "1.35.1-rc.0", "1.0.0", ""])
def test_versions_are_major_minor_patch(version: str) -> None:
    with pytest.raises(ValueError, match="Kubernetes"):
        upgrade_script(version, role=UpgradeRole.WORKER)


@pytest.mark.parametrize("role", list(UpgradeRole))
def test_script_is_constant_apart_from_the_version(role: UpgradeRole) -> None:
    script = upgrade_script("1.35.1", role=role)
    other = upgrade_script("1.36.0", role=role)
    for old, new in (("1035", "1034"), ("1036000", "1035001"), ("1.36.0", "1.35.1"),
                     ("1.36", "1.35")):  # fmt: skip
        other = other.replace(old, new)
    assert other == script
    assert "@" not in script.replace("$@", "")
    assert ("kubeadm upgrade apply" in script) is (role is UpgradeRole.FIRST_CONTROL_PLANE)
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
