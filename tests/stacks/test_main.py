"""`stacks.deploy_overlapping` (what the program process runs through `stacks.program()`)
declares exactly what `stacks.deploy` declares, for every flavor.

It declares the cluster, lets the event loop run while the Kubernetes SDK is imported
in a thread (`stacks.sdk_preload`), then declares the platform. Only the moment each
registration reaches the engine may differ: the resources, their inputs (and which are
secret), parents, providers and dependencies, and the stack outputs (values and
secrecy) must not. The Kubernetes SDK is already imported in a test process, so the
import thread has nothing to do here; tests/stacks/test_sdk_preload.py covers it, and
the real-engine previews (tests/engine) run the program process itself.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pulumi
import pytest

import stacks
from stacks.config import parse_tenant
from tests.components.cluster.helpers import command_outputs
from tests.stacks.samples import sample
from tests.support.mocks import RecordingMocks, Resolved, run


def _declared(mocks: RecordingMocks) -> list[tuple[Any, ...]]:
    return sorted(
        (
            r.type,
            r.name,
            json.dumps(r.inputs, sort_keys=True, default=repr),
            r.parent,
            r.provider,
            r.custom,
            tuple(sorted(r.secret_paths)),
        )
        + tuple(sorted(r.dependencies))
        for r in mocks.resources
    )


def _run(program: Callable[[], Any]) -> tuple[list[tuple[Any, ...]], dict[str, Resolved]]:
    mocks = RecordingMocks(command_outputs)
    outputs = run(program, mocks)
    return _declared(mocks), outputs


@pytest.mark.parametrize("flavor", ["tenant-managed", "ncp-managed", "isv-managed"])
def test_overlapping_deploy_declares_what_deploy_declares(flavor: str) -> None:
    config = parse_tenant(sample(flavor))
    plain, plain_outputs = _run(lambda: stacks.deploy(config))

    def overlapping() -> dict[str, Any]:
        returned: dict[str, object] = {}

        async def deploy() -> bool:
            returned.update(await stacks.deploy_overlapping(config))
            return True

        done: pulumi.Output[bool] = pulumi.Output.from_input(asyncio.ensure_future(deploy()))

        def output(key: str) -> pulumi.Output[Any]:
            return done.apply(lambda _: returned[key])

        # The mocked program's outputs: each of the deploy's own (with its own secrecy),
        # once it finished.
        return {key: output(key) for key in plain_outputs}

    declared, outputs = _run(overlapping)
    assert declared == plain
    assert len(declared) > 40
    assert sorted(outputs) == sorted(plain_outputs)
    for key, plain_output in plain_outputs.items():
        assert (outputs[key].value, outputs[key].secret) == (
            plain_output.value,
            plain_output.secret,
        ), key
    assert any(output.secret for output in outputs.values())
