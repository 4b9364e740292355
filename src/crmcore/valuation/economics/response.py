"""Channel response: response rates with Wilson intervals, cost per response and per customer.

Reference ranges of response rates by communication type, from the seeds
(DOMAIN.md §7): mass / traditional 2–5%, information-on-demand 1–3%,
differentiated 6–15%, one-to-one relationship 18–30%. They are typical
figures, not laws; :func:`compare_response` says whether an observed rate's
interval lies below, inside or above the range for its type.

>>> t = channel_response(["mail", "mail", "call"], contacts=[1000, 1000, 200],
...                      responses=[30, 10, 50], cost=[800, 800, 1000], acquired=[8, 4, 20])
>>> t.channel.tolist(), t.rate.tolist()
(['call', 'mail'], [0.25, 0.02])
>>> t.cost_per_response.tolist(), t.cost_per_customer.round(2).tolist()
([20.0, 40.0], [50.0, 133.33])
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import PROBABILITY, array, choice, number
from crmcore.arrays import (
    FloatArray,
    NanPolicy,
    as_float_array,
    check_integer_valued,
    check_nonnegative,
    check_same_length,
)
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels
from crmcore.model._fields import instance
from crmcore.valuation.economics._common import fbincount, omit_missing, show_label
from crmcore.valuation.economics.intervals import proportion_interval

__all__ = [
    "RESPONSE_BENCHMARKS",
    "ResponseComparison",
    "ResponseTable",
    "channel_response",
    "compare_response",
]

RESPONSE_BENCHMARKS: dict[str, tuple[float, float]] = {
    "mass": (0.02, 0.05),
    "information_on_demand": (0.01, 0.03),
    "differentiated": (0.06, 0.15),
    "one_to_one": (0.18, 0.30),
}
"""Typical response-rate ranges by communication type (seeds, DOMAIN.md §7)."""


@attrs.frozen(eq=False)
class ResponseTable(Tabular):
    """Per channel: contacts, responses, rate with interval, cost per response / acquired customer.

    ``cost_per_response`` (``cost_per_customer``) is nan where there were no
    responses (customers); ``*_defined`` says where they exist.

    >>> t = channel_response(["web"], contacts=[200], responses=[0], cost=[50.0])
    >>> t.rate.tolist(), t.cost_per_response_defined.tolist()
    ([0.0], [False])
    """

    channel: npt.NDArray[Any] = attrs.field(validator=array("O"))
    contacts: FloatArray = attrs.field(validator=array(lo=0, length="channel"))
    responses: FloatArray = attrs.field(validator=array(lo=0, length="channel"))
    rate: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="channel"))
    low: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="channel"))
    high: FloatArray = attrs.field(validator=array(lo=0, hi=1, length="channel"))
    cost: FloatArray = attrs.field(validator=array(lo=0, length="channel"))
    acquired: FloatArray = attrs.field(validator=array(lo=0, length="channel"))
    cost_per_response: FloatArray = attrs.field(
        validator=array(
            lo=0, length="channel", nan="no responses (cost_per_response_defined is False)"
        )
    )
    cost_per_response_defined: npt.NDArray[np.bool_] = attrs.field(
        validator=array("b", length="channel")
    )
    cost_per_customer: FloatArray = attrs.field(
        validator=array(
            lo=0, length="channel", nan="no customer acquired (cost_per_customer_defined is False)"
        )
    )
    cost_per_customer_defined: npt.NDArray[np.bool_] = attrs.field(
        validator=array("b", length="channel")
    )
    confidence: float = attrs.field(validator=PROBABILITY)
    method: str = attrs.field(validator=instance(str, "an interval method"))

    def _columns(self) -> Columns:
        return {
            "channel": self.channel,
            "contacts": self.contacts,
            "responses": self.responses,
            "rate": self.rate,
            "low": self.low,
            "high": self.high,
            "cost": self.cost,
            "acquired": self.acquired,
            "cost_per_response": self.cost_per_response,
            "cost_per_response_defined": self.cost_per_response_defined,
            "cost_per_customer": self.cost_per_customer,
            "cost_per_customer_defined": self.cost_per_customer_defined,
        }


def _counts(values: npt.ArrayLike | None, name: str, n: int) -> FloatArray:
    if values is None:
        return np.zeros(n)
    arr = as_float_array(values, name=name)
    check_same_length(channels=np.empty(n), **{name: arr})
    check_nonnegative(arr, name=name)
    return arr


def channel_response(
    channels: npt.ArrayLike,
    *,
    contacts: npt.ArrayLike,
    responses: npt.ArrayLike,
    cost: npt.ArrayLike | None = None,
    acquired: npt.ArrayLike | None = None,
    confidence: float = 0.95,
    method: str = "wilson",
    nan_policy: NanPolicy = "raise",
) -> ResponseTable:
    """Aggregate campaign rows by channel (or communication type); interval: Wilson by default.

    ``nan_policy='omit'`` leaves out campaign rows with a missing channel or a NaN
    count, cost or acquisition (the aggregate rule of :mod:`crmcore.arrays`);
    ``'propagate'`` is refused.

    >>> channel_response(["web"], contacts=[0], responses=[0])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: channel 'web' has 0 contacts: no response rate
    >>> channel_response(["web"], contacts=[10], responses=[11])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: channel 'web' has more responses than contacts: 11 > 10
    """
    kept = omit_missing(
        nan_policy,
        what="a response table",
        labels={"channels": channels},
        numbers={"contacts": contacts, "responses": responses, "cost": cost, "acquired": acquired},
    )
    channels, contacts, responses = kept["channels"], kept["contacts"], kept["responses"]
    cost, acquired = kept["cost"], kept["acquired"]
    labels, codes = factorize_labels(channels, name="channels")
    n = len(codes)
    con = _counts(contacts, "contacts", n)
    res = _counts(responses, "responses", n)
    check_integer_valued(con, name="contacts")
    check_integer_valued(res, name="responses")
    cst = _counts(cost, "cost", n)
    acq = _counts(acquired, "acquired", n)
    g = len(labels)
    con_g = fbincount(codes, weights=con, minlength=g)
    res_g = fbincount(codes, weights=res, minlength=g)
    cst_g = fbincount(codes, weights=cst, minlength=g)
    acq_g = fbincount(codes, weights=acq, minlength=g)
    for i in range(g):
        if con_g[i] == 0:
            raise ValidationError(
                f"channel {show_label(labels[i])} has 0 contacts: no response rate"
            )
        if res_g[i] > con_g[i]:
            raise ValidationError(
                f"channel {show_label(labels[i])} has more responses than contacts: "
                f"{res_g[i]:g} > {con_g[i]:g}"
            )
    lo, hi = proportion_interval(res_g, con_g, confidence=confidence, method=method)
    has_r = res_g > 0
    has_a = acq_g > 0
    return ResponseTable(
        channel=labels,
        contacts=con_g,
        responses=res_g,
        rate=res_g / con_g,
        low=lo,
        high=hi,
        cost=cst_g,
        acquired=acq_g,
        cost_per_response=np.divide(cst_g, res_g, out=np.full(g, np.nan), where=has_r),
        cost_per_response_defined=has_r,
        cost_per_customer=np.divide(cst_g, acq_g, out=np.full(g, np.nan), where=has_a),
        cost_per_customer_defined=has_a,
        confidence=confidence,
        method=method,
    )


@attrs.frozen
class ResponseComparison:
    """An observed rate against the reference range of its communication type.

    ``verdict`` is ``"below"`` / ``"above"`` when the whole interval lies
    outside the range, else ``"within"`` (the data are consistent with it).

    >>> c = compare_response(30, 1000, "mass")
    >>> c.verdict, (c.range_low, c.range_high)
    ('within', (0.02, 0.05))
    """

    kind: str = attrs.field(validator=instance(str, "a kind label"))
    rate: float = attrs.field(validator=PROBABILITY)
    low: float = attrs.field(validator=PROBABILITY)
    high: float = attrs.field(validator=number(0, 1, at_least=("low",)))
    range_low: float = attrs.field(validator=PROBABILITY)
    range_high: float = attrs.field(validator=number(0, 1, at_least=("range_low",)))
    verdict: str = attrs.field(validator=choice("below", "within", "above"))


def compare_response(
    responses: int,
    contacts: int,
    kind: str,
    *,
    confidence: float = 0.95,
    method: str = "wilson",
    benchmarks: dict[str, tuple[float, float]] | None = None,
) -> ResponseComparison:
    """Compare ``responses / contacts`` with the reference range for ``kind``.

    >>> compare_response(12, 100, "differentiated").verdict
    'within'
    >>> compare_response(40, 1000, "one_to_one").verdict
    'below'
    >>> compare_response(1, 10, "telepathy")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'kind' must be one of ['differentiated', 'information_on_demand', 'mass', 'one_to_one']: 'telepathy'
    """
    table = benchmarks if benchmarks is not None else RESPONSE_BENCHMARKS
    if kind not in table:
        raise ValidationError(f"'kind' must be one of {sorted(table)}: {kind!r}")
    t = channel_response(
        [kind], contacts=[contacts], responses=[responses], confidence=confidence, method=method
    )
    lo_r, hi_r = table[kind]
    lo, hi = float(t.low[0]), float(t.high[0])
    verdict = "below" if hi < lo_r else "above" if lo > hi_r else "within"
    return ResponseComparison(
        kind=kind,
        rate=float(t.rate[0]),
        low=lo,
        high=hi,
        range_low=lo_r,
        range_high=hi_r,
        verdict=verdict,
    )
