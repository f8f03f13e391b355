"""What happens to a Release's values before Helm validates them against the schema.

`kubernetes:helm.sh/v3:Release` (pulumi-kubernetes f47bc2d6, Helm v3.18.6 as a Go
library) installs a chart in two steps that change the values:

1. the provider drops nulls (`allowNullValues` unset, our default):
   `mergeMaps` -> `excludeNulls`
   (https://github.com/pulumi/pulumi-kubernetes/blob/f47bc2d6f199/provider/pkg/provider/helm_release.go);
2. Helm coalesces them over the chart's values.yaml (`chartutil.CoalesceValues`) and
   validates the result against `values.schema.json`
   (https://github.com/helm/helm/blob/v3.18.6/pkg/chartutil/coalesce.go,
   `ToRenderValuesWithSchemaValidation` in pkg/chartutil/values.go).

For a chart without dependencies (every stand-in chart) coalescing adds nothing
else: `global` is only copied into *subchart* values (`coalesceGlobals`, called from
`coalesceDeps` per dependency), never added at the top level.

Pure functions, used by tests to predict what Helm will validate.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any


def exclude_nulls(values: Any) -> Any:
    """Drop null map values and null list items, recursively (pulumi-kubernetes `excludeNulls`).

    Returns a new structure; `values` is not changed.
    """
    if isinstance(values, Mapping):
        return {key: exclude_nulls(value) for key, value in values.items() if value is not None}
    if isinstance(values, list):
        return [exclude_nulls(item) for item in values if item is not None]
    return values


def coalesce(chart_values: Mapping[str, Any], user_values: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's `CoalesceValues` for a chart without dependencies.

    Args:
        chart_values: the chart's parsed values.yaml.
        user_values: the release values (after `exclude_nulls`).

    Returns:
        A new map: user values win; maps merge recursively; a user null deletes the
        key; a user scalar or list replaces a chart map (Helm warns and keeps the
        user value) and a user map is kept where the chart has a scalar.
    """
    result: dict[str, Any] = copy.deepcopy(dict(user_values))
    for key, default in chart_values.items():
        if key not in result:
            result[key] = copy.deepcopy(default)
        elif result[key] is None:
            del result[key]
        elif isinstance(result[key], dict) and isinstance(default, Mapping):
            _coalesce_tables(result[key], default)
    return result


def _coalesce_tables(destination: dict[str, Any], source: Mapping[str, Any]) -> None:
    """`coalesceTablesFullKey` with merge=false: `destination` wins, nulls in it delete."""
    for key, default in source.items():
        if key in destination and destination[key] is None:
            del destination[key]
        elif key not in destination:
            destination[key] = copy.deepcopy(default)
        elif isinstance(default, Mapping) and isinstance(destination[key], dict):
            _coalesce_tables(destination[key], default)
