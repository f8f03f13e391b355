"""`components/dcgm.py`: the dcgm-exporter metrics list the GPU Operator ships covers
every DCGM series the GPU alert rules read."""

from __future__ import annotations

import re

import pytest

from components import dcgm
from components.gpu.gpu_operator import render_dcgm_metrics_config_map
from components.services import observability
from tests.support.upstream import CRDS_ROOT

DCGM_EXPORTER = CRDS_ROOT / "dcgm-exporter"
"""dcgm-exporter's own metrics lists at d5e5f510 (../shared/crds/SOURCES.md)."""

_SERIES = re.compile(r"\bDCGM_FI_[A-Z0-9_]+\b")


def _shipped_csv() -> str:
    """The CSV in the ConfigMap the GPU Operator component creates."""
    return render_dcgm_metrics_config_map()[dcgm.METRICS_CSV_KEY]


def _series_in_alert_rules(thresholds: observability.Thresholds) -> set[str]:
    spec = observability.render_prometheus_rule(thresholds)
    exprs = [rule["expr"] for group in spec["groups"] for rule in group["rules"]]
    return {name for expr in exprs for name in _SERIES.findall(expr)}


@pytest.mark.parametrize(
    "thresholds",
    [
        observability.Thresholds(),
        observability.Thresholds(critical_xids=(13,), throttle_fraction=0.5, for_duration="1m"),
    ],
    ids=["defaults", "custom"],
)
def test_every_series_of_the_alert_rules_is_exported(thresholds):
    exported = set(dcgm.csv_field_names(_shipped_csv()))
    used = _series_in_alert_rules(thresholds)
    assert used, "the rules read no DCGM series?"
    assert used <= exported, sorted(used - exported)


def test_the_alert_fields_have_one_source():
    assert observability.REQUIRED_DCGM_FIELDS is dcgm.REQUIRED_DCGM_FIELDS
    assert _series_in_alert_rules(observability.Thresholds()) == set(dcgm.REQUIRED_DCGM_FIELDS)


def test_the_default_counters_come_first_and_nothing_is_duplicated():
    names = [f.name for f in dcgm.metrics_fields()]
    assert names[: len(dcgm.DEFAULT_COUNTERS)] == [f.name for f in dcgm.DEFAULT_COUNTERS]
    assert len(names) == len(set(names))
    # What the default list comments out and the alerts need.
    assert names[len(dcgm.DEFAULT_COUNTERS) :] == [
        "DCGM_FI_DEV_ECC_SBE_VOL_TOTAL",
        "DCGM_FI_DEV_ECC_DBE_VOL_TOTAL",
        "DCGM_FI_DEV_THERMAL_VIOLATION",
        "DCGM_FI_DEV_POWER_VIOLATION",
    ]


def test_unknown_required_field_is_an_error():
    with pytest.raises(ValueError, match="DCGM_FI_DEV_MADE_UP"):
        dcgm.metrics_fields(("DCGM_FI_DEV_MADE_UP",))


def test_csv_rows_have_three_columns_and_known_types():
    rows = [line for line in _shipped_csv().splitlines() if not line.startswith("#")]
    assert rows
    for row in rows:
        name, metric_type, help_text = (cell.strip() for cell in row.split(","))
        assert name.startswith("DCGM_FI_"), row
        assert metric_type in {"gauge", "counter", "label"}, row
        assert help_text, row


@pytest.mark.parametrize(
    ("csv", "expected"),
    [
        ("", []),
        ("# comment\n\n", []),
        ("DCGM_FI_DEV_GPU_TEMP, gauge, t\n", ["DCGM_FI_DEV_GPU_TEMP"]),
        ("  DCGM_FI_DEV_DEC_UTIL ,  gauge, d", ["DCGM_FI_DEV_DEC_UTIL"]),
        ("# DCGM_FI_DEV_ECC_SBE_VOL_TOTAL, counter, off\n", []),
        (
            "DCGM_FI_DEV_XID_ERRORS, gauge, x\n# DCGM_FI_DEV_POWER_VIOLATION, counter, p\n"
            "DCGM_FI_DEV_POWER_VIOLATION, counter, p\n",
            ["DCGM_FI_DEV_XID_ERRORS", "DCGM_FI_DEV_POWER_VIOLATION"],
        ),
    ],
)
def test_csv_field_names(csv, expected):
    assert dcgm.csv_field_names(csv) == expected


