"""`Secret`: never printed, never dumped, encrypted placeholders accepted offline."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter

from stacks.config import ApiKey, Secret, SecretUnavailableError
from tests.support.mocks import RecordingMocks, run

ADAPTER: TypeAdapter[Secret] = TypeAdapter(Secret)


def test_plain_value_is_redacted_everywhere() -> None:
    secret = ADAPTER.validate_python("hunter2")
    assert repr(secret) == str(secret) == f"{secret}" == "[secret]"
    assert ADAPTER.dump_python(secret) == "[secret]"
    assert ADAPTER.dump_json(secret) == b'"[secret]"'
    assert not secret.is_encrypted


def test_output_is_a_pulumi_secret() -> None:
    out = run(lambda: {"value": ADAPTER.validate_python("hunter2").output()}, RecordingMocks())
    assert (out["value"].value, out["value"].secret) == ("hunter2", True)


def test_encrypted_placeholder_is_valid_but_unavailable() -> None:
    secret = ADAPTER.validate_python({"secure": "v1:abc"})
    assert secret.is_encrypted
    with pytest.raises(SecretUnavailableError, match="still encrypted"):
        secret.output()


@pytest.mark.parametrize("value", ["", 7, ["a"], {"secure": 1}, {"secure": "v1", "x": 1}])
def test_invalid_inputs(value: object) -> None:
    with pytest.raises(ValueError) as error:
        ADAPTER.validate_python(value)
    assert "hunter2" not in str(error.value)


def test_equality_does_not_reveal() -> None:
    assert ADAPTER.validate_python("a") == ADAPTER.validate_python("a")
    assert ADAPTER.validate_python("a") != ADAPTER.validate_python("b")
    assert len({ADAPTER.validate_python("a"), ADAPTER.validate_python("a")}) == 1


@pytest.mark.parametrize(
    ("value", "used"),
    [("nvapi-abc", "nvapi-abc"), ("nvapi-abc\n", "nvapi-abc"), ("nvapi-abc\r\n\n", "nvapi-abc")],
)
def test_api_key_drops_the_line_breaks_at_its_end(value: str, used: str) -> None:
    """`pulumi config set --secret --path k < key-file` drops one final `\n` only (a CRLF
    file keeps its `\r`); the key sent to NGC must have no line break."""
    key = TypeAdapter(ApiKey).validate_python(value)
    assert key.plaintext == used
    out = run(lambda: {"value": key.output()}, RecordingMocks())
    assert (out["value"].value, out["value"].secret) == (used, True)


def test_an_api_key_placeholder_stays_encrypted() -> None:
    key = TypeAdapter(ApiKey).validate_python({"secure": "v1:abc"})
    assert key.is_encrypted and key.plaintext is None
