"""`bench.hosts_scaling`'s report arithmetic (the previews themselves run in `make bench`)."""

from __future__ import annotations

import pytest

from bench.hosts_scaling import Measurement, SizeResult, marginal_line, marginal_ratio


def _size(hosts: int, tenant_s: float, flat_s: float) -> SizeResult:
    return SizeResult(hosts, Measurement(tenant_s, 1, 1.0, 1.0), Measurement(flat_s, 1, 1.0, 1.0))


@pytest.mark.parametrize(
    ("smaller", "larger", "expected"),
    [
        # 16 -> 128 hosts as measured: +4.4 s against +3.7 s.
        (_size(16, 5.1, 3.6), _size(128, 9.5, 7.3), 4.4 / 3.7),
        # A fixed cost of the tenant cancels out: ratio 1.44 at 16 hosts, slope 1.0.
        (_size(16, 5.2, 3.6), _size(128, 9.0, 7.4), 1.0),
        # The tenant growing twice as fast as the flat program.
        (_size(512, 30.0, 30.0), _size(2048, 150.0, 90.0), 2.0),
    ],
)
def test_marginal_ratio(smaller: SizeResult, larger: SizeResult, expected: float) -> None:
    assert marginal_ratio(smaller, larger) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("smaller", "larger", "message"),
    [
        (_size(128, 9.5, 7.3), _size(16, 5.1, 3.6), "16 hosts is not more than 128"),
        (_size(16, 9.5, 7.3), _size(16, 5.1, 3.6), "16 hosts is not more than 16"),
        (_size(16, 5.1, 3.6), _size(128, 9.5, 3.6), "took no longer at 128 hosts than at 16"),
    ],
)
def test_marginal_ratio_refuses(smaller: SizeResult, larger: SizeResult, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        marginal_ratio(smaller, larger)
    assert message in marginal_line(smaller, larger)


def test_marginal_line() -> None:
    assert marginal_line(_size(16, 5.1, 3.6), _size(128, 9.5, 7.3)) == (
        "hosts 16 -> 128: tenant +4.4 s, flat program +3.7 s (marginal ratio 1.19)"
    )
