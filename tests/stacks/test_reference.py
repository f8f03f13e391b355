"""docs/config-reference.md is generated from the models and kept fresh."""

from __future__ import annotations

import re

from stacks.__main__ import REFERENCE_PATH
from stacks.config import TenantConfig
from stacks.config.reference import render


def test_reference_is_fresh() -> None:
    assert REFERENCE_PATH.read_text(encoding="utf-8") == render(), (
        "docs/config-reference.md is stale: run `python -m stacks reference`"
    )


def test_every_top_level_key_is_documented() -> None:
    text = render()
    for name, field in TenantConfig.model_fields.items():
        assert f"| `{field.alias or name}` |" in text, name
    assert (
        "| `privateKey` | **secret**: SSH private key (PEM or OpenSSH, unencrypted) "
        "| **required** |" in text
    )
    assert re.search(r"\| `version` \| string \| \*\*required\*\* \|", text)
