"""What the program planned for each resource, for stack policies at preview.

A stack policy (`StackValidationPolicy`) sees each resource's *outputs*. On the first
preview of a new tenant the tenant's kubeconfig is unknown (it is the output of a
resource the same update creates), the provider is unconfigured, and no Kubernetes
object has outputs yet: a stack policy that reads `resource.props` sees nothing and
passes. That is exactly the preview a reviewer sees in the pull request that adds the
tenant (issue 10). The engine does send every resource's *inputs* to the resource
analysis (`Analyze`) before the stack analysis (`AnalyzeStack`) of the same run, in
the same pack process. `install_planned_inputs_hook` records them by URN, and
`props_of` gives a stack policy the outputs when there are any, else those planned
inputs, in which names and labels written in the program are known.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

_lock = threading.Lock()
_planned: dict[str, Any] = {}

RECORDED_TYPES = ("kubernetes:", "gpu-caas:")
"""Type prefixes whose planned inputs are recorded: Kubernetes objects (no outputs
until the tenant's provider is configured) and gpu-caas components (NodeGroup). Stack
policies read no other type through `props_of`; commands and providers have outputs at
preview anyway."""


def record(urn: str, props: Any) -> None:
    """Remember the planned inputs of `urn` (the latest analysis wins)."""
    with _lock:
        _planned[urn] = props


def planned_props(urn: str) -> Any | None:
    """The recorded inputs of `urn`, or None."""
    with _lock:
        return _planned.get(urn)


def props_of(resource: Any) -> Any:
    """A stack policy's view of `resource`: its outputs, else its planned inputs.

    Outputs win when there are any (after `pulumi up` created the object, or a preview
    against a reachable cluster). An object the update will create has none yet; then
    the inputs the program gave it are the best knowledge at preview.
    """
    props = resource.props
    if isinstance(props, Mapping) and len(props) > 0:
        return props
    planned = planned_props(str(resource.urn))
    return planned if planned is not None else props


def install_planned_inputs_hook() -> None:
    """Wrap the pack's `Analyze` so every resource's inputs are recorded. Idempotent."""
    from google.protobuf import json_format  # type: ignore[import-untyped]
    from pulumi_policy import policy
    from pulumi_policy.deserialize import deserialize_properties
    from pulumi_policy.proxy import unknown_checking_proxy

    servicer = policy._PolicyAnalyzerServicer
    original: Any = servicer.Analyze
    if getattr(original, "_gpu_caas_planned_hook", False):
        return

    def analyze(self: Any, request: Any, context: Any) -> Any:
        # Only the types stack policies judge: converting every command's inputs too
        # (most of a large tenant's resources) doubled the pack's per-resource work.
        if str(request.type).startswith(RECORDED_TYPES):
            inputs = deserialize_properties(json_format.MessageToDict(request.properties))
            record(request.urn, unknown_checking_proxy(inputs))
        return original(self, request, context)

    analyze._gpu_caas_planned_hook = True  # type: ignore[attr-defined]
    analyze.__wrapped__ = original  # type: ignore[attr-defined]
    servicer.Analyze = analyze  # type: ignore[method-assign]
