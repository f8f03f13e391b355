"""The Python SDK's own debug messages, sent to the engine without stopping the program.

`pulumi.log.debug` sends each message with a blocking gRPC call (`engine.Log` in
pulumi/log.py, `_log`), and the SDK logs about four per resource ("registering
resource", "resource registration prepared", "beginning rpc register resource",
"resource registration successful": pulumi/runtime/resource.py). The program runs on
one thread, so each call stops it until the engine has answered. While the engine is
busy with other registrations (and writes each event to its automatic log) an answer
takes milliseconds, and the program's declarations and its turn between two links of a
rollout chain wait for every one of them. In the engine's log of a 16-host preview
(`pulumi logs decrypt`), from the stack's registration to the tenant cluster's took
0.66-1.37 s with blocking debug messages and 0.23-0.24 s without.

`send_debug_messages_in_background` makes `pulumi.log.debug` hand each message to one
worker thread, which sends them in order; the program goes on at once. Nothing is
dropped: the engine receives the same messages (`pulumi preview --debug` shows them),
possibly after a warning or error the program logged later, and stamps them when they
arrive. Each message is sent in a copy of the caller's context (`contextvars`), where
the SDK keeps its settings, so it goes to the engine the caller's program talks to.
Messages attached to a resource already go through the event loop in the SDK and keep
doing so. At exit the interpreter waits for the worker to send what is queued
(`concurrent.futures` joins its threads before shutdown); a message logged after that
is sent on the caller's thread, as the SDK does. An engine that fails to take a debug
message no longer raises in the program: the failure stays in the worker.

Only for the program process (`stacks.main()`): tests keep the SDK's behaviour.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

_SENT_IN_BACKGROUND = "_gpu_caas_sent_in_background"


def send_debug_messages_in_background() -> ThreadPoolExecutor | None:
    """Replace `pulumi.log.debug` as the module docstring says; return the worker
    (None if it was already replaced). Idempotent."""
    import pulumi.log

    original: Callable[..., None] = pulumi.log.debug
    if getattr(original, _SENT_IN_BACKGROUND, False):
        return None
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gpu-caas-debug-messages")

    def debug(
        msg: str,
        resource: Any = None,
        stream_id: int | None = None,
        ephemeral: bool | None = None,
    ) -> None:
        if resource is not None:
            # The SDK sends these from the event loop once the resource's URN is known.
            original(msg, resource, stream_id, ephemeral)
            return
        context = contextvars.copy_context()
        try:
            worker.submit(context.run, original, msg, None, stream_id, ephemeral)
        except RuntimeError:  # the worker was shut down (interpreter exit)
            original(msg, None, stream_id, ephemeral)

    setattr(debug, _SENT_IN_BACKGROUND, True)
    debug.__wrapped__ = original  # type: ignore[attr-defined]
    debug.__doc__ = original.__doc__
    pulumi.log.debug = debug
    return worker
