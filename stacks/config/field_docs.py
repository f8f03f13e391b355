"""Attribute docstrings as field descriptions, applied only where they are read.

Every config model documents its fields with a docstring under the attribute. Those
texts are the `description` of each key in the JSON Schema (`python -m stacks schema`:
editor hover help) and in docs/config-reference.md (`python -m stacks reference`), and
nowhere else: validation and error messages never read them.

pydantic can collect them itself at class creation (`ConfigDict(use_attribute_docstrings=True)`),
but it does so by reading and tokenizing each model's source: about 0.15 s of CPU in
every process that imports `stacks.config`, which is the Pulumi program and both
policy packs on every preview (`time.process_time()` around `import stacks.config`,
eight alternating runs with and without the setting: medians 0.76 s and 0.62 s). So
the models are built without them, and `document_models()` adds them, once, in the
processes that render the schema or the reference.

It uses pydantic's own extraction (`pydantic._internal._docs_extraction`, the code
behind `use_attribute_docstrings`, pinned with pydantic in pyproject.toml), so the texts
are exactly what the setting produced. tests/stacks/test_schema.py and
tests/stacks/test_reference.py compare the rendered files byte for byte with the ones in
the repository, so a change in that private function fails the tests, not the docs.
"""

from __future__ import annotations

import functools
import typing
from collections.abc import Iterable

from pydantic import BaseModel
from pydantic._internal._docs_extraction import extract_docstrings_from_cls

from stacks.config.base import ConfigModel


def config_models() -> list[type[BaseModel]]:
    """Every `ConfigModel` subclass defined in `stacks.config`, in the order the classes
    were created (subclasses made elsewhere, e.g. in tests, are left alone)."""
    found: dict[type[BaseModel], None] = {}
    pending: list[type[BaseModel]] = [ConfigModel]
    while pending:
        for subclass in pending.pop(0).__subclasses__():
            if subclass not in found:
                found[subclass] = None
                pending.append(subclass)
    return [m for m in found if m.__module__.startswith("stacks.config.")]


def _named_models(annotation: object) -> set[type[BaseModel]]:
    """The model classes an annotation names, at any depth (`list[X]`, `X | None`,
    `dict[str, X]`, `Annotated[X, ...]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {annotation}
    named: set[type[BaseModel]] = set()
    for argument in typing.get_args(annotation):
        named |= _named_models(argument)
    return named


def leaves_first(models: Iterable[type[BaseModel]]) -> list[type[BaseModel]]:
    """`models`, each after every model its fields name (a model's schema embeds theirs
    as they were when it was built). Cycles, which the config does not have, keep the
    order given."""
    ordered: dict[type[BaseModel], None] = {}
    visiting: set[type[BaseModel]] = set()

    def visit(model: type[BaseModel]) -> None:
        if model in ordered or model in visiting:
            return
        visiting.add(model)
        for field in model.__pydantic_fields__.values():
            for child in sorted(_named_models(field.annotation), key=lambda m: m.__qualname__):
                visit(child)
        visiting.discard(model)
        ordered[model] = None

    for model in models:
        visit(model)
    return list(ordered)


def document(models: Iterable[type[BaseModel]]) -> int:
    """Set the `description` of each field of `models` from its attribute docstring
    (an explicit `Field(description=...)` is kept), then rebuild the models, leaves
    first, so their JSON Schema carries the texts.

    Returns:
        How many fields have an attribute docstring (the same on a second call).
    """
    models = list(models)
    documented = 0
    for model in models:
        docstrings = extract_docstrings_from_cls(model, use_inspect=True)
        for name, field in model.__pydantic_fields__.items():
            if name in docstrings:
                documented += 1
                if field.description is None:
                    field.description = docstrings[name]
    for model in leaves_first(models):
        model.model_rebuild(force=True)
    return documented


@functools.cache
def document_models() -> int:
    """`document` every config model, once per process (later calls return the first
    call's count).

    Raises:
        RuntimeError: no attribute docstring could be read: pydantic reads them from
            the models' source files, and returns nothing when it cannot (an
            installation without `.py` files); the schema and the reference would
            silently lose every description.
    """
    documented = document(config_models())
    if documented == 0:
        raise RuntimeError(
            "no attribute docstring of the config models could be read (are the "
            "stacks/config/*.py sources installed?); the schema and the reference need them"
        )
    return documented
