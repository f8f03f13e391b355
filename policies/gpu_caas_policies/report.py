"""What each policy decided at a preview, and what it had to leave for `pulumi up`.

The engine shows a pack that reported nothing as a green tick, which does not say
whether a policy checked ten resources or none, or skipped a check because a value
was unknown at preview. `install_report_hook` makes a pack count, per policy:

* resource policies: the resources it *checked* (it read one of their properties or
  their provider: a resource of a type the policy ignores is not counted), those it
  *deferred* (a value it needed was unknown at preview: `_props.preview_tolerant`
  skipped the check; it runs again during `pulumi up`, before the resource is
  created), and those it checked with some values unknown and not scanned;
* stack policies: the resources they judged, and the unknown values they skipped
  (`_props.known` / `walk_strings` return no value for them);
* violations reported.

At the end of a preview (the engine's `AnalyzeStack` call, after every resource) the
pack prints `render(...)` to stdout; the engine shows a pack's output as info
diagnostics, under "Diagnostics: pulumi:pulumi:Stack" in `pulumi preview` (and as
`diagnosticEvent`s with severity `info` in `--json` / streaming output).

`note_deferred` / `note_unknown` are called by `_props`; a validator that judges
something other than the resource's properties (the stack config, say) calls
`note_checked()`. Outside an evaluation (unit tests calling validators directly) they
do nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TextIO

from pulumi_policy import (
    Policy,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
)
from pulumi_policy.proxy import UnknownValueError

MAX_NAMED = 3
"""Resources named per line; more are counted (`and N more`)."""


@dataclass
class _Evaluation:
    """One policy run on one resource (resource policies) or on the stack."""

    touched: bool = False
    deferred: str | None = None
    """Property path whose unknown value stopped the check."""
    unknown: dict[str, set[str]] = field(default_factory=dict)
    """Resource name -> property paths whose unknown values were skipped."""
    resource: str | None = None
    """Resource being read (stack policies: the last one whose props were read)."""


_CURRENT: ContextVar[_Evaluation | None] = ContextVar("gpu_caas_policy_evaluation", default=None)


def note_deferred(error: UnknownValueError) -> None:
    """A check stopped on an unknown value (called by `_props.preview_tolerant`)."""
    evaluation = _CURRENT.get()
    if evaluation is not None:
        evaluation.deferred = _path(error)


def note_unknown(error: UnknownValueError) -> None:
    """An unknown value was skipped (called by `_props.known` and `walk_strings`)."""
    evaluation = _CURRENT.get()
    if evaluation is not None:
        name = evaluation.resource or "?"
        evaluation.unknown.setdefault(name, set()).add(_path(error))


def _path(error: UnknownValueError) -> str:
    return "." + ".".join(str(p) for p in error.props) if error.props else "a value"


@dataclass
class PolicyTally:
    """What one policy did during one preview."""

    name: str
    stack: bool
    checked: list[str] = field(default_factory=list)
    """Resources checked (resource policies) or judged (stack policies), `Kind name`."""
    deferred: dict[str, str] = field(default_factory=dict)
    """`Kind name` -> the unknown property that deferred its check to `pulumi up`."""
    unknown: dict[str, set[str]] = field(default_factory=dict)
    """`Kind name` -> unknown property paths skipped while checking it."""
    violations: int = 0


@dataclass
class PackReport:
    """Tallies of every policy of one pack."""

    pack: str
    policies: dict[str, PolicyTally]
    resources: set[str] = field(default_factory=set)

    @classmethod
    def for_policies(cls, pack: str, policies: Sequence[Policy]) -> PackReport:
        """An empty report for `policies`, in their order."""
        return cls(
            pack,
            {
                p.name: PolicyTally(p.name, stack=not isinstance(p, ResourceValidationPolicy))
                for p in policies
            },
        )

    def reset(self) -> None:
        """Forget everything counted (after printing)."""
        for name, tally in list(self.policies.items()):
            self.policies[name] = PolicyTally(name, tally.stack)
        self.resources.clear()


# --------------------------------------------------------------------------- #
# Instrumentation
# --------------------------------------------------------------------------- #


class _Tracked(Mapping[str, Any]):
    """Resource properties that note when a value is read (not when keys are listed)."""

    def __init__(self, inner: Mapping[str, Any], evaluation: _Evaluation, name: str) -> None:
        self._inner = inner
        self._evaluation = evaluation
        self._name = name

    def __getitem__(self, key: str) -> Any:
        self._evaluation.touched = True
        self._evaluation.resource = self._name
        return self._inner[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._inner)

    def __len__(self) -> int:
        return len(self._inner)

    def __contains__(self, key: object) -> bool:
        return key in self._inner


class _ArgsView:
    """`ResourceValidationArgs` as the validator sees it: props tracked, provider
    access noted, everything else passed through."""

    def __init__(self, args: ResourceValidationArgs, evaluation: _Evaluation) -> None:
        self._args = args
        self._evaluation = evaluation
        self.props = _Tracked(args.props, evaluation, describe(args.resource_type, args.name))

    def __getattr__(self, name: str) -> Any:
        if name == "provider":
            self._evaluation.touched = True
        return getattr(self._args, name)


def describe(resource_type: str, name: str) -> str:
    """`Kind name` of a resource for the report (`provider <name>` for providers)."""
    if resource_type.startswith("pulumi:providers:"):
        return f"provider {name}"
    return f"{resource_type.rsplit(':', 1)[-1]} {name}"


def note_checked() -> None:
    """Count the resource being validated as checked although the validator read none
    of its properties (e.g. a policy on the stack resource that judges the stack's
    config). Outside an evaluation it does nothing."""
    evaluation = _CURRENT.get()
    if evaluation is not None:
        evaluation.touched = True


def _counting(report_violation: ReportViolation, tally: PolicyTally) -> ReportViolation:
    def report(message: str, urn: str | None = None) -> None:
        tally.violations += 1
        report_violation(message, urn)

    return report


def instrument(policy: Policy, report: PackReport) -> None:
    """Wrap `policy.validate` so every run is counted in `report`. Idempotent."""
    original: Callable[..., Any] = policy.validate  # type: ignore[attr-defined]
    if getattr(original, "_gpu_caas_report", False):
        return
    tally = report.policies[policy.name]

    def validate(args: Any, report_violation: ReportViolation) -> Any:
        evaluation = _Evaluation()
        token = _CURRENT.set(evaluation)
        counted = _counting(report_violation, tally)
        try:
            if isinstance(args, ResourceValidationArgs):
                name = describe(args.resource_type, args.name)
                report.resources.add(name)
                evaluation.resource = name
                try:
                    result = original(_ArgsView(args, evaluation), counted)
                except UnknownValueError as error:
                    evaluation.deferred = _path(error)
                    raise
                finally:
                    if evaluation.deferred is not None:
                        tally.deferred[name] = evaluation.deferred
                    elif evaluation.touched:
                        tally.checked.append(name)
                    for unknown_name, paths in evaluation.unknown.items():
                        tally.unknown.setdefault(unknown_name, set()).update(paths)
                return result
            assert isinstance(args, StackValidationArgs)
            for resource in args.resources:
                name = describe(resource.resource_type, resource.name)
                report.resources.add(name)
                resource.props = _Tracked(resource.props, evaluation, name)
            try:
                result = original(args, counted)
            except UnknownValueError as error:
                evaluation.deferred = _path(error)
                raise
            finally:
                if evaluation.deferred is not None:
                    tally.deferred["the stack"] = evaluation.deferred
                else:
                    tally.checked.extend(describe(r.resource_type, r.name) for r in args.resources)
                for unknown_name, paths in evaluation.unknown.items():
                    tally.unknown.setdefault(unknown_name, set()).update(paths)
            return result
        finally:
            _CURRENT.reset(token)

    validate._gpu_caas_report = True  # type: ignore[attr-defined]
    policy.validate = validate  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- #
# Rendering
# --------------------------------------------------------------------------- #


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:MAX_NAMED])
    more = len(names) - MAX_NAMED
    return f"{shown} and {more} more" if more > 0 else shown


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def policy_line(tally: PolicyTally) -> str | None:
    """One policy's line, or None when it had nothing to check."""
    parts: list[str] = []
    if tally.stack:
        if "the stack" in tally.deferred:
            parts.append(
                f"deferred to `pulumi up`: {tally.deferred['the stack']} unknown at preview"
            )
        else:
            parts.append(f"judged {_plural(len(set(tally.checked)), 'resource')}")
    else:
        if not tally.checked and not tally.deferred:
            return None
        parts.append(f"checked {len(set(tally.checked))}")
        if tally.deferred:
            deferred = sorted(tally.deferred)
            paths = sorted(set(tally.deferred.values()))
            parts.append(
                f"deferred {len(deferred)} to `pulumi up` ({', '.join(paths)} unknown at "
                f"preview): {_names(deferred)}"
            )
    if tally.unknown:
        skipped = sorted(tally.unknown)
        paths = sorted({p for ps in tally.unknown.values() for p in ps})
        shown = ", ".join(paths[:MAX_NAMED]) + (" ..." if len(paths) > MAX_NAMED else "")
        parts.append(
            f"not scanned in {_plural(len(skipped), 'resource')} (unknown at preview: "
            f"{shown}): {_names(skipped)}"
        )
    if tally.violations:
        parts.append(_plural(tally.violations, "violation"))
    kind = " (stack)" if tally.stack else ""
    return f"  {tally.name}{kind}: " + "; ".join(parts)


