"""The fleet's results: one `TenantResult` per stack, rendered as a terminal table,
JSON (`--json`) and Markdown (`--markdown`, the pull-request comment).

Nothing here prints a secret: engine output and diagnostics come from the CLI, which
masks secret values (`[secret]`), and debug diagnostics are never collected.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.table import Table

from stacks.fleet.events import CHANGE_OPS, Outcome, Violation

COMMENT_MARKER = "<!-- gpu-caas-fleet-summary -->"
"""First line of the pull-request comment: the workflow finds its earlier comment by
it and updates that one instead of adding another."""

COMMENT_LIMIT = 65_000
"""GitHub refuses comment bodies over 65,536 characters; full outputs are cut to fit."""

SUCCEEDED, FAILED, NOT_RUN = "succeeded", "failed", "not run"
CHANGE_SYMBOLS = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}


@dataclass
class MirrorDiff:
    """Charts and images that enter (`added`) or leave (`removed`) a stack's mirror
    list between the base and the head of a change (`chart@version (repository)`,
    image references)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.added or self.removed)


@dataclass
class TenantResult:
    """One tenant stack's run.

    Attributes:
        tenant / flavor: the stack name and its `gpu-caas:tenant.flavor`.
        operation: `validate`, `preview`, `up`, `refresh`, `refresh-preview`, `destroy`.
        result: `succeeded`, `failed` or `not run` (a failed validation stops it).
        failure: why it failed: `config`, `policy` (a mandatory violation), `engine`,
            `drift` (a refresh found changes), `cancelled`; `` when it did not.
        counts: resource changes per operation (`create`, `update`, ...).
        replacements / drifted: URNs replaced / found drifted.
        violations: policy violations (every level).
        config_warnings / config_errors: `python -m stacks validate` lines.
        errors: engine error diagnostics (or the command's failure, trimmed).
        mirror: the mirror-list change, when a base list was given.
        attempts: engine runs, retries included; retried: why each retry happened.
        seconds: wall time of the tenant's run.
        output: the CLI's full output (the PR comment collapses it).
    """

    tenant: str
    flavor: str
    operation: str
    result: str = NOT_RUN
    failure: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    replacements: list[str] = field(default_factory=list)
    drifted: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    config_warnings: list[str] = field(default_factory=list)
    config_errors: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mirror: MirrorDiff | None = None
    attempts: int = 0
    retried: list[str] = field(default_factory=list)
    seconds: float = 0.0
    output: str = ""

    @property
    def ok(self) -> bool:
        """False when the tenant failed (a skipped engine run after a valid config is
        never the case: validation failures are failures)."""
        return self.result == SUCCEEDED

    def change_text(self) -> str:
        """`+3 ~1 +-1 -0`-style counts of the changes (only those that occur), or
        `no changes`."""
        parts = [
            f"{CHANGE_SYMBOLS[op]}{self.counts[op]}" for op in CHANGE_OPS if self.counts.get(op)
        ]
        return " ".join(parts) or "no changes"


def classify(result: TenantResult, outcome: Outcome, exit_ok: bool, *, drift: bool) -> None:
    """Fill `result` from an engine `outcome` and whether the command succeeded.

    Precedence of failures: a mandatory policy violation, then an engine error, then
    (drift checks, `drift=True`) any drifted resource.
    """
    result.counts = outcome.counts
    result.replacements = list(outcome.replacements)
    result.drifted = list(outcome.drifted) if drift else []
    result.violations = list(outcome.violations)
    result.errors = list(outcome.errors)
    if outcome.mandatory_violations:
        result.result, result.failure = FAILED, "policy"
    elif not exit_ok or outcome.errors:
        result.result, result.failure = FAILED, "engine"
    elif drift and outcome.drifted:
        result.result, result.failure = FAILED, "drift"
    else:
        result.result, result.failure = SUCCEEDED, ""


@dataclass
class FleetSummary:
    """Every tenant's result of one fleet command."""

    operation: str
    parallel: int
    results: list[TenantResult]
    seconds: float = 0.0

    @property
    def failed(self) -> list[TenantResult]:
        """The tenants that failed (the command exits non-zero when there is one)."""
        return [r for r in self.results if not r.ok]

    def headline(self) -> str:
        """`fleet preview: 3 tenants, 2 succeeded, 1 failed in 41.2 s (--parallel 2)`."""
        done = len(self.results) - len(self.failed)
        return (
            f"fleet {self.operation}: {len(self.results)} tenant"
            f"{'' if len(self.results) == 1 else 's'}, {done} succeeded, "
            f"{len(self.failed)} failed in {self.seconds:.1f} s (--parallel {self.parallel})"
        )


