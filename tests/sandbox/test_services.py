"""What the sandbox adds for the provider's own installs, and where hosts point."""

from __future__ import annotations

import pytest

from sandbox.services import KAMAJI_CRDS, KARPENTER_CRDS, point_hosts, provider_crds
from sandbox.upstream_copies import crds_root
from stacks.config.loader import load_stack_file
from tests.support.examples import STACK_FILES

EXPECTED = {
    "Pulumi.dev.yaml": (),
    "Pulumi.gb200-baremetal.yaml": (),
    "Pulumi.h100-training.yaml": KAMAJI_CRDS,  # hosted on the NCP's Kamaji
    "Pulumi.isv-inference.yaml": KARPENTER_CRDS,  # the ISV runs Karpenter
}


@pytest.mark.parametrize("stack_file", STACK_FILES, ids=[p.name for p in STACK_FILES])
def test_provider_crds_of_each_example(stack_file: object) -> None:
    config = load_stack_file(stack_file)  # type: ignore[arg-type]
    crds = provider_crds(config)
    assert crds == EXPECTED[stack_file.name]  # type: ignore[attr-defined]
    for path in crds:
        assert (crds_root() / path).is_file(), path


def test_point_hosts_keeps_everything_but_address_and_port() -> None:
    hosts = [
        {"name": "a", "address": "192.0.2.1", "role": "worker", "ssh": {"user": "u", "port": 22}},
        {"name": "b", "address": "192.0.2.2", "ssh": {"user": "u", "privateKey": "k"}},
    ]
    pointed = point_hosts(hosts, {"a": ("127.0.1.1", 2201), "b": ("127.0.1.2", 2202)})
    assert pointed == [
        {"name": "a", "address": "127.0.1.1", "role": "worker", "ssh": {"user": "u", "port": 2201}},
        {
            "name": "b",
            "address": "127.0.1.2",
            "ssh": {"user": "u", "privateKey": "k", "port": 2202},
        },
    ]
    assert hosts[0]["address"] == "192.0.2.1"  # the input is not changed
