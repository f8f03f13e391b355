"""Helpers shared by the services components (pure, no resources)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.naming import LABEL_TENANT


def namespace_metadata(name: str, tenant: str, pod_security: str) -> k8s.meta.v1.ObjectMetaArgs:
    """Metadata of a platform namespace with Pod Security Admission labels.

    `pod_security` is the enforced level (`restricted`, `baseline`, `privileged`);
    `warn` is always `restricted`, so drift towards weaker pods shows up in warnings.
    """
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        labels={
            LABEL_TENANT: tenant,
            "pod-security.kubernetes.io/enforce": pod_security,
            "pod-security.kubernetes.io/warn": "restricted",
        },
    )


def cr_metadata(name: str, tenant: str, namespace: str | None = None) -> dict[str, Any]:
    """Metadata of a custom resource we own."""
    metadata: dict[str, Any] = {"name": name, "labels": {LABEL_TENANT: tenant}}
    if namespace is not None:
        metadata["namespace"] = namespace
    return metadata


def child_opts(
    parent: pulumi.Resource, provider: k8s.Provider, *depends_on: pulumi.Resource
) -> pulumi.ResourceOptions:
    """Options of a child: parent, the tenant cluster's explicit provider, dependencies."""
    return pulumi.ResourceOptions(
        parent=parent, provider=provider, depends_on=list(depends_on) or None
    )
