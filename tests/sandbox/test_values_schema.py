"""values_schema: the JSON Schema Helm enforces on a stand-in chart = the values oracle."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import jsonschema
import pytest
import yaml

from sandbox.documented_values import DOCUMENTED_VALUES_KEYS
from sandbox.upstream_copies import CHART_COPIES
from sandbox.values_schema import FREE_FORM_KEYS, SCHEMA_DIALECT, values_schema
from tests.support import upstream as oracle
from tests.support.upstream import CRDS_ROOT, assert_values_keys_known

UPSTREAM: dict[str, Any] = {
    "image": {"repository": "nvcr.io/nvidia", "tag": "v1", "pullPolicy": "IfNotPresent"},
    "replicas": 1,
    "ratio": 0.5,
    "enabled": True,
    "nodeSelector": {},
    "resources": {},
    "extra": None,
    "empty": {},
    "rules": [{"name": "a", "verbs": ["get"]}, {"name": "b", "resources": ["pods"]}],
    "args": ["--v=2"],
    "config": {"create": False, "data": {}},
    "nested": {"deep": {"leaf": "x"}},
}


def _valid(values: Any, allow: tuple[str, ...] = (), *, check_types: bool = True) -> bool:
    schema = values_schema(UPSTREAM, allow=allow, check_types=check_types)
    jsonschema.Draft7Validator.check_schema(schema)
    return bool(jsonschema.Draft7Validator(schema).is_valid(values))


@pytest.mark.parametrize(
    "values",
    [
        {},
        UPSTREAM,
        {"image": {"tag": "v2"}},
        {"replicas": 3},
        {"replicas": 2.5},  # int and float are both JSON numbers
        {"ratio": 1},
        {"image": {"tag": None}},  # null is allowed for scalars
        {"args": None},
        # free-form keys are open, at any depth
        {"nodeSelector": {"any/label": "x"}},
        {"resources": {"limits": {"nvidia.com/gpu": 1}}},
        {"nested": {"deep": {"annotations": {"a": "b"}}}},
        # FREE_FORM_PATHS: any *.config.data
        {"config": {"data": {"key": "value"}}},
        # upstream `key: null` accepts anything
        {"extra": {"anything": [1, {"x": None}]}},
        {"extra": "a string"},
        # list items may use any key some upstream item uses
        {"rules": [{"name": "c", "verbs": [], "resources": ["nodes"]}]},
        {"rules": []},
        {"args": ["--v=4", "--x"]},
    ],
)
def test_accepts(values: Any) -> None:
    assert _valid(values)


@pytest.mark.parametrize(
    ("values", "why"),
    [
        ({"imag": {"tag": "x"}}, "unknown key at the top level"),
        ({"image": {"tg": "x"}}, "unknown nested key"),
        ({"nested": {"deep": {"leef": "x"}}}, "unknown key two levels down"),
        ({"replicas": "3"}, "string where upstream has a number"),
        ({"enabled": "true"}, "string where upstream has a boolean"),
        ({"image": {"tag": 1}}, "number where upstream has a string"),
        ({"ratio": True}, "boolean where upstream has a number"),
        ({"args": "--v=2"}, "string where upstream has a list"),
        ({"image": "nvcr.io/nvidia"}, "scalar where upstream has a map"),
        ({"image": None}, "null where upstream has a map"),
        ({"image": ["x"]}, "list where upstream has a map"),
        ({"replicas": {"min": 1}}, "map where upstream has a number"),
        ({"rules": {"name": "x"}}, "map where upstream has a list"),
        ({"rules": [{"nmae": "x"}]}, "list item key no upstream item uses"),
        ({"rules": ["get"]}, "scalar item where upstream items are maps"),
        ({"empty": {"key": 1}}, "upstream {} admits no keys of its own"),
        ({"empty": "x"}, "scalar where upstream has {}"),
        ({"global": {"registry": "x"}}, "Helm adds no top-level `global` to a chart's values"),
    ],
)
def test_rejects(values: Any, why: str) -> None:
    assert not _valid(values), why


@pytest.mark.parametrize(
    ("allow", "values", "valid"),
    [
        # anchored: admits the path and the unknown keys on the way to it
        (("^new.sub.key",), {"new": {"sub": {"key": {"anything": [1]}}}}, True),
        (("^new.sub.key",), {"new": {"sub": {"other": 1}}}, False),
        (("^new.sub.key",), {"other": {"sub": {"key": 1}}}, False),
        # everything below an allowed path is accepted, whatever upstream has there
        (("^image.tag",), {"image": {"tag": {"digest": "sha256:0"}}}, True),
        # suffix pattern: matches the end of a path
        (("image.digest",), {"image": {"digest": "sha256:0"}}, True),
        (("image.digest",), {"nested": {"digest": "x"}}, False),
        # `*` matches one segment
        (("^nested.*.x",), {"nested": {"deep": {"x": {"y": 1}}}}, True),
        (("^nested.*.x",), {"nested": {"other": {"x": 1}}}, True),
        (("^nested.*.x",), {"nested": {"other": {"y": 1}}}, False),
        # an anchored pattern does not match deeper paths
        (("^tag2",), {"image": {"tag2": "x"}}, False),
        (("^tag2",), {"tag2": "x"}, True),
    ],
)
def test_allow_patterns(allow: tuple[str, ...], values: Any, valid: bool) -> None:
    assert _valid(values, allow) is valid


def test_without_type_checks_only_keys_count() -> None:
    # The oracle (assert_values_keys_known) does not check scalar types.
    assert _valid({"replicas": "3", "image": {"tag": 1}, "empty": "x"}, check_types=False)
    assert not _valid({"replicas": {"min": 1}}, check_types=False)


def test_schema_is_draft_07() -> None:
    # Helm v3 validates with santhosh-tekuri/jsonschema v6, which picks the draft from
    # `$schema` (default 2020-12).
    schema = values_schema(UPSTREAM)
    assert schema["$schema"] == SCHEMA_DIALECT == "http://json-schema.org/draft-07/schema#"
    assert schema["type"] == "object"
    jsonschema.Draft7Validator.check_schema(schema)


@pytest.mark.parametrize("pattern", ["rules[0].name", "", "^", "a..b"])
def test_patterns_that_cannot_be_a_schema_are_refused(pattern: str) -> None:
    with pytest.raises(ValueError, match="allow pattern"):
        values_schema(UPSTREAM, allow=(pattern,))


def test_the_oracle_uses_the_same_rules() -> None:
    assert oracle.FREE_FORM_KEYS is FREE_FORM_KEYS
    assert "nodeSelector" in FREE_FORM_KEYS


# --------------------------------------------------------------------------- #
# Differential test: on every values file we key-check against, the schema without
# type checks accepts exactly what assert_values_keys_known accepts, and the typed
# schema accepts nothing the oracle rejects.
# --------------------------------------------------------------------------- #

ORACLE_FILES = sorted(
    (name, copies.values) for name, copies in CHART_COPIES.items() if copies.values is not None
)


def _random_value(rng: random.Random) -> Any:
    return rng.choice(["s", 1, 2.5, True, None, [], ["x"], [{"name": "x"}], {}, {"zzKey": 1}])


class _Mutator:
    """Random values objects built around an upstream values tree."""

    def __init__(self, rng: random.Random, allow: tuple[str, ...]) -> None:
        self.rng = rng
        self.names = sorted(
            {part for p in allow for part in p.lstrip("^").split(".") if part != "*"}
            | {"config", "data", "nodeSelector", "annotations"}
        )

    def mapping(self, theirs: Mapping[Any, Any], depth: int) -> dict[str, Any]:
        keys = [key for key in theirs if isinstance(key, str)]
        result: dict[str, Any] = {}
        for _ in range(self.rng.choice([1, 1, 2])):
            roll = self.rng.random()
            if keys and roll < 0.6:
                key = self.rng.choice(keys)
                result[key] = self.value(theirs[key], depth + 1)
            elif roll < 0.75:
                key = self.rng.choice(self.names)
                result[key] = self.value(theirs.get(key, {}), depth + 1)
            elif roll < 0.85:
                result["zzTypo"] = _random_value(self.rng)
            else:
                result[self.rng.choice(keys or ["zz"])] = _random_value(self.rng)
        return result

    def value(self, theirs: Any, depth: int) -> Any:
        if depth > 8 or self.rng.random() < 0.15:
            return _random_value(self.rng)
        if isinstance(theirs, Mapping):
            return self.mapping(theirs, depth)
        if isinstance(theirs, list):
            items = [item for item in theirs if isinstance(item, Mapping)]
            if items and self.rng.random() < 0.7:
                known: dict[Any, Any] = {}
                for item in items:
                    known.update(item)
                return [self.mapping(known, depth)]
            return [_random_value(self.rng)]
        return _random_value(self.rng)


@pytest.mark.parametrize(("chart", "values_file"), ORACLE_FILES)
def test_schema_equals_the_oracle_on_upstream_values(chart: str, values_file: str) -> None:
    allow = DOCUMENTED_VALUES_KEYS.get(chart, ())
    upstream = yaml.safe_load((CRDS_ROOT / values_file).read_text()) or {}
    keys_only = jsonschema.Draft7Validator(values_schema(upstream, allow=allow, check_types=False))
    typed = jsonschema.Draft7Validator(values_schema(upstream, allow=allow))
    assert typed.is_valid(upstream), "the upstream file must satisfy its own schema"
    mutator = _Mutator(random.Random(f"{chart}-20260630"), allow)
    verdicts = {True: 0, False: 0}
    for _ in range(400):
        values = mutator.mapping(upstream, 0)
        try:
            assert_values_keys_known(values, values_file, allow=allow)
            accepted = True
        except AssertionError:
            accepted = False
        assert keys_only.is_valid(values) is accepted, (chart, values)
        if typed.is_valid(values):
            assert accepted, (chart, values)
        verdicts[accepted] += 1
    # Both outcomes must be well represented for the comparison to mean anything.
    assert min(verdicts.values()) > 40, verdicts
