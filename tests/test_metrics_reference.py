"""Every metric against the values of the canonical MATLAB implementations.

../shared/metrics-reference/ holds source/fused sets and what the canonical toolboxes return for
them (see its README and NOTES for provenance). Each offered metric must agree within 1e-4
relative on every evaluation the reference does not flag as numerically fragile.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from mfif.metrics import compute

REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "metrics-reference"

# reference.json name -> mfif registry name
OFFERED = {
    "MI": "MI",
    "NMI": "NMI",
    "Q_NCIE": "Q_NCIE",
    "Q_TE": "Q_TE",
    "Q_TE_nava": "Q_TE_NAVA",
    "Q_G_yl": "Q_G",
    "Q_G_zl": "Q_G_ZL",
    "Q_M": "Q_M",
    "Q_P": "Q_P",
    "Q_SF": "Q_SF",
    "Q_C_t24": "Q_C",
    "Q_Y_yl": "Q_Y",
    "Q_S_yl": "Q_S",
    "Q_W_yl": "Q_W",
    "Q_E_yl": "Q_E",
    "Q_S_zl": "Q_S_ZL",
    "Q_W_zl": "Q_W_ZL",
    "Q_CB": "Q_CB",
    "Q_CV": "Q_CV",
    "VIFF": "VIFF",
    "AG": "AVG",
    "SD": "STD",
    "EN": "SEN",
    "SF": "SF",
    "EI": "EI",
}
# Offered under another definition only: Zheng Liu's Q_C and Q_Y return NaN or floating-point
# noise in flat windows (reference NOTES, pitfalls 2 and 3).
NOT_OFFERED = {"Q_C_zl", "Q_Y_zl"}
TOLERANCE = 1e-4


def _reference() -> dict:
    if not REFERENCE.is_dir():
        pytest.skip(f"needs the metric reference at {REFERENCE}, which is absent")
    return json.loads((REFERENCE / "reference.json").read_text())


def _evaluations() -> list[str]:
    if not REFERENCE.is_dir():
        return ["absent"]
    return list(json.loads((REFERENCE / "reference.json").read_text())["values"])


def _grey(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


def test_every_reference_metric_is_mapped() -> None:
    reference = _reference()
    names = {name for values in reference["values"].values() for name in values}
    names -= {"_crosscheck", "_numerically_fragile"}
    assert names - set(OFFERED) - NOT_OFFERED == set()


@pytest.mark.slow
@pytest.mark.parametrize("evaluation", _evaluations())
def test_equal_to_the_canonical_values(evaluation: str) -> None:
    reference = _reference()
    expected = reference["values"][evaluation]
    case = REFERENCE / evaluation.rsplit("/", 1)[0]
    fused = _grey(REFERENCE / evaluation)
    sources = [_grey(case / "A.png"), _grey(case / "B.png")]
    fragile = set(expected.get("_numerically_fragile", []))
    checked = {
        ref_name: name
        for ref_name, name in OFFERED.items()
        if expected.get(ref_name) is not None and ref_name not in fragile
    }
    got = compute(list(checked.values()), fused, sources)
    mismatches = {
        ref_name: (expected[ref_name], got[name])
        for ref_name, name in checked.items()
        if abs(got[name] - expected[ref_name]) > TOLERANCE * max(abs(expected[ref_name]), 1e-12)
    }
    assert not mismatches


def test_self_checks() -> None:
    reference = _reference()
    key, expected = next(iter(reference["self_checks"].items()))
    case = REFERENCE / "cases" / key.split("/")[2]
    image = _grey(case / "A.png")
    checked = {
        ref_name: name
        for ref_name, name in OFFERED.items()
        if expected.get(ref_name) is not None and ref_name not in NOT_OFFERED
    }
    got = compute(list(checked.values()), image, [image, image])
    for ref_name, name in checked.items():
        assert got[name] == pytest.approx(expected[ref_name], rel=TOLERANCE, abs=1e-9), ref_name
