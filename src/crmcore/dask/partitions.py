"""The partition functions: pandas DataFrame in, pandas DataFrame out, one call per partition.

Each one runs crmcore's single-machine function on the rows of one partition, so the
answers are those functions' answers (no second formula). They hold every row of a
customer (partition by customer first: :mod:`crmcore.dask` shuffles; a Spark job groups
by customer, see docs/scale-out.md) and take every global figure (the observation dates,
the population's value counts) as arguments, computed once beforehand. Nothing here
imports Dask: the same functions serve Spark's ``applyInPandas``.

Customer ids are turned into codes per partition by one hash pass (``pandas.factorize``:
bounded by the partition, no global dictionary), the crmcore function runs on integer
codes, and the caller's ids come back on the output. crmcore's own thread pool follows
``threads`` (default 1, off: the engine's workers are the parallelism).

>>> import pandas as pd
>>> rows = pd.DataFrame({"customer_id": ["a", "a", "b"],
...     "occurred_at": pd.to_datetime(["2024-01-01", "2024-01-08", "2024-01-05"]),
...     "amount": [10.0, 7.0, 3.0]})
>>> summary_partition(rows, calibration_end="2024-01-10", observation_end="2024-01-10")
  customer_id  frequency  recency    T  monetary_value
0           a        1.0      7.0  9.0             7.0
1           b        0.0      0.0  5.0             0.0
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from crmcore.anomaly import (
    DEFAULT_QUEUE,
    AlertTable,
    CustomerContext,
    RuleSet,
    UnknownCustomerError,
    detect,
)
from crmcore.errors import ValidationError, require
from crmcore.labels import check_labels, factorize_labels
from crmcore.model.transaction import TransactionKind
from crmcore.parallel import threads as _threads
from crmcore.pipeline import DealFields, DealScoreModel, DealScores, Funnel, score_deals
from crmcore.segmentation import quantile_scores, rfm_summary
from crmcore.serialization import from_json, load_model
from crmcore.tables import FieldHistory, StageHistory, TransactionLog
from crmcore.timestamps import as_instant, pandas_utc
from crmcore.valuation import GammaGammaModel, customer_lifetime_value, summarize_transactions

__all__ = [
    "alerts_partition",
    "deals_partition",
    "encode_ids",
    "rfm_partition",
    "rfm_scores_partition",
    "score_partition",
    "summary_partition",
]

T = TypeVar("T")

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")
HOLDOUT_COLUMNS = ("holdout_frequency", "holdout_monetary_value")


def _pd() -> Any:
    return require("pandas", "dask")


def in_threads(n: int | None, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` with crmcore's thread setting at ``n`` (1: off; None: the process setting)."""
    with _threads(n):
        return fn(*args, **kwargs)


def encode_ids(ids: Any, *, name: str = "customer_id") -> tuple[npt.NDArray[np.int64], Any]:
    """Per-row int64 codes and the distinct ids (``uniques.take(codes)`` gives ``ids`` back),
    by one hash pass; ids are checked by crmcore's one rule (:mod:`crmcore.labels`: no
    missing or empty id, no float ids, one kind), a refused id named with its row.

    >>> import pandas as pd
    >>> codes, uniques = encode_ids(pd.Series(["u", "v", "u"]))
    >>> codes.tolist(), list(uniques)
    ([0, 1, 0], ['u', 'v'])
    >>> encode_ids(pd.Series(["u", None]))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'customer_id' must not contain missing labels: nan at index 1 (1 missing in all)
    """
    pd = _pd()
    series = ids if isinstance(ids, pd.Series) else pd.Series(ids)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    ok = len(codes) == 0 or int(codes.min()) >= 0
    if ok and series.dtype.kind != "f":
        try:
            check_labels(np.asarray(uniques, dtype=object), name=name)
        except ValidationError:
            ok = False
    else:
        ok = False
    if not ok:  # the row-located error of the one rule (or its codes, if it accepts)
        labels, exact = factorize_labels(series, name=name)
        return exact, pd.Index(labels, dtype=object)
    return np.asarray(codes, dtype=np.int64), uniques


