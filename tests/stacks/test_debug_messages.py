"""stacks/debug_messages.py: the SDK's debug messages leave the program without
stopping it, all of them, in order; other severities are unchanged."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Iterator
from typing import Any

import pulumi
import pulumi.log
import pytest
from pulumi.runtime import settings

from stacks.debug_messages import send_debug_messages_in_background


class SlowEngine:
    """An engine whose `Log` answers after `delay_s`, recording what it received."""

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s
        self.received: list[tuple[str, str]] = []
        self.threads: set[str] = set()

    def Log(self, request: Any) -> None:  # noqa: N802 (gRPC method name)
        time.sleep(self.delay_s)
        self.threads.add(threading.current_thread().name)
        self.received.append(
            (pulumi.runtime.proto.engine_pb2.LogSeverity.Name(request.severity), request.message)
        )


_ENGINE: contextvars.ContextVar[Any] = contextvars.ContextVar("test-engine", default=None)
"""Stands in for the SDK's settings, which live in context variables too (a thread
pool's threads start from an empty context, where this is None)."""


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[SlowEngine]:
    fake = SlowEngine(delay_s=0.05)
    monkeypatch.setattr(settings, "get_engine", _ENGINE.get)
    # Restore the SDK's own function after the test.
    monkeypatch.setattr(pulumi.log, "debug", pulumi.log.debug)
    token = _ENGINE.set(fake)
    yield fake
    _ENGINE.reset(token)


def test_debug_messages_are_sent_in_order_without_waiting(engine: SlowEngine) -> None:
    worker = send_debug_messages_in_background()
    assert worker is not None
    start = time.perf_counter()
    for index in range(5):
        pulumi.log.debug(f"message {index}")
    queued_in = time.perf_counter() - start
    worker.shutdown(wait=True)
    # Five answers take 0.25 s; handing them over takes a fraction of one.
    assert queued_in < engine.delay_s
    assert engine.received == [("DEBUG", f"message {i}") for i in range(5)]
    assert engine.threads and all(t.startswith("gpu-caas-debug-messages") for t in engine.threads)


def test_other_severities_still_wait_for_the_engine(engine: SlowEngine) -> None:
    worker = send_debug_messages_in_background()
    assert worker is not None
    pulumi.log.info("an info line")
    # Sent and answered before `info` returned, on the program's own thread.
    assert engine.received == [("INFO", "an info line")]
    worker.shutdown(wait=True)


def test_a_message_after_the_worker_stopped_is_sent_on_the_callers_thread(
    engine: SlowEngine,
) -> None:
    worker = send_debug_messages_in_background()
    assert worker is not None
    worker.shutdown(wait=True)
    pulumi.log.debug("late")
    assert engine.received == [("DEBUG", "late")]
    assert engine.threads == {threading.current_thread().name}


def test_installing_twice_keeps_one_worker(engine: SlowEngine) -> None:
    first = send_debug_messages_in_background()
    debug = pulumi.log.debug
    assert send_debug_messages_in_background() is None
    assert pulumi.log.debug is debug
    assert first is not None
    first.shutdown(wait=True)
