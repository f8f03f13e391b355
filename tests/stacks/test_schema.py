"""The generated JSON Schema is fresh, and every example stack file validates against it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from stacks.__main__ import SCHEMA_PATH, render_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(ROOT.glob("Pulumi.*.yaml"))


def test_schema_file_is_fresh() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render_schema(), (
        "stacks/schema/tenant.schema.json is stale: run `python -m stacks schema`"
    )


def test_schema_is_a_valid_json_schema() -> None:
    schema = json.loads(render_schema())
    jsonschema.Draft202012Validator.check_schema(schema)
    tenant = schema["$defs"]["TenantConfig"]
    assert set(tenant["properties"]) >= {
        "name",
        "flavor",
        "kubernetes",
        "controlPlane",
        "hosts",
        "nodeGroups",
        "mirrors",
        "teams",
        "gpu",
        "services",
        "isolation",
    }
    assert tenant["additionalProperties"] is False
    assert "description" in schema["$defs"]["HostConfig"]["properties"]["address"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_examples_validate_against_the_schema(path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(json.loads(render_schema())).validate(document)


def test_schema_rejects_unknown_keys() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(render_schema()))
    bad = {
        "config": {
            "gpu-caas:tenant": {
                "name": "a",
                "flavor": "isv-managed",
                "kubernetes": {"version": "1.34"},
                "typo": 1,
            }
        }
    }
    assert any("typo" in e.message for e in validator.iter_errors(bad))


def test_titles_are_readable() -> None:
    schema = json.loads(render_schema())
    defs = schema["$defs"]
    thresholds = defs["AlertThresholds"]
    assert thresholds["title"] == "Alert Thresholds"
    assert thresholds["properties"]["gpuTempCelsius"]["title"] == "GPU Temperature (°C)"
    assert defs["NimConfig"]["properties"]["ngcApiKey"]["title"] == "NGC API Key"
    assert defs["GpuPlatformConfig"]["title"] == "GPU Platform"
    assert defs["CniPlugin"]["title"] == "CNI Plugin"  # enums too
    # No camelCase key's title is its words run together (pydantic's "Gputempcelsius"),
    # and no class name is left as is ("CniPlugin").
    for name, definition in defs.items():
        assert re.search(r"[a-z][A-Z]", definition["title"].replace("IdP", "")) is None, name
        for key, prop in definition.get("properties", {}).items():
            if key != key.lower() and "title" in prop:  # ($ref-only keys have none)
                assert prop["title"] != key.capitalize(), (name, key)
                assert " " in prop["title"], (name, key)
    assert "Gputempcelsius" not in render_schema()