def to_json(summary: FleetSummary, *, with_output: bool = False) -> dict[str, Any]:
    """The summary as JSON-ready data (`--json`); full outputs only if `with_output`."""
    tenants = []
    for result in summary.results:
        data = asdict(result)
        data["ok"] = result.ok
        data["mandatoryViolations"] = sum(1 for v in result.violations if v.mandatory)
        if not with_output:
            data.pop("output")
        tenants.append(data)
    return {
        "schema": "gpu-caas/fleet-summary/v1",
        "operation": summary.operation,
        "parallel": summary.parallel,
        "seconds": round(summary.seconds, 3),
        "failed": [r.tenant for r in summary.failed],
        "tenants": tenants,
    }


def dump_json(summary: FleetSummary) -> str:
    """`to_json` as indented text with a final newline."""
    return json.dumps(to_json(summary), indent=2, sort_keys=True) + "\n"


def _policy_text(result: TenantResult) -> str:
    mandatory = sum(1 for v in result.violations if v.mandatory)
    advisory = len(result.violations) - mandatory
    if not result.violations:
        return "none"
    parts = [f"{mandatory} mandatory"] if mandatory else []
    parts += [f"{advisory} advisory"] if advisory else []
    return ", ".join(parts)


def render_table(summary: FleetSummary) -> Table:
    """The terminal summary: tenant, flavor, result, changes, policy violations, time."""
    table = Table(title=summary.headline(), title_justify="left")
    for column in ("tenant", "flavor", "result", "changes", "policy violations", "duration"):
        table.add_column(column, no_wrap=column in ("tenant", "duration"))
    for result in summary.results:
        outcome = result.result + (f" ({result.failure})" if result.failure else "")
        if result.attempts > 1:
            outcome += f", {result.attempts} attempts"
        style = "green" if result.ok else "red"
        table.add_row(
            result.tenant,
            result.flavor,
            f"[{style}]{outcome}[/{style}]",
            result.change_text(),
            _policy_text(result),
            f"{result.seconds:.1f} s",
        )
    return table


def _resource_name(urn: str) -> str:
    """`urn:pulumi:dev::gpu-caas::a$b::name` -> `b::name` (type and name)."""
    parts = urn.split("::")
    if len(parts) >= 4:
        return f"{parts[2].rsplit('$', 1)[-1]} {parts[3]}"
    return urn


def _listed(items: Sequence[str], limit: int = 20) -> list[str]:
    shown = [f"  - {item}" for item in items[:limit]]
    if len(items) > limit:
        shown.append(f"  - ... and {len(items) - limit} more")
    return shown


def _tenant_section(result: TenantResult) -> list[str]:
    icon = "✅" if result.ok else "❌"
    failure = f", **{result.failure}**" if result.failure else ""
    lines = [f"#### {icon} `{result.tenant}` ({result.flavor}): {result.result}{failure}", ""]
    lines.append(f"- Changes: {result.change_text()}")
    if result.replacements:
        lines.append(f"- ⚠️ **Replacements** ({len(result.replacements)}):")
        lines += _listed([f"`{_resource_name(u)}`" for u in result.replacements])
    if result.drifted:
        lines.append(f"- **Drifted resources** ({len(result.drifted)}):")
        lines += _listed([f"`{_resource_name(u)}`" for u in result.drifted])
    if result.violations:
        lines.append(f"- **Policy violations** ({_policy_text(result)}):")
        lines += _listed(
            [
                f"`{v.pack}/{v.policy}` [{v.level}]"
                + (f" on `{_resource_name(v.urn)}`" if v.urn else "")
                + f": {v.message.splitlines()[0] if v.message else ''}"
                for v in result.violations
            ]
        )
    if result.config_errors:
        lines.append("- **Config errors**:")
        lines += _listed([f"`{e}`" for e in result.config_errors])
    if result.config_warnings:
        lines.append(f"- Config warnings ({len(result.config_warnings)}):")
        lines += _listed([f"`{w}`" for w in result.config_warnings])
    if result.mirror is not None:
        if result.mirror:
            lines.append("- Mirror list changes:")
            lines += _listed([f"+ `{a}`" for a in result.mirror.added])
            lines += _listed([f"- `{r}`" for r in result.mirror.removed])
        else:
            lines.append("- Mirror list: unchanged")
    if result.errors:
        lines.append("- **Errors**:")
        lines += _listed([e.splitlines()[0][:300] for e in result.errors], limit=5)
    if result.retried:
        lines.append(f"- Retried after: {'; '.join(r[:120] for r in result.retried)}")
    return lines


