"""Sample sizes for sampled machine-read checks (定期抽样机读检验), from GB/T 2828.1-2012
(ISO 2859-1:1999) Table 1 (sample size code letters, general inspection levels I, II, III)
and Table 2-A (sample size per code letter); drawn reproducibly from a recorded seed."""

from __future__ import annotations

import random
from collections.abc import Sequence

from archive.domain.errors import InputError
from i18n import N_

# Upper bound of each lot-size range (inclusive) and its code letters at levels I, II, III.
_TABLE1 = (
    (8, "AAB"), (15, "ABC"), (25, "BCD"), (50, "CDE"), (90, "CEF"), (150, "DFG"),
    (280, "EGH"), (500, "FHJ"), (1200, "GJK"), (3200, "HKL"), (10000, "JLM"),
    (35000, "KMN"), (150000, "LNP"), (500000, "MPQ"), (None, "NQR"),
)
SAMPLE_SIZE = {"A": 2, "B": 3, "C": 5, "D": 8, "E": 13, "F": 20, "G": 32, "H": 50, "J": 80,
               "K": 125, "L": 200, "M": 315, "N": 500, "P": 800, "Q": 1250, "R": 2000}
LEVELS = ("I", "II", "III")


def code_letter(lot_size: int, level: str = "II") -> str:
    if level not in LEVELS:
        raise InputError(N_("inspection level {level!r} is not one of I, II, III"), level=level)
    if lot_size < 2:
        raise InputError(N_("a lot of fewer than 2 items is checked in full, not sampled"))
    column = LEVELS.index(level)
    for upper, letters in _TABLE1:
        if upper is None or lot_size <= upper:
            return letters[column]
    raise AssertionError("unreachable: the last row has no upper bound")


def sample_size(lot_size: int, level: str = "II") -> tuple[str, int]:
    """(code letter, sample size); a sample never exceeds its lot (the lot is then checked in
    full, as the standard says for sample sizes at or above the lot size)."""
    if lot_size < 2:
        return "-", lot_size
    letter = code_letter(lot_size, level)
    return letter, min(SAMPLE_SIZE[letter], lot_size)


def draw(ids: Sequence[str], n: int, seed: int) -> list[str]:
    """The same lot, size and seed always draw the same items, in the same order."""
    ordered = sorted(ids)
    if n >= len(ordered):
        return ordered
    return random.Random(seed).sample(ordered, n)


# --- acceptance and rejection numbers (Table 2-A, normal inspection, single sampling) ---------
LETTERS = "ABCDEFGHJKLMNPQR"
# AQL (percent nonconforming) -> the code letter whose plan is Ac 0 / Re 1 for it
ZERO_ROW = {0.010: "Q", 0.015: "P", 0.025: "N", 0.040: "M", 0.065: "L", 0.10: "K", 0.15: "J",
            0.25: "H", 0.40: "G", 0.65: "F", 1.0: "E", 1.5: "D", 2.5: "C", 4.0: "B", 6.5: "A"}
AQLS = tuple(sorted(ZERO_ROW))
# Down each AQL column of Table 2-A: 0/1, an arrow up (back to 0/1), an arrow down (on to
# 1/2), then these acceptance numbers one code letter after another; Re is always Ac + 1
_ACCEPT = (1, 2, 3, 5, 7, 10, 14, 21)


def acceptance(letter: str, aql: float | None = None) -> dict:
    """The single sampling plan of GB/T 2828.1 Table 2-A (normal inspection) for the lot's
    code letter: ``letter`` and ``sample_size`` as the table's arrows lead (a cell with an
    arrow uses the first plan it points to, with that plan's sample size), ``ac`` and ``re``.

    Without an ``aql``: the zero-acceptance plan at the code letter's own sample size (Ac 0,
    Re 1: one damaged record fails the lot), which is the table's plan for the AQL whose 0/1
    cell is on that letter (``equivalent_aql``)."""
    if letter not in LETTERS:
        raise InputError(N_("{letter!r} is not a sample size code letter"), letter=letter)
    if aql is None:
        same = [a for a, row in ZERO_ROW.items() if row == letter]
        return {"letter": letter, "sample_size": SAMPLE_SIZE[letter], "ac": 0, "re": 1,
                "aql": None, "equivalent_aql": same[0] if same else None}
    if aql not in ZERO_ROW:
        raise InputError(N_("AQL {aql} is not one of GB/T 2828.1's {choices}"), aql=aql,
                         choices=", ".join(f"{a:g}" for a in AQLS))
    zero, here = LETTERS.index(ZERO_ROW[aql]), LETTERS.index(letter)
    if here <= zero + 1:  # an arrow down to the 0/1 cell, the 0/1 cell, or an arrow up to it
        used, ac = zero, 0
    else:
        step = max(here - zero - 3, 0)  # the arrow down after the arrow up leads to 1/2
        step = min(step, len(_ACCEPT) - 1)  # below 21/22 the arrows point back up to it
        used, ac = zero + 3 + step, _ACCEPT[step]
    used_letter = LETTERS[used]
    return {"letter": used_letter, "sample_size": SAMPLE_SIZE[used_letter], "ac": ac,
            "re": ac + 1, "aql": aql, "equivalent_aql": None}


def lot_verdict(defects: int, ac: int, re: int) -> str:
    """accept (批合格) when the nonconforming items found are at most Ac, reject (批不合格)
    from Re on."""
    if re != ac + 1:
        raise InputError(N_("a single sampling plan has Re = Ac + 1"))
    return "accept" if defects <= ac else "reject"
