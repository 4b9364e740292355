"""Per-customer recency / frequency / monetary summaries of a transaction log, vectorised.

The literature's convention (Fader, Hardie & Lee 2005): purchases in the same
period (by default the same calendar day) count as one transaction whose
value is their sum; the first transaction is not a repeat; ``frequency`` =
number of repeat transactions, ``recency`` = time from the first to the last
transaction, ``T`` = time from the first transaction to the end of the
(calibration) observation window, ``monetary_value`` = mean value of the
repeat transactions (0 without repeats). Times are in ``time_unit``.

>>> from crmcore.datasets import load_cdnow_sample
>>> s = summarize_transactions(load_cdnow_sample(), time_unit="W",
...                            calibration_end="1997-09-30", observation_end="1998-06-30")
>>> len(s), int(s.frequency.sum()), int(s.holdout_frequency.sum())
(2357, 2457, 1882)
>>> [round(float(v[0]), 3) for v in (s.frequency, s.recency, s.T, s.monetary_value)]
[2.0, 30.429, 38.857, 22.345]
"""

from __future__ import annotations

from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import array, choice, number
from crmcore.arrays import FloatArray, as_float_array, check_nonnegative, check_same_length
from crmcore.durations import DAYS_PER_UNIT, TimeUnit, as_time_unit
from crmcore.errors import ValidationError
from crmcore.labels import factorize_labels
from crmcore.model.transaction import TransactionKind
from crmcore.options import expect_instance
from crmcore.tables import TransactionLog
from crmcore.timestamps import as_instant, parse_timestamps

__all__ = ["RFMSummary", "repeat_transaction_days", "summarize_arrays", "summarize_transactions"]


@attrs.frozen(eq=False)
class RFMSummary(Tabular):
    """Per-customer summary (row i = ``customer_ids[i]``); times in ``time_unit``.

    ``holdout_*`` are None without a calibration/holdout split; otherwise the
    number of transactions (periods with a purchase) after the calibration
    end up to the observation end, and their mean value (0 if none).
    """

    customer_ids: npt.NDArray[Any] = attrs.field(validator=array("O", length="frequency"))
    frequency: FloatArray = attrs.field(validator=array(lo=0))
    recency: FloatArray = attrs.field(validator=array(lo=0, length="frequency"))
    T: FloatArray = attrs.field(validator=array(lo=0, length="frequency"))
    monetary_value: FloatArray = attrs.field(validator=array(length="frequency"))
    time_unit: str = attrs.field(validator=choice("D", "W", "M"))
    period: str = attrs.field(validator=choice("D", "W", "M"))
    calibration_end: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    observation_end: np.datetime64 = attrs.field(validator=array("M", ndim=None))
    holdout_frequency: FloatArray | None = attrs.field(
        default=None, validator=array(lo=0, length="frequency", optional=True)
    )
    holdout_monetary_value: FloatArray | None = attrs.field(
        default=None, validator=array(length="frequency", optional=True)
    )
    holdout_duration: float | None = attrs.field(default=None, validator=number(0, optional=True))

    def __len__(self) -> int:
        return len(self.frequency)

    def _columns(self) -> Columns:
        cols = {
            "customer_id": self.customer_ids,
            "frequency": self.frequency,
            "recency": self.recency,
            "T": self.T,
            "monetary_value": self.monetary_value,
        }
        if self.holdout_frequency is not None:
            cols["holdout_frequency"] = self.holdout_frequency
        if self.holdout_monetary_value is not None:
            cols["holdout_monetary_value"] = self.holdout_monetary_value
        return cols


def _day(value: Any, name: str) -> np.int64:
    d = as_instant(value, name=name).astype("datetime64[D]")
    return np.int64(d.astype(np.int64))


def _period_start(days: npt.NDArray[np.int64], period: str) -> npt.NDArray[np.int64]:
    """Day number of the start of each day's period (weeks start on Monday)."""
    if period == "D":
        return days
    if period == "W":
        out: npt.NDArray[np.int64] = (days + 3) // 7 * 7 - 3
        return out
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return np.asarray(months.astype("datetime64[D]").astype(np.int64), dtype=np.int64)


def _distance(
    later: npt.NDArray[np.int64], earlier: npt.NDArray[np.int64], unit: str, period: str
) -> FloatArray:
    if unit == "M" and period == "M":
        m_later = later.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        m_earlier = earlier.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        return (m_later - m_earlier).astype(np.float64)
    out: FloatArray = (later - earlier).astype(np.float64) / DAYS_PER_UNIT[unit]
    return out


