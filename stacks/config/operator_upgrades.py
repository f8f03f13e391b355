"""Operator upgrades on day 2: may the releases and the driver move from what the stack
last deployed (`stacks.config.deployed.DeployedState`) to what this config and this
gpu-caas release install?

Two rules, both pure:

* **Release paths** (`components.versions.upgrade_path_problems`): each installed
  component's deployed version against its pin (`Component.upgrade`): no downgrade, no
  skipped major (GPU Operator, Network Operator: NVIDIA supports upgrades "within a major
  release or to the next major release") or minor (Cilium, cert-manager) release line,
  and no GPU Operator / Network Operator pair known to break GPUDirect RDMA while the
  second release waits for its upgrade. Pins come from this gpu-caas release
  (`components/versions.py`), so their problems are reported at the tenant root; the
  GPU Operator's at `gpu.operator.version`, which can override its pin.
* **Driver branch** (`gpu.operator.driver.version`): another branch is allowed (the GPU
  Operator's upgrade controller rolls it out under `upgradePolicy`), an older branch
  only with `allowBranchDowngrade: true`. A CUDA application needs a driver of its CUDA
  major release's minimum branch or newer (CUDA 13.x: >= 580, 12.x: >= 525,
  https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html),
  so workloads built for the deployed branch's CUDA release may stop running on an
  older one. Another version of the same branch is allowed either way.

`deployed_components(config)` and `deployed_driver_version(config)` are what the
program records in the stack output `deployed` for the next run to compare with.
"""

from __future__ import annotations

from dataclasses import replace

from components import versions
from stacks.config.deployed import DeployedState
from stacks.config.errors import ROOT, Problem, key_path
from stacks.config.gpu import tenant_components
from stacks.config.tenant import TenantConfig

DRIVER_VERSION_PATH = key_path("gpu", "operator", "driver", "version")
GPU_OPERATOR_VERSION_PATH = key_path("gpu", "operator", "version")

CUDA_13_MINIMUM_BRANCH = 580
"""Oldest driver branch CUDA 13.x applications run on (CUDA 12.x: 525).
https://docs.nvidia.com/deploy/cuda-compatibility/minor-version-compatibility.html"""

_NOT_UPGRADED_BY_THE_STACK = frozenset({versions.KAMAJI.name})
"""Matrix rows a tenant stack needs but does not install: Kamaji runs on the provider's
management cluster (the stack only creates a TenantControlPlane there)."""


def installed_releases(config: TenantConfig) -> tuple[versions.Component, ...]:
    """The components `config` installs as releases of its own, at the versions this
    run deploys: `stacks.config.gpu.tenant_components` with `gpu.operator.version`
    applied, without Kamaji (`_NOT_UPGRADED_BY_THE_STACK`)."""
    override = config.gpu.operator.version
    return tuple(
        replace(c, version=override) if c is versions.GPU_OPERATOR and override else c
        for c in tenant_components(config)
        if c.name not in _NOT_UPGRADED_BY_THE_STACK
    )


def deployed_components(config: TenantConfig) -> dict[str, str]:
    """`Component.name` -> version of every release `config` installs, sorted by name:
    the `components` of the `deployed` stack output, e.g.
    `{"Kyverno": "v1.19.0", "NVIDIA GPU Operator": "v26.7.0", ...}`."""
    return dict(sorted((c.name, c.version) for c in installed_releases(config)))


def deployed_driver_version(config: TenantConfig) -> str | None:
    """The driver version the GPU Operator deploys (`gpu.operator.driver.version`, else
    the pin `versions.NVIDIA_DRIVER`), or None when it deploys none (GPU platform off,
    or `driver.enabled: false`: the host's driver): the `driverVersion` of the
    `deployed` stack output."""
    driver = config.gpu.operator.driver
    if not config.gpu.enabled or not driver.enabled:
        return None
    return driver.version or versions.NVIDIA_DRIVER.version


def operator_upgrade_problems(config: TenantConfig, deployed: DeployedState) -> list[Problem]:
    """Every release-path and driver-branch problem of deploying `config` over `deployed`.

    Empty on a first deployment, and when the record could not be read
    (`deployed.unreadable`: `stacks.config.upgrades` reports that once for every day-2
    rule).

    Returns:
        Problems at `gpu-caas:tenant.gpu.operator.version` (the GPU Operator),
        `gpu-caas:tenant` (other pins: this gpu-caas release's) and
        `gpu-caas:tenant.gpu.operator.driver.version` (the driver branch).
    """
    if deployed.unreadable:
        return []
    network = config.gpu.network
    rdma = config.gpu.enabled and network.enabled and config.gpu.operator.driver.enabled
    whose = (
        "gpu.operator.version's"
        if config.gpu.operator.version
        else "this gpu-caas release's pin (components/versions.py)"
    )
    problems = []
    for name, message in versions.upgrade_path_findings(
        deployed.components,
        installed_releases(config),
        rdma=rdma,
        rdma_pairs=versions.RDMA_INCOMPATIBLE_PAIRS,
    ):
        if name == versions.RDMA_TRANSITION:
            # The fix is the GPU Operator's: hold it back for one deployment.
            problems.append(
                Problem(
                    GPU_OPERATOR_VERSION_PATH,
                    f"{message} (set gpu.operator.version to it for that deployment)",
                )
            )
        elif name == versions.GPU_OPERATOR.name:
            problems.append(
                Problem(
                    GPU_OPERATOR_VERSION_PATH,
                    f"{message}, or set gpu.operator.version to such a release (the version "
                    f"this deployment installs is {whose})",
                )
            )
        else:
            problems.append(Problem(ROOT, f"{message} (the pin comes from components/versions.py)"))
    return problems + driver_branch_problems(config, deployed.driver_version)


def driver_branch_problems(config: TenantConfig, deployed_version: str | None) -> list[Problem]:
    """A driver branch older than the deployed one, unless `allowBranchDowngrade`.

    Args:
        config: the tenant (reads `gpu.operator.driver`).
        deployed_version: the last deployment's `driverVersion` (None: not recorded,
            or the host's driver).
    """
    target = deployed_driver_version(config)
    if deployed_version is None or target is None:
        return []
    try:
        old = versions.Version.parse(deployed_version).release[0]
        new = versions.Version.parse(target).release[0]
    except ValueError:
        return []  # the record is this program's own; see upgrade_path_findings
    if new >= old or config.gpu.operator.driver.allow_branch_downgrade:
        return []
    cuda = (
        f"; CUDA 13.x applications need R{CUDA_13_MINIMUM_BRANCH} or newer"
        if old >= CUDA_13_MINIMUM_BRANCH > new
        else ""
    )
    source = "" if config.gpu.operator.driver.version else " (this gpu-caas release's pin)"
    return [
        Problem(
            DRIVER_VERSION_PATH,
            f"driver {deployed_version} (R{old}) is deployed and {target}{source} is on the "
            f"older branch R{new}: CUDA applications built for R{old}'s CUDA release may not "
            f"run on it (https://docs.nvidia.com/deploy/cuda-compatibility/"
            f"minor-version-compatibility.html){cuda}; keep R{old} (set gpu.operator.driver."
            f"version to {deployed_version} or a newer R{old} release), or set "
            "gpu.operator.driver.allowBranchDowngrade: true for this deployment once the "
            f"workloads are known to run on R{new}",
        )
    ]
