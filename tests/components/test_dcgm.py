"""`components/dcgm.py`: the dcgm-exporter metrics list the GPU Operator ships covers
every DCGM series the GPU alert rules read."""

from __future__ import annotations

import re

import pytest

from components import dcgm
from components.gpu.gpu_operator import render_dcgm_metrics_config_map
from components.services import observability

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
        assert metric_type in {"gauge", "counter"}, row
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