def _log(
    frame: Any,
    *,
    customer: str,
    time: str,
    amount: str,
    kind: str | None,
    ids: str | None = None,
    order: bool = True,
) -> tuple[TransactionLog, Any]:
    """The partition's rows as a TransactionLog on customer codes (crmcore's checks), and
    the distinct ids the codes index. With ``order`` the rows are taken by customer, time
    and amount (so that the sums within a period are made in one order, whatever order
    the engine delivered the rows in); only the numeric columns are reordered."""
    for name in (customer, time, amount, kind, ids):
        if name is not None and name not in frame.columns:
            raise ValidationError(f"the frame has no column {name!r}")
    try:
        codes, uniques = encode_ids(frame[customer], name="customer_id")
        return _checked_log(frame, codes, uniques, time, amount, kind, ids, order)
    except ValidationError as e:
        raise located(e, frame, customer, ids) from e


def located(error: ValidationError, frame: Any, customer: str, ids: str | None) -> ValidationError:
    """``error`` with its partition-local position ("at index 3") replaced by the row's
    label in the caller's frame, its customer and (with an id column) its transaction;
    counts "in all" are the partition's."""
    text = str(error)
    m = re.search(r"at index (\d+)", text)
    if m is None:
        return ValidationError(text.replace(" in all)", " in this partition)"))
    pos = int(m.group(1))
    if isinstance(error, _ReorderedError):
        pos = int(error.rows[pos])
        text = error.message
        m = re.search(r"at index (\d+)", text)
        assert m is not None
    if not 0 <= pos < len(frame):
        return ValidationError(text)
    label = frame.index[pos]
    label = label.item() if isinstance(label, np.generic) else label
    where = [f"at row {label!r} of the frame"]
    who = frame[customer].iloc[pos]
    if isinstance(who, str) and who:
        where.append(f"customer {who!r}")
    if ids is not None:
        where.append(f"transaction {frame[ids].iloc[pos]!r}")
    located = text[: m.start()] + ", ".join(where) + text[m.end() :]
    return ValidationError(located.replace(" in all)", " in this partition)"))


class _ReorderedError(ValidationError):
    """A check failed on the rows in customer-time-amount order (``rows``: the order)."""

    def __init__(self, message: str, rows: npt.NDArray[np.intp]) -> None:
        super().__init__(message)
        self.message = message
        self.rows = rows


def _checked_log(
    frame: Any,
    codes: npt.NDArray[np.int64],
    uniques: Any,
    time: str,
    amount: str,
    kind: str | None,
    ids: str | None,
    order: bool,
) -> tuple[TransactionLog, Any]:
    pd = _pd()
    t = pandas_utc(frame[time])
    when = t.to_numpy() if isinstance(t, pd.Series) else np.asarray(t)
    a = frame[amount].to_numpy()
    k = None if kind is None else frame[kind].to_numpy()
    tid = None if ids is None else frame[ids].to_numpy(dtype=object)
    rows = None
    if order and len(codes) > 1 and when.dtype.kind == "M" and a.dtype.kind == "f":
        rows = _customer_time_amount(codes, when.view(np.int64), a)
        codes, when, a = codes[rows], when[rows], a[rows]
        k = None if k is None else k[rows]
        tid = None if tid is None else tid[rows]
    try:
        log = TransactionLog.from_arrays(
            customer_ids=codes, timestamps=when, amounts=a, kinds=k, ids=tid
        )
    except ValidationError as e:
        if rows is None:
            raise
        raise _ReorderedError(str(e), rows) from e
    return log, uniques


