"""Many tenant stacks at once: `python -m stacks fleet ...` (docs/fleet.md).

Modules: `selection` (which stacks, which a change affects), `events` (what one
engine run reported, from the Automation API's events or a recorded JSON stream),
`summary` (the fleet's results as a table, JSON and the pull-request Markdown),
`runner` (the Automation API runner: one workspace directory per stack, bounded
concurrency, retries), `progress` (the live display), `operator` (Pulumi Kubernetes
Operator manifests) and `cli` (the subcommand).
"""
