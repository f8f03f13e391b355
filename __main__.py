"""gpu-caas Pulumi program: everything lives in `stacks/`; see docs/architecture.md."""

import pulumi

import stacks


async def program() -> pulumi.Inputs:
    # Defined in this file: on an unhandled exception the Python language host shows
    # the traceback from the first frame of the program's own file on.
    return await stacks.program()


stacks.main(program)
