"""The in-place Kubernetes upgrade of one kubeadm host, as a shell script run over SSH
(pure, tested).

What the script does, in the order of the upstream procedures
(https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/ for
control-plane hosts, https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/upgrading-linux-nodes/
for workers):

1. read the installed versions: `kubelet --version` and, on a control-plane host, the
   image tag of the static pod `/etc/kubernetes/manifests/kube-apiserver.yaml`; when
   both are at the target (and the running kubelet is the installed binary), print
   `already at v<version>` and stop: a re-run is a no-op;
2. refuse a downgrade and a skipped minor version (kubeadm supports neither: "Skipping
   MINOR versions when upgrading is unsupported");
3. install kubeadm at the target unless `kubeadm version -o short` already prints it
   (pre-staged binaries on air-gapped hosts): with apt-get or dnf/yum from the
   community repository pkgs.k8s.io, whose repository file is per minor version, so
   it is switched first ("Changing the Kubernetes package repository",
   https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/change-package-repository/);
4. `kubeadm upgrade apply v<version> --yes` on the first control-plane host,
   `kubeadm upgrade node` on every other host;
5. install kubelet and kubectl at the target the same way (kubectl only where it is
   installed), `systemctl daemon-reload`, `systemctl restart kubelet`;
6. print `upgraded <version>` as the last line on stdout (everything else goes to
   stderr).

Cordoning and draining the node before, and waiting for it to be Ready and
uncordoning it after, are local kubectl commands (`components.cluster.node_lifecycle`).

Before each step the script prints `gpu-caas: <host>: <step>` to stderr; a failure
exits non-zero with `gpu-caas: <host>: <step>: ...` naming what failed, so a rollout
stops at that host and step, and a re-run continues: every step is idempotent (kubeadm
upgrades to the version it is at are allowed; packages already at the version are not
reinstalled).

The script is constant apart from the (non-secret) version and role, needs no input
on stdin and reads no secret. Commands that change the host run with `sudo -n` unless
the SSH user is root.
"""

from __future__ import annotations

import re
from enum import StrEnum

UPGRADE_DOC = "https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/kubeadm-upgrade/"
NODES_DOC = "https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/upgrading-linux-nodes/"
REPOSITORY_DOC = (
    "https://kubernetes.io/docs/tasks/administer-cluster/kubeadm/change-package-repository/"
)

APT_REPOSITORY_FILE = "/etc/apt/sources.list.d/kubernetes.list"
"""Where the kubeadm install guide puts the pkgs.k8s.io apt source (one line per file:
`deb [signed-by=...] https://pkgs.k8s.io/core:/stable:/v1.34/deb/ /`)."""
RPM_REPOSITORY_FILE = "/etc/yum.repos.d/kubernetes.repo"
"""Where the kubeadm install guide puts the pkgs.k8s.io dnf/yum repository (`baseurl`
and `gpgkey` both carry the minor version), with `exclude=kubelet kubeadm kubectl ...`,
hence `--disableexcludes=kubernetes` on install."""
APISERVER_MANIFEST = "/etc/kubernetes/manifests/kube-apiserver.yaml"
"""kubeadm's static pod manifest of the API server; its image tag is the control
plane's version on that host."""

_VERSION = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


class UpgradeRole(StrEnum):
    """Which `kubeadm upgrade` a host runs."""

    FIRST_CONTROL_PLANE = "first-control-plane"
    """`kubeadm upgrade apply`: upgrades the cluster (kubeadm config, control-plane
    static pods of this host, CoreDNS and kube-proxy add-ons)."""
    CONTROL_PLANE = "control-plane"
    """`kubeadm upgrade node` on another control-plane host: its static pods and kubelet
    configuration."""
    WORKER = "worker"
    """`kubeadm upgrade node` on a worker: its kubelet configuration."""


