"""What Helm validates: provider-side null removal, then Helm's coalescing (v3.18.6)."""

from __future__ import annotations

from typing import Any

import pytest

from sandbox.helm_values import coalesce, exclude_nulls

CHART = {"image": {"tag": "v1", "pullPolicy": "Always"}, "replicas": 1, "keep": None}


def test_exclude_nulls_drops_null_values_and_items() -> None:
    values = {"a": None, "b": {"c": None, "d": 1}, "e": [None, {"f": None}, 2], "g": {}}
    assert exclude_nulls(values) == {"b": {"d": 1}, "e": [{}, 2], "g": {}}
    assert values["a"] is None  # not changed in place


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ({}, CHART),
        # maps merge, user values win
        ({"image": {"tag": "v2"}}, {**CHART, "image": {"tag": "v2", "pullPolicy": "Always"}}),
        # a user null deletes the chart default
        ({"replicas": None}, {"image": CHART["image"], "keep": None}),
        ({"image": {"tag": None}}, {**CHART, "image": {"pullPolicy": "Always"}}),
        # a user scalar replaces a chart map (Helm warns), a user map a chart scalar
        ({"image": "x"}, {**CHART, "image": "x"}),
        ({"replicas": {"min": 1}}, {**CHART, "replicas": {"min": 1}}),
        # keys the chart does not have are kept, nulls included
        ({"extra": None}, {**CHART, "extra": None}),
        # no top-level `global` appears (only subcharts get one, coalesceGlobals)
    ],
)
def test_coalesce(user: dict[str, Any], expected: dict[str, Any]) -> None:
    assert coalesce(CHART, user) == expected
    assert "global" not in coalesce(CHART, user)


def test_coalesce_does_not_change_its_inputs() -> None:
    user = {"image": {"tag": "v2"}}
    merged = coalesce(CHART, user)
    merged["image"]["pullPolicy"] = "Never"
    assert user == {"image": {"tag": "v2"}}
    assert CHART["image"] == {"tag": "v1", "pullPolicy": "Always"}
