"""The fleet summary: Markdown (the pull-request comment), JSON and the terminal table,
rendered from recorded previews (`recorded/`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from rich.console import Console

from stacks.fleet.events import Outcome, Violation, fold, read_recorded
from stacks.fleet.summary import (
    COMMENT_LIMIT,
    COMMENT_MARKER,
    FleetSummary,
    MirrorDiff,
    TenantResult,
    classify,
    diff_mirror_lists,
    dump_json,
    render_markdown,
    render_table,
)

RECORDED = Path(__file__).parent / "recorded"


def _result(tenant: str, recording: str, *, exit_ok: bool = True) -> TenantResult:
    result = TenantResult(tenant, "tenant-managed", "preview", attempts=1, seconds=12.0)
    classify(result, fold(read_recorded(RECORDED / recording)), exit_ok, drift=False)
    result.output = f"Previewing update ({tenant}):\n...\nResources:\n    + 55 to create\n"
    return result


@pytest.fixture
def summary() -> FleetSummary:
    dev = _result("dev", "dev-first-preview.jsonl")
    dev.config_warnings = ["Pulumi.dev.yaml:8:7: warning: gpu-caas:tenant.kubernetes.version: x"]
    dev.mirror = MirrorDiff(added=["chart gpu-operator@v26.7.0 (https://helm.ngc.nvidia.com)"])
    bad = _result("bad", "bad-cluster-admin-preview.jsonl", exit_ok=False)
    replaced = _result("replaced", "replace-preview.jsonl")
    return FleetSummary("preview", 2, [dev, bad, replaced], seconds=30.0)


def test_comment_starts_with_the_marker_the_workflow_updates_it_by(summary: FleetSummary) -> None:
    text = render_markdown(summary)
    assert text.startswith(COMMENT_MARKER + "\n")
    assert "3 tenants, 2 succeeded, 1 failed" in text


def test_comment_table_has_one_row_per_tenant(summary: FleetSummary) -> None:
    rows = [line for line in render_markdown(summary).splitlines() if line.startswith("| `")]
    assert rows == [
        "| `dev` | tenant-managed | ✅ succeeded | +55 | 0 | none | 1 | +1 -0 | 12 s |",
        "| `bad` | tenant-managed | ❌ failed (policy) | +3 | 0 | 2 mandatory | 0 | n/a | 12 s |",
        "| `replaced` | tenant-managed | ✅ succeeded | ~1 +-1 | 1 | none | 0 | n/a | 12 s |",
    ]


def test_comment_names_policies_replacements_warnings_and_mirror_changes(
    summary: FleetSummary,
) -> None:
    text = render_markdown(summary)
    assert "`gpu-caas-tenant-isolation/no-cluster-admin-binding` [mandatory] on " in text
    assert "⚠️ **Replacements** (1):\n  - `command:local:Command triggered`" in text
    assert "warning: gpu-caas:tenant.kubernetes.version" in text
    assert "+ `chart gpu-operator@v26.7.0 (https://helm.ngc.nvidia.com)`" in text


def test_full_output_is_collapsed_under_each_tenant(summary: FleetSummary) -> None:
    text = render_markdown(summary)
    assert text.count("<details><summary>Full preview of") == 3
    assert "```\nPreviewing update (dev):" in text


def test_comment_stays_under_githubs_limit_keeping_each_outputs_tail(
    summary: FleetSummary,
) -> None:
    for result in summary.results:
        result.output = "line of resources\n" * 20_000 + "Resources:\n    + 55 to create\n"
    text = render_markdown(summary)
    assert len(text) <= COMMENT_LIMIT
    assert text.count("Resources:\n    + 55 to create") == 3
    assert "characters cut" in text


def test_json_summary_lists_failures_and_counts(summary: FleetSummary) -> None:
    data = json.loads(dump_json(summary))
    assert data["failed"] == ["bad"]
    dev = data["tenants"][0]
    assert dev["counts"] == {"create": 55} and dev["ok"] is True and "output" not in dev
    assert data["tenants"][1]["mandatoryViolations"] == 2


def test_terminal_table_shows_result_changes_and_violations(summary: FleetSummary) -> None:
    console = Console(width=200, record=True)
    console.print(render_table(summary))
    text = console.export_text()
    assert "failed (policy)" in text and "2 mandatory" in text and "+55" in text


ADVISORY = Violation("p", "x", "advisory", "u", "m")
MANDATORY = Violation("p", "x", "mandatory", "u", "m")


@pytest.mark.parametrize(
    ("violations", "exit_ok", "errors", "drifted", "drift", "expected"),
    [
        ([], True, [], [], False, ("succeeded", "")),
        ([ADVISORY], True, [], [], False, ("succeeded", "")),
        ([MANDATORY], False, ["e"], [], False, ("failed", "policy")),
        ([], False, [], [], False, ("failed", "engine")),
        ([], True, ["boom"], [], False, ("failed", "engine")),
        ([], True, [], ["urn:a"], True, ("failed", "drift")),
        ([], True, [], ["urn:a"], False, ("succeeded", "")),
    ],
)
def test_classify(violations, exit_ok, errors, drifted, drift, expected) -> None:
    outcome = Outcome(violations=violations, errors=errors, drifted=drifted)
    result = TenantResult("t", "f", "preview")
    classify(result, outcome, exit_ok, drift=drift)
    assert (result.result, result.failure) == expected


def test_mirror_diff_names_what_enters_and_leaves() -> None:
    chart = {"chart": "c", "version": "1", "repository": "m", "upstreamRepository": "u"}
    base = {"charts": [chart], "images": [{"image": "m/a:1", "upstream": "a:1"}]}
    head = {
        "charts": [{**chart, "version": "2"}],
        "images": [{"image": "m/a:1", "upstream": "a:1"}],
    }
    assert diff_mirror_lists(base, head) == MirrorDiff(["chart c@2 (u)"], ["chart c@1 (u)"])
    assert diff_mirror_lists(None, head).added == ["chart c@2 (u)", "image a:1"]
    assert not diff_mirror_lists(head, head)
