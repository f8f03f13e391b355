"""The compatibility matrix: every version gpu-caas installs, and the rules between them.

This is the ONE place versions live (docs/architecture.md). Each entry is a frozen
`Component` with the application version, the Helm chart we install (`HelmChart`,
exact version pin) and where the pin comes from. `check_compatibility` holds the
rules that config validation runs before anything is deployed.

Provenance (see ../shared/crds/SOURCES.md for the exact commits):

* GPU Operator v26.7.0 - `shared/crds/gpu-operator/` is byte-identical to tag
  v26.7.0; the driver, toolkit, device plugin, DCGM exporter, MIG manager and
  driver-manager pins below are that chart's `values.yaml` defaults.
* Network Operator 26.7.0 - `shared/crds/network-operator/` is main after
  v26.7.0-beta.5 with chart version 26.7.0-rc.1 (CRDs identical to v26.7.0-rc.2).
  Those are pre-releases of the 26.7.0 line, so we pin the 26.7.0 release and
  validate against the rc CRDs; re-check the diff when 26.7.0 GA CRDs are copied.
* NIM Operator v3.1.2 (`shared/crds/k8s-nim-operator/v3.1.2/`).
* DRA driver for GPUs 0.4.0 - the project moved to kubernetes-sigs and restarted
  its versioning at 0.x; the chart is now `dra-driver-nvidia-gpu` on
  registry.k8s.io (older releases were `nvidia-dra-driver-gpu` 25.x on NGC, which
  is what AICR v0.11.1 still pins). CRDs in `shared/crds/k8s-dra-driver-gpu/`
  are byte-identical to v0.4.0.
* KAI scheduler v0.13.0 (behind, see its note), Kyverno v1.19.0 (chart 3.9.0), Karpenter 1.14.1,
  Kamaji 26.8.2-edge, DOCA Platform Framework v24.10.0-rc.6 (OLD: the newest
  copy available in shared/crds; the chart API has changed since).
* Cilium, Calico, cert-manager, kube-prometheus-stack, OpenTelemetry collector,
  NVSentinel and the CSI drivers are NOT in shared/crds: their pins are the
  newest releases we could confirm (comments per entry) and their Helm values
  are not key-checked against an upstream values.yaml.

Every component that runs in the tenant cluster records the Kubernetes versions its pin
supports (`Component.kubernetes`, with a checkable source); `kubernetes_window` intersects
them for the components a config installs (`installed_components`) and
`kubernetes_problems` refuses a version outside that window, naming the limiting
components.

Every component gpu-caas installs as a release of its own also records how a deployed
release may move to its pin (`Component.upgrade`: one major or one minor release line
at a time, or any newer version, each with the vendor's statement);
`upgrade_path_problems` refuses a downgrade or a skipped line against the last
deployment's record (`stacks.config.deployed`), naming the release to deploy first.

The matrix is checked against NVIDIA AICR recipes (`shared/crds/aicr/`) by
tests/components/test_versions.py: our pins are >= the recipe pins, and every
deliberate difference is listed in `AICR_DIFFERENCES`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import total_ordering

from components.gpu import catalog

# --------------------------------------------------------------------------- #
# Version parsing and comparison
# --------------------------------------------------------------------------- #

_VERSION_RE = re.compile(r"^v?(?P<release>\d+(?:\.\d+)*)(?:[-+](?P<pre>[0-9A-Za-z.\-+]+))?$")


@total_ordering
@dataclass(frozen=True)
class Version:
    """A parsed release version: `v26.7.0`, `1.34`, `595.91.07`, `26.7.0-rc.1`.

    Ordering follows SemVer 2.0 precedence, generalised to any number of numeric
    fields: missing fields count as zero (`1.34 == 1.34.0`), a pre-release sorts
    before its release (`26.7.0-rc.1 < 26.7.0`), a leading `v` is ignored. Build
    suffixes such as `-edge` are treated as pre-release identifiers, which is the
    conservative choice for minimum-version checks.
    """

    release: tuple[int, ...]
    prerelease: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        """Parse `text`; raise `ValueError` naming the input when it is not a version."""
        match = _VERSION_RE.match(text.strip())
        if match is None:
            raise ValueError(f"not a version: {text!r} (expected e.g. 1.34.2 or v26.7.0)")
        release = tuple(int(part) for part in match["release"].split("."))
        pre = tuple(match["pre"].split(".")) if match["pre"] else ()
        return cls(release=release, prerelease=pre)

    def _key(self) -> tuple[tuple[int, ...], int, tuple[tuple[int, int, str], ...]]:
        release = self.release + (0,) * max(0, 4 - len(self.release))
        # SemVer: numeric identifiers sort numerically and before alphanumeric ones.
        pre = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        return (release, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() < other._key()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Version):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def minor(self) -> tuple[int, int]:
        """`(major, minor)`, e.g. `(1, 34)` for `1.34.2`."""
        padded = self.release + (0, 0)
        return (padded[0], padded[1])

    def __str__(self) -> str:
        text = ".".join(str(part) for part in self.release)
        return f"{text}-{'.'.join(self.prerelease)}" if self.prerelease else text


def compare_versions(left: str, right: str) -> int:
    """Return -1, 0 or 1 as `left` is older than, equal to or newer than `right`."""
    a, b = Version.parse(left), Version.parse(right)
    return (a > b) - (a < b)


def version_at_least(version: str, floor: str) -> bool:
    """True when `version` >= `floor` (pre-releases of `floor` are below it)."""
    return Version.parse(version) >= Version.parse(floor)


def is_prerelease(version: str) -> bool:
    """True for versions with a pre-release or build suffix (`-rc.1`, `-edge`)."""
    return bool(Version.parse(version).prerelease)


# --------------------------------------------------------------------------- #
# The matrix
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class HelmChart:
    """A Helm chart at an exact version.

    `repository` is either an https chart repository (`https://helm.ngc.nvidia.com/nvidia`)
    or an OCI registry path without the chart name (`oci://ghcr.io/nvidia/kai-scheduler`).
    `components.helm.helm_release` redirects it to the configured mirror.
    """

    repository: str
    chart: str
    version: str

    @property
    def is_oci(self) -> bool:
        """True when the chart is pulled from an OCI registry."""
        return self.repository.startswith("oci://")


@dataclass(frozen=True)
class KubernetesSupport:
    """The Kubernetes versions a component supports at its pinned version, with the source.

    Bounds are Kubernetes versions as text: `minimum` is the oldest supported version
    (`"1.33"` means 1.33.0; a patch such as `"1.34.2"` when the vendor names one),
    `maximum` the newest supported *minor* (`"1.36"` admits every 1.36.x). None means
    the component publishes no such bound (`source` says where we looked). Entries with
    `enforced=False` are recorded and reported as warnings, never refused (`note` says
    why, as a clause that completes `kubernetes_warnings`' "... and is allowed because
    ...").
    """

    minimum: str | None
    maximum: str | None
    source: str
    """Where a reviewer can check both bounds: a URL, or `owner/repo@tag path`."""
    enforced: bool = True
    note: str = ""

    def too_old(self, version: str) -> bool:
        """True when `version` is older than `minimum`."""
        return self.minimum is not None and Version.parse(version) < Version.parse(self.minimum)

    def too_new(self, version: str) -> bool:
        """True when `version`'s minor is newer than `maximum`."""
        return (
            self.maximum is not None
            and Version.parse(version).minor > Version.parse(self.maximum).minor
        )

    def admits(self, version: str) -> bool:
        """True when `version` is inside the supported range."""
        return not (self.too_old(version) or self.too_new(version))

    def range_text(self) -> str:
        """`"1.33-1.36"`, `"1.30 only"`, `"1.28 or later"`, `"up to 1.35"` or
        `"no range published"`."""
        if self.minimum and self.maximum:
            if self.minimum == self.maximum:
                return f"{self.minimum} only"
            return f"{self.minimum}-{self.maximum}"
        if self.minimum:
            return f"{self.minimum} or later"
        return f"up to {self.maximum}" if self.maximum else "no range published"


class UpgradePath(StrEnum):
    """How far one deployment may move a component's pin (`UpgradePolicy.path`).

    Every path refuses a downgrade: gpu-caas upgrades releases in place, and an
    upgrade may convert CRDs and stored objects the older release cannot read.
    """

    ONE_MAJOR = "one-major"
    """Within the deployed major release or to the next one. NVIDIA's calendar-versioned
    operators (`YY.MM.PP`) call `YY.MM` the major version, so their next major is the
    next listed release line (`UpgradePolicy.releases`), not `YY+1`."""
    ONE_MINOR = "one-minor"
    """Within the deployed minor release or to the next one (`1.18` -> `1.19`)."""
    ANY = "any"
    """Any newer version (the vendor documents no upgrade-path restriction)."""


@dataclass(frozen=True)
class UpgradePolicy:
    """How a component's pin may change from one deployment to the next, with the source.

    `releases` lists the vendor's release lines oldest first (`"25.10"`, `"26.3"`) when
    the next line cannot be computed from a version: NVIDIA publishes calendar-versioned
    majors in irregular months. Without it, the next major of `1.x` is `2`, the next
    minor of `1.19` is `1.20` (or `2.0`).
    """

    path: UpgradePath
    source: str
    """Where a reviewer can check the statement: a URL, or `owner/repo@commit path`."""
    releases: tuple[str, ...] = ()
    note: str = ""

    def line(self, version: str) -> tuple[int, ...]:
        """The release line of `version` the path counts in: `(26, 3)` for GPU Operator
        `v26.3.1`, `(1, 19)` for Cilium `1.19.5` (ONE_MINOR), `(82,)` for a ONE_MAJOR
        semver chart `82.8.0`; `()` for ANY. Raises `ValueError` for a non-version."""
        release = Version.parse(version).release + (0, 0)
        if self.releases:
            width = len(Version.parse(self.releases[0]).release)
        elif self.path is UpgradePath.ONE_MAJOR:
            width = 1
        elif self.path is UpgradePath.ONE_MINOR:
            width = 2
        else:
            return ()
        return release[:width]

    def next_lines(self, line: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
        """The release lines one step after `line`, first the one to deploy.

        Listed releases: the first listed line newer than `line` (none when no listed
        line is newer: nothing to judge against). ONE_MAJOR: the next major. ONE_MINOR:
        the next minor, or the next major's `.0` when `line` was its major's last minor.
        """
        if not line:
            return ()
        if self.releases:
            listed = sorted(self.line(release) for release in self.releases)
            return tuple(next_line for next_line in listed if next_line > line)[:1]
        if len(line) == 1:
            return ((line[0] + 1,),)
        return ((line[0], line[1] + 1), (line[0] + 1, 0))


def _line_text(line: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in line) + ".x"


@dataclass(frozen=True)
class Component:
    """One row of the compatibility matrix."""

    name: str
    """Human-readable name, used in messages and the docs table."""
    version: str
    """Application version (what release notes and CVE advisories refer to)."""
    chart: HelmChart | None = None
    """Helm chart we install, or None when the component is not a Helm release."""
    source: str = ""
    """Where the pin comes from (shared/crds copy, values.yaml default, release page)."""
    note: str = ""
    """Why the pin is what it is, when that is not obvious."""
    kubernetes: KubernetesSupport | None = None
    """Kubernetes versions this pin supports; None for operands another component
    deploys (`OPERANDS`) and for the Kubernetes row itself."""
    upgrade: UpgradePolicy | None = None
    """How a deployed release may move to this pin (`upgrade_path_problems`); None for
    rows that are not releases of their own (operands, the Kubernetes row, whose
    version skew rules are `stacks.config.upgrades`')."""

    @property
    def label(self) -> str:
        """`"<name> <version>"` as used in messages, e.g. `"Kyverno v1.19.0"`."""
        return f"{self.name} {self.version}".strip()

    @property
    def helm(self) -> HelmChart:
        """The Helm chart; raises `ValueError` when the component is not a Helm release."""
        if self.chart is None:
            raise ValueError(f"{self.name} has no Helm chart in components/versions.py")
        return self.chart


_NGC = "https://helm.ngc.nvidia.com/nvidia"
_NGC_DOCA = "https://helm.ngc.nvidia.com/nvidia/doca"
"""NGC's DOCA chart repository: DPF's guides add it as `dpf-repository` and install
`dpf-repository/dpf-operator` (NVIDIA/doca-platform docs/public/user-guides, `REGISTRY`)."""

KUBERNETES_MINIMUM = "1.34.0"
"""DRA (resource.k8s.io/v1) is GA from Kubernetes 1.34 (KEP-4381); the platform needs it."""

_CNS_26_6 = "NVIDIA/cloud-native-stack@v26.6.0 README.md"
"""NVIDIA Cloud Native Stack 26.6.0's component matrix (also anchors-mission.md table 2)."""

_NO_PATH_RECORDED = (
    "not researched: no upgrade-path statement recorded for this pin, so only a downgrade "
    "is refused; record the vendor's statement here when one is found"
)

_GPU_OPERATOR_UPGRADE = UpgradePolicy(
    UpgradePath.ONE_MAJOR,
    source="https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/"
    "life-cycle-policy.html ('Upgrades are only supported within a major release or to the "
    "next major release', where YY.MM is the major; NVIDIA/cloud-native-docs@52dcb7b8 "
    "gpu-operator/life-cycle-policy.rst)",
    releases=("24.3", "24.6", "24.9", "25.3", "25.10", "26.3", "26.7"),
    note="releases: the major lines of the NVIDIA/gpu-operator release tags v24.3.0 to "
    "v26.7.0. The upgrade page (.../gpu-operator/latest/upgrade.html) states no path of its "
    "own (NVIDIA/cloud-native-docs@52dcb7b8 gpu-operator/upgrade.rst).",
)
_NETWORK_OPERATOR_UPGRADE = UpgradePolicy(
    UpgradePath.ONE_MAJOR,
    source="Mellanox/network-operator-docs@0c0ecad docs/life-cycle-management.rst ('Upgrades "
    "are only supported within a major release or to the next major release', where YY.MM "
    "is the major)",
    releases=("24.7", "24.10", "25.1", "25.4", "25.7", "25.10", "26.1", "26.4", "26.7"),
    note="releases: the major lines of the Mellanox/network-operator release tags v24.7.0 to "
    "v26.4.1 and the 26.7.0 pre-releases",
)

PLATFORM = Component(
    name="gpu-caas",
    version="",
    source="platform floor: Dynamic Resource Allocation",
    kubernetes=KubernetesSupport(
        minimum=KUBERNETES_MINIMUM,
        maximum=None,
        source="KEP-4381: resource.k8s.io/v1 is GA from Kubernetes 1.34 "
        "(https://github.com/kubernetes/enhancements/issues/4381)",
    ),
)
"""Not a pin: the platform's own Kubernetes floor, part of every window."""

KUBERNETES = Component(
    name="Kubernetes",
    version="1.34.2",
    source="default for new tenant clusters; the accepted window is computed from the "
    "installed components (kubernetes_window)",
)

GPU_OPERATOR = Component(
    name="NVIDIA GPU Operator",
    version="v26.7.0",
    chart=HelmChart(_NGC, "gpu-operator", "v26.7.0"),
    source="shared/crds/gpu-operator (byte-identical to tag v26.7.0)",
    kubernetes=KubernetesSupport(
        minimum="1.33",
        maximum="1.36",
        source="https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/26.7/"
        "platform-support.html (NVIDIA/cloud-native-docs@52dcb7b8 "
        "gpu-operator/platform-support.rst: Kubernetes 1.33-1.36 on every listed OS; "
        "release-notes.rst: 1.36 added in 26.3.2)",
    ),
    upgrade=_GPU_OPERATOR_UPGRADE,
)

NVIDIA_DRIVER = Component(
    name="NVIDIA data-center driver",
    version="595.91.07",
    source="gpu-operator v26.7.0 values.yaml driver.version (R595 production branch)",
    note="The driver image tag gets an OS suffix, e.g. 595.91.07-ubuntu24.04.",
)

CONTAINER_TOOLKIT = Component(
    name="NVIDIA Container Toolkit",
    version="v1.20.0",
    source="gpu-operator v26.7.0 values.yaml toolkit.version",
)

DEVICE_PLUGIN = Component(
    name="NVIDIA device plugin / GPU Feature Discovery",
    version="v0.20.0",
    source="gpu-operator v26.7.0 values.yaml devicePlugin.version and gfd.version",
)

DCGM_EXPORTER = Component(
    name="DCGM exporter",
    version="4.6.0-4.8.3-distroless",
    source="gpu-operator v26.7.0 values.yaml dcgmExporter.version (DCGM 4.6.0, exporter 4.8.3)",
)

MIG_MANAGER = Component(
    name="NVIDIA MIG manager",
    version="v0.15.0",
    source="gpu-operator v26.7.0 values.yaml migManager.version",
)

DRIVER_MANAGER = Component(
    name="NVIDIA k8s-driver-manager",
    version="v0.12.0",
    source="gpu-operator v26.7.0 values.yaml driver.manager.version",
)

NODE_FEATURE_DISCOVERY = Component(
    name="Node Feature Discovery (GPU Operator subchart)",
    version="v0.18.3",
    source="node-feature-discovery subchart of gpu-operator v26.7.0",
    note="Not in shared/crds: the tag is set by the subchart; confirm with `helm template` "
    "before building an offline mirror.",
)

NETWORK_OPERATOR = Component(
    name="NVIDIA Network Operator",
    version="26.7.0",
    chart=HelmChart(_NGC, "network-operator", "26.7.0"),
    source="shared/crds/network-operator (main, chart 26.7.0-rc.1; CRDs = v26.7.0-rc.2)",
    note="Pinned to the 26.7.0 release the shared rc snapshot belongs to.",
    kubernetes=KubernetesSupport(
        minimum="1.32",
        maximum="1.35",
        source="Mellanox/network-operator@v26.7.0-rc.2 deployment/network-operator/Chart.yaml "
        "(kubeVersion >= 1.32.0-0); maximum: Network Operator 26.4.0 supports 1.31-1.35 "
        f"({_CNS_26_6}: 'N/A' in the Kubernetes 1.36.2 column for that reason; "
        "Mellanox/network-operator-docs@a8f7f5f docs/platform-support.rst)",
        note="The 26.7 platform-support page (docs.nvidia.com/networking/display/"
        "kubernetes2670/platform-support.html) is not in our reference copies; the newest "
        "bound we can cite is 26.4's <= 1.35. Raise it when that page lists 1.36.",
    ),
    upgrade=_NETWORK_OPERATOR_UPGRADE,
)

DOCA_DRIVER = Component(
    name="NVIDIA DOCA-OFED driver container (Network Operator)",
    version="doca3.4.0-26.04-0.5.3.0-0",
    source="Network Operator docs variables for the 26.4 line (doca-driver-version)",
    note="Image tag without the `-<os>-<arch>` suffix the operator adds. 26.7.0 ships the "
    "same DOCA 3.4 telemetry image (docs.nvidia.com/networking/display/kubernetes2670/"
    "advanced/images-sha256.html), but its exact doca-driver tag is not in our reference "
    "copies: confirm before GA. Overridable per tenant (gpu.network.docaDriver.version).",
)

NIM_OPERATOR = Component(
    name="NVIDIA NIM Operator",
    version="v3.1.2",
    chart=HelmChart(_NGC, "k8s-nim-operator", "v3.1.2"),
    source="shared/crds/k8s-nim-operator/v3.1.2",
    kubernetes=KubernetesSupport(
        minimum="1.28",
        maximum=None,
        source="NVIDIA/k8s-nim-operator@v3.1.2 README.md Prerequisites ('Kubernetes v1.28 "
        "and higher'); its Chart.yaml has no kubeVersion and no upper bound is published",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="no upgrade-path statement in NVIDIA/k8s-nim-operator@f63f74d7 *.md (upgrades "
        "are `helm upgrade` to the target chart version); " + _NO_PATH_RECORDED,
    ),
)

DRA_DRIVER = Component(
    name="DRA driver for NVIDIA GPUs",
    version="0.4.0",
    chart=HelmChart(
        "oci://registry.k8s.io/dra-driver-nvidia/charts", "dra-driver-nvidia-gpu", "0.4.0"
    ),
    source="shared/crds/k8s-dra-driver-gpu (CRDs byte-identical to v0.4.0)",
    note="Versioning restarted at 0.x when the project moved to kubernetes-sigs; "
    "0.4.0 is newer than the NGC chart nvidia-dra-driver-gpu 25.12.0.",
    kubernetes=KubernetesSupport(
        minimum="1.34.2",
        maximum=None,
        source="kubernetes-sigs/dra-driver-nvidia-gpu@v0.4.0 docs/prerequisites.md "
        "('v1.34.2 or later'; Chart.yaml kubeVersion >=1.32.0-0); no upper bound published",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="kubernetes-sigs/dra-driver-nvidia-gpu@95932046 site/content/docs/upgrade.md: "
        "one section per release, no sequential requirement; 'downgrading to v25.12.0 is "
        "not supported' once on v0.4.0",
        note="The version comparison would call the documented 25.12.0 -> 0.4.0 step (the "
        "renumbering) a downgrade; no gpu-caas deployment recorded a 25.x pin.",
    ),
)

KAI_SCHEDULER = Component(
    name="KAI scheduler",
    version="v0.13.0",
    chart=HelmChart("oci://ghcr.io/nvidia/kai-scheduler", "kai-scheduler", "v0.13.0"),
    source="shared/crds/kai-scheduler (CRDs byte-identical to v0.13.0)",
    note="Behind: v0.13 is end of life (kai-scheduler/KAI-Scheduler SUPPORT.md), CNS 26.6.0 "
    "pins v0.14.2 (LTS), v0.17.0 is current (the repo moved to kai-scheduler/KAI-Scheduler). "
    "Not bumped because the tests cannot re-check a newer pin: "
    "v0.14.2 (e94f9ef1): the four CRDs in shared/crds differ from its "
    "deployments/kai-scheduler/crds/ only in the controller-gen version annotation "
    "(v0.20.1), and the values keys we render (global.registry, "
    "scheduler.placementStrategy, admission.gpuPodRuntimeClassName, postCleanup.enabled, "
    "defaultQueue.createDefaultQueue) keep their v0.13.0 defaults; but images and chart "
    "moved to ghcr.io/kai-scheduler/kai-scheduler and values.yaml is not in shared/crds. "
    "v0.17.0 (f218c69b): podgroups (minSubGroup, preemptionDelay, "
    "stalenessGracePeriod; backoffLimit/completions/parallelism removed), bindrequests "
    "and topologies (level alias, new CEL rules) changed, and "
    "admission.gpuPodRuntimeClassName is gone from values.yaml. To bump: copy "
    "deployments/kai-scheduler/crds/*.yaml and values.yaml at the target tag into "
    "shared/crds/kai-scheduler, record the commit in SOURCES.md, then change this pin, "
    "the chart repository and the values in components/services/kai_scheduler.py.",
    kubernetes=KubernetesSupport(
        minimum=None,
        maximum=None,
        source="NVIDIA/KAI-Scheduler@v0.13.0: SUPPORT.md has no Kubernetes matrix at this "
        "tag, README.md Prerequisites say 'A running Kubernetes cluster', Chart.yaml has "
        "no kubeVersion (e2e default: kindest/node v1.34.0, hack/setup-e2e-cluster.sh). "
        "The matrix added later (kai-scheduler/KAI-Scheduler@v0.17.0 SUPPORT.md) starts "
        "at the v0.14.x line",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="kai-scheduler/KAI-Scheduler@d5bc503a docs/migrationguides/README.md ('Verify "
        "whether your upgrade path traverses any versions impacted by a breaking change'; "
        "helm rollback is not supported, a downgrade is uninstall + reinstall)",
    ),
)

KYVERNO = Component(
    name="Kyverno",
    version="v1.19.0",
    chart=HelmChart("https://kyverno.github.io/kyverno/", "kyverno", "3.9.0"),
    source="shared/crds/kyverno (identical to v1.19.0); chart 3.9.0 ships app v1.19.0",
    kubernetes=KubernetesSupport(
        minimum="1.33",
        maximum="1.35",
        source="https://kyverno.io/docs/installation/#compatibility-matrix (1.19: 1.33-1.35); "
        "kyverno/kyverno@v1.19.0 .github/workflows/tests-conformance.yaml runs "
        "v1.33.7, v1.34.3, v1.35.1",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="https://kyverno.io/docs/installation/upgrading/ ('If skipping a minor "
        "version, be sure to read the release notes for each minor version in between'; "
        "kyverno/website@7c0814a5 src/content/docs/docs/installation/upgrading.md). Only "
        "upgrades from before 1.10 need manual steps",
    ),
)

KARPENTER = Component(
    name="Karpenter (core APIs)",
    version="1.14.1",
    source="shared/crds/karpenter/v1.14.1",
    note="Karpenter core has no provider-neutral chart; the autoscaling component "
    "chooses the provider chart and must match this API version.",
    kubernetes=KubernetesSupport(
        minimum="1.30",
        maximum="1.36",
        source="https://karpenter.sh/v1.14/upgrading/compatibility/ "
        "(aws/karpenter-provider-aws@1d927085 website/content/en/v1.14/upgrading/"
        "compatibility.md: columns 1.30-1.36, 1.36 needs >= 1.13)",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="https://karpenter.sh/v1.14/upgrading/upgrade-guide/ (one 'Upgrading to "
        "x.y.0+' section per minor, no sequential requirement; aws/karpenter-provider-aws"
        "@1d927085 website/content/en/v1.14/upgrading/upgrade-guide.md)",
    ),
)

CILIUM = Component(
    name="Cilium",
    version="1.19.5",
    chart=HelmChart("https://helm.cilium.io/", "cilium", "1.19.5"),
    source="not in shared/crds; 1.19 is the current stable line (cilium/cilium releases)",
    kubernetes=KubernetesSupport(
        minimum=None,
        maximum=None,
        source="https://docs.cilium.io/en/v1.19/network/kubernetes/compatibility/ lists the "
        "e2e-tested versions and says newer ones depend on Kubernetes' backward "
        "compatibility (no upper bound); the 1.19 rows are not in our reference copies "
        "(cilium/cilium@v1.18.14 lists 1.30-1.33)",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ONE_MINOR,
        source="https://docs.cilium.io/en/stable/operations/upgrade/ ('The only tested "
        "rollback and upgrade path is between consecutive minor releases. Always perform "
        "rollbacks and upgrades between one minor release at a time')",
    ),
)

CALICO = Component(
    name="Calico (Tigera operator)",
    version="v3.31.0",
    chart=HelmChart("https://docs.tigera.io/calico/charts", "tigera-operator", "v3.31.0"),
    source="not in shared/crds; values are not key-checked",
    kubernetes=KubernetesSupport(
        minimum=None,
        maximum="1.35",
        source="https://github.com/orgs/projectcalico/discussions/11717 (maintainers: 1.35 "
        "added to https://docs.tigera.io/calico/latest/getting-started/kubernetes/"
        "requirements for v3.31)",
        note="Lower bound of 3.31 not in our reference copies.",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="https://docs.tigera.io/calico/latest/operations/upgrading/kubernetes-upgrade "
        "(upgrades to the current release from Calico v3.15 or later; the two-release limit "
        "is Calico Enterprise's, not open source's)",
    ),
)

KAMAJI = Component(
    name="Kamaji",
    version="26.8.2-edge",
    chart=HelmChart("https://clastix.github.io/charts", "kamaji", "26.8.2-edge"),
    source="shared/crds/kamaji (tag 26.8.2-edge)",
    note="Kamaji publishes edge releases only; pin the exact edge tag.",
    kubernetes=KubernetesSupport(
        minimum="1.30",
        maximum="1.36",
        source="clastix/kamaji@26.8.2-edge internal/webhook/handlers/tcp_version.go refuses "
        "TenantControlPlane versions above upgrade.KubeadmVersion v1.36.0 "
        "(internal/upgrade/kubeadm_version.go); docs/content/reference/versioning.md: "
        "tenant clusters from v1.30.0",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="clastix/kamaji@ddbabd8 docs/content/reference/versioning.md (monthly edge "
        "releases that 'may also involve breaking changes', announced in the release "
        "notes; no upgrade path published)",
        note="Kamaji runs on the provider's management cluster: a tenant stack neither "
        "installs nor upgrades it (stacks.config.operator_upgrades leaves it out).",
    ),
)

DPF = Component(
    name="NVIDIA DOCA Platform Framework",
    version="v24.10.0-rc.6",
    chart=HelmChart(_NGC_DOCA, "dpf-operator", "v24.10.0-rc.6"),
    source="shared/crds/doca-platform (tag v24.10.0-rc.6, Dec 2024)",
    note="OLD pre-release: the only DPF copy in shared/crds. Newer DPF releases changed "
    "the CRDs; upgrade this pin together with a fresh CRD copy.",
    kubernetes=KubernetesSupport(
        minimum="1.30",
        maximum="1.30",
        source="NVIDIA/doca-platform@v24.10.0-rc.6 docs/guides/usecases/prerequisites.md "
        "('Kubernetes 1.30')",
        enforced=False,
        note="that range lies below the platform floor 1.34.0, so enforcing it would refuse "
        "every DPU config until DPF is re-pinned with a fresh CRD copy (DPF v25.10 supports "
        "1.32-1.34: https://docs.nvidia.com/networking/display/dpf25100/Platform-Support)",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="no upgrade-path statement in NVIDIA/doca-platform@1f6a80c docs (v24.10.0-rc.6); "
        + _NO_PATH_RECORDED,
    ),
)

NVSENTINEL = Component(
    name="NVIDIA NVSentinel",
    version="v1.1.0",
    chart=HelmChart("oci://ghcr.io/nvidia", "nvsentinel", "v1.1.0"),
    source="AICR v0.11.1 recipes/overlays/base.yaml; not in shared/crds",
    kubernetes=KubernetesSupport(
        minimum=None,
        maximum=None,
        source="no Kubernetes range published: NVIDIA/NVSentinel README.md (stored copy "
        "@03a61913) and AICR v0.11.1 recipes/overlays/base.yaml",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="https://github.com/NVIDIA/NVSentinel/releases/tag/v1.1.0 (chart by version, "
        "no upgrade path stated); " + _NO_PATH_RECORDED,
    ),
)

NODE_HEALTH_CHECK = Component(
    name="Node Health Check operator (medik8s)",
    version="v0.10.0",
    source="not in shared/crds; distributed through OLM, not Helm",
    note="Alternative to NVSentinel for remediation; the node-health component decides.",
    kubernetes=KubernetesSupport(
        minimum=None,
        maximum=None,
        source="no Kubernetes range published: https://github.com/medik8s/"
        "node-healthcheck-operator docs (install through "
        "https://operatorhub.io/operator/node-healthcheck-operator)",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="installed through OLM (https://operatorhub.io/operator/node-healthcheck-"
        "operator), which follows the channel's own upgrade graph; " + _NO_PATH_RECORDED,
    ),
)

CERT_MANAGER = Component(
    name="cert-manager",
    version="v1.17.2",
    chart=HelmChart("https://charts.jetstack.io", "cert-manager", "v1.17.2"),
    source="AICR v0.11.1 recipes/overlays/base.yaml (needed by Network/NIM operators and "
    "the DRA driver webhook)",
    kubernetes=KubernetesSupport(
        minimum="1.29",
        maximum="1.33",
        source="https://cert-manager.io/docs/releases/ (cert-manager/website@776e5dba "
        "content/docs/releases/README.md: 1.17 supports 1.29-1.33, end of life Oct 07 2025)",
        note="Nothing gpu-caas installs needs cert-manager (the webhooks that would are "
        "off), so it counts for no config; its pin is end of life.",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ONE_MINOR,
        source="https://cert-manager.io/docs/installation/upgrade/ ('We recommend that you "
        "upgrade cert-manager one minor version at a time, always choosing the latest "
        "patch version for the minor version'; cert-manager/website@776e5dba "
        "content/docs/installation/upgrade.md)",
    ),
)

KUBE_PROMETHEUS_STACK = Component(
    name="kube-prometheus-stack",
    version="82.8.0",
    chart=HelmChart(
        "https://prometheus-community.github.io/helm-charts", "kube-prometheus-stack", "82.8.0"
    ),
    source="AICR v0.11.1 recipes/overlays/base.yaml; not in shared/crds",
    kubernetes=KubernetesSupport(
        minimum="1.25",
        maximum=None,
        source="prometheus-community/helm-charts@kube-prometheus-stack-82.8.0 "
        "charts/kube-prometheus-stack/Chart.yaml (kubeVersion >=1.25.0-0); no upper bound",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ONE_MAJOR,
        source="prometheus-community/helm-charts@cf408a29 charts/kube-prometheus-stack/"
        "README.md ('A major chart version change (like v1.2.3 -> v2.0.0) indicates that "
        "there is an incompatible breaking change needing manual actions', listed per "
        "major in UPGRADE.md; Helm does not upgrade the chart's CRDs)",
        note="One major per deployment, so each major's manual steps run in turn.",
    ),
)

OPENTELEMETRY_COLLECTOR = Component(
    name="OpenTelemetry Collector",
    version="0.136.0",
    chart=HelmChart(
        "https://open-telemetry.github.io/opentelemetry-helm-charts",
        "opentelemetry-collector",
        "0.136.0",
    ),
    source="not in shared/crds; values are not key-checked",
    kubernetes=KubernetesSupport(
        minimum=None,
        maximum=None,
        source="https://github.com/open-telemetry/opentelemetry-helm-charts "
        "charts/opentelemetry-collector/Chart.yaml has no kubeVersion (read at chart "
        "0.158.3, not at 0.136.0); no range published",
    ),
    upgrade=UpgradePolicy(
        UpgradePath.ANY,
        source="per-version notes in https://github.com/open-telemetry/opentelemetry-helm-"
        "charts/blob/main/charts/opentelemetry-collector/UPGRADING.md (not read); "
        + _NO_PATH_RECORDED,
    ),
)

CSI_DRIVER_NFS = Component(
    name="NFS CSI driver (kubernetes-csi)",
    version="v4.12.0",
    chart=HelmChart(
        "https://raw.githubusercontent.com/kubernetes-csi/csi-driver-nfs/master/charts",
        "csi-driver-nfs",
        "v4.12.0",
    ),
    source="not in shared/crds; values are not key-checked",
    kubernetes=KubernetesSupport(
        minimum="1.21",
        maximum=None,
        source="https://github.com/kubernetes-csi/csi-driver-nfs README.md 'Container "
        "Images & Kubernetes Compatibility' (v4.x: 1.21+; the copy we read lists up to "
        "v4.5.0); no upper bound",
    ),
    upgrade=UpgradePolicy(UpgradePath.ANY, source=_NO_PATH_RECORDED),
)

LOCAL_PATH_PROVISIONER = Component(
    name="local-path-provisioner (Rancher)",
    version="v0.0.32",
    source="not in shared/crds; no upstream Helm repository (manifest install)",
    kubernetes=KubernetesSupport(
        minimum="1.12",
        maximum=None,
        source="https://github.com/rancher/local-path-provisioner README.md "
        "('Requirement: Kubernetes v1.12+'); no upper bound",
    ),
    upgrade=UpgradePolicy(UpgradePath.ANY, source=_NO_PATH_RECORDED),
)

MATRIX: tuple[Component, ...] = (
    KUBERNETES,
    GPU_OPERATOR,
    NVIDIA_DRIVER,
    CONTAINER_TOOLKIT,
    DEVICE_PLUGIN,
    DCGM_EXPORTER,
    MIG_MANAGER,
    DRIVER_MANAGER,
    NODE_FEATURE_DISCOVERY,
    NETWORK_OPERATOR,
    DOCA_DRIVER,
    NIM_OPERATOR,
    DRA_DRIVER,
    KAI_SCHEDULER,
    KYVERNO,
    KARPENTER,
    CILIUM,
    CALICO,
    KAMAJI,
    DPF,
    NVSENTINEL,
    NODE_HEALTH_CHECK,
    CERT_MANAGER,
    KUBE_PROMETHEUS_STACK,
    OPENTELEMETRY_COLLECTOR,
    CSI_DRIVER_NFS,
    LOCAL_PATH_PROVISIONER,
)
"""Every pinned component, in the order of the docs table."""

AICR_DIFFERENCES: dict[str, str] = {
    "nvidia-dra-driver-gpu": (
        "AICR v0.11.1 pins the NGC chart nvidia-dra-driver-gpu 25.12.0; we install the "
        "kubernetes-sigs chart dra-driver-nvidia-gpu 0.4.0, which is newer (versioning "
        "restarted at 0.x) and matches the CRDs in shared/crds/k8s-dra-driver-gpu."
    ),
    "driver": (
        "AICR's gpu-operator values pin driver 580.105.08 (R580) for GPU Operator "
        "v25.10.1; we use the R595 default of GPU Operator v26.7.0."
    ),
}
"""Deliberate differences from the AICR recipes, keyed by AICR component name."""

OPERANDS: dict[str, Component] = {
    NVIDIA_DRIVER.name: GPU_OPERATOR,
    CONTAINER_TOOLKIT.name: GPU_OPERATOR,
    DEVICE_PLUGIN.name: GPU_OPERATOR,
    DCGM_EXPORTER.name: GPU_OPERATOR,
    MIG_MANAGER.name: GPU_OPERATOR,
    DRIVER_MANAGER.name: GPU_OPERATOR,
    NODE_FEATURE_DISCOVERY.name: GPU_OPERATOR,
    DOCA_DRIVER.name: NETWORK_OPERATOR,
}
"""Matrix rows an operator deploys (operand name -> operator): their Kubernetes support
is the operator's, which is validated with these default operand versions."""

# --------------------------------------------------------------------------- #
# The Kubernetes window
# --------------------------------------------------------------------------- #


def installed_components(
    *,
    gpu: bool = True,
    network_operator: bool = False,
    nim_operator: bool = False,
    dra_driver: bool = False,
    dpf: bool = False,
    kai_scheduler: bool = True,
    karpenter: bool = False,
    cni: str = "cilium",
    kamaji: bool = False,
    node_health: str = "nvsentinel",
    prometheus_stack: bool = True,
    otel_collector: bool = True,
    nfs_csi: bool = False,
    local_path: bool = False,
) -> tuple[Component, ...]:
    """The pinned components that run in (or, Kamaji, host) a tenant cluster.

    The defaults are a default config's set. Kyverno is always installed. `cni` is
    `cilium`, `calico` or `external` (someone else's CNI: nothing pinned here);
    `node_health` is `nvsentinel`, `nhc` (medik8s Node Health Check) or `off`;
    `kamaji` is the hosted control-plane backend (its TenantControlPlane must accept
    the version). cert-manager is never in the set: nothing gpu-caas installs needs it.
    """
    chosen: list[tuple[bool, Component]] = [
        (gpu, GPU_OPERATOR),
        (gpu and network_operator, NETWORK_OPERATOR),
        (gpu and nim_operator, NIM_OPERATOR),
        (gpu and dra_driver, DRA_DRIVER),
        (gpu and dpf, DPF),
        (kai_scheduler, KAI_SCHEDULER),
        (True, KYVERNO),
        (karpenter, KARPENTER),
        (cni == "cilium", CILIUM),
        (cni == "calico", CALICO),
        (kamaji, KAMAJI),
        (node_health == "nvsentinel", NVSENTINEL),
        (node_health == "nhc", NODE_HEALTH_CHECK),
        (prometheus_stack, KUBE_PROMETHEUS_STACK),
        (otel_collector, OPENTELEMETRY_COLLECTOR),
        (nfs_csi, CSI_DRIVER_NFS),
        (local_path, LOCAL_PATH_PROVISIONER),
    ]
    return tuple(component for wanted, component in chosen if wanted)


@dataclass(frozen=True)
class KubernetesWindow:
    """The Kubernetes versions every enforced entry of a component set supports.

    `minimum` is a version (`"1.34.2"`), `maximum` a minor (`"1.35"`) or None when no
    component bounds it. `oldest_by` / `newest_by` are the components that set each
    bound (several when they tie).
    """

    minimum: str
    maximum: str | None
    oldest_by: tuple[Component, ...]
    newest_by: tuple[Component, ...]

    @property
    def empty(self) -> bool:
        """True when no version satisfies every component."""
        return self.maximum is not None and Version.parse(self.minimum).minor > (
            Version.parse(self.maximum).minor
        )

    def text(self) -> str:
        """`"1.34.2 to 1.35.x"` (or `"1.34.0 or later"` without an upper bound)."""
        if self.maximum is None:
            return f"{self.minimum} or later"
        return f"{self.minimum} to {self.maximum}.x"


def _enforced(components: Iterable[Component]) -> list[tuple[Component, KubernetesSupport]]:
    entries = [(PLATFORM, _support(PLATFORM))]
    entries += [(c, c.kubernetes) for c in components if c.kubernetes and c.kubernetes.enforced]
    return entries


def _support(component: Component) -> KubernetesSupport:
    if component.kubernetes is None:
        raise ValueError(f"{component.name} has no Kubernetes support entry")
    return component.kubernetes


def kubernetes_window(components: Iterable[Component]) -> KubernetesWindow:
    """Intersect the platform floor with the enforced Kubernetes ranges of `components`."""
    entries = _enforced(components)
    # The platform floor always has a minimum, so the default is never used.
    minimum = max(
        (Version.parse(k.minimum) for _, k in entries if k.minimum),
        default=Version.parse(KUBERNETES_MINIMUM),
    )
    maxima = [Version.parse(k.maximum).minor for _, k in entries if k.maximum]
    newest = min(maxima, default=None)
    return KubernetesWindow(
        minimum=str(minimum),
        maximum=None if newest is None else f"{newest[0]}.{newest[1]}",
        oldest_by=tuple(c for c, k in entries if k.minimum and Version.parse(k.minimum) == minimum),
        newest_by=tuple(
            c for c, k in entries if k.maximum and Version.parse(k.maximum).minor == newest
        ),
    )


def kubernetes_problems(kubernetes: str, components: Iterable[Component]) -> list[str]:
    """Refusals of `kubernetes` by the enforced ranges of `components` (empty when inside).

    At most two sentences: one naming every component the version is too new for, one
    every component it is too old for, each with its supported range and source, and
    the window that would work.

    Raises:
        ValueError: when `kubernetes` is not a version.
    """
    entries = _enforced(components)
    window = kubernetes_window(c for c, _ in entries if c is not PLATFORM)
    fix = (
        "no Kubernetes version satisfies them all: change the limiting component's pin"
        if window.empty
        else f"use Kubernetes {window.text()}"
    )
    problems: list[str] = []
    newer = sorted(
        ((c, k) for c, k in entries if k.too_new(kubernetes)),
        key=lambda entry: Version.parse(entry[1].maximum or "0"),
    )
    if newer:
        bound = newer[0][1].maximum
        limiting = [c.label for c, k in newer if k.maximum == bound]
        reasons = "; ".join(f"{c.label} supports {k.range_text()} ({k.source})" for c, k in newer)
        problems.append(
            f"Kubernetes {kubernetes} is newer than {bound}, the newest minor "
            f"{_and(limiting)} {'supports' if len(limiting) == 1 else 'support'}: "
            f"{reasons}; {fix}"
        )
    older = sorted(
        ((c, k) for c, k in entries if k.too_old(kubernetes)),
        key=lambda entry: Version.parse(entry[1].minimum or "0"),
        reverse=True,
    )
    if older:
        bound = older[0][1].minimum
        limiting = [c.label for c, k in older if k.minimum == bound]
        reasons = "; ".join(f"{c.label} supports {k.range_text()} ({k.source})" for c, k in older)
        problems.append(
            f"Kubernetes {kubernetes} is older than {bound}, the oldest version "
            f"{_and(limiting)} {'supports' if len(limiting) == 1 else 'support'}: "
            f"{reasons}; {fix}"
        )
    return problems


def _and(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def kubernetes_warnings(kubernetes: str, components: Iterable[Component]) -> list[str]:
    """Ranges recorded with `enforced=False` that `kubernetes` is outside of (not fatal),
    one sentence each: `Kubernetes 1.34.2 is outside the range NVIDIA DOCA Platform
    Framework v24.10.0-rc.6 documents (1.30 only, per <source>), and is allowed because
    <note>.`"""
    return [
        f"Kubernetes {kubernetes} is outside the range {c.label} documents "
        f"({k.range_text()}, per {k.source}), and is allowed because {k.note}."
        for c in components
        if (k := c.kubernetes) is not None and not k.enforced and not k.admits(kubernetes)
    ]


# --------------------------------------------------------------------------- #
# Rules
# --------------------------------------------------------------------------- #

CVE_2025_23266_TOOLKIT_FLOOR = "1.17.8"
"""NVIDIA Container Toolkit fix for CVE-2025-23266 ("NVIDIAScape", container escape via
the createContainer hook). https://nvidia.custhelp.com/app/answers/detail/a_id/5659"""
CVE_2025_23266_GPU_OPERATOR_FLOOR = "25.3.1"
"""First GPU Operator release that ships the fixed toolkit (same bulletin)."""


@dataclass(frozen=True)
class RdmaIncompatibility:
    """A GPU Operator / Network Operator pair known not to work for GPUDirect RDMA.

    Ranges are half-open `[from, before)`; None means unbounded.
    """

    gpu_operator_from: str | None
    gpu_operator_before: str | None
    network_operator_from: str | None
    network_operator_before: str | None
    reason: str
    source: str

    def matches(self, gpu_operator: str, network_operator: str) -> bool:
        """True when both versions fall inside this entry's ranges."""
        return _in_range(gpu_operator, self.gpu_operator_from, self.gpu_operator_before) and (
            _in_range(network_operator, self.network_operator_from, self.network_operator_before)
        )


def _in_range(version: str, lower: str | None, upper: str | None) -> bool:
    parsed = Version.parse(version)
    if lower is not None and parsed < Version.parse(lower):
        return False
    return upper is None or parsed < Version.parse(upper)


RDMA_INCOMPATIBLE_PAIRS: tuple[RdmaIncompatibility, ...] = (
    RdmaIncompatibility(
        gpu_operator_from=None,
        gpu_operator_before="25.3.0",
        network_operator_from="25.4.0",
        network_operator_before=None,
        reason="Network Operator 25.4 and later require GPU Operator 25.3 or later for "
        "workloads that use GPUs with GPUDirect RDMA",
        source="https://docs.nvidia.com/networking/display/kubernetes2540/platform-support.html",
    ),
    RdmaIncompatibility(
        gpu_operator_from=None,
        gpu_operator_before="1.5.2",
        network_operator_from=None,
        network_operator_before=None,
        reason="the Network Operator is only compatible with GPU Operator 1.5.2 and later",
        source="https://github.com/Mellanox/network-operator/releases/tag/v0.5.0 "
        "(Known Limitations)",
    ),
)
"""Known-bad pairs for GPUDirect RDMA, from NVIDIA's published support statements.

NVIDIA publishes these as minimum versions (Network Operator platform-support pages),
not as a list of broken pairs, and we found no published pair that is broken although
both sides are above those minimums. Known RDMA issues that are not version pairs
(e.g. GPU Operator 26.3.0: nvidia-peermem fails to restart after a driver-pod restart
without reboot, fixed in newer driver images; NVIDIA/gpu-operator#2844) are driver
issues and are not modelled here. Add a row (with its source) when NVIDIA lists one.
"""

MULTI_NODE_NVLINK_GPU_MODELS: frozenset[str] = frozenset({"gb200", "gb300"})
"""GPU families sold in multi-node NVLink (NVL72/NVL36) racks. ComputeDomains (IMEX
channels across nodes) only make sense there.
https://docs.nvidia.com/datacenter/cloud-native/gpu-operator/latest/dra-cds.html"""


OPEN_KERNEL_MODULE_GPU_FAMILIES: frozenset[str] = frozenset(
    {"gh200", "b200", "gb200", "b300", "gb300"}
)
"""Grace Hopper and Blackwell GPUs only work with the open GPU kernel modules; the
proprietary modules do not support them.
https://developer.nvidia.com/blog/nvidia-transitions-fully-towards-open-source-gpu-kernel-modules/"""


def requires_open_kernel_modules(gpu_model: str) -> bool:
    """True for Grace Hopper / Blackwell models (`B200-180GB`, `GB200-186GB`, ...).

    Catalog models (`components.gpu.catalog`) answer from their architecture (so
    `RTX-PRO-6000-96GB`, a Blackwell, counts); other names fall back to the family name.
    """
    try:
        gpu = catalog.spec(gpu_model)
    except ValueError:
        gpu = None
    if gpu is not None and gpu.listed:
        return gpu.open_kernel_modules_only
    normalized = re.sub(r"[^a-z0-9]", "", gpu_model.lower())
    return any(normalized.startswith(family) for family in OPEN_KERNEL_MODULE_GPU_FAMILIES)


def is_multi_node_nvlink(gpu_model: str) -> bool:
    """True for GPU models that come in multi-node NVLink domains (GB200, GB300).

    Models in the GPU catalog (`components.gpu.catalog`) answer from their
    `multi_node_nvlink` flag; other spellings (`gb200-nvl72`, `GB300`) fall back to the
    GPU family name.
    """
    try:
        return catalog.spec(gpu_model).multi_node_nvlink
    except ValueError:
        normalized = re.sub(r"[^a-z0-9]", "", gpu_model.lower())
        return any(normalized.startswith(family) for family in MULTI_NODE_NVLINK_GPU_MODELS)


def check_compatibility(
    *,
    kubernetes: str,
    gpu_operator: str = GPU_OPERATOR.version,
    container_toolkit: str = CONTAINER_TOOLKIT.version,
    network_operator: str | None = None,
    rdma: bool = False,
    dra_driver: bool = False,
    compute_domain_gpu_models: Iterable[str] = (),
    kernel_module_type: str = "auto",
    gpu_models: Iterable[str] = (),
    components: Iterable[Component] | None = None,
) -> list[str]:
    """Return every compatibility problem of a version set; empty when it is valid.

    Args:
        kubernetes: the tenant cluster's Kubernetes version.
        gpu_operator: GPU Operator version to install.
        container_toolkit: NVIDIA Container Toolkit version the operator deploys.
        network_operator: Network Operator version, or None when it is not installed.
        rdma: whether GPUDirect RDMA is enabled (GPU + Network Operator together).
        dra_driver: whether the DRA driver for GPUs is installed.
        compute_domain_gpu_models: GPU models of the node groups that get ComputeDomains.
        kernel_module_type: driver kernel modules (`auto`, `open`, `proprietary`).
        gpu_models: GPU models of all node groups (for the kernel-module check).
        components: the pinned components the cluster runs, whose Kubernetes ranges
            bound `kubernetes` (`installed_components`); None: a default config's set
            with the Network Operator and DRA driver as the arguments above say.

    Returns:
        Sentences that say what is wrong and what is allowed, one per problem.

    Raises:
        ValueError: when a version string cannot be parsed.
    """
    return [
        message
        for _, message in compatibility_problems(
            kubernetes=kubernetes,
            gpu_operator=gpu_operator,
            container_toolkit=container_toolkit,
            network_operator=network_operator,
            rdma=rdma,
            dra_driver=dra_driver,
            compute_domain_gpu_models=compute_domain_gpu_models,
            kernel_module_type=kernel_module_type,
            gpu_models=gpu_models,
            components=components,
        )
    ]


def compatibility_problems(
    *,
    kubernetes: str,
    gpu_operator: str = GPU_OPERATOR.version,
    container_toolkit: str = CONTAINER_TOOLKIT.version,
    network_operator: str | None = None,
    rdma: bool = False,
    dra_driver: bool = False,
    compute_domain_gpu_models: Iterable[str] = (),
    kernel_module_type: str = "auto",
    gpu_models: Iterable[str] = (),
    components: Iterable[Component] | None = None,
) -> list[tuple[str, str]]:
    """`check_compatibility`, with each message tagged by the argument that caused it.

    The tag is the argument name (`"container_toolkit"`, `"network_operator"`, ...;
    `"compute_domain_gpu_models[i]"` for the i-th model), so config validation can
    report each problem at the config key that set that argument.
    """
    if components is None:
        components = installed_components(
            network_operator=network_operator is not None, dra_driver=dra_driver
        )
    problems: list[tuple[str, str]] = [
        ("kubernetes", message) for message in kubernetes_problems(kubernetes, components)
    ]
    if not version_at_least(container_toolkit, CVE_2025_23266_TOOLKIT_FLOOR):
        problems.append(
            (
                "container_toolkit",
                f"NVIDIA Container Toolkit {container_toolkit} is vulnerable to "
                f"CVE-2025-23266; use {CVE_2025_23266_TOOLKIT_FLOOR} or later",
            )
        )
    if not version_at_least(gpu_operator, CVE_2025_23266_GPU_OPERATOR_FLOOR):
        problems.append(
            (
                "gpu_operator",
                f"GPU Operator {gpu_operator} ships a toolkit vulnerable to CVE-2025-23266; "
                f"use {CVE_2025_23266_GPU_OPERATOR_FLOOR} or later",
            )
        )
    if rdma and network_operator is not None:
        for pair in RDMA_INCOMPATIBLE_PAIRS:
            if pair.matches(gpu_operator, network_operator):
                problems.append(
                    (
                        "network_operator",
                        f"GPU Operator {gpu_operator} with Network Operator {network_operator} "
                        f"is a known-bad pair for GPUDirect RDMA: {pair.reason} ({pair.source})",
                    )
                )
    for index, model in enumerate(compute_domain_gpu_models):
        if not is_multi_node_nvlink(model):
            problems.append(
                (
                    f"compute_domain_gpu_models[{index}]",
                    f"ComputeDomains need multi-node NVLink GPUs (GB200, GB300); "
                    f"{model} has no multi-node NVLink domain",
                )
            )
    if kernel_module_type == "proprietary":
        blocked = sorted({m for m in gpu_models if requires_open_kernel_modules(m)})
        if blocked:
            problems.append(
                (
                    "kernel_module_type",
                    f"{', '.join(blocked)} need the open GPU kernel modules; the proprietary "
                    "modules do not support Grace Hopper or Blackwell (use open or auto)",
                )
            )
    return problems


# --------------------------------------------------------------------------- #
# Upgrade paths (day 2): the previous deployment's pins against this release's
# --------------------------------------------------------------------------- #


def upgrade_path_findings(
    previous: Mapping[str, str],
    components: Iterable[Component],
    *,
    rdma: bool = False,
    rdma_pairs: Iterable[RdmaIncompatibility] = RDMA_INCOMPATIBLE_PAIRS,
) -> list[tuple[str, str]]:
    """`upgrade_path_problems`, each message tagged with the `Component.name` it is about,
    or `RDMA_TRANSITION` for a known-bad RDMA pair on the way."""
    findings: list[tuple[str, str]] = []
    current = {component.name: component for component in components}
    for name, component in current.items():
        before = previous.get(name)
        policy = component.upgrade
        if before is None or policy is None:
            continue  # a fresh install, or not a release of its own
        try:
            old, new = Version.parse(before), Version.parse(component.version)
        except ValueError:
            # The record is this program's own output; a value that is no version was
            # edited by hand, and judging a path from it would only block the stack.
            continue
        if new < old:
            findings.append(
                (
                    name,
                    f"{name} {before} is deployed and this deployment installs "
                    f"{component.version}, a downgrade: gpu-caas upgrades releases in place "
                    "and never downgrades one (an upgrade may have converted its CRDs and "
                    f"stored objects); deploy a gpu-caas release pinning {name} {before} or "
                    "newer",
                )
            )
            continue
        allowed = policy.next_lines(policy.line(before))
        line = policy.line(component.version)
        if not allowed or line <= policy.line(before) or line in allowed:
            continue
        step = allowed[0]
        alternative = (
            f" (or {_line_text(allowed[1])} if {_line_text(policy.line(before))} was the last "
            f"{policy.line(before)[0]}.x release)"
            if len(allowed) > 1 and line[0] > policy.line(before)[0]
            else ""
        )
        unit = "major" if policy.path is UpgradePath.ONE_MAJOR else "minor"
        findings.append(
            (
                name,
                f"{name} {before} is deployed and this deployment installs "
                f"{component.version}, which skips {_line_text(step)}: {name} upgrades one "
                f"{unit} release at a time ({policy.source}); deploy a gpu-caas release "
                f"pinning {name} {_line_text(step)}{alternative} first",
            )
        )
    findings += _rdma_transition_findings(previous, current, rdma, rdma_pairs)
    return findings


RDMA_TRANSITION = "rdma-transition"
"""Tag of `upgrade_path_findings` for the GPU Operator / Network Operator pair a cluster
runs between the two releases' upgrades."""


def _rdma_transition_findings(
    previous: Mapping[str, str],
    current: Mapping[str, Component],
    rdma: bool,
    pairs: Iterable[RdmaIncompatibility],
) -> list[tuple[str, str]]:
    """The pair a cluster runs half-way through the upgrade: the GPU Operator's release
    is upgraded first and the Network Operator's after it (stacks/platform_gpu_network.py
    installs it after the GPU Operator), so for a while the new GPU Operator runs with the
    deployed Network Operator. The final pair is `compatibility_problems`' to judge."""
    gpu = current.get(GPU_OPERATOR.name)
    network = current.get(NETWORK_OPERATOR.name)
    deployed_network = previous.get(NETWORK_OPERATOR.name)
    deployed_gpu = previous.get(GPU_OPERATOR.name)
    if not rdma or gpu is None or network is None or None in (deployed_gpu, deployed_network):
        return []  # nothing on the way: a fresh install of one of them
    if deployed_gpu == gpu.version or deployed_network == network.version:
        return []  # one side does not move: the transition is the final pair
    try:
        bad = [pair for pair in pairs if pair.matches(gpu.version, str(deployed_network))]
    except ValueError:
        return []
    return [
        (
            RDMA_TRANSITION,
            f"{GPU_OPERATOR.name} {gpu.version} with the deployed {NETWORK_OPERATOR.name} "
            f"{deployed_network} (the pair running until the Network Operator release is "
            f"upgraded after it) is a known-bad pair for GPUDirect RDMA: {pair.reason} "
            f"({pair.source}); upgrade the Network Operator in an earlier deployment, "
            f"keeping the GPU Operator at {deployed_gpu}",
        )
        for pair in bad
    ]


def upgrade_path_problems(
    previous: Mapping[str, str],
    components: Iterable[Component],
    *,
    rdma: bool = False,
    rdma_pairs: Iterable[RdmaIncompatibility] = RDMA_INCOMPATIBLE_PAIRS,
) -> list[str]:
    """Refusals of moving each deployed release to this gpu-caas release's pin.

    Args:
        previous: `Component.name` -> version of the last deployment
            (`stacks.config.deployed.DeployedState.components`). A component absent
            from it is a fresh install; one absent from `components` was removed.
        components: the components this deployment installs, at their pins (with
            config overrides applied, e.g. `gpu.operator.version`).
        rdma: GPUDirect RDMA is on (GPU and Network Operator together): the pair the
            cluster runs between the two releases' upgrades must not be a known-bad one.
        rdma_pairs: the known-bad pairs (`RDMA_INCOMPATIBLE_PAIRS`).

    Returns:
        One sentence per refused step, naming the component, both versions, the rule
        with its source (`Component.upgrade`) and the release to deploy first: a
        downgrade, or a skipped major (ONE_MAJOR) or minor (ONE_MINOR) release line.
        Recorded versions that do not parse are ignored.
    """
    return [
        message
        for _, message in upgrade_path_findings(
            previous, components, rdma=rdma, rdma_pairs=rdma_pairs
        )
    ]


# --------------------------------------------------------------------------- #
# Added by the cluster-services work (issue 3) - review with the lead.
# --------------------------------------------------------------------------- #

KARPENTER_PROVIDER_CHARTS: dict[str, HelmChart] = {
    # aws/karpenter-provider-aws tracks core releases one to one; v1.14.1 of the
    # provider ships core v1.14.1 (https://github.com/aws/karpenter-provider-aws/
    # releases/tag/v1.14.1). Chart: oci://public.ecr.aws/karpenter/karpenter.
    "aws": HelmChart("oci://public.ecr.aws/karpenter", "karpenter", KARPENTER.version),
}
"""Karpenter controller charts we can install, keyed by Karpenter provider. Providers
not listed (cluster-api, azure, custom) run their controller out of band: the
cluster-api provider publishes no chart and AKS manages Karpenter itself (NAP)."""


def matrix_markdown() -> str:
    """The compatibility matrix as a Markdown table (kept in docs/gpu-platform.md by a test)."""
    lines = [
        "| Component | Version | Helm chart | Kubernetes | Upgrades | Source |",
        "|---|---|---|---|---|---|",
    ]
    for component in MATRIX:
        chart = (
            f"`{component.chart.repository}` `{component.chart.chart}` {component.chart.version}"
            if component.chart
            else "-"
        )
        lines.append(
            f"| {component.name} | {component.version} | {chart} | "
            f"{_kubernetes_cell(component)} | {_upgrade_cell(component)} | {component.source} |"
        )
    return "\n".join(lines) + "\n"


def _upgrade_cell(component: Component) -> str:
    """The docs table's Upgrades column: how a deployed release may move to the pin."""
    if component is NVIDIA_DRIVER:
        # stacks.config.operator_upgrades: the driver's rule is about its branch.
        return "any branch; an older one needs `allowBranchDowngrade`"
    if component.name in OPERANDS:
        return f"with {OPERANDS[component.name].name}"
    policy = component.upgrade
    if policy is None:
        return "-"
    if policy.path is UpgradePath.ONE_MAJOR:
        return "one major (YY.MM) at a time" if policy.releases else "one major at a time"
    if policy.path is UpgradePath.ONE_MINOR:
        return "one minor at a time"
    return "any newer version"


def _kubernetes_cell(component: Component) -> str:
    """The docs table's Kubernetes column: the supported range, `(not enforced)` when
    recorded only, the operator for operands."""
    if component.name in OPERANDS:
        return f"as {OPERANDS[component.name].name}"
    if component.kubernetes is None:
        return f"window: {kubernetes_window(installed_components()).text()} (default config)"
    cell = component.kubernetes.range_text()
    if component is CERT_MANAGER:
        return f"{cell} (not installed by gpu-caas)"
    return cell if component.kubernetes.enforced else f"{cell} (not enforced)"
