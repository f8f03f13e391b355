"""Which Helm values keys a chart accepts, as one set of rules for two checkers.

Helm ignores unknown values silently, so a typo ships a misconfigured cluster. The
rules below say which key paths of a values object an upstream values file admits.
They are used by:

* the test oracle `tests.support.upstream.assert_values_keys_known`, which walks our
  values next to the upstream `values.yaml` and lists every unknown key path;
* `values_schema`, which turns the same rules into a JSON Schema (draft-07, the
  dialect Helm v3 validates `values.schema.json` with) for the stand-in charts of
  the live test cluster, so Helm itself rejects a typo at install time.

The rules (both checkers, exactly):

* a key named in `FREE_FORM_KEYS`, or a path matching `FREE_FORM_PATHS` or an
  `allow` pattern, is a leaf: anything below it is accepted;
* an upstream `key: null` accepts anything;
* an upstream map admits only its own keys (plus leaves and allowed paths); an
  upstream `{}` therefore admits no keys of its own, but a scalar or a list is not
  rejected there;
* a map is rejected where upstream has a scalar or a list, and a scalar, list or
  null where upstream has a non-empty map;
* lists are open unless upstream shows map items; then each map item we set may
  only use keys some upstream item uses.

`allow` patterns are dotted paths: a pattern matches a path suffix, `*` matches one
segment, a leading `^` anchors it at the root, and an anchored pattern also admits
the (otherwise unknown) keys on the way down to it.

On top of the key rules, `values_schema(..., check_types=True)` (the default) also
checks types, which the oracle does not: a key whose upstream default is a string,
boolean or number keeps that JSON type (ints and floats are both `number`), a list
stays a list and an upstream `{}` stays a map; each also accepts null.

Helm's validation: `chartutil.ToRenderValuesWithSchemaValidation` validates the
values *coalesced* over the chart's `values.yaml` (`CoalesceValues`), with
santhosh-tekuri/jsonschema v6, which honours `$schema`
(https://github.com/helm/helm/blob/v3.18.6/pkg/chartutil/values.go,
https://github.com/helm/helm/blob/v3.18.6/pkg/chartutil/jsonschema.go).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Any

FREE_FORM_KEYS: frozenset[str] = frozenset(
    {
        # Kubernetes maps and lists whose keys are user data, not chart options.
        "nodeSelector",
        "labels",
        "annotations",
        "podAnnotations",
        "podLabels",
        "additionalLabels",
        "commonLabels",
        # Kubernetes object fragments the chart copies verbatim into a pod spec.
        "env",
        "tolerations",
        "affinity",
        "resources",
        "securityContext",
        "podSecurityContext",
        "imagePullSecrets",
        "relabelings",
        # Feature-gate maps (name -> bool), free-form by design.
        "featureGates",
    }
)
"""Keys whose value is a leaf: anything below them is user data, not a chart option."""

FREE_FORM_PATHS: tuple[str, ...] = (
    # gpu-operator: ConfigMap contents created by the chart (`*.config.create: true`).
    "config.data",
)
"""Dotted path suffixes that are leaves (e.g. any `*.config.data`)."""

SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#"
"""`$schema` of every generated schema. Helm v3.18 compiles `values.schema.json` with
santhosh-tekuri/jsonschema v6, which picks the draft from `$schema` (its default,
without one, is 2020-12)."""

Path = tuple[str, ...]
Schema = dict[str, Any] | bool

_ANY_KEY = "\x00"
"""Stands for every key that no rule names: it is in no upstream map, equals no
literal pattern segment and is not a free-form key, so the schema computed for it
holds for all such keys (the `additionalProperties` of a map)."""

_FREE_FORM_KEY_REGEX = "^(?:" + "|".join(re.escape(key) for key in sorted(FREE_FORM_KEYS)) + ")$"


def _segments_match(parts: Iterable[str], segments: Iterable[str]) -> bool:
    return all(part in ("*", segment) for part, segment in zip(parts, segments, strict=True))


def matches(path: Path, pattern: str) -> bool:
    """True when the key path `path` matches `pattern`.

    Args:
        path: key segments from the values root, e.g. `("driver", "manager", "env")`.
        pattern: dotted path; it matches a suffix of `path`, `*` matches one segment,
            a leading `^` anchors it at the root (whole path).
    """
    parts = tuple(pattern.split("."))
    if len(parts) > len(path):
        return False
    if pattern.startswith("^"):
        anchored = (parts[0][1:], *parts[1:])
        return len(anchored) == len(path) and _segments_match(anchored, path)
    return _segments_match(parts, path[len(path) - len(parts) :])


def is_leaf(path: Path, allow: Iterable[str] = ()) -> bool:
    """True when everything below `path` is accepted.

    That is when its last key is in `FREE_FORM_KEYS`, or the path matches a
    `FREE_FORM_PATHS` entry or an `allow` pattern (see `matches`).
    """
    if path[-1] in FREE_FORM_KEYS:
        return True
    return any(matches(path, pattern) for pattern in (*FREE_FORM_PATHS, *allow))


def leads_to_allowed(path: Path, allow: Iterable[str]) -> bool:
    """True when an anchored `allow` pattern (`^a.b.c`) continues below `path`.

    Such a key is admitted although upstream does not have it, and below it only the
    keys on the way to the allowed path are.
    """
    for pattern in allow:
        if not pattern.startswith("^"):
            continue
        parts = pattern[1:].split(".")
        if len(parts) > len(path) and all(
            part in ("*", segment) for part, segment in zip(parts, path, strict=False)
        ):
            return True
    return False


def values_schema(
    upstream_values: Mapping[str, Any] | None,
    *,
    allow: Iterable[str] = (),
    check_types: bool = True,
) -> dict[str, Any]:
    """Derive a chart's `values.schema.json` from its upstream values file.

    Args:
        upstream_values: the parsed upstream `values.yaml` (None for an empty file).
        allow: extra allowed key patterns (`DOCUMENTED_VALUES_KEYS[chart]`), with the
            same meaning as for `assert_values_keys_known`.
        check_types: also require every key to keep the JSON type of its upstream
            default (null always allowed for scalars, lists and `{}`). Without it the
            schema accepts exactly what `assert_values_keys_known` accepts.

    Returns:
        A JSON Schema (draft-07) object. A values object that breaks a rule of this
        module's docstring is invalid against it. Helm applies it to the values
        coalesced over the chart's values.yaml
        (https://helm.sh/docs/topics/charts/#schema-files).

    Raises:
        ValueError: when `upstream_values` is not a map, or a pattern names a list
            index (`a[0].b`), which JSON Schema `items` cannot single out.
    """
    patterns = tuple(allow)
    for pattern in patterns:
        if "[" in pattern or not pattern.lstrip("^") or "" in pattern.lstrip("^").split("."):
            raise ValueError(f"allow pattern {pattern!r}: expected a dotted key path")
    upstream = {} if upstream_values is None else upstream_values
    if not isinstance(upstream, Mapping):
        raise ValueError(f"upstream values must be a map, got {type(upstream).__name__}")
    builder = _SchemaBuilder(patterns, check_types)
    root = builder.object_node(upstream, (), "object")
    return {"$schema": SCHEMA_DIALECT, **root}


class _SchemaBuilder:
    """Builds the schema node by node, following the oracle's walk of a values tree."""

    def __init__(self, allow: tuple[str, ...], check_types: bool) -> None:
        self.allow = allow
        self.check_types = check_types
        # Keys a pattern names literally; any other key not in an upstream map is
        # covered by the `_ANY_KEY` case.
        self.named = {
            part
            for pattern in (*FREE_FORM_PATHS, *allow)
            for part in pattern.lstrip("^").split(".")
            if part != "*"
        } - FREE_FORM_KEYS

    def node(self, upstream: Any, path: Path) -> Schema:
        """Schema for the value at `path`, whose upstream default is `upstream`."""
        if path and is_leaf(path, self.allow):
            return {}
        if upstream is None:
            return {}
        if isinstance(upstream, Mapping):
            if upstream:
                return self.object_node(upstream, path, "object")
            return self.object_node(
                upstream, path, ["object", "null"] if self.check_types else None
            )
        if isinstance(upstream, list):
            return self.list_node(upstream, path)
        return self.scalar_node(upstream)

    def object_node(
        self, upstream: Mapping[Any, Any], path: Path, type_: str | list[str] | None
    ) -> dict[str, Any]:
        known = {key: value for key, value in upstream.items() if isinstance(key, str)}
        schema: dict[str, Any] = {} if type_ is None else {"type": type_}
        other = self.key(known, path, _ANY_KEY)
        properties: dict[str, Schema] = {}
        for name in sorted(set(known) | self.named):
            if name in FREE_FORM_KEYS:
                continue  # `patternProperties` below
            sub = self.key(known, path, name)
            if name in known or sub != other:
                properties[name] = sub
        if properties:
            schema["properties"] = properties
        schema["patternProperties"] = {_FREE_FORM_KEY_REGEX: {}}
        if other != {}:
            schema["additionalProperties"] = other
        return schema

    def key(self, known: Mapping[str, Any], path: Path, name: str) -> Schema:
        child = (*path, name)
        if name in known:
            return self.node(known[name], child)
        if is_leaf(child, self.allow):
            return {}
        if leads_to_allowed(child, self.allow):
            # Only the allowed path may be set below this key.
            return self.node({}, child)
        return False

    def list_node(self, upstream: list[Any], path: Path) -> dict[str, Any]:
        schema: dict[str, Any] = (
            {"type": ["array", "null"]} if self.check_types else {"not": {"type": "object"}}
        )
        items = [item for item in upstream if isinstance(item, Mapping)]
        if not items:
            return schema
        merged: dict[Any, Any] = {}
        for item in items:
            merged.update(item)
        # The oracle names an item `list[<index>]`; no pattern may name an index, so
        # one schema holds for every item.
        item_path = (*path[:-1], f"{path[-1]}[]")
        all_maps = len(items) == len(upstream)
        if is_leaf(item_path, self.allow):
            return schema
        item_type = "object" if self.check_types and all_maps else None
        schema["items"] = self.object_node(merged, item_path, item_type)
        return schema

    def scalar_node(self, upstream: Any) -> dict[str, Any]:
        if not self.check_types:
            return {"not": {"type": "object"}}
        if isinstance(upstream, bool):
            json_type = "boolean"
        elif isinstance(upstream, int | float):
            json_type = "number"
        elif isinstance(upstream, str | datetime.date):
            # PyYAML reads unquoted dates as dates; Helm's YAML reader keeps strings.
            json_type = "string"
        else:
            return {"not": {"type": "object"}}
        return {"type": [json_type, "null"]}
