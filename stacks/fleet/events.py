"""What one engine run reported, folded from its engine events.

The same fold reads the Automation API's live events (`on_event`) and a recorded
event stream (`pulumi preview --json` with PULUMI_ENABLE_STREAMING_JSON_PREVIEW, or
an `--event-log` file: one JSON event per line), so the summary the pull-request
comment shows is unit-tested on recorded previews.

Debug diagnostics are dropped: they can echo registration payloads, secrets included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pulumi.automation import EngineEvent, OpType

REPLACING_OPS = frozenset(
    {OpType.REPLACE, OpType.CREATE_REPLACEMENT, OpType.DELETE_REPLACED, OpType.IMPORT_REPLACEMENT}
)
"""Steps that belong to a replacement (the resource is deleted and created again)."""

CHANGE_OPS = ("create", "update", "replace", "delete")
"""The change counts the summary shows, in this order."""


@dataclass(frozen=True)
class Violation:
    """One policy violation: pack, policy, `mandatory` / `advisory` / ..., resource."""

    pack: str
    policy: str
    level: str
    urn: str
    message: str

    @property
    def mandatory(self) -> bool:
        """A mandatory violation fails the preview (and the pull-request check)."""
        return self.level == "mandatory"


@dataclass
class Outcome:
    """One stack's run, as the engine reported it.

    Attributes:
        changes: resource count per operation (`create`, `update`, `replace`,
            `delete`, `same`, ...), from the summary event when there is one.
        replacements: URNs of resources that would be (or were) replaced.
        drifted: URNs whose refresh found them changed or gone (refresh runs).
        violations: policy violations, in the order reported.
        errors / warnings: error and warning diagnostics (text, trimmed).
        started / finished: resource steps begun / with outputs (progress).
        summarized: the engine sent its summary event (it ran to the end).
    """

    changes: dict[str, int] = field(default_factory=dict)
    replacements: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    started: int = 0
    finished: int = 0
    summarized: bool = False
    _step_counts: dict[str, int] = field(default_factory=dict, repr=False)

    def add(self, event: EngineEvent) -> None:
        """Fold one engine event in."""
        if (policy := event.policy_event) is not None:
            self.violations.append(
                Violation(
                    pack=policy.policy_pack_name,
                    policy=policy.policy_name,
                    level=policy.enforcement_level,
                    urn=policy.resource_urn or "",
                    message=policy.message.strip(),
                )
            )
        elif (diag := event.diagnostic_event) is not None:
            text = diag.message.strip()
            if diag.severity == "error" and text:
                self.errors.append(text)
            elif diag.severity == "warning" and text:
                self.warnings.append(text)
        elif (pre := event.resource_pre_event) is not None:
            self._step(pre.metadata.op, pre.metadata.urn, pre.metadata.type)
            self._drift(pre.metadata.op, pre.metadata.urn, pre.metadata.diffs)
        elif (done := event.res_outputs_event) is not None:
            self.finished += 1
            # A refresh reports what it found in the outputs event: `update` with the
            # changed properties (`detailed_diff`), `delete` when the object is gone;
            # its pre-event only says `refresh`.
            detailed = list(done.metadata.detailed_diff or {})
            self._drift(done.metadata.op, done.metadata.urn, done.metadata.diffs or detailed)
        elif (summary := event.summary_event) is not None:
            self.summarized = True
            self.changes = {str(op.value if isinstance(op, OpType) else op): n
                            for op, n in summary.resource_changes.items() if n}  # fmt: skip

    def _step(self, op: OpType, urn: str, kind: str) -> None:
        if kind == "pulumi:pulumi:Stack" or kind.startswith("pulumi:providers:"):
            return
        self.started += 1
        name = str(op.value)
        self._step_counts[name] = self._step_counts.get(name, 0) + 1
        if op in REPLACING_OPS and urn not in self.replacements:
            self.replacements.append(urn)

    def _drift(self, op: OpType, urn: str, diffs: list[str] | None) -> None:
        changed = op in (OpType.UPDATE, OpType.DELETE) or (op == OpType.REFRESH and diffs)
        if changed and urn not in self.drifted:
            self.drifted.append(urn)

    @property
    def counts(self) -> dict[str, int]:
        """Changes per operation: the summary's, else the steps seen (a run that
        failed before its summary)."""
        return self.changes or dict(self._step_counts)

    @property
    def mandatory_violations(self) -> list[Violation]:
        """The violations that fail the run."""
        return [v for v in self.violations if v.mandatory]


def fold(events: Iterable[EngineEvent]) -> Outcome:
    """An `Outcome` of `events`."""
    outcome = Outcome()
    for event in events:
        outcome.add(event)
    return outcome


def read_recorded(path: Path) -> list[EngineEvent]:
    """The engine events of a recorded stream: one JSON event per line (`{`-lines
    only; the CLI's other output is skipped), or one JSON array of events.

    Raises:
        ValueError: the file holds no event; the message names it.
    """
    text = path.read_text(encoding="utf-8")
    raw: list[object]
    if text.lstrip().startswith("["):
        raw = list(json.loads(text))
    else:
        raw = [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]
    events = [EngineEvent.from_json(item) for item in raw if isinstance(item, dict)]
    if not events:
        raise ValueError(f"{path}: no engine events (one JSON event per line expected)")
    return events
