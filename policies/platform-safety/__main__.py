"""The `platform-safety` CrossGuard policy pack: only assembles the PolicyPack.

The rules live in `policies/gpu_caas_policies/platform_safety.py` so tests can call the
validators without starting a policy server (constructing `PolicyPack` serves gRPC and
blocks). The engine runs this file with the pack directory as the working directory
and `sys.path[0]`, so the repository root is added explicitly, from this file's path.
"""

import sys
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]
if str(_REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(_REPO_ROOT))

from pulumi_policy import EnforcementLevel, PolicyPack  # noqa: E402

from policies.gpu_caas_policies.decode_once import install_decode_once_hook  # noqa: E402
from policies.gpu_caas_policies.pack_config import install_pack_config_check  # noqa: E402
from policies.gpu_caas_policies.platform_safety import POLICIES  # noqa: E402
from policies.gpu_caas_policies.report import install_report_hook  # noqa: E402
from policies.gpu_caas_policies.secrets import install_secret_tracking_hook  # noqa: E402
from policies.gpu_caas_policies.stack_config import install_configure_stack_hook  # noqa: E402

install_configure_stack_hook()
# The SDK decodes each request once per policy and each Remediate even when no policy
# remediates; decode once, answer an empty remediation at once (decode_once.py).
install_decode_once_hook()
install_secret_tracking_hook()

PACK = "gpu-caas-platform-safety"
# Unknown policy names and config keys are errors naming them; after a preview the pack
# prints what each policy checked and deferred (docs/policies.md, "Configuration" and
# "What the packs report").
install_pack_config_check(PACK, POLICIES, Path(__file__).resolve().parent)
install_report_hook(PACK, POLICIES)

PolicyPack(
    name=PACK,
    policies=POLICIES,
    enforcement_level=EnforcementLevel.MANDATORY,
)
