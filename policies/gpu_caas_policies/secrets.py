"""Which property values the engine sent as Pulumi secrets, for `credentials-only-in-secrets`.

The engine marks secret inputs on the wire (`MarshalOptions{KeepSecrets: true}` in the
engine's analyzer client), but `pulumi_policy` 1.21 unwraps them before validators run
(`Analyze` deserializes with `proxy_secrets=False`), so a validator cannot ask "is this
value secret?". `install_secret_tracking_hook` wraps the pack's `Analyze` to collect, per
request, every string that arrived inside a secret, in a thread-local the validator reads
(`Analyze` runs the validators synchronously on the request's thread).

Outside the engine (unit tests) nothing is tracked and `current_secret_strings()` is
None; the rule then falls back to *where* credentials may appear. Tests can simulate an
engine request with `analyzing(raw_properties)`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

# The engine's wire signature of a secret value (pulumi sdk/go/common/resource/properties.go).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

_state = threading.local()


def secret_strings(raw: Any, inside_secret: bool = False) -> Iterator[str]:
    """Every string in wire-format properties that sits inside a secret."""
    if isinstance(raw, str):
        if inside_secret:
            yield raw
    elif isinstance(raw, Mapping):
        secret = inside_secret or raw.get(_SIG_KEY) == _SECRET_SIG
        for key, value in raw.items():
            if key != _SIG_KEY:
                yield from secret_strings(value, secret)
    elif isinstance(raw, list):
        for value in raw:
            yield from secret_strings(value, inside_secret)


def current_secret_strings() -> frozenset[str] | None:
    """Secret strings of the resource being analyzed; None when not tracked.

    Computed on the first call of a request (most resources hold no credential, and
    the validator asks only when it finds one)."""
    values: frozenset[str] | None = getattr(_state, "values", None)
    if values is None:
        raw: Callable[[], Mapping[str, Any]] | None = getattr(_state, "raw", None)
        if raw is not None:
            values = _state.values = frozenset(secret_strings(raw()))
    return values


@contextmanager
def analyzing(
    raw_properties: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
) -> Iterator[None]:
    """Track the secrets of one analysis request: its wire-format properties, or a
    function returning them (called only if a validator asks)."""
    _state.values = None
    _state.raw = raw_properties if callable(raw_properties) else lambda: raw_properties
    try:
        yield
    finally:
        _state.values = _state.raw = None


def install_secret_tracking_hook() -> None:
    """Wrap the pack's `Analyze` so validators can see which values were secret.

    Called by the platform-safety pack's `__main__.py` before it builds the
    `PolicyPack`. Idempotent.
    """
    from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
    from pulumi_policy import policy

    servicer = policy._PolicyAnalyzerServicer
    original: Any = servicer.Analyze
    if getattr(original, "_gpu_caas_hook", False):
        return

    def analyze(self: Any, request: Any, context: Any) -> Any:
        with analyzing(lambda: MessageToDict(request.properties)):
            return original(self, request, context)

    analyze._gpu_caas_hook = True  # type: ignore[attr-defined]
    analyze.__wrapped__ = original  # type: ignore[attr-defined]
    servicer.Analyze = analyze  # type: ignore[method-assign]