def render(report: PackReport) -> str:
    """The report a pack prints at the end of a preview (several lines)."""
    lines: list[str] = []
    idle: list[str] = []
    for tally in report.policies.values():
        line = policy_line(tally)
        if line is None:
            idle.append(tally.name)
        else:
            lines.append(line)
    deferred = sum(len(t.deferred) for t in report.policies.values())
    header = (
        f"{report.pack}: {_plural(len(report.policies), 'policy').replace('policys', 'policies')}"
        f" over {_plural(len(report.resources), 'resource')} at preview"
    )
    out = [header, *lines]
    if idle:
        out.append(f"  no matching resource: {', '.join(idle)}")
    if deferred:
        out.append(
            "  Deferred checks run again during `pulumi up`, before each resource is "
            "created; a mandatory violation then stops the update."
        )
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- #
# The hook
# --------------------------------------------------------------------------- #


_DRY_RUN: dict[str, bool] = {}
"""`dry_run` of the engine's `ConfigureStack` request, once received."""


def is_dry_run() -> bool:
    """True during a preview: the `dry_run` flag the engine sent with `ConfigureStack`
    (every way of starting a pack), else `PULUMI_DRY_RUN` (set for packs started
    through the legacy analyzer shim), else True."""
    if "dry_run" in _DRY_RUN:
        return _DRY_RUN["dry_run"]
    return os.environ.get("PULUMI_DRY_RUN", "true").lower() != "false"


