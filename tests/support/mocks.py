"""Pulumi mocks that record every registered resource, for component and stack tests.

Usage (one program per test; `run` sets fresh mocks each time):

    from tests.support.mocks import RecordingMocks, run

    def test_something():
        mocks = RecordingMocks(outputs=lambda args: {"stdout": "ok"} if ... else None)
        result = run(lambda: {"kubeconfig": MyComponent("x", args).kubeconfig}, mocks)
        assert result["kubeconfig"].secret
        cmd = mocks.one("command:remote:Command", "x-init")
        assert cmd.parent == mocks.one("gpu-caas:cluster:ControlPlane", "x").urn
        assert cmd.is_secret("connection.privateKey")   # or an enclosing object is secret
        assert mocks.leaks("the-private-key") == []       # not in any plain input

What is recorded per resource (`Registered`): type token, name, inputs (plain values,
secrets unwrapped, values unknown at a preview as `UNKNOWN`), URN, parent URN, provider
reference and its URN, custom or component, dependencies, and `secret_paths`: the
input paths that were sent as Pulumi secrets (read from the wire format, because the
SDK unwraps secrets before the `Mocks` API sees them).

Mocked outputs are the inputs echoed back plus whatever the `outputs` callback returns
for that resource (camelCase keys, as the engine would return them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
from google.protobuf import json_format  # type: ignore[import-untyped]
from pulumi.output import Unknown
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor

SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
"""Pulumi's wire signature of a secret value (`rpc._special_secret_sig`)."""
_SIG_KEY = "4dabf18193072939515e22adb298388d"

UNKNOWN = "<unknown>"
"""What an input that was unknown at registration (a preview) is recorded as."""

