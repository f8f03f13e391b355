"""`bench.hosts_scaling`'s report arithmetic (the previews themselves run in `make bench`)."""

from __future__ import annotations

import pytest

from bench.hosts_scaling import Measurement, SizeResult, line, marginal_line, marginal_ratio


def _size(hosts: int, tenant_s: float, flat_s: float) -> SizeResult:
    return SizeResult(
        hosts, [Measurement(tenant_s, 1, 1.0, 1.0)], [Measurement(flat_s, 1, 1.0, 1.0)]
    )


def _run(wall_s: float, error: str = "", resources: int = 127) -> Measurement:
    return Measurement(wall_s, resources, 1.0, 1.0, cpu_s=wall_s, error=error)


def _pairs(*walls: tuple[float, float]) -> SizeResult:
    return SizeResult(16, [_run(t) for t, _ in walls], [_run(f) for _, f in walls])


@pytest.mark.parametrize(
    ("result", "ratio", "tenant_s", "flat_s"),
    [
        # One pair: its ratio.
        (_pairs((5.2, 4.0)), 1.3, 5.2, 4.0),
        # The median of the pairs' ratios (1.1, 1.2, 1.5), not best tenant / best flat
        # (4.4 / 3.0 = 1.47): the flat program's quiet moment is paired with its own.
        (_pairs((4.4, 4.0), (6.0, 5.0), (4.5, 3.0)), 1.2, 4.5, 4.0),
        # An even count: the mean of the middle two ratios; times: the lower middle run.
        (_pairs((4.4, 4.0), (6.0, 5.0), (4.5, 3.0), (6.5, 5.0)), 1.25, 4.5, 4.0),
    ],
)
def test_ratio_is_the_median_of_pairs(
    result: SizeResult, ratio: float, tenant_s: float, flat_s: float
) -> None:
    assert result.ratio == pytest.approx(ratio)
    assert result.cpu_ratio == pytest.approx(ratio)
    assert (result.tenant.wall_s, result.flat.wall_s) == (tenant_s, flat_s)
    assert result.ok is (ratio <= 1.3)


def test_a_failed_preview_fails_the_size() -> None:
    result = SizeResult(16, [_run(4.0), _run(4.0, error="boom")], [_run(4.0), _run(4.0)])
    assert result.ratio == pytest.approx(1.0)  # from the pair that succeeded
    assert not result.ok
    assert result.tenant.error == "boom"
    assert "tenant: boom" in line(result)


def test_different_resource_counts_fail_the_size() -> None:
    assert not SizeResult(16, [_run(4.0)], [_run(4.0, resources=126)]).ok


def test_a_size_needs_pairs() -> None:
    with pytest.raises(ValueError, match="needs pairs"):
        SizeResult(16, [_run(4.0)], [])
    with pytest.raises(ValueError, match="needs pairs"):
        SizeResult(16, [], [])


def test_line_reports_the_pairs() -> None:
    text = line(_pairs((4.4, 4.0), (6.0, 5.0), (4.5, 3.0)))
    assert "ratio 1.20 (target <= 1.3) ok" in text
    assert (
        "median of 3 pairs of back-to-back previews (order swapped from pair to pair); "
        "pair ratios 1.10-1.50; "
        "times are each side's median run (the faster middle one of an even count)"
    ) in text


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
        (
            SizeResult(16, [_run(5.1, error="boom")], [_run(3.6)]),
            _size(128, 9.5, 7.3),
            "a preview at 16 hosts failed",
        ),
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