def _customer_time_amount(
    codes: npt.NDArray[np.int64], t: npt.NDArray[np.int64], a: npt.NDArray[np.float64]
) -> npt.NDArray[np.intp]:
    """The row order by customer code, time and amount: one sort of a packed (code, time)
    key when it fits in 62 bits, amounts first only when a customer has two rows at one
    instant; three stable sorts otherwise."""
    lo = int(t.min())
    span_bits = max(1, (int(t.max()) - lo).bit_length())
    if int(codes.max()).bit_length() + span_bits <= 62:
        key = (codes << span_bits) | (t - lo)
        rows = np.argsort(key, kind="stable")
        k = key[rows]
        if not (k[1:] == k[:-1]).any():
            return rows
        by_amount = np.argsort(a, kind="stable")
        out: npt.NDArray[np.intp] = by_amount[np.argsort(key[by_amount], kind="stable")]
        return out
    by_amount = np.argsort(a, kind="stable")
    by_time = by_amount[np.argsort(t[by_amount], kind="stable")]
    done: npt.NDArray[np.intp] = by_time[np.argsort(codes[by_time], kind="stable")]
    return done


def _out(uniques: Any, codes: npt.NDArray[Any], columns: Mapping[str, Any], name: str) -> Any:
    pd = _pd()
    data = {name: uniques.take(np.asarray(codes, dtype=np.int64))}
    data.update(columns)
    return pd.DataFrame({k: np.asarray(v) if k != name else v for k, v in data.items()})


def _empty_summary(frame: Any, customer: str, holdout: bool) -> Any:
    pd = _pd()
    cols = {customer: frame[customer].iloc[:0].reset_index(drop=True)} if len(frame.columns) else {}
    for c in SUMMARY_COLUMNS + (HOLDOUT_COLUMNS if holdout else ()):
        cols[c] = np.zeros(0)
    return pd.DataFrame(cols)


def _kind_mask(log: TransactionLog, kinds: Sequence[str]) -> npt.NDArray[np.bool_]:
    return np.isin(log.kind, [TransactionKind(k).code for k in kinds])


def summary_partition(
    frame: Any,
    *,
    calibration_end: Any,
    observation_end: Any,
    customer: str = "customer_id",
    time: str = "occurred_at",
    amount: str = "amount",
    kind: str | None = None,
    time_unit: str = "D",
    period: str = "D",
    kinds: tuple[str, ...] = ("purchase",),
    threads: int | None = 1,
) -> Any:
    """:func:`crmcore.valuation.summarize_transactions` of one partition's customers, as a
    pandas DataFrame (``customer``, frequency, recency, T, monetary_value and, with a
    holdout, holdout_frequency and holdout_monetary_value).

    Both dates are required (the defaults of the single-machine function read every row:
    compute them once for the whole base). A partition without a transaction of ``kinds``
    up to the calibration end gives an empty frame.
    """
    with _threads(threads):
        if calibration_end is None or observation_end is None:
            raise ValidationError(
                "'calibration_end' and 'observation_end' must be given to a partition "
                "(the whole base's dates, computed once)"
            )
        cal = as_instant(calibration_end, name="calibration_end").astype("datetime64[D]")
        obs = as_instant(observation_end, name="observation_end").astype("datetime64[D]")
        holdout = bool(cal < obs)
        log, uniques = _log(frame, customer=customer, time=time, amount=amount, kind=kind)
        s = None
        mask = _kind_mask(log, kinds)
        if mask.any() and (log.time[mask].astype("datetime64[D]") <= cal).any():
            s = summarize_transactions(
                log,
                time_unit=time_unit,  # type: ignore[arg-type]
                period=period,  # type: ignore[arg-type]
                calibration_end=calibration_end,
                observation_end=observation_end,
                kinds=kinds,
            )
        if s is None:
            return _empty_summary(frame, customer, holdout)
        cols: dict[str, Any] = {c: getattr(s, c) for c in SUMMARY_COLUMNS}
        if s.holdout_frequency is not None:
            cols["holdout_frequency"] = s.holdout_frequency
            cols["holdout_monetary_value"] = s.holdout_monetary_value
        return _out(uniques, s.customer_ids.astype(np.int64), cols, customer)