OutputsHook = Callable[[pulumi.runtime.MockResourceArgs], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Registered:
    """One resource registration as the engine would have received it."""

    type: str
    name: str
    inputs: dict[str, Any]
    urn: str
    parent: str
    """Parent URN ('' for the stack's direct children)."""
    provider: str
    """Provider reference `<provider urn>::<id>` ('' when the default provider is used)."""
    custom: bool
    dependencies: tuple[str, ...]
    secret_paths: frozenset[str]
    """Dotted input paths sent as secrets, e.g. `connection.privateKey`, `stdin`."""

    @property
    def provider_urn(self) -> str:
        """URN of the explicit provider ('' when none)."""
        return self.provider.rsplit("::", 1)[0] if self.provider else ""

    def is_secret(self, path: str) -> bool:
        """Whether the input at `path` (or an enclosing object) was sent as a secret."""
        parts = path.split(".")
        return any(".".join(parts[:i]) in self.secret_paths for i in range(1, len(parts) + 1))

    def plaintext(self) -> Iterator[str]:
        """Every string input that was NOT sent as a secret (to hunt for leaked secrets)."""
        yield from _strings(self.inputs, "", self.secret_paths)


@dataclass(frozen=True)
class Resolved:
    """A program output after the run."""

    value: Any
    secret: bool
    known: bool


class RecordingMocks(pulumi.runtime.Mocks):
    """Mocks that record registrations (see module docstring)."""

    def __init__(
        self,
        outputs: OutputsHook | None = None,
        stack_references: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self._outputs = outputs
        self._stack_references = dict(stack_references or {})
        self.resources: list[Registered] = []

    def new_resource(
        self, args: pulumi.runtime.MockResourceArgs
    ) -> tuple[str | None, dict[str, Any]]:
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs.get("name", args.name)
            state["outputs"] = dict(self._stack_references.get(name, {}))
        extra = self._outputs(args) if self._outputs else None
        state.update(extra or {})
        return f"{args.name}-id", state

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        if args.token == "pulumi:pulumi:readStackOutputs":
            # The engine's builtin behind StackReference (stacks/deployed.py reads the
            # running stack's own last outputs with it).
            name = str(args.args.get("name"))
            outputs = dict(self._stack_references.get(name, {}))
            return {"name": name, "outputs": outputs, "secretOutputNames": []}, []
        return {}, []

    # Queries -------------------------------------------------------------------

    def of_type(self, type_: str) -> list[Registered]:
        """All registrations of a type token."""
        return [r for r in self.resources if r.type == type_]

    def one(self, type_: str, name: str) -> Registered:
        """The single registration with this type and name (AssertionError otherwise)."""
        found = [r for r in self.resources if r.type == type_ and r.name == name]
        assert len(found) == 1, f"expected one {type_} {name!r}, found {len(found)}: " + ", ".join(
            f"{r.type} {r.name}" for r in self.resources
        )
        return found[0]

    def by_urn(self, urn: str) -> Registered:
        """The registration with this URN."""
        return next(r for r in self.resources if r.urn == urn)

    def names(self, type_: str | None = None) -> list[str]:
        """Names of all registrations (of one type)."""
        return [r.name for r in self.resources if type_ is None or r.type == type_]

    def leaks(self, secret: str) -> list[str]:
        """`type name` of every resource whose non-secret inputs contain `secret`."""
        return [
            f"{r.type} {r.name}" for r in self.resources if any(secret in s for s in r.plaintext())
        ]


class _RecordingMonitor(MockMonitor):
    """MockMonitor that also records what `Mocks.new_resource` cannot see."""

    def __init__(self, mocks: RecordingMocks) -> None:
        super().__init__(mocks)
        self._recorder = mocks

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self._record(request, request.object, response.urn, bool(request.custom))
        return response

    def ReadResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        # Reads (e.g. StackReference, `.get()`) are custom resources too.
        response = super().ReadResource(request)  # type: ignore[no-untyped-call]
        self._record(request, request.properties, response.urn, True)
        return response

    def _record(self, request: Any, properties: Any, urn: str, custom: bool) -> None:
        raw = json_format.MessageToDict(properties)
        self._recorder.resources.append(
            Registered(
                type=request.type,
                name=request.name,
                inputs=_unwrap_secrets(rpc.deserialize_properties(properties, keep_unknowns=True)),
                urn=urn,
                parent=request.parent,
                provider=request.provider,
                custom=custom,
                dependencies=tuple(request.dependencies),
                secret_paths=frozenset(_secret_paths(raw, "")),
            )
        )


def run(
    program: Callable[[], Mapping[str, Any] | None],
    mocks: RecordingMocks | None = None,
    *,
    preview: bool = False,
    config: Mapping[str, str] | None = None,
    project: str = "gpu-caas",
    stack: str = "test",
    secret_keys: Sequence[str] | None = None,
) -> dict[str, Resolved]:
    """Run `program` under fresh recording mocks; return its outputs resolved.

    `program` creates resources and may return a mapping of values/Outputs to inspect.
    After `run` returns, every registration is in `mocks.resources`. `config` holds
    values as the engine passes them (secrets decrypted); `secret_keys` are the keys
    the engine marks secret (default: every key, as for a config whose secrets were
    set with `pulumi config set --secret`).
    """
    recorder = mocks or RecordingMocks()
    # A new root stack per run: `set_mocks` keeps the previous one (a contextvar), and
    # with it the stack transformations an earlier program registered
    # (`stacks.server_side_apply.register`), which would leak into later tests.
    pulumi.runtime.settings.reset_options()
    pulumi.runtime.set_mocks(
        recorder,
        project=project,
        stack=stack,
        preview=preview,
        monitor=_RecordingMonitor(recorder),
        # What a DIY backend (the one gpu-caas uses) reports: stack names are
        # `organization/<project>/<stack>`.
        organization="organization",
    )
    # Config is process-global: start from exactly `config`.
    pulumi.runtime.set_all_config(
        dict(config or {}), list(config or {}) if secret_keys is None else list(secret_keys)
    )
    results: dict[str, Resolved] = {}

    @pulumi.runtime.test
    def body() -> pulumi.Output[None]:
        outputs = program() or {}

        async def collect() -> None:
            for key, value in outputs.items():
                out = pulumi.Output.from_input(value)
                results[key] = Resolved(
                    value=await out.future(with_unknowns=True),
                    secret=await out.is_secret(),
                    known=await out.is_known(),
                )

        return pulumi.Output.from_input(asyncio.ensure_future(collect()))

    body()
    return results


def _unwrap_secrets(value: Any) -> Any:
    """Replace secret wrappers left by deserialization with their plain values, and
    unknowns with `UNKNOWN` (deterministic whatever the SDK's dry-run context)."""
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == SECRET_SIG:
            return _unwrap_secrets(value.get("value"))
        return {k: _unwrap_secrets(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(v) for v in value]
    return value


def _secret_paths(value: Any, path: str) -> Iterator[str]:
    if isinstance(value, dict):
        if value.get(_SIG_KEY) == SECRET_SIG:
            yield path
            return
        for key, item in value.items():
            yield from _secret_paths(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _secret_paths(item, f"{path}[{i}]")


def _strings(value: Any, path: str, secret: frozenset[str]) -> Iterator[str]:
    if path in secret:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}" if path else key, secret)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]", secret)
