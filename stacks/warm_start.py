"""Imported by the Python language host's warm start, before the program runs.

`Pulumi.yaml` names this module in the `preload` runtime option. The language host
(`scripts/toolchain/pulumi/cmd/pulumi-language-python/warm.go`) then starts the
program's interpreter as soon as the engine asks which packages the program needs,
and imports this module in it while the engine starts the policy packs (one after the
other, about half a second each on the CI machines, one core mostly idle). When the
engine runs the program, that interpreter runs it: the config models, the components
and the Kubernetes SDK's modules (`stacks.sdk_preload.KUBERNETES_MODULES`) are already
imported, so the program's start and its overlap with the cluster's registrations
(`stacks.sdk_preload`) cost the preview nothing.

Nothing here reads the stack's configuration or talks to the engine: neither exists
yet when this module is imported. A program run without the warm start (tests, an
upstream language host) imports the same modules itself.
"""

from __future__ import annotations

import stacks  # noqa: F401 - the program's package: config models, components
from stacks.sdk_preload import KUBERNETES_MODULES, import_modules

import_modules(KUBERNETES_MODULES)