def test_help_text_with_a_comma_is_rejected():
    with pytest.raises(ValueError, match="comma"):
        dcgm.render_metrics_csv([dcgm.DcgmField("DCGM_FI_DEV_GPU_TEMP", "gauge", "a, b")])


def _upstream_rows(file_name: str, *, commented: bool) -> list[tuple[str, str, str]]:
    """`(field, type, help)` rows of an upstream metrics CSV: the enabled ones, or the
    ones commented out (`# DCGM_...`)."""
    rows = []
    for line in (DCGM_EXPORTER / file_name).read_text(encoding="utf-8").splitlines():
        text = line.strip()
        if commented:
            if not text.startswith("#"):
                continue
            text = text.lstrip("#").strip()
        elif text.startswith("#"):
            continue
        if not text.startswith("DCGM_"):
            continue
        name, metric_type, help_text = (cell.strip() for cell in text.split(",", 2))
        rows.append((name, metric_type, help_text))
    return rows


def _as_rows(fields: tuple[dcgm.DcgmField, ...]) -> list[tuple[str, str, str]]:
    return [(f.name, f.type, f.help) for f in fields]


def test_default_counters_are_upstreams_enabled_rows():
    """Our list extends dcgm-exporter's default: dropping one of its rows (the profiling
    metrics tenants read as utilisation) or keeping a deprecated one is a bug."""
    assert _as_rows(dcgm.DEFAULT_COUNTERS) == _upstream_rows(
        "default-counters.csv", commented=False
    )


def test_the_gpu_operators_dcp_list_enables_the_same_rows():
    """The GPU Operator points dcgm-exporter at `dcp-metrics-included.csv`, the image's
    own default is `default-counters.csv`: both enable the same rows, so our list is a
    superset of whichever default a reader compares against."""
    assert _upstream_rows("dcp-metrics-included.csv", commented=False) == _upstream_rows(
        "default-counters.csv", commented=False
    )


def test_the_profiling_metrics_are_shipped():
    names = dcgm.csv_field_names(_shipped_csv())
    assert {"DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE"} <= set(names)
    assert "DCGM_FI_DEV_PCIE_TX_THROUGHPUT" not in names  # removed upstream


def test_added_fields_are_upstreams_commented_rows():
    commented = {row[0]: row for row in _upstream_rows("default-counters.csv", commented=True)}
    added = dcgm.metrics_fields()[len(dcgm.DEFAULT_COUNTERS) :]
    assert added
    for field in added:
        assert (field.name, field.type, field.help) == commented[field.name]


@pytest.mark.parametrize("field", ["DCGM_FI_DEV_POWER_VIOLATION", "DCGM_FI_DEV_THERMAL_VIOLATION"])
def test_violation_counters_count_nanoseconds(field):
    commented = {row[0]: row for row in _upstream_rows("default-counters.csv", commented=True)}
    assert commented[field][2].endswith("(in ns).")
    assert dcgm.VIOLATION_COUNTER_UNITS_PER_SECOND == 1_000_000_000


@pytest.mark.parametrize(
    ("throttled_share", "fires"), [(0.0001, False), (0.05, False), (0.1, False), (0.2, True)]
)
def test_throttle_alert_threshold_is_a_share_of_time(throttled_share, fires):
    """A GPU throttled `throttled_share` of the time has a counter rate of that share of
    1e9 ns per second; the default threshold (10 %) fires above it only."""
    rule = next(
        r
        for r in observability.render_alert_rules(observability.Thresholds())
        if r["alert"] == "GpuPowerThrottling"
    )
    threshold = float(rule["expr"].rsplit(">", 1)[1])
    rate = throttled_share * dcgm.VIOLATION_COUNTER_UNITS_PER_SECOND
    assert (rate > threshold) is fires
