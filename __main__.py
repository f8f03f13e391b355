"""gpu-caas Pulumi program: everything lives in `stacks/`; see docs/architecture.md."""

import stacks

stacks.main()