_FUNCTIONS = r"""set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
host=$(hostname)
want=@WANT@
at="start"
# Every step is announced; a failure names the host and the step it stopped at.
step() { at=$1; echo "gpu-caas: $host: $1" >&2; }
fail() { trap - EXIT; echo "gpu-caas: $host: $at: $*" >&2; exit 1; }
trap 'rc=$?; [ "$rc" -eq 0 ] || echo "gpu-caas: $host: $at: failed (exit $rc)" >&2' EXIT
# "Kubernetes v1.35.1", "Client Version: v1.35.1-rc.0" -> "v1.35.1" (first one only).
version_of() {
  printf '%s\n' "$1" \
    | sed -n 's/^[^0-9]*\([0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\).*/v\1/p' | head -n 1
}
# skew WHAT VERSION: refuse a downgrade and a skipped minor version.
skew() {
  [ -n "$2" ] || fail "cannot read the version of the $1"
  what=$1 have=$2
  set -- $(printf '%s\n' "$have" | sed 's/^v//; s/\./ /g')
  if [ $(( ($1 * 1000 + $2) * 1000 + $3 )) -gt @WANT_NUMBER@ ]; then
    fail "the $what is at $have, newer than $want: downgrades are not supported" \
      "(@UPGRADE_DOC@)"
  fi
  if [ $(( $1 * 1000 + $2 )) -lt @PREVIOUS_MINOR_NUMBER@ ]; then
    fail "the $what is at $have: upgrade one minor version at a time, next to" \
      "$1.$(( $2 + 1 )) (skipping minor versions is unsupported: @UPGRADE_DOC@)"
  fi
}
# A kubelet binary replaced on disk (a package upgrade, a pre-staged binary) keeps
# running the old version until it is restarted: then the host is not done yet.
stale_kubelet() {
  pid=$(pgrep -o -x kubelet 2>/dev/null) || return 1
  exe=$($SUDO readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  case $exe in *" (deleted)") return 0 ;; esac
  return 1
}
if command -v apt-get >/dev/null 2>&1; then pm=apt-get
elif command -v dnf >/dev/null 2>&1; then pm=dnf
elif command -v yum >/dev/null 2>&1; then pm=yum
else pm=""
fi
switched=""
# The pkgs.k8s.io repositories are per minor version: point the file at the target's,
# once, and only when it is a pkgs.k8s.io repository (a mirror is the operator's).
switch_repository() {
  [ -z "$switched" ] || return 0
  switched=1
  case $pm in
    apt-get) repo=@APT_REPOSITORY_FILE@ ;;
    *) repo=@RPM_REPOSITORY_FILE@ ;;
  esac
  $SUDO test -f "$repo" || return 0
  $SUDO grep -q 'pkgs\.k8s\.io/core:/stable:/v[0-9]' "$repo" || return 0
  step "switch $repo to the Kubernetes @MINOR@ packages (@REPOSITORY_DOC@)"
  $SUDO sed -i 's#\(pkgs\.k8s\.io/core:/stable:/\)v[0-9][0-9]*\.[0-9][0-9]*/#\1v@MINOR@/#g' "$repo"
}
# install_packages PACKAGE...: install the packages at the target version, held (apt) or
# excluded (dnf/yum) from unattended upgrades as the install guide leaves them.
install_packages() {
  [ -n "$pm" ] || fail "$* not at $want and $host has no apt-get, dnf or yum:" \
    "pre-stage kubeadm, kubelet and kubectl $want on the host (air-gapped hosts)," \
    "then run pulumi up again"
  switch_repository
  step "install $* $want"
  set -f
  case $pm in
    apt-get)
      wanted=""
      for package in "$@"; do wanted="$wanted $package=@VERSION@-*"; done
      $SUDO apt-mark unhold "$@" >&2
      $SUDO apt-get update >&2
      $SUDO apt-get install -y $wanted >&2
      $SUDO apt-mark hold "$@" >&2
      ;;
    *)
      wanted=""
      for package in "$@"; do wanted="$wanted $package-@VERSION@-*"; done
      $SUDO "$pm" install -y $wanted --disableexcludes=kubernetes >&2
      ;;
  esac
  set +f
}
"""

_READ_WORKER = r"""step "read the installed versions"
out=$(kubelet --version) || fail "kubelet --version failed: is this host a joined node?"
kubelet_now=$(version_of "$out")
if [ "$kubelet_now" = "$want" ] && ! stale_kubelet; then
  echo "already at $want"
  exit 0
fi
step "check the version skew"
skew kubelet "$kubelet_now"
"""

