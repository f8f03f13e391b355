"""Base model for every stack-config model: camelCase keys, unknown keys rejected."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from stacks.config.titles import field_title, model_title


class ConfigModel(BaseModel):
    """Base of all stack-config models.

    Keys are camelCase in `Pulumi.<stack>.yaml` (like Kubernetes manifests) and
    snake_case in Python. Unknown keys are errors: a typo must never be ignored.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
        # Attribute docstrings become JSON Schema descriptions (editor hover help) and
        # the reference's; read only when those are rendered (field_docs.py: reading
        # them here costs every process that imports the models ~0.15 s of CPU).
        # Readable titles ("GPU Temperature (°C)", not pydantic's "Gputempcelsius").
        field_title_generator=field_title,
        model_title_generator=model_title,
    )
