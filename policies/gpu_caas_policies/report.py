"""What each policy decided at a preview, and what it had to leave for `pulumi up`.

The engine shows a pack that reported nothing as a green tick, which does not say
whether a policy checked ten resources or none, or skipped a check because a value
was unknown at preview. `install_report_hook` makes a pack count, per policy:

* resource policies: the resources it *checked* (it read one of their properties or
  their provider: a resource of a type the policy ignores is not counted, nor one the
  validator read only to find it does not apply, `note_not_applicable`), those it
  *deferred* (a value it needed was unknown at preview: `_props.preview_tolerant`
  skipped the check; it runs again during `pulumi up`, before the resource is
  created), and those it checked with some values unknown and not scanned;
* stack policies: the resources they judged (whose properties they read), the unknown
  values they skipped (`_props.known` / `walk_strings` return no value for them), and
  the resources they looked into but found without properties: at a preview the engine
  hands stack policies each resource's *outputs*, which a resource the update creates
  does not have yet (the Kubernetes objects of a first preview; gpu-caas components
  register theirs, so they are there); stack policies judge those after `pulumi up`;
* what decided the outcome where a count says too little (`note_outcome`: the version
  found against a floor) and the parts of a policy that did not run for want of
  configuration (`note_skipped`: the config key that enables them);
* violations reported.

At the end of a preview (the engine's `AnalyzeStack` call, after every resource) the
pack sends `render(...)` to the engine as ONE info diagnostic (`Engine.Log` at the
address the engine started the pack with, `engine_address`). The engine shows it once,
under "Diagnostics: pulumi:pulumi:Stack" in `pulumi preview` (the resource list shows
only its first line, and `--diff` prints it single-spaced, on stderr as it does every
diagnostic), and as one `diagnosticEvent`
of severity `info` in `--json` / streaming output. Printing to stdout instead (the
fallback when no engine address is found) makes every line a diagnostic of its own:
the non-interactive resource list then repeats each line on the stack's row and
`--diff` double-spaces them.

`note_deferred` / `note_unknown` are called by `_props`; a validator that judges
something other than the resource's properties (the stack config, say) calls
`note_checked()`. Outside an evaluation (unit tests calling validators directly) they
all do nothing.
"""

from __future__ import annotations

import os
import re
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

from policies.gpu_caas_policies.planned import props_of

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
    read: list[str] = field(default_factory=list)
    """Stack policies: resources whose props were read, in order, each once."""
    empty: list[str] = field(default_factory=list)
    """Resources whose props the validator looked into and found empty: at a preview
    the engine hands stack policies the *outputs* of each resource, and a resource
    this update creates has none yet."""
    applies: bool = True
    """False when the validator found the resource is not one it applies to."""
    outcomes: list[str] = field(default_factory=list)
    """What decided the outcome (`note_outcome`)."""
    skipped: list[str] = field(default_factory=list)
    """Parts that did not run, with the config key that enables them (`note_skipped`)."""


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


def note_not_applicable() -> None:
    """The resource being validated is not one the policy applies to, although the
    validator read its properties to find out (a Helm release that is not the GPU
    Operator, for a GPU Operator floor): it is not counted as checked."""
    evaluation = _CURRENT.get()
    if evaluation is not None:
        evaluation.applies = False


def note_outcome(text: str) -> None:
    """What decided the check, in a few words, for the report: e.g. `GPU Operator
    v26.7.0 >= 25.3.1`. Equal outcomes of several resources are listed once."""
    evaluation = _CURRENT.get()
    if evaluation is not None and text not in evaluation.outcomes:
        evaluation.outcomes.append(text)


def note_skipped(part: str, key: str) -> None:
    """A part of the policy did not run because its config key `key` is not set; the
    report says `skipped <part> (no <key> in the pack config)`."""
    evaluation = _CURRENT.get()
    text = f"skipped {part} (no {key} in the pack config)"
    if evaluation is not None and text not in evaluation.skipped:
        evaluation.skipped.append(text)


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
    unavailable: list[str] = field(default_factory=list)
    """Stack policies: `Kind name` of resources looked into but without properties at
    preview (created by the update: no outputs yet), each once."""
    outcomes: list[str] = field(default_factory=list)
    """What decided the checks (`note_outcome`), each once, in the order noted."""
    skipped: list[str] = field(default_factory=list)
    """Parts of the policy that did not run, and why (`note_skipped`), each once."""
    violations: int = 0

    def add_notes(self, evaluation: _Evaluation) -> None:
        """Take over an evaluation's outcomes and skipped parts (each once)."""
        self.outcomes += [o for o in evaluation.outcomes if o not in self.outcomes]
        self.skipped += [s for s in evaluation.skipped if s not in self.skipped]


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
        if self._name not in self._evaluation.read:
            self._evaluation.read.append(self._name)
        return self._inner[key]

    def __iter__(self) -> Iterator[str]:
        self._note_if_empty()
        return iter(self._inner)

    def __len__(self) -> int:
        self._note_if_empty()
        return len(self._inner)

    def _note_if_empty(self) -> None:
        if len(self._inner) == 0 and self._name not in self._evaluation.empty:
            self._evaluation.empty.append(self._name)

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
                    if not evaluation.applies:
                        pass  # read only to find the policy does not apply
                    elif evaluation.deferred is not None:
                        tally.deferred[name] = evaluation.deferred
                    elif evaluation.touched:
                        tally.checked.append(name)
                    if evaluation.applies:
                        for unknown_name, paths in evaluation.unknown.items():
                            tally.unknown.setdefault(unknown_name, set()).update(paths)
                        tally.add_notes(evaluation)
                return result
            assert isinstance(args, StackValidationArgs)
            for resource in args.resources:
                name = describe(resource.resource_type, resource.name)
                report.resources.add(name)
                # Outputs, else what the program planned (first preview of a new
                # tenant: policies/gpu_caas_policies/planned.py), so the report counts
                # what the validator really judged.
                resource.props = _Tracked(props_of(resource), evaluation, name)
            try:
                result = original(args, counted)
            except UnknownValueError as error:
                evaluation.deferred = _path(error)
                raise
            finally:
                if evaluation.deferred is not None:
                    tally.deferred["the stack"] = evaluation.deferred
                else:
                    tally.checked.extend(evaluation.read)
                    tally.unavailable += [n for n in evaluation.empty if n not in tally.unavailable]
                for unknown_name, paths in evaluation.unknown.items():
                    tally.unknown.setdefault(unknown_name, set()).update(paths)
                tally.add_notes(evaluation)
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


