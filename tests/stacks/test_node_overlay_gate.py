"""`services.autoscaling.controller.nodeOverlayGate`: the provider's controller has the gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.config.loader import load_stack_file
from stacks.config.services import karpenter_sharing_warnings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("gate", "warned"), [(False, True), (True, False)])
def test_a_provider_controller_with_the_gate_is_not_warned(gate: bool, warned: bool) -> None:
    config = load_stack_file(ROOT / "Pulumi.isv-inference.yaml")
    autoscaling = config.services.autoscaling
    controller = autoscaling.controller.model_copy(update={"node_overlay_gate": gate})
    services = config.services.model_copy(
        update={"autoscaling": autoscaling.model_copy(update={"controller": controller})}
    )
    config = config.model_copy(update={"services": services})
    found = [m for _, m in karpenter_sharing_warnings(config) if "NodeOverlay" in m]
    assert bool(found) is warned
    if warned:
        assert "nodeOverlayGate: true" in found[0]
