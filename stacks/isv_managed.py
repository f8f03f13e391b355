"""Flavor `isv-managed`: an ISV platform provisions the cluster; we receive its
kubeconfig (secret config value or another stack's output) and build the GPU platform
on it (backend `external`)."""

from __future__ import annotations

import pulumi

from components.cluster import TenantCluster
from stacks import compose
from stacks.config import Flavor, TenantConfig


def isv_kubeconfig(config: TenantConfig) -> pulumi.Output[str]:
    """The ISV cluster's kubeconfig as a secret Output.

    From `controlPlane.external.kubeconfig`, or from the output of the stack named in
    `controlPlane.external.stackReference` (the reference is `<tenant>-isv-stack`).
    """
    external = config.control_plane.external
    if external is None:
        raise ValueError("isv-managed needs controlPlane.external")
    if external.kubeconfig is not None:
        return external.kubeconfig.output()
    ref = external.stack_reference
    if ref is None:
        raise ValueError("controlPlane.external needs kubeconfig or stackReference")
    stack = pulumi.StackReference(f"{config.name}-isv-stack", stack_name=ref.name)
    return pulumi.Output.secret(stack.get_output(ref.output).apply(str))


def cluster(config: TenantConfig) -> TenantCluster:
    """Declare the tenant cluster of this flavor and its Kubernetes provider (the first
    half of `deploy`; `stacks.compose.with_platform` is the second)."""
    if config.flavor is not Flavor.ISV_MANAGED:
        raise ValueError(f"isv_managed cannot deploy flavor {config.flavor.value!r}")
    return compose.tenant_cluster(config, isv_kubeconfig(config))


def deploy(config: TenantConfig) -> dict[str, object]:
    """Adopt the ISV cluster and build the platform on it; return the stack outputs."""
    return compose.with_platform(config, cluster(config))
