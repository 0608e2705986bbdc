"""Sample sizes for sampled machine-read checks (定期抽样机读检验), from GB/T 2828.1-2012
(ISO 2859-1:1999) Table 1 (sample size code letters, general inspection levels I, II, III)
and Table 2-A (sample size per code letter); drawn reproducibly from a recorded seed."""

from __future__ import annotations

import random
from collections.abc import Sequence

from archive.domain.errors import InputError

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
        raise InputError(f"inspection level {level!r} is not one of I, II, III")
    if lot_size < 2:
        raise InputError("a lot of fewer than 2 items is checked in full, not sampled")
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