def _outcomes(tally: PolicyTally) -> str:
    """` (outcome, outcome and N more)`, or "" when none was noted."""
    return f" ({_names(tally.outcomes)})" if tally.outcomes else ""


def policy_line(tally: PolicyTally) -> str | None:
    """One policy's line, or None when it had nothing to check.

    `checked N` / `judged N resources` count the resources the policy applies to,
    followed by what decided the outcome (`note_outcome`) in parentheses; then what was
    deferred, not scanned or skipped, and the violations."""
    parts: list[str] = []
    if tally.stack:
        if "the stack" in tally.deferred:
            parts.append(
                f"deferred to `pulumi up`: {tally.deferred['the stack']} unknown at preview"
            )
        elif not (
            tally.checked or tally.unknown or tally.skipped or tally.violations or tally.unavailable
        ):
            return None
        else:
            parts.append(f"judged {_plural(len(set(tally.checked)), 'resource')}{_outcomes(tally)}")
            if tally.unavailable:
                kinds = sorted({name.split(" ", 1)[0] for name in tally.unavailable})
                more = " kinds" if len(kinds) > MAX_NAMED else ""
                parts.append(
                    f"{_plural(len(tally.unavailable), 'resource')} without properties until "
                    f"`pulumi up` creates them, judged then: {_names(kinds)}{more}"
                )
    else:
        if not tally.checked and not tally.deferred:
            return None
        parts.append(f"checked {len(set(tally.checked))}{_outcomes(tally)}")
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
    parts += tally.skipped
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


_ADDRESS = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\]):[0-9]{1,5}$")
"""`host:port` (or `[v6]:port`): how the engine passes its gRPC address to a plugin."""


def engine_address(argv: Sequence[str]) -> str | None:
    """The engine's gRPC address among a pack's arguments (`argv[1:]`), or None.

    Started through the Python language host's `RunPlugin` the pack gets
    `[<pack dir>, <engine address>, ...]`; through the legacy
    `pulumi-analyzer-policy-python` shim `<engine address> . -flags`. Paths and flags
    never look like `host:port`."""
    return next((arg for arg in argv[1:] if _ADDRESS.match(arg)), None)


def log_to_engine(address: str, message: str, timeout: float = 10.0) -> bool:
    """Send `message` (several lines) to the engine at `address` as one info diagnostic
    on the stack (`Engine.Log`); False when the engine cannot be reached."""
    import grpc  # type: ignore[import-untyped]
    from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

    request = engine_pb2.LogRequest(severity=engine_pb2.INFO, message=message, urn="")
    try:
        with grpc.insecure_channel(address) as channel:
            engine_pb2_grpc.EngineStub(channel).Log(request, timeout=timeout)
    except grpc.RpcError:
        return False
    return True


def emit(text: str, argv: Sequence[str] | None = None, out: TextIO | None = None) -> None:
    """Show a report once: as one engine diagnostic when the engine's address is among
    `argv` (default `sys.argv`) and it answers, else on `out` (default stdout), where
    the engine turns each line into a diagnostic of its own (module docstring)."""
    address = engine_address(sys.argv if argv is None else argv)
    if address is not None and log_to_engine(address, text.rstrip("\n")):
        return
    stream = out or sys.stdout
    stream.write(text)
    stream.flush()


def install_report_hook(
    pack: str, policies: Sequence[Policy], out: TextIO | None = None
) -> PackReport:
    """Count what every policy of the pack decides and show `render(...)` once after the
    stack policies ran at a preview (`emit`; module docstring). Called by each pack's
    `__main__.py` before it builds the `PolicyPack`; returns the report. `out`: write
    the report there instead (tests)."""
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
            if out is not None:
                out.write(render(report))
                out.flush()
            else:
                emit(render(report))
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
