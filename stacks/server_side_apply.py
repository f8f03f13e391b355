"""Every Kubernetes object gpu-caas declares wins server-side apply conflicts.

pulumi-kubernetes applies objects with server-side apply under a field manager it
records per resource. When an update is interrupted after the API server created an
object but before the state recorded it (a killed `pulumi up`, a lost CI runner), the
recovery (`pulumi refresh --clear-pending-creates`, then `up`) applies the object again
under a new field manager. Both managers now own its fields, and the first later change
of such a field fails with "Apply failed with 1 conflict: conflict with
pulumi-kubernetes-<id>" (seen on the live test cluster: a NodeOverlay's capacity after a
MIG layout change). The same happens after someone edits a field with kubectl.

The stack config is the source of truth for every object gpu-caas declares, so every
one carries `pulumi.com/patchForce: "true"`: the provider then forces the apply and takes
the conflicting fields over
(https://www.pulumi.com/registry/packages/kubernetes/how-to-guides/managing-resources-with-server-side-apply/#handle-field-conflicts-on-existing-resources;
pulumi-kubernetes provider/pkg/await/await.go `patchForce`). Helm releases are not
applied that way and are left alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
from pulumi._types import input_type_to_dict

from components.isolation.tenant_namespaces import GUARDRAIL_ANNOTATIONS

PATCH_FORCE: Mapping[str, str] = GUARDRAIL_ANNOTATIONS
"""`{"pulumi.com/patchForce": "true"}`."""

_NOT_APPLIED = ("kubernetes:helm.sh/",)
"""Kubernetes resource types that are not objects applied with server-side apply."""


def with_patch_force(metadata: Any) -> Any:
    """`metadata` (None, a dict, an `ObjectMetaArgs` or an Output of either) with the
    patch-force annotation merged into its annotations; other keys unchanged."""
    if isinstance(metadata, pulumi.Output):
        return metadata.apply(with_patch_force)
    if metadata is None:
        return {"annotations": dict(PATCH_FORCE)}
    plain = metadata if isinstance(metadata, Mapping) else input_type_to_dict(metadata)
    plain = dict(plain)
    annotations = plain.get("annotations")
    if isinstance(annotations, pulumi.Output):
        plain["annotations"] = annotations.apply(lambda a: {**(a or {}), **PATCH_FORCE})
    else:
        plain["annotations"] = {**(annotations or {}), **PATCH_FORCE}
    return plain


def force_conflicts(
    args: pulumi.ResourceTransformationArgs,
) -> pulumi.ResourceTransformationResult | None:
    """Stack transformation: add `pulumi.com/patchForce` to every Kubernetes object."""
    if not args.type_.startswith("kubernetes:") or args.type_.startswith(_NOT_APPLIED):
        return None
    props = dict(args.props)
    props["metadata"] = with_patch_force(props.get("metadata"))
    return pulumi.ResourceTransformationResult(props, args.opts)


def register() -> None:
    """Register `force_conflicts` for every resource the program creates after this."""
    pulumi.runtime.register_stack_transformation(force_conflicts)
