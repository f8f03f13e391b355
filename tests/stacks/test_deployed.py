"""The `deployed` record: parsed from the stack's last outputs, written from the config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from stacks.config.deployed import SCHEMA, DeployedHost, DeployedState, parse_deployed
from stacks.config.loader import load_stack_file
from stacks.deployed import READ_STACK_OUTPUTS, deployed_output, previous_deployment

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


def test_previous_deployment_of_a_new_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("stacks.deployed.stack_name", lambda: "organization/gpu-caas/dev")
    assert previous_deployment(lambda token, args: {"outputs": {}}) == DeployedState()


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