def _fence(text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}\n{text.rstrip()}\n{fence}"


def _cut(text: str, budget: int) -> str:
    """The tail of `text` within `budget` characters (diagnostics, the policy report
    and the summary are at the end of a preview)."""
    if len(text) <= budget:
        return text
    tail = text[-max(budget, 0) :]
    tail = tail[tail.find("\n") + 1 :] if "\n" in tail else tail
    return (
        f"[... {len(text) - len(tail)} characters cut: run the preview for all of it ...]\n" + tail
    )


def render_markdown(
    summary: FleetSummary, *, title: str = "", links: Mapping[str, str] | None = None
) -> str:
    """The pull-request comment: a marker line, the headline, a table of every tenant,
    one section per tenant (changes, replacements, policy violations by name, config
    warnings, mirror-list changes, errors) and each full output collapsed below it;
    at most `COMMENT_LIMIT` characters (the outputs' tails are kept).

    Args:
        title: heading text (default: `gpu-caas fleet <operation>`).
        links: extra `label -> URL` lines under the headline (the workflow run).
    """
    head = [COMMENT_MARKER, f"### {title or f'gpu-caas fleet {summary.operation}'}", ""]
    head.append(("❌ " if summary.failed else "✅ ") + summary.headline())
    head += [f"[{label}]({url})" for label, url in (links or {}).items()]
    head += [
        "",
        "| tenant | flavor | result | changes | replacements | policy violations "
        "| config warnings | mirror list | duration |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in summary.results:
        mirror = "n/a" if r.mirror is None else f"+{len(r.mirror.added)} -{len(r.mirror.removed)}"
        result = r.result + (f" ({r.failure})" if r.failure else "")
        head.append(
            f"| `{r.tenant}` | {r.flavor} | {'✅' if r.ok else '❌'} {result} | "
            f"{r.change_text()} | {len(r.replacements)} | {_policy_text(r)} | "
            f"{len(r.config_warnings)} | {mirror} | {r.seconds:.0f} s |"
        )
    sections: list[list[str]] = [_tenant_section(r) for r in summary.results]
    fixed = "\n".join(head) + "".join("\n\n" + "\n".join(s) for s in sections)
    with_output = [r for r in summary.results if r.output.strip()]
    overhead = 120  # the <details> wrapper around each output
    budget = (COMMENT_LIMIT - len(fixed) - overhead * len(with_output)) // max(len(with_output), 1)
    parts = ["\n".join(head)]
    for tenant, section in zip(summary.results, sections, strict=True):
        block = "\n".join(section)
        if tenant.output.strip() and budget > 200:
            block += (
                f"\n\n<details><summary>Full {tenant.operation} of <code>{tenant.tenant}"
                f"</code></summary>\n\n{_fence(_cut(tenant.output, budget - 20))}\n\n</details>"
            )
        parts.append(block)
    return "\n\n".join(parts) + "\n"


def mirror_entries(listing: Mapping[str, Any]) -> set[str]:
    """The entries of a `python -m stacks mirror-list --json` document as text:
    `chart <chart>@<version> (<upstream repository>)` and `image <upstream reference>`
    (mirrored locations follow the stack's mirrors; the upstream identity is what
    must be mirrored)."""
    entries = {
        f"chart {c['chart']}@{c['version']} ({c.get('upstreamRepository', c.get('repository'))})"
        for c in listing.get("charts", [])
    }
    entries |= {f"image {i.get('upstream', i.get('image'))}" for i in listing.get("images", [])}
    return entries


def diff_mirror_lists(base: Mapping[str, Any] | None, head: Mapping[str, Any]) -> MirrorDiff:
    """What enters and leaves the mirror list from `base` to `head` (a new tenant:
    `base` None, everything is added), sorted."""
    before = mirror_entries(base or {})
    after = mirror_entries(head)
    return MirrorDiff(added=sorted(after - before), removed=sorted(before - after))
