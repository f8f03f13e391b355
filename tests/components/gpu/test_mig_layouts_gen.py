"""The generated `components/gpu/mig_layouts.py` is mig-parted's config-default.yaml."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.gpu import mig_layouts, mig_layouts_gen
from tests.support.upstream import CRDS_ROOT

SOURCE = CRDS_ROOT / "mig-parted" / "config-default.yaml"


def test_generated_module_matches_the_reference_copy() -> None:
    """Drift check: regenerate from ../shared and compare byte for byte."""
    wanted = mig_layouts_gen.render(SOURCE.read_text(encoding="utf-8"))
    assert Path(mig_layouts.__file__).read_text(encoding="utf-8") == wanted, (
        "stale: run python -m components.gpu.mig_layouts_gen"
    )


def test_the_data_is_the_file() -> None:
    parsed = mig_layouts_gen.parse(SOURCE.read_text(encoding="utf-8"))
    assert list(mig_layouts.MIG_CONFIGS) == list(parsed)
    assert mig_layouts.MIG_CONFIGS["all-balanced"][6] == (
        ("0x233510DE", "0x233B10DE"),
        True,
        (("1g.18gb", 2), ("2g.35gb", 1), ("3g.71gb", 1)),
    )
    # A bare string filter (A30's) becomes a one-id tuple.
    assert ("0x20B710DE",) in [e.device_filter for e in mig_layouts.MIG_CONFIGS["all-balanced"]]
    assert mig_layouts_gen.SOURCE_COMMIT in mig_layouts.SOURCE


def test_check_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert mig_layouts_gen.main(["--check", "--source", str(SOURCE)]) == 0
    changed = tmp_path / "config.yaml"
    changed.write_text(SOURCE.read_text(encoding="utf-8").replace('"7g.278gb": 1', '"7g.278gb": 2'))
    assert mig_layouts_gen.main(["--check", "--source", str(changed)]) == 1
    assert "is stale" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: v2\nmig-configs: {}\n", "expected `version: v1`"),
        ("version: v1\n", "`mig-configs` is missing"),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: [0]\n      mig-enabled: false\n",
            "x: only `devices: all` is supported",
        ),
        (
            "version: v1\nmig-configs:\n  x:\n    - devices: all\n      mig-enabled: false\n"
            "      extra: 1\n",
            "x: unsupported keys ['extra']",
        ),
    ],
)
def test_parse_refuses_what_it_cannot_represent(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        mig_layouts_gen.parse(text)
