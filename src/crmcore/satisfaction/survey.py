"""From survey records to arrays, and the CSAT score.

:class:`~crmcore.model.SurveyResponse` records hold a ``csat`` answer on 1–5;
:func:`csat_columns` turns a batch of them into the arrays the models take
(responses without a CSAT answer are skipped, counted in ``skipped``).
CSAT is the share of satisfied answers (top-two box, 4 and 5, by default).

>>> csat_score([5, 4, 3, 1])
0.5
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import COUNT, array
from crmcore.arrays import FloatArray, IntArray, apply_nan_policy, validate_nan_policy
from crmcore.errors import ValidationError
from crmcore.model import SurveyResponse
from crmcore.options import expect_items
from crmcore.satisfaction._validate import satisfaction_array
from crmcore.satisfaction._validate import satisfied_from as _satisfied_from

__all__ = ["CsatColumns", "csat_by_group", "csat_columns", "csat_score"]


@attrs.frozen
class CsatColumns(Tabular):
    """Customer ids and their CSAT answers as aligned arrays, in input order.

    >>> from datetime import datetime, timezone
    >>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
    >>> cols = csat_columns([SurveyResponse(id="s1", customer_id="c1", responded_at=t, csat=4),
    ...                      SurveyResponse(id="s2", customer_id="c2", responded_at=t, nps=9)])
    >>> cols.customer_ids.tolist(), cols.satisfaction.tolist(), cols.skipped
    (['c1'], [4], 1)
    """

    customer_ids: npt.NDArray[np.str_] = attrs.field(
        eq=False, validator=array("O", length="satisfaction")
    )
    satisfaction: IntArray = attrs.field(eq=False, validator=array("i", lo=0))
    skipped: int = attrs.field(validator=COUNT)

    def _columns(self) -> Columns:
        return {"customer_id": self.customer_ids, "satisfaction": self.satisfaction}


def csat_columns(responses: Iterable[SurveyResponse]) -> CsatColumns:
    """Collect the CSAT answers of survey records (records without one are skipped).

    >>> csat_columns(["not a response"])
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'responses[0]' must be a SurveyResponse, not a str: 'not a response'
    >>> csat_columns(None)
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'responses' must be a collection of SurveyResponse: None
    """
    ids: list[str] = []
    scores: list[int] = []
    skipped = 0
    for r in expect_items(responses, SurveyResponse, name="responses"):
        if r.csat is None:
            skipped += 1
            continue
        ids.append(r.customer_id)
        scores.append(r.csat)
    return CsatColumns(
        customer_ids=np.array(ids, dtype=str),
        satisfaction=np.array(scores, dtype=np.int64),
        skipped=skipped,
    )


def csat_score(
    satisfaction: npt.ArrayLike, *, satisfied_from: int = 4, nan_policy: str = "raise"
) -> float:
    """CSAT: the share of answers at or above ``satisfied_from`` (top-two box by default).

    A missing answer (NaN) follows the one NaN policy: ``omit`` scores the
    answers given, ``propagate`` makes the score NaN.

    >>> csat_score([5, float("nan"), 2], nan_policy="omit")
    0.5
    >>> csat_score([])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'satisfaction' is empty: CSAT needs at least one answer
    """
    split = apply_nan_policy({"satisfaction": satisfaction}, policy=nan_policy)
    if split.has_missing:
        return float("nan")
    s = satisfaction_array(split.arrays["satisfaction"])
    if len(s) == 0:
        raise ValidationError("'satisfaction' is empty: CSAT needs at least one answer")
    return float(np.mean(s >= _satisfied_from(satisfied_from)))


def csat_by_group(
    satisfaction: npt.ArrayLike,
    group: npt.ArrayLike,
    *,
    satisfied_from: int = 4,
    nan_policy: str = "raise",
) -> FloatArray:
    """CSAT per group code 0..k−1 (every group needs at least one answer).

    ``nan_policy``: ``"raise"`` (default) or ``"omit"`` (an answer with a NaN
    score or group is left out).

    >>> csat_by_group([5, 2, 4, 4], [0, 0, 1, 1]).tolist()
    [0.5, 1.0]
    >>> csat_by_group([5, 2], [0, 2])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'group' 1 has no answers (every group 0..2 needs at least one)
    """
    validate_nan_policy(nan_policy, allowed=("raise", "omit"), what="CSAT by group")
    split = apply_nan_policy({"satisfaction": satisfaction, "group": group}, policy=nan_policy)
    s = satisfaction_array(split.arrays["satisfaction"])
    g = satisfaction_array(split.arrays["group"], name="group", high=None)
    if len(s) == 0:
        raise ValidationError("'satisfaction' is empty: CSAT needs at least one answer")
    if g.min() < 0:
        raise ValidationError(f"'group' codes must be >= 0: {int(g.min())}")
    k = int(g.max()) + 1
    n = np.bincount(g, minlength=k)
    empty = np.flatnonzero(n == 0)
    if len(empty):
        raise ValidationError(
            f"'group' {int(empty[0])} has no answers (every group 0..{k - 1} needs at least one)"
        )
    sat = np.bincount(g, weights=(s >= _satisfied_from(satisfied_from)).astype(float), minlength=k)
    return np.asarray(sat / n, dtype=np.float64)
