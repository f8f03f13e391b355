"""Field descriptions come from attribute docstrings only where they are rendered.

The rendered files themselves (schema, reference) are compared byte for byte with the
repository's in test_schema.py and test_reference.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from pydantic import Field

from stacks.config import field_docs
from stacks.config.base import ConfigModel
from stacks.config.field_docs import document, document_models, leaves_first
from stacks.config.kubernetes import KubernetesConfig
from stacks.config.tenant import TenantConfig
from tests.engine.harness import ROOT

# (model, field, words its attribute docstring starts with)
DOCUMENTED = [
    (TenantConfig, "name", "Tenant name"),
    (KubernetesConfig, "version", "Kubernetes version"),
]


def test_importing_the_models_reads_no_docstring() -> None:
    # A fresh interpreter: what the program and the policy packs get.
    script = textwrap.dedent(
        """
        import json
        from stacks.config.field_docs import config_models
        print(json.dumps(sorted(
            f"{m.__name__}.{k}" for m in config_models()
            for k, f in m.__pydantic_fields__.items() if f.description
        )))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, check=True, capture_output=True, text=True
    )
    assert json.loads(out.stdout) == []


@pytest.mark.parametrize(("model", "field", "start"), DOCUMENTED)
def test_document_models_sets_the_docstring(
    model: type[ConfigModel], field: str, start: str
) -> None:
    document_models()
    description = model.model_fields[field].description
    assert description is not None and description.startswith(start)
    schema = TenantConfig.model_json_schema(by_alias=True)
    rendered = schema if model is TenantConfig else schema["$defs"][model.__name__]
    alias = model.model_fields[field].alias or field
    assert rendered["properties"][alias]["description"] == description


def test_document_models_is_done_once() -> None:
    first = document_models()
    assert first > 200  # every documented field of the tenant's models
    assert document_models() == first


def test_explicit_descriptions_win() -> None:
    class Explicit(ConfigModel):
        kept: str = Field(default="", description="from Field")
        """from the docstring"""
        filled: str = ""
        """from the docstring"""

    assert document([Explicit]) == 2  # fields with a docstring; "kept" keeps its own text
    assert Explicit.model_fields["kept"].description == "from Field"
    assert Explicit.model_fields["filled"].description == "from the docstring"
    assert Explicit.model_json_schema()["properties"]["filled"]["description"] == (
        "from the docstring"
    )


def _tree() -> tuple[type[ConfigModel], type[ConfigModel], type[ConfigModel]]:
    """Three models, each naming the next (classes local to the test: gone after it)."""

    class Leaf(ConfigModel):
        value: int = 0
        """the leaf's value"""

    class Middle(ConfigModel):
        leaves: list[Leaf] = []
        """leaves"""

    class Root(ConfigModel):
        middle: Middle | None = None
        """the middle"""
        by_name: dict[str, Leaf] = {}
        """leaves by name"""

    return Root, Middle, Leaf


@pytest.mark.parametrize("given", [(0, 1, 2), (2, 1, 0), (1, 0, 2)])
def test_models_are_rebuilt_leaves_first_whatever_the_order_given(
    given: tuple[int, int, int],
) -> None:
    root, middle, leaf = tree = _tree()
    order = leaves_first([tree[i] for i in given])
    assert order.index(leaf) < order.index(middle) < order.index(root)


def test_a_root_rebuilt_once_carries_its_leaves_descriptions() -> None:
    class Leaf(ConfigModel):
        value: int = 0
        """the leaf's value"""

    class Root(ConfigModel):
        leaves: list[Leaf] = []
        """leaves"""

    document([Root, Leaf])  # the root first: rebuilt after its leaf anyway
    leaf = Root.model_json_schema()["$defs"]["Leaf"]
    assert leaf["properties"]["value"]["description"] == "the leaf's value"


def test_unreadable_docstrings_are_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(field_docs, "extract_docstrings_from_cls", lambda *_a, **_k: {})
    monkeypatch.setattr(field_docs, "config_models", lambda: list(_tree()))
    document_models.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="no attribute docstring"):
            document_models()
    finally:
        document_models.cache_clear()