def install_report_hook(
    pack: str, policies: Sequence[Policy], out: TextIO | None = None
) -> PackReport:
    """Count what every policy of the pack decides and print `render(...)` after the
    stack policies ran at a preview (module docstring). Called by each pack's
    `__main__.py` before it builds the `PolicyPack`; returns the report."""
    from pulumi_policy import policy as sdk

    report = PackReport.for_policies(pack, policies)
    for policy in policies:
        instrument(policy, report)
    servicer = sdk._PolicyAnalyzerServicer
    original: Callable[..., Any] = servicer.AnalyzeStack
    if getattr(original, "_gpu_caas_report", False):
        return report

    def analyze_stack(self: Any, request: Any, context: Any) -> Any:
        response = original(self, request, context)
        if is_dry_run():
            stream = out or sys.stdout
            stream.write(render(report))
            stream.flush()
        report.reset()
        return response

    original_configure: Callable[..., Any] = servicer.ConfigureStack

    def configure_stack(self: Any, request: Any, context: Any) -> Any:
        _DRY_RUN["dry_run"] = bool(getattr(request, "dry_run", True))
        return original_configure(self, request, context)

    analyze_stack._gpu_caas_report = True  # type: ignore[attr-defined]
    servicer.AnalyzeStack = analyze_stack  # type: ignore[method-assign]
    servicer.ConfigureStack = configure_stack  # type: ignore[method-assign,assignment]
    return report