_READ_CONTROL_PLANE = r"""step "read the installed versions"
out=$(kubelet --version) || fail "kubelet --version failed: is this host a joined node?"
kubelet_now=$(version_of "$out")
$SUDO test -f @APISERVER_MANIFEST@ \
  || fail "@APISERVER_MANIFEST@ is missing: is this host a control-plane host?"
out=$($SUDO sed -n 's/.*image:.*kube-apiserver:\(v[0-9][0-9.]*\).*/\1/p' @APISERVER_MANIFEST@)
apiserver_now=$(version_of "$out")
if [ "$kubelet_now" = "$want" ] && [ "$apiserver_now" = "$want" ] && ! stale_kubelet; then
  echo "already at $want"
  exit 0
fi
step "check the version skew"
skew "control plane (kube-apiserver)" "$apiserver_now"
skew kubelet "$kubelet_now"
"""

_KUBEADM = r"""step "check kubeadm"
out=$(kubeadm version -o short) || out=""
if [ "$(version_of "$out")" != "$want" ]; then
  install_packages kubeadm
  out=$(kubeadm version -o short)
  [ "$(version_of "$out")" = "$want" ] \
    || fail "kubeadm reports ${out:-nothing} after the install, not $want"
fi
"""

_UPGRADE_APPLY = r"""step "kubeadm upgrade apply $want"
$SUDO kubeadm upgrade apply "$want" --yes >&2
"""

_UPGRADE_NODE = r"""step "kubeadm upgrade node"
$SUDO kubeadm upgrade node >&2
"""

_KUBELET = r"""step "check kubelet and kubectl"
packages=""
out=$(kubelet --version) || out=""
[ "$(version_of "$out")" = "$want" ] || packages="kubelet"
if command -v kubectl >/dev/null 2>&1; then
  out=$(kubectl version --client 2>/dev/null) || out=""
  [ "$(version_of "$out")" = "$want" ] || packages="$packages kubectl"
fi
if [ -n "$packages" ]; then
  install_packages $packages
  out=$(kubelet --version) || out=""
  [ "$(version_of "$out")" = "$want" ] \
    || fail "kubelet reports ${out:-nothing} after the install, not $want"
fi
step "restart kubelet"
$SUDO systemctl daemon-reload >&2
$SUDO systemctl restart kubelet >&2
echo "upgraded @VERSION@"
"""


def upgrade_script(version: str, *, role: UpgradeRole) -> str:
    """The script that upgrades one host to Kubernetes `version` (see the module doc).

    Args:
        version: target Kubernetes version, `MAJOR.MINOR.PATCH` without `v`, e.g.
            "1.35.1" (`kubernetes.version` or `nodeGroups[].kubernetesVersion`,
            normalized by the config).
        role: `FIRST_CONTROL_PLANE` runs `kubeadm upgrade apply`, the others
            `kubeadm upgrade node`; control-plane roles also check the API server's
            static pod version.

    Returns:
        POSIX sh text; stdout's last line is `upgraded <version>` or
        `already at v<version>`.

    Raises:
        ValueError: `version` is not `MAJOR.MINOR.PATCH`, or its minor is 0 (no
            previous minor to upgrade from).
    """
    match = _VERSION.match(version)
    if match is None:
        raise ValueError(
            f'{version!r} is not a Kubernetes version; use MAJOR.MINOR.PATCH, e.g. "1.35.1"'
        )
    major, minor, patch = (int(part) for part in match.groups())
    if minor == 0:
        raise ValueError(f"Kubernetes {version}: no previous minor version to upgrade from")
    control_plane = role is not UpgradeRole.WORKER
    script = (
        _FUNCTIONS
        + (_READ_CONTROL_PLANE if control_plane else _READ_WORKER)
        + _KUBEADM
        + (_UPGRADE_APPLY if role is UpgradeRole.FIRST_CONTROL_PLANE else _UPGRADE_NODE)
        + _KUBELET
    )
    values = {
        "@WANT@": f"v{version}",
        "@VERSION@": version,
        "@MINOR@": f"{major}.{minor}",
        "@WANT_NUMBER@": str((major * 1000 + minor) * 1000 + patch),
        "@PREVIOUS_MINOR_NUMBER@": str(major * 1000 + minor - 1),
        "@UPGRADE_DOC@": UPGRADE_DOC,
        "@REPOSITORY_DOC@": REPOSITORY_DOC,
        "@APT_REPOSITORY_FILE@": APT_REPOSITORY_FILE,
        "@RPM_REPOSITORY_FILE@": RPM_REPOSITORY_FILE,
        "@APISERVER_MANIFEST@": APISERVER_MANIFEST,
    }
    for token, value in values.items():
        script = script.replace(token, value)
    return script
