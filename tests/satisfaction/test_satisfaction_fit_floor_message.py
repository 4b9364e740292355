"""Issue 13: a moderated fit whose floor runs to 0 at one competition level only says so
(it used to blame "a level's loyalty at exactly 0 or 1")."""

from __future__ import annotations

import pytest

from crmcore.errors import FitError
from crmcore.satisfaction import fit_loyalty_table


def test_floor_running_to_zero_at_one_level_is_named() -> None:
    # floor ~0.5 under low competition, none under high: loyalty 0 at s = 1, 2 there
    s = [1, 2, 3, 4, 5] * 2
    c = [0.1] * 5 + [0.9] * 5
    loyal = [61, 54, 65, 75, 92, 0, 0, 2, 16, 87]
    total = [100] * 10
    with pytest.raises(FitError, match="floor_logit_competition") as err:
        fit_loyalty_table(s, c, loyal, total)
    assert "captive floor runs to 0 at some competition levels" in str(err.value)
    assert "exactly 0 or 1" not in str(err.value)
