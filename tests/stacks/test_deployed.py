"""The `deployed` record: parsed from the stack's last outputs, written from the config."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.cluster.types import JoinTokenRenewal
from stacks.config.deployed import SCHEMA, DeployedHost, DeployedState, parse_deployed
from stacks.config.loader import load_stack_file
from stacks.deployed import (
    READ_STACK_OUTPUTS,
    deployed_output,
    join_token_renewal,
    previous_deployment,
)

EXAMPLES_DIR = Path(__file__).resolve().parents[2]

RECORD = {
    "schema": SCHEMA,
    "controlPlaneBackend": "kubeadm",
    "kubernetesVersion": "1.34.2",
    "nodeGroupVersions": {"train": "1.34.2"},
    "components": {"NVIDIA GPU Operator": "v26.7.0"},
    "driverVersion": "580.95.05",
    "hosts": {"gpu-0": {"nodeGroup": "train", "state": "failed", "gpuModel": "H100-80GB"}},
}


@pytest.mark.parametrize(
    ("outputs", "expected"),
    [
        (None, DeployedState()),
        ({}, DeployedState()),
        ({"kubeconfig": "x"}, DeployedState()),
        (
            {"deployed": RECORD},
            DeployedState(
                control_plane_backend="kubeadm",
                kubernetes_version="1.34.2",
                node_group_versions={"train": "1.34.2"},
                components={"NVIDIA GPU Operator": "v26.7.0"},
                driver_version="580.95.05",
                hosts={"gpu-0": DeployedHost("train", "failed", "H100-80GB")},
            ),
        ),
        (
            {"deployed": {**RECORD, "hosts": {"cp-0": {"nodeGroup": None, "state": "active"}}}},
            DeployedState(
                control_plane_backend="kubeadm",
                kubernetes_version="1.34.2",
                node_group_versions={"train": "1.34.2"},
                components={"NVIDIA GPU Operator": "v26.7.0"},
                driver_version="580.95.05",
                hosts={"cp-0": DeployedHost(None, "active", None)},
            ),
        ),
    ],
)
def test_parse_deployed(outputs: Mapping[str, Any] | None, expected: DeployedState) -> None:
    assert parse_deployed(outputs) == expected


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ("1.34.2", "is not a mapping"),
        ({**RECORD, "schema": 2}, "has schema 2"),
        ({"kubernetesVersion": "1.34.2"}, "has schema None"),
    ],
)
def test_an_unreadable_record_says_why(record: object, reason: str) -> None:
    state = parse_deployed({"deployed": record})
    assert state.unreadable is not None and reason in state.unreadable
    assert not state.first_deployment


def test_first_deployment() -> None:
    assert DeployedState().first_deployment
    assert not parse_deployed({"deployed": RECORD}).first_deployment


def test_previous_deployment_reads_only_the_record(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, Mapping[str, Any]]] = []

    def invoke(token: str, args: Mapping[str, Any]) -> Any:
        calls.append((token, args))
        return {"outputs": {"deployed": RECORD, "kubeconfig": "secret"}, "secretOutputNames": []}

    monkeypatch.setattr("stacks.deployed.stack_name", lambda: "organization/gpu-caas/dev")
    state = previous_deployment(invoke)
    assert calls == [(READ_STACK_OUTPUTS, {"name": "organization/gpu-caas/dev"})]
    assert state.kubernetes_version == "1.34.2"
    assert "secret" not in repr(state)


@pytest.mark.parametrize(
    "result",
    [
        # A new stack, or one whose updates never wrote outputs.
        {"outputs": {}, "secretOutputNames": []},
        # Outputs without a record: deployed by a release before the record.
        {"outputs": {"kubeconfig": "secret"}, "secretOutputNames": ["kubeconfig"]},
        # No outputs key (mocks that answer every invoke with {}).
        {},
    ],
)
def test_previous_deployment_without_a_record(
    monkeypatch: pytest.MonkeyPatch, result: dict[str, Any]
) -> None:
    monkeypatch.setattr("stacks.deployed.stack_name", lambda: "organization/gpu-caas/dev")
    state = previous_deployment(lambda token, args: result)
    assert state == DeployedState()
    assert state.first_deployment


def test_rollouts_survive_the_engine_round_trip() -> None:
    """The engine hands stack outputs back through the SDK's deserializer, which makes
    every number a float: `maxUnavailable: 2` comes back as 2.0 and must still count."""
    from google.protobuf import struct_pb2  # type: ignore[import-untyped]
    from pulumi.runtime import rpc

    config = load_stack_file(EXAMPLES_DIR / "Pulumi.dev.yaml")
    record = deployed_output(config, {})
    wire = struct_pb2.Struct()
    wire.update({"deployed": record})
    back = rpc.deserialize_properties(wire)
    assert isinstance(
        back["deployed"]["rollouts"][config.node_groups[0].name]["maxUnavailable"], float
    )
    state = parse_deployed(back)
    assert set(state.rollouts) == {g.name for g in config.host_node_groups}
    for group in config.host_node_groups:
        rollout = state.rollouts[group.name]
        assert rollout.max_unavailable == group.upgrade.max_unavailable
        assert list(rollout.hosts) == [
            h for h in group.hosts if config.host(h).state.value != "failed"
        ]


@pytest.mark.parametrize("bound", [True, 1.5, "1", 0, None])
def test_a_malformed_rollout_is_left_out(bound: Any) -> None:
    record = {**RECORD, "rollouts": {"train": {"hosts": ["gpu-0"], "maxUnavailable": bound}}}
    assert parse_deployed({"deployed": record}).rollouts == {}


def test_outputs_that_are_not_a_mapping_are_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not the engine's shape: reported, never taken for a new stack (which would skip
    the day-2 checks)."""
    monkeypatch.setattr("stacks.deployed.stack_name", lambda: "organization/gpu-caas/dev")
    state = previous_deployment(lambda token, args: {"outputs": "04da6b54-80e4-46f7"})
    assert state.unreadable == "the stack's last outputs are a str, not a mapping"
    assert not state.first_deployment
    state = previous_deployment(lambda token, args: None)
    assert state.unreadable == (
        "the engine answered pulumi:pulumi:readStackOutputs with a NoneType, not a mapping"
    )


