"""Readable JSON Schema titles for the config models (editor hover text).

pydantic titles a field `gpu_temp_celsius` (alias `gpuTempCelsius`) as
`Gputempcelsius`; these generators split the words, keep acronyms upper-case and
spell units: `GPU Temperature (°C)`. `ConfigModel` uses them for every model.
"""

from __future__ import annotations

import re
from typing import Any

_SPELLINGS = """
    API BFB CA CDI CIDR CNI CPU CRD CRDs CRI CSI DCGM DNS DOCA DPU DPUs DRA ECC GPU GPUs
    GRUB HA HTTP HTTPS ID IdP IP IPAM IPoIB IPs MIG MPS MTU NFS NGC NHC NIC NICs NIM
    NVLink OCI OS OTel OTLP PEM PSA PVC RDMA SBE SR-IOV SSH TLS URL VIP XID XIDs
"""
ACRONYMS: dict[str, str] = {word.lower(): word for word in _SPELLINGS.split()}
"""Words written in their usual spelling, whatever the case of the field name."""

WORDS: dict[str, str] = {"temp": "Temperature", "celsius": "(°C)", "nvlink": "NVLink"}
"""Abbreviations spelled out, units as symbols."""

_CAMEL = re.compile(r"[A-Z0-9]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z0-9]+")


def words(name: str) -> list[str]:
    """The words of a snake_case, camelCase or CamelCase name.

    >>> words("gpu_temp_celsius"), words("NodeClassRef"), words("ngcApiKey")
    (['gpu', 'temp', 'celsius'], ['Node', 'Class', 'Ref'], ['ngc', 'Api', 'Key'])
    """
    return [w for part in name.split("_") for w in _CAMEL.findall(part)]


def title(name: str) -> str:
    """A readable title for a field or model name.

    >>> title("gpu_temp_celsius"), title("ngc_api_key"), title("pod_cidr")
    ('GPU Temperature (°C)', 'NGC API Key', 'Pod CIDR')
    """
    out = []
    for word in words(name):
        key = word.lower()
        out.append(WORDS.get(key) or ACRONYMS.get(key) or word[:1].upper() + word[1:].lower())
    return " ".join(out)


def field_title(name: str, _info: Any) -> str:
    """`ConfigDict.field_title_generator`: the title of field `name`."""
    return title(name)


def model_title(model: type) -> str:
    """`ConfigDict.model_title_generator`: the class name as words, without `Config`.

    >>> class GpuPlatformConfig: ...
    >>> model_title(GpuPlatformConfig)
    'GPU Platform'
    """
    name = model.__name__
    if name.endswith("Config") and name != "Config":
        name = name[: -len("Config")]
    return title(name)
