"""Helpers to read resource properties the way the policy engine hands them over.

Validators receive `args.props` as nested mappings and sequences. During `pulumi
preview` some values are unknown; `pulumi_policy` raises `UnknownValueError` when a
validator reads one, and turns that into an advisory "can't run policy during preview"
(pulumi_policy/policy.py, `Analyze`). The helpers here let a validator either propagate
that (resource policies: the value decides the outcome) or skip the unknown part
(stack policies and full-property scans: one unknown must not hide every other check).
Either way the pack's preview report counts it (`report.note_deferred`/`note_unknown`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from pulumi_policy.proxy import UnknownValueError

from policies.gpu_caas_policies import report as _report

K8S_PROVIDER_TYPE = "pulumi:providers:kubernetes"

POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:core/v1:ReplicationController": ("spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
"""Where each workload type keeps its PodSpec."""

CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")


def get(obj: Any, *path: str | int, default: Any = None) -> Any:
    """Return `obj[path[0]][path[1]]...`, or `default` when a step is missing.

    Unknown values raise `UnknownValueError` (from the engine's proxy), on purpose.
    """
    current = obj
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, Sequence) or isinstance(current, str):
                return default
            if step >= len(current):
                return default
            current = current[step]
        else:
            if not isinstance(current, Mapping) or not has_key(current, step):
                return default
            current = current[step]
        if current is None:
            return default
    return current


def has_key(mapping: Mapping[str, Any], key: str) -> bool:
    """True when `key` is present, without reading its (possibly unknown) value.

    `key in proxy` would read the value through `__getitem__` and raise for unknowns.
    """
    return any(k == key for k in mapping)


def known(obj: Any, *path: str | int, default: Any = None) -> Any:
    """Like `get`, but an unknown value (preview) yields `default` instead of raising."""
    try:
        return get(obj, *path, default=default)
    except UnknownValueError as error:
        _report.note_unknown(error)
        return default


def walk_strings(obj: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Yield `(dotted.path, value)` for every known string in `obj`; unknowns are skipped."""
    if isinstance(obj, str):
        yield path, obj
        return
    if isinstance(obj, Mapping):
        for key in list(obj):
            try:
                value = obj[key]
            except UnknownValueError as error:
                _report.note_unknown(error)
                continue
            yield from walk_strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(obj, Sequence):
        for index in range(len(obj)):
            try:
                value = obj[index]
            except UnknownValueError as error:
                _report.note_unknown(error)
                continue
            yield from walk_strings(value, f"{path}[{index}]")


def pod_spec(resource_type: str, props: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The PodSpec of a workload resource, or None for other types."""
    path = POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    spec = get(props, *path)
    return spec if isinstance(spec, Mapping) else None


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield `(display name, container)` for init, regular and ephemeral containers."""
    for field in CONTAINER_LISTS:
        for index, container in enumerate(get(spec, field, default=[]) or []):
            if isinstance(container, Mapping):
                name = get(container, "name", default=f"{field}[{index}]")
                yield f"{field[:-1]} {name!r}", container


def namespace_of(props: Mapping[str, Any], default: str = "default") -> str:
    """`metadata.namespace` of a namespaced object; `default` when unset.

    An unset namespace lands in the provider's default namespace, "default" unless the
    provider sets `namespace`; treating it as "default" (a non-platform namespace) keeps
    the tenant rules on the safe side. An unknown namespace (preview) raises
    `UnknownValueError`, which `preview_tolerant` turns into "check at update".
    """
    value = get(props, "metadata", "namespace", default=default)
    return value if isinstance(value, str) and value else default


_F = TypeVar("_F", bound=Callable[..., None])


def preview_tolerant(validator: _F) -> _F:
    """Skip the check when it needs a value that is unknown during preview.

    At `pulumi preview` an input that comes from another resource's output (a namespace
    name, a kubeconfig) is unknown. `pulumi_policy` would report that as an advisory
    "can't run policy ... during preview" event on every first preview. Resource
    policies run again during `pulumi up`, before each resource is created, with every
    input known, so a mandatory violation still stops the update: skipping at preview
    loses no enforcement, only noise.
    """

    @functools.wraps(validator)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            validator(*args, **kwargs)
        except UnknownValueError as error:
            _report.note_deferred(error)  # counted for the pack's preview report
            return

    return wrapper  # type: ignore[return-value]


def name_of(props: Mapping[str, Any], fallback: str) -> str:
    """`metadata.name`, or the Pulumi resource name when unset or unknown."""
    value = known(props, "metadata", "name", default=None)
    return value if isinstance(value, str) and value else fallback


def config_list(config: Mapping[str, Any], key: str, default: Sequence[str]) -> list[str]:
    """A list-of-strings policy config value, falling back to the pack default."""
    value = config.get(key) if config else None
    if isinstance(value, list):
        return [str(v) for v in value]
    return list(default)


def config_value(config: Mapping[str, Any], key: str, default: Any) -> Any:
    """A scalar policy config value, falling back to the pack default."""
    if config and key in config and config[key] is not None:
        return config[key]
    return default
