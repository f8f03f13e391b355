"""gpu-caas CrossGuard rules, shared by the policy packs in `policies/<pack>/`.

* `tenant_isolation`: explicit providers, tenant-namespace guardrails, RBAC, workload
  host access, NodePort services.
* `platform_safety`: Helm pinning and sources, CVE floors, Kubernetes version,
  credentials only in secrets, host / node-group ownership.
* `defaults`: pack defaults from `stacks.config.isolation` and `components.versions`.
* `stack_config`: the stack's `gpu-caas:tenant` config inside the analyzer.
* `secrets`: which inputs the engine sent as secrets (for `credentials-only-in-secrets`).
* `pack_config`: unknown policy names and config keys are errors naming them.
* `report`: what each policy checked and deferred, printed by each pack after a preview.
* `stack_secrets`: `stack-secrets-encrypted`, no plain-text secret in the stack file.

Importing this package never starts a policy server: `PolicyPack(...)` is built only in
each pack's `__main__.py`, so tests call the validators directly.
"""
