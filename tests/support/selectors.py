"""Kubernetes label-selector semantics for tests (what the scheduler/controllers match)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def node_selector_matches(node_selector: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    """Whether a core/v1 `NodeSelector` selects a node with `labels`.

    Terms are ORed, the `matchExpressions` of a term ANDed
    (https://kubernetes.io/docs/reference/kubernetes-api/common-definitions/node-selector-requirement/).
    """

    def matches(expression: Mapping[str, Any]) -> bool:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values", [])
        if operator == "In":
            return key in labels and labels[key] in values
        if operator == "NotIn":
            return key not in labels or labels[key] not in values
        if operator == "Exists":
            return key in labels
        if operator == "DoesNotExist":
            return key not in labels
        raise AssertionError(f"operator {operator} is not covered by this helper")

    return any(
        all(matches(expression) for expression in term.get("matchExpressions", []))
        for term in node_selector["nodeSelectorTerms"]
    )