def _sort_with_amounts(
    key: npt.NDArray[np.int64], amount: FloatArray, key_bound: int
) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Keys sorted, with the amounts in the same order.

    Already sorted input (a log ordered by customer and time) is used as is;
    otherwise, when key and row number fit in 63 bits together, they are
    packed into one int64 and sorted with a plain (fast) sort instead of an
    argsort.
    """
    n = len(key)
    if n == 0 or bool(np.all(key[1:] >= key[:-1])):
        return key, amount
    idx_bits = max(1, int(n - 1).bit_length())
    if int(key_bound).bit_length() + idx_bits <= 63:
        packed = np.sort((key << idx_bits) | np.arange(n, dtype=np.int64))
        order = packed & ((1 << idx_bits) - 1)
        return packed >> idx_bits, amount[order]
    order = np.argsort(key, kind="stable")
    return key[order], amount[order]


def summarize_transactions(
    log: TransactionLog,
    *,
    time_unit: TimeUnit = "D",
    period: TimeUnit = "D",
    calibration_end: Any = None,
    observation_end: Any = None,
    kinds: tuple[str, ...] = ("purchase",),
) -> RFMSummary:
    """Summarise ``log`` per customer (see the module docstring for the convention).

    ``period`` is the granularity at which purchases merge (``"D"`` day,
    ``"W"`` Monday-based week, ``"M"`` calendar month); ``time_unit`` the unit
    of recency and T (months are 365.2425 / 12 days, the one month of
    :mod:`crmcore.durations`, or whole months when the period is also ``"M"``). The
    summary carries its ``time_unit``; a model fitted from it (``fit_bgnbd(summary)``)
    carries it on, and predictions from a summary in another unit are refused. ``calibration_end`` and ``observation_end`` are
    inclusive dates; the calibration end defaults to the observation end,
    which defaults to the last transaction. Only customers with a
    transaction up to the calibration end are summarised.
    """
    log = expect_instance(log, TransactionLog, name="log")
    as_time_unit(time_unit)
    as_time_unit(period, name="period")
    codes = [TransactionKind(k).code for k in kinds]
    if len(codes) == 1 and len(log) and int(log.kind.min()) == int(log.kind.max()) == codes[0]:
        cust, time, amount = log.customer, log.time, log.amount  # no copies when all rows count
    else:
        mask = np.isin(log.kind, codes)
        cust, time, amount = log.customer[mask], log.time[mask], log.amount[mask]
    days = time.astype("datetime64[D]").astype(np.int64)
    if len(days) == 0:
        raise ValidationError("the log holds no transactions of the kinds " + repr(kinds))
    obs = _day(observation_end, "observation_end") if observation_end is not None else days.max()
    cal = _day(calibration_end, "calibration_end") if calibration_end is not None else obs
    if cal > obs:
        raise ValidationError(
            f"'calibration_end' must not be after 'observation_end': "
            f"{np.datetime64(int(cal), 'D')} > {np.datetime64(int(obs), 'D')}"
        )
    if days.max() > obs:
        keep = days <= obs
        cust, days, amount = cust[keep], days[keep], amount[keep]
    pstart = _period_start(days, period)
    # one row per (customer, period): sort by a packed key, merge equal keys
    lo = int(pstart.min()) if len(pstart) else 0
    span = int(pstart.max()) - lo + 1 if len(pstart) else 1
    key = cust.astype(np.int64) * span + (pstart - lo)
    skey, samount = _sort_with_amounts(key, amount, log.n_customers * span)
    change = np.empty(len(skey), dtype=bool)
    change[:1] = True
    np.not_equal(skey[1:], skey[:-1], out=change[1:])
    starts = np.flatnonzero(change)
    g_key = skey[starts]
    g_amount = np.add.reduceat(samount, starts) if len(starts) else np.zeros(0)
    g_cust = g_key // span
    g_start = g_key % span + lo
    cal_end_p = _period_start(np.array([cal]), period)[0]
    in_cal = g_start <= cal_end_p
    if in_cal.all():
        c_cust, c_start, c_amount = g_cust, g_start, g_amount
    else:
        c_cust, c_start, c_amount = g_cust[in_cal], g_start[in_cal], g_amount[in_cal]
    if len(c_cust) == 0:
        raise ValidationError("no customer has a transaction up to 'calibration_end'")
    c_first = np.flatnonzero(np.r_[True, c_cust[1:] != c_cust[:-1]])
    c_last = np.r_[c_first[1:], len(c_cust)] - 1
    customers = c_cust[c_first]
    first, last = c_start[c_first], c_start[c_last]
    frequency = (c_last - c_first).astype(np.float64)
    totals = np.add.reduceat(c_amount, c_first)
    repeat_sum = totals - c_amount[c_first]
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, repeat_sum / np.maximum(frequency, 1), 0.0)
    recency = _distance(last, first, time_unit, period)
    T = _distance(np.full_like(first, cal_end_p), first, time_unit, period)
    hold_f = hold_m = None
    duration = None
    if cal < obs:
        pos = np.full(log.n_customers, -1, dtype=np.int64)
        pos[customers] = np.arange(len(customers))
        h = ~in_cal
        idx = pos[g_cust[h]]
        ok = idx >= 0
        hold_f = np.bincount(idx[ok], minlength=len(customers)).astype(np.float64)
        h_sum = np.bincount(idx[ok], weights=g_amount[h][ok], minlength=len(customers))
        hold_m = np.where(hold_f > 0, h_sum / np.maximum(hold_f, 1), 0.0)
        duration = float(
            _distance(np.array([obs]), np.array([cal]), time_unit, "D" if period != "M" else "M")[0]
        )
    return RFMSummary(
        customer_ids=log.customer_ids[customers],
        frequency=frequency,
        recency=recency,
        T=T,
        monetary_value=monetary,
        time_unit=time_unit,
        period=period,
        calibration_end=np.datetime64(int(cal), "D"),
        observation_end=np.datetime64(int(obs), "D"),
        holdout_frequency=hold_f,
        holdout_monetary_value=hold_m,
        holdout_duration=duration,
    )


def summarize_arrays(
    customer_ids: npt.ArrayLike,
    timestamps: Any,
    amounts: npt.ArrayLike | None = None,
    **options: Any,
) -> RFMSummary:
    """As :func:`summarize_transactions`, from aligned arrays (ids, UTC timestamps, amounts).

    >>> s = summarize_arrays(["a", "a", "a", "b"],
    ...                      ["2024-01-01", "2024-01-01T15:00", "2024-01-08", "2024-01-05"],
    ...                      [10.0, 5.0, 7.0, 3.0], time_unit="D", observation_end="2024-01-10")
    >>> s.customer_ids.tolist(), s.frequency.tolist(), s.recency.tolist(), s.T.tolist()
    (['a', 'b'], [1.0, 0.0], [7.0, 0.0], [9.0, 5.0])
    >>> s.monetary_value.tolist()
    [7.0, 0.0]
    """
    # the checks of TransactionLog.from_arrays, each naming this function's own argument
    labels, codes = factorize_labels(customer_ids, name="customer_ids")
    time = parse_timestamps(timestamps, name="timestamps")
    amount = np.zeros(len(codes)) if amounts is None else as_float_array(amounts, name="amounts")
    check_nonnegative(amount, name="amounts")
    check_same_length(customer_ids=codes, timestamps=time, amounts=amount)
    kind = np.full(len(codes), TransactionKind.PURCHASE.code, dtype=np.int8)
    log = TransactionLog(codes, time, amount, kind, labels)
    return summarize_transactions(log, **options)


def repeat_transaction_days(
    log: TransactionLog, *, period: str = "D", kinds: tuple[str, ...] = ("purchase",)
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per customer of ``log`` with a transaction: her code, the day number of her first
    transaction (the start of its ``period``), and the start days of every repeat
    transaction, under the summaries' convention (purchases in one period are one
    transaction; the first is not a repeat).

    >>> from crmcore.tables import TransactionLog
    >>> log = TransactionLog.from_arrays(customer_ids=["a", "a", "a", "b"],
    ...     timestamps=["2024-01-01", "2024-01-01T15:00", "2024-01-08", "2024-01-05"],
    ...     amounts=[1.0, 1, 1, 1])
    >>> codes, first, repeats = repeat_transaction_days(log)
    >>> codes.tolist(), first.astype("datetime64[D]").tolist(), repeats.astype("datetime64[D]").tolist()
    ([0, 1], [datetime.date(2024, 1, 1), datetime.date(2024, 1, 5)], [datetime.date(2024, 1, 8)])
    """
    log = expect_instance(log, TransactionLog, name="log")
    as_time_unit(period, name="period")
    codes = [TransactionKind(k).code for k in kinds]
    mask = np.isin(log.kind, codes)
    cust = log.customer[mask].astype(np.int64)
    days = _period_start(log.time[mask].astype("datetime64[D]").astype(np.int64), period)
    if len(days) == 0:
        raise ValidationError("the log holds no transactions of the kinds " + repr(kinds))
    order = np.lexsort((days, cust))
    cust, days = cust[order], days[order]
    new = np.r_[True, (cust[1:] != cust[:-1]) | (days[1:] != days[:-1])]
    cust, days = cust[new], days[new]
    first_row = np.r_[True, cust[1:] != cust[:-1]]
    return cust[first_row], days[first_row], days[~first_row]
