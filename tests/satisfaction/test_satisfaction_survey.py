"""Survey records to arrays, and CSAT."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmcore.errors import ValidationError
from crmcore.model import SurveyResponse
from crmcore.satisfaction import csat_by_group, csat_columns, csat_score

T = datetime(2025, 3, 1, tzinfo=UTC)


def test_columns_keep_order_and_skip_nps_only_answers() -> None:
    rs = [
        SurveyResponse(id="s1", customer_id="b", responded_at=T, csat=2),
        SurveyResponse(id="s2", customer_id="a", responded_at=T, nps=3),
        SurveyResponse(id="s3", customer_id="a", responded_at=T, csat=5, nps=10),
    ]
    cols = csat_columns(rs)
    assert cols.customer_ids.tolist() == ["b", "a"]
    assert cols.satisfaction.tolist() == [2, 5]
    assert cols.skipped == 1


def test_csat_hand_computed() -> None:
    assert csat_score([1, 2, 3, 4, 5]) == pytest.approx(0.4)
    assert csat_score([1, 2, 3, 4, 5], satisfied_from=5) == pytest.approx(0.2)
    assert csat_by_group([1, 5, 5, 4, 3], [1, 1, 0, 0, 0]).tolist() == pytest.approx([2 / 3, 0.5])


def test_bad_input() -> None:
    with pytest.raises(ValidationError, match="'satisfaction' must be in \\[1, 5\\]: 0"):
        csat_score([0, 5])
    with pytest.raises(ValidationError, match="'satisfied_from'"):
        csat_score([5], satisfied_from=6)
    with pytest.raises(ValidationError, match="same length"):
        csat_by_group([5], [0, 1])
    with pytest.raises(ValidationError, match="'group' codes must be >= 0"):
        csat_by_group([5], [-1])
