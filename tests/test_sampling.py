"""GB/T 2828.1 Table 1 and 2-A at every lot-size boundary, for all three levels."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive.domain.errors import InputError
from archive.domain.sampling import code_letter, draw, sample_size

# Written out from the standard's Table 1, apart from the implementation's own table.
BOUNDARIES = [  # (first lot size of the range, last, letters I, II, III)
    (2, 8, "A", "A", "B"), (9, 15, "A", "B", "C"), (16, 25, "B", "C", "D"),
    (26, 50, "C", "D", "E"), (51, 90, "C", "E", "F"), (91, 150, "D", "F", "G"),
    (151, 280, "E", "G", "H"), (281, 500, "F", "H", "J"), (501, 1200, "G", "J", "K"),
    (1201, 3200, "H", "K", "L"), (3201, 10000, "J", "L", "M"),
    (10001, 35000, "K", "M", "N"), (35001, 150000, "L", "N", "P"),
    (150001, 500000, "M", "P", "Q"), (500001, 10**9, "N", "Q", "R"),
]
SIZES = {"A": 2, "B": 3, "C": 5, "D": 8, "E": 13, "F": 20, "G": 32, "H": 50, "J": 80,
         "K": 125, "L": 200, "M": 315, "N": 500, "P": 800, "Q": 1250, "R": 2000}


@pytest.mark.parametrize("low,high,i,ii,iii", BOUNDARIES)
def test_code_letters_at_both_ends_of_every_range(low, high, i, ii, iii):
    for lot in (low, high):
        assert [code_letter(lot, lv) for lv in ("I", "II", "III")] == [i, ii, iii]
    if high < 10**9:
        assert code_letter(high + 1, "II") != ii


def test_sample_sizes():
    assert sample_size(1200, "II") == ("J", 80)
    assert sample_size(1201, "II") == ("K", 125)
    assert sample_size(600000, "III") == ("R", 2000)
    assert sample_size(2, "III") == ("B", 2)  # never more than the lot
    assert sample_size(1, "II") == ("-", 1)
    for _low, high, *letters in BOUNDARIES:
        for level, letter in zip(("I", "II", "III"), letters, strict=True):
            assert sample_size(high, level) == (letter, min(SIZES[letter], high))
    with pytest.raises(InputError):
        code_letter(100, "IV")


@given(st.lists(st.text(min_size=1, max_size=8), min_size=3, max_size=60, unique=True),
       st.integers(min_value=0, max_value=2**63))
def test_draw_is_reproducible(ids, seed):
    n = len(ids) // 2
    a = draw(ids, n, seed)
    assert a == draw(list(reversed(ids)), n, seed)  # the lot's order does not matter
    assert len(a) == n and len(set(a)) == n and set(a) <= set(ids)