def score_partition(
    frame: Any,
    *,
    purchase_model: str,
    spend_model: str | None = None,
    customer: str = "customer_id",
    t: float = 1.0,
    horizon: int = 12,
    discount_rate: float = 0.01,
    margin: float = 1.0,
    threads: int | None = 1,
) -> Any:
    """P(alive), the expected purchases over ``t`` and (with ``monetary_value`` in the frame)
    the CLV of every customer of a summary partition, from models given as their JSON
    (:func:`crmcore.serialization.to_json`; read back with ``load_model``).

    The columns are those of :meth:`~crmcore.valuation.PurchaseModel.probability_alive`,
    :meth:`conditional_expected_purchases` and
    :func:`~crmcore.valuation.customer_lifetime_value` (``horizon``, ``discount_rate``,
    ``margin`` as there).
    """
    pd = _pd()
    with _threads(threads):
        model = load_model(purchase_model)
        spend = None if spend_model is None else from_json(GammaGammaModel, spend_model)
        x = frame["frequency"].to_numpy(dtype=np.float64)
        tx = frame["recency"].to_numpy(dtype=np.float64)
        tt = frame["T"].to_numpy(dtype=np.float64)
        out = {
            customer: frame[customer].reset_index(drop=True),
            "p_alive": model.probability_alive(x, tx, tt),
            "expected_purchases": model.conditional_expected_purchases(t, x, tx, tt),
        }
        if "monetary_value" in frame.columns:
            m = frame["monetary_value"].to_numpy(dtype=np.float64)
            out["clv"] = customer_lifetime_value(
                model,
                spend,
                x,
                tx,
                tt,
                m,
                horizon=horizon,
                discount_rate=discount_rate,
                margin=margin,
            )
        return pd.DataFrame(out)


def rfm_partition(
    frame: Any,
    *,
    as_of: Any,
    customer: str = "customer_id",
    time: str = "occurred_at",
    amount: str = "amount",
    kind: str | None = None,
    monetary: str = "total",
    threads: int | None = 1,
) -> Any:
    """:func:`crmcore.segmentation.rfm_summary` of one partition's customers (``customer``,
    recency in days, frequency, monetary)."""
    pd = _pd()
    with _threads(threads):
        log, uniques = _log(frame, customer=customer, time=time, amount=amount, kind=kind)
        s = rfm_summary(log, as_of, monetary=monetary)
        if len(s) == 0:
            return pd.DataFrame(
                {
                    customer: frame[customer].iloc[:0].reset_index(drop=True),
                    "recency": np.zeros(0),
                    "frequency": np.zeros(0, dtype=np.int64),
                    "monetary": np.zeros(0),
                }
            )
        cols = {"recency": s.recency, "frequency": s.frequency, "monetary": s.monetary}
        return _out(uniques, s.customer_ids.astype(np.int64), cols, customer)


def rfm_scores_partition(
    frame: Any,
    *,
    populations: Mapping[str, tuple[Any, Any]],
    bins: int = 5,
    threads: int | None = 1,
) -> Any:
    """The R, F and M scores (and the cell) of the customers of an RFM partition, each
    column ranked in the whole base's population (``populations``: column -> (distinct
    values, counts); :func:`crmcore.segmentation.quantile_scores` with ``population``)."""
    with _threads(threads):
        out = frame.reset_index(drop=True).copy()
        for col, reverse, name in (
            ("recency", True, "r"),
            ("frequency", False, "f"),
            ("monetary", False, "m"),
        ):
            out[name] = quantile_scores(
                frame[col].to_numpy(),
                bins,
                reverse=reverse,
                name=col,
                population=populations[col],
            )
        out["cell"] = out["r"].astype(np.int64) * 100 + out["f"] * 10 + out["m"]
        return out