def test_an_engine_that_cannot_read_the_stack_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stacks.deployed.stack_name", lambda: "organization/gpu-caas/dev")

    def fail(token: str, args: Mapping[str, Any]) -> Any:
        raise RuntimeError("no backend client is available")

    state = previous_deployment(fail)
    assert state.unreadable is not None and "no backend client" in state.unreadable


@pytest.mark.parametrize("example", ["dev", "gb200-baremetal", "h100-training", "isv-inference"])
def test_the_record_round_trips(example: str) -> None:
    config = load_stack_file(EXAMPLES_DIR / f"Pulumi.{example}.yaml")
    record = deployed_output(config, {"NVIDIA GPU Operator": "v26.7.0"})
    state = parse_deployed({"deployed": record})
    assert state.kubernetes_version == config.kubernetes.version
    assert state.control_plane_backend == config.backend.value
    assert set(state.hosts) == {h.name for h in config.hosts}
    assert set(state.node_group_versions) == {g.name for g in config.host_node_groups}
    assert state.components == {"NVIDIA GPU Operator": "v26.7.0"}
    # The record never holds config secrets.
    assert "privateKey" not in repr(record) and "BEGIN" not in repr(record)


@pytest.mark.parametrize(
    ("record", "joined", "known_joined"),
    [
        # Recorded: exactly those (gpu-1's join failed under --continue-on-error).
        ({**RECORD, "joinedHosts": ["cp-0", "gpu-0"]}, frozenset({"cp-0", "gpu-0"}),
         frozenset({"cp-0", "gpu-0"})),
        # Recorded empty: nobody joined (even if the config listed hosts).
        ({**RECORD, "joinedHosts": []}, frozenset(), frozenset()),
        # A record older than `joinedHosts`: not recorded, nobody known to have joined
        # (its `hosts` may include a host whose join failed).
        (RECORD, None, frozenset()),
        # Not a list: the engine's unknown marker after `pulumi up --target`.
        ({**RECORD, "joinedHosts": "04da6b54-80e4-46f7-96ec-b56ff0331ba9"}, frozenset(),
         frozenset()),
        # Non-strings are dropped.
        ({**RECORD, "joinedHosts": ["cp-0", 7]}, frozenset({"cp-0"}), frozenset({"cp-0"})),
    ],
)  # fmt: skip
def test_joined_hosts_are_read_from_the_record(
    record: Mapping[str, Any], joined: frozenset[str] | None, known_joined: frozenset[str]
) -> None:
    state = parse_deployed({"deployed": record})
    assert state.joined_hosts == joined
    assert state.hosts_known_joined == known_joined


def test_a_first_deployment_has_no_joined_host() -> None:
    assert DeployedState().hosts_known_joined == frozenset()


def test_join_token_renewal_from_the_record() -> None:
    state = parse_deployed({"deployed": {**RECORD, "joinedHosts": ["cp-0"]}})
    renewal = join_token_renewal(state, datetime(2026, 11, 30, 19, 42, tzinfo=UTC))
    assert renewal == JoinTokenRenewal(frozenset({"cp-0"}), "2026-11-30T19:00Z")


def test_the_record_carries_joined_hosts_when_given() -> None:
    config = load_stack_file(EXAMPLES_DIR / "Pulumi.dev.yaml")
    assert "joinedHosts" not in deployed_output(config, {})
    record = deployed_output(config, {}, pulumi.Output.from_input(["cp-0"]))
    assert isinstance(record["joinedHosts"], pulumi.Output)
