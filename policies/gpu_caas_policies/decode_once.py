"""Decode each analysis request once, not once per policy, and skip empty remediations.

`pulumi_policy` 1.21's servicer (`_PolicyAnalyzerServicer` in pulumi_policy/policy.py)
does per-request work once per policy:

* `Analyze` runs, for every resource policy of the pack,
  `deserialize_properties(json_format.MessageToDict(request.properties))` and, through
  `_get_provider_resource`, the same for the provider's properties. With the
  tenant-isolation pack's resource policies that is over twenty pure-Python decodings of
  the same request per resource, which costs more than the rules themselves on a large
  remote command or Helm release.
* `Remediate` decodes the request before it looks for a policy whose enforcement level
  is `remediate`; the gpu-caas packs have none unless a user sets one in the pack
  config, yet the engine calls it for every resource, before `Analyze`, one pack after
  the other (pulumi pkg/resource/deploy/step_generator.go, "First pass: perform
  remediations sequentially"), so its cost lands on every chain of dependent resources.

`install_decode_once_hook` wraps both methods. Inside one `Analyze` call the SDK's three
decoding steps (`json_format.MessageToDict`, `deserialize_properties`, and
`unknown_checking_proxy`, which wraps the whole tree in read-only views) return the
result of their first call for the same input: the protobuf message is keyed by its
serialized bytes (the same content decodes to the same value), the decoded values by
identity, each held until the request ends so no identity is reused. The policies of a
request therefore share one view of its properties. The SDK's views are `Mapping` and
`Sequence` proxies, but its dict view also has `__setitem__` (and `props["__target"]`
reaches the dict behind it): a policy that wrote to them would change what the next
policy sees. No gpu-caas policy writes (tests/policies/test_decode_once.py runs each one
and checks its view is unchanged); a new policy must not either. `Remediate`
returns the empty response the SDK would build when no resource policy's effective
level is `remediate`, and runs the SDK's own method otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from pulumi_policy import EnforcementLevel, Policy, ResourceValidationPolicy

_state = threading.local()
_POLICIES_ATTRIBUTE = "_PolicyAnalyzerServicer__policies"
"""Where pulumi_policy 1.21's servicer keeps the pack's policies (a private, name-mangled
attribute: `remediates` falls back to the SDK's own method when it is not a list)."""


def _memo() -> dict[Any, tuple[Any, Any]] | None:
    """This thread's memo while an `Analyze` call runs, else None."""
    memo: dict[Any, tuple[Any, Any]] | None = getattr(_state, "memo", None)
    return memo


class _JsonFormat:
    """Stands in for `google.protobuf.json_format` inside `pulumi_policy.policy`:
    `MessageToDict` of a message without options is decoded once per request."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def MessageToDict(self, message: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N802 (protobuf's name)
        memo = _memo()
        if memo is None or args or kwargs:
            return self._module.MessageToDict(message, *args, **kwargs)
        key = ("message", type(message).__name__, message.SerializeToString())
        if key not in memo:
            memo[key] = (message, self._module.MessageToDict(message))
        return memo[key][1]


def _decode_once(decode: Callable[..., Any]) -> Callable[..., Any]:
    """`decode` (`deserialize_properties` or `unknown_checking_proxy`) returning its
    first result for the same argument (by identity, the argument held in the memo)
    during an `Analyze` call."""

    def decode_once(value: Any, *args: Any) -> Any:
        memo = _memo()
        if memo is None:
            return decode(value, *args)
        key = (decode, id(value), args)
        if key not in memo:
            memo[key] = (value, decode(value, *args))
        return memo[key][1]

    decode_once._gpu_caas_decode_once = True  # type: ignore[attr-defined]
    decode_once.__wrapped__ = decode  # type: ignore[attr-defined]
    return decode_once


def remediates(servicer: Any) -> bool:
    """Whether any resource policy of `servicer`'s pack has `remediate` as its effective
    enforcement level (the pack config's level, else the policy's, else the pack's).

    True, so the SDK's own `Remediate` runs, when the servicer does not expose its
    policies where pulumi_policy 1.21 keeps them (another SDK version)."""
    policies: Sequence[Policy] | None = getattr(servicer, _POLICIES_ATTRIBUTE, None)
    if not isinstance(policies, list):
        return True
    return any(
        isinstance(policy, ResourceValidationPolicy)
        and servicer._get_enforcement_level(policy) == EnforcementLevel.REMEDIATE
        for policy in policies
    )


def _installed(analyze: Any) -> bool:
    """Whether `analyze`, or a method it wraps (`__wrapped__`), is this hook's."""
    while analyze is not None:
        if getattr(analyze, "_gpu_caas_decode_once", False):
            return True
        analyze = getattr(analyze, "__wrapped__", None)
    return False


def install_decode_once_hook() -> None:
    """Wrap the SDK servicer's `Analyze` and `Remediate` as the module docstring says.

    Called by each pack's `__main__.py` before it builds the `PolicyPack`. Idempotent.
    The SDK's own methods stay reachable as `__wrapped__` (tests compare the two).
    """
    from google.protobuf import json_format  # type: ignore[import-untyped]
    from pulumi.runtime.proto import analyzer_pb2
    from pulumi_policy import policy

    sdk: Any = policy  # its module globals are replaced below
    servicer = sdk._PolicyAnalyzerServicer
    if _installed(servicer.Analyze):
        return
    for name in ("deserialize_properties", "unknown_checking_proxy"):
        if not getattr(getattr(sdk, name), "_gpu_caas_decode_once", False):
            setattr(sdk, name, _decode_once(getattr(sdk, name)))
    if not isinstance(sdk.json_format, _JsonFormat):
        sdk.json_format = _JsonFormat(json_format)
    analyze: Callable[..., Any] = servicer.Analyze
    remediate: Callable[..., Any] = servicer.Remediate

    def analyze_once(self: Any, request: Any, context: Any) -> Any:
        outer = _memo()
        _state.memo = {} if outer is None else outer
        try:
            return analyze(self, request, context)
        finally:
            _state.memo = outer

    def remediate_if_any(self: Any, request: Any, context: Any) -> Any:
        if remediates(self):
            return remediate(self, request, context)
        # What the SDK's loop returns when it skips every policy. It would also apply
        # the stack config to the runtime first, which the Analyze call that follows
        # every Remediate does.
        return analyzer_pb2.RemediateResponse()

    analyze_once._gpu_caas_decode_once = True  # type: ignore[attr-defined]
    analyze_once.__wrapped__ = analyze  # type: ignore[attr-defined]
    remediate_if_any.__wrapped__ = remediate  # type: ignore[attr-defined]
    servicer.Analyze = analyze_once
    servicer.Remediate = remediate_if_any