def alerts_partition(
    frame: Any,
    *,
    ruleset: str,
    customers: Mapping[str, Any] | None = None,
    customer: str = "customer_id",
    time: str = "occurred_at",
    amount: str = "amount",
    kind: str | None = None,
    id: str = "id",
    unknown_customers: str = "queue",
    team_queue: str | None = None,
    threads: int | None = 1,
) -> Any:
    """The alerts of :func:`crmcore.anomaly.detect` over one partition's customers, as the
    rows of :class:`~crmcore.anomaly.AlertTable` (``ruleset`` as its JSON; ``id`` the
    transaction id column, which names each alert's transaction and so its id).
    ``customers`` maps ids to :class:`~crmcore.anomaly.CustomerContext` (or its dict)."""
    pd = _pd()
    with _threads(threads):
        rs = from_json(RuleSet, ruleset)
        log, uniques = _log(
            frame, customer=customer, time=time, amount=amount, kind=kind, ids=id, order=False
        )
        # the engine's ids are the caller's: relabel the codes' log with the real ids
        labels = np.asarray(uniques, dtype=object)
        if len(log):
            log = TransactionLog(log.customer, log.time, log.amount, log.kind, labels, ids=log.ids)
        ctx: dict[str, CustomerContext] = {}
        if customers:
            for c in labels.tolist():
                v = customers.get(str(c))
                if v is not None:
                    ctx[str(c)] = v if isinstance(v, CustomerContext) else from_json_dict(v)
        queue = DEFAULT_QUEUE if team_queue is None else team_queue
        try:
            found = detect(log, rs, ctx, unknown_customers=unknown_customers, team_queue=queue)
        except UnknownCustomerError as e:  # the count is this partition's, not the base's
            raise UnknownCustomerError(
                str(e).replace(" of the log ", " of one partition (its count only) ", 1)
            ) from e
        table = AlertTable(tuple(found.alerts()))
        return table.to_pandas() if len(table) else _empty_alerts(pd)


def from_json_dict(value: Any) -> CustomerContext:
    """A CustomerContext from its dict (as :func:`crmcore.serialization.to_dict` writes it)."""
    from crmcore.serialization import from_dict

    return from_dict(CustomerContext, value)


def _empty_alerts(pd: Any) -> Any:
    return AlertTable(()).to_pandas()


def deals_partition(
    frame: Any,
    *,
    model: str,
    funnel: str,
    as_of: Any,
    known_at: Any = None,
    fields: DealFields | None = None,
    changes: FieldHistory | None = None,
    threads: int | None = 1,
) -> Any:
    """:func:`crmcore.pipeline.score_deals` of the deals of one partition (every event of
    each of its deals: partition by opportunity), as the rows of its
    :class:`~crmcore.pipeline.DealScores` table (``opportunity_id``, ``probability``,
    ``log_odds``, then each factor's level). ``model`` (a fitted
    :class:`~crmcore.pipeline.DealScoreModel`) and ``funnel`` come as their JSON
    (:func:`crmcore.serialization.to_json`); the columns of ``frame`` are those of
    :meth:`crmcore.tables.StageHistory.from_frame`. ``fields`` (a
    :class:`~crmcore.pipeline.DealFields`) and ``changes`` (a
    :class:`~crmcore.tables.FieldHistory`) are those of ``score_deals``: the whole
    tables (one row per deal, one per edit), of which each partition reads its deals'.

    >>> from crmcore.pipeline import fit_deal_scores, synthetic_scoring_pipeline
    >>> from crmcore.pipeline.presets import B2B
    >>> from crmcore.serialization import to_json
    >>> s = synthetic_scoring_pipeline(B2B, n_opportunities=120, seed=2)
    >>> m = fit_deal_scores(s.history, B2B, as_of=s.as_of, method="naive_bayes")
    >>> out = deals_partition(s.history.to_pandas(), model=to_json(m), funnel=to_json(B2B),
    ...                       as_of=s.as_of)
    >>> list(out.columns)
    ['opportunity_id', 'probability', 'log_odds', 'stage', 'owner', 'product']
    """
    with _threads(threads):
        m = from_json(DealScoreModel, model)
        f = from_json(Funnel, funnel)
        if len(frame) == 0:  # the columns of this model's scores (one per factor)
            none = np.zeros(0)
            at = np.datetime64(m.as_of.replace(tzinfo=None), "us")
            empty = np.zeros((0, len(m.factors)), dtype=np.int32)
            return DealScores(m, at, np.zeros(0, dtype=object), none, none, empty).to_pandas()
        history = StageHistory.from_frame(frame.reset_index(drop=True))
        scores = score_deals(
            m, history, f, as_of=as_of, known_at=known_at, fields=fields, changes=changes
        )
        return scores.to_pandas()
