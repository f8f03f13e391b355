"""Folding engine events: recorded streams of real previews (`recorded/`), and the
refresh steps a drift check reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from pulumi.automation import EngineEvent

from stacks.fleet.events import fold, read_recorded

RECORDED = Path(__file__).parent / "recorded"


def test_first_preview_of_dev_counts_creates_and_nothing_else() -> None:
    outcome = fold(read_recorded(RECORDED / "dev-first-preview.jsonl"))
    assert outcome.counts == {"create": 55}
    assert outcome.summarized and not outcome.violations and not outcome.errors
    assert outcome.replacements == [] and outcome.drifted == []
    assert outcome.started == 52  # 55 minus the stack and the explicit providers


def test_mandatory_violations_are_named_with_pack_and_resource() -> None:
    outcome = fold(read_recorded(RECORDED / "bad-cluster-admin-preview.jsonl"))
    names = {(v.pack, v.policy, v.level) for v in outcome.violations}
    assert ("gpu-caas-tenant-isolation", "no-cluster-admin-binding", "mandatory") in names
    assert all(v.urn.endswith("::team-a-admins") for v in outcome.mandatory_violations)
    assert outcome.errors, "a preview with a mandatory violation reports an error"


def test_replacements_are_called_out_and_updates_counted() -> None:
    outcome = fold(read_recorded(RECORDED / "replace-preview.jsonl"))
    assert outcome.counts == {"replace": 1, "update": 1, "same": 1}
    assert outcome.replacements == [
        "urn:pulumi:record::fleet-record::command:local:Command::triggered"
    ]


def _refresh_step(op: str, urn: str, diffs: list[str] | None) -> EngineEvent:
    metadata = {
        "op": op,
        "urn": urn,
        "type": "kubernetes:core/v1:Namespace",
        "diffs": diffs,
        "provider": "",
        "old": None,
        "new": None,
    }
    return EngineEvent.from_json(
        {"sequence": 1, "timestamp": 0, "resourcePreEvent": {"metadata": metadata}}
    )


@pytest.mark.parametrize(
    ("op", "diffs", "drifted"),
    [
        ("refresh", None, False),
        ("refresh", [], False),
        ("refresh", ["spec"], True),
        ("update", None, True),
        ("delete", None, True),
        ("same", None, False),
    ],
)
def test_refresh_steps_that_found_a_change_are_drift(
    op: str, diffs: list[str] | None, drifted: bool
) -> None:
    outcome = fold([_refresh_step(op, "urn:a", diffs)])
    assert (outcome.drifted == ["urn:a"]) is drifted


def test_a_refresh_reports_what_it_found_in_the_outputs_event() -> None:
    """What a real refresh preview sends for an object edited with kubectl (recorded on
    the live test cluster): the pre-event says only `refresh`, the outputs event says
    `update` with the changed property in `detailedDiff`."""
    urn = "urn:pulumi:t::gpu-caas::kubernetes:core/v1:ResourceQuota::q"
    metadata = {
        "op": "update",
        "urn": urn,
        "type": "kubernetes:core/v1:ResourceQuota",
        "provider": "",
        "old": None,
        "new": None,
        "detailedDiff": {
            'spec.hard["requests.nvidia.com/gpu"]': {"diffKind": "update", "inputDiff": False}
        },
    }
    outputs = EngineEvent.from_json(
        {"sequence": 2, "timestamp": 0, "resOutputsEvent": {"metadata": metadata}}
    )
    outcome = fold([_refresh_step("refresh", urn, None), outputs])
    assert outcome.drifted == [urn]
    unchanged = {**metadata, "op": "same", "detailedDiff": None}
    same = EngineEvent.from_json(
        {"sequence": 2, "timestamp": 0, "resOutputsEvent": {"metadata": unchanged}}
    )
    assert fold([_refresh_step("refresh", urn, None), same]).drifted == []


def test_a_file_without_events_is_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("Previewing update (dev):\n")
    with pytest.raises(ValueError, match="no engine events"):
        read_recorded(empty)
