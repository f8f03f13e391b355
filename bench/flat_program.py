"""The flat program `make bench` compares tenant previews with: N resources, no logic.

It registers, besides the stack, one command provider and `flat:resources - 2`
`command.local.Command`s, so its preview plans exactly `flat:resources` resources:
what the engine (and the policy packs) cost per resource with nothing of gpu-caas'
own work (config validation, composition, components) on top.

The project's `__main__.py` (written by `bench.hosts_scaling`) only calls `main()`.
"""

from __future__ import annotations

import pulumi
import pulumi_command as command

CONFIG_NAMESPACE = "flat"
RESOURCES_KEY = "resources"
OVERHEAD = 2
"""Resources besides the commands: the stack and the provider."""
PRELOAD = "pulumi_command"
"""What the flat project's `preload` runtime option imports before the program runs
(the tenant's project preloads `stacks.warm_start`): the SDK the program declares
its resources from."""


def main() -> None:
    """Register `flat:resources` resources in all (the stack included)."""
    count = pulumi.Config(CONFIG_NAMESPACE).require_int(RESOURCES_KEY)
    provider = command.Provider("flat-command")
    for index in range(max(count - OVERHEAD, 0)):
        command.local.Command(
            f"flat-{index:05d}",
            create=f"echo {index}",
            opts=pulumi.ResourceOptions(provider=provider),
        )


PROGRAM = "import sys\nsys.path.insert(0, {root!r})\nfrom bench.flat_program import main\nmain()\n"
"""The project's `__main__.py`: `root` is the repository."""
