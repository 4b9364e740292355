"""Customer profitability: activity-based cost to serve, profit, the whale curve, quantile tables.

``profit = revenue − cost of goods − cost to serve``, where the cost to serve
is the sum of (a) interactions priced by a rate table (cost per call-center
call, visit, service case, ... by channel or type) and (b) direct cost
entries (discounts, returns, bad debt, litigation: the categories of
:class:`~crmcore.model.CostEntry`). Everything is summed per customer with
one ``bincount`` over ``customer × category`` codes.

The whale curve ranks customers from most to least profitable and plots the
cumulative profit as a share of the total: it rises above 100% (its *peak*,
often 150–300%) while the profitable customers are added, then the
loss-makers *erode* it back to 100%.

>>> w = whale_curve([60.0, 50.0, 10.0, -20.0])
>>> round(w.peak_share, 3), w.peak_customers, round(w.erosion, 3)
(1.2, 3, 0.2)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, wide
from crmcore._messages import show
from crmcore._results import COUNT, FINITE, array, number
from crmcore.arrays import (
    FloatArray,
    IntArray,
    apply_nan_policy,
    as_int_array,
    check_nonnegative,
    check_same_length,
    validate_nan_policy,
)
from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.labels import check_labels, factorize_labels, factorize_together
from crmcore.model import CostEntry, Interaction
from crmcore.model._fields import tuple_of
from crmcore.model.money import _to_currency
from crmcore.options import as_count, expect_instance, expect_items
from crmcore.segmentation.concentration import _build, _sorted_values

__all__ = [
    "CostBreakdown",
    "CostRates",
    "Profitability",
    "QuantileRow",
    "WhaleCurve",
    "activity_costs",
    "cost_entries_to_arrays",
    "customer_index",
    "customer_profitability",
    "entry_costs",
    "interactions_to_arrays",
    "profit_quantile_table",
    "whale_curve",
]


def customer_index(row_ids: npt.ArrayLike, customer_ids: npt.ArrayLike) -> IntArray:
    """Map per-row customer ids to positions in ``customer_ids`` (sorted or not); unknown ids raise.

    >>> customer_index(["b", "a", "b"], ["a", "b"]).tolist()
    [1, 0, 1]
    >>> customer_index(["z"], ["a", "b"])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'row_ids' 'z' at index 0 is not among the 'customer_ids'
    """
    return _customer_index(row_ids, customer_ids, rows="row_ids", row="'row_ids' {v} at index {i}")


def _customer_index(row_ids: Any, customer_ids: Any, *, rows: str, row: str) -> IntArray:
    """:func:`customer_index`; ``rows`` names the per-row ids, ``row`` (a format of
    ``v`` and ``i``) the row that is not among the customers."""
    labels, (at_ids, at_rows) = factorize_together(
        [customer_ids, row_ids], names=["customer_ids", rows]
    )
    where = np.full(len(labels), -1, dtype=np.int64)
    where[at_ids[::-1]] = np.arange(len(at_ids) - 1, -1, -1)  # first position of each id
    out: IntArray = where[at_rows]
    if (out < 0).any():
        i = int(np.flatnonzero(out < 0)[0])
        shown = labels[at_rows[i : i + 1]].tolist()[0]
        raise ValidationError(f"{row.format(v=repr(shown), i=i)} is not among the 'customer_ids'")
    return out


MAX_CUSTOMERS = 2**31
"""The largest ``n_customers`` a cost breakdown accepts (it allocates one row per customer)."""


def _check_finite_sums(values: FloatArray, *, what: str, inputs: str) -> None:
    """Raise when a sum or product of finite inputs left the float range (NaN is the policy's)."""
    if np.isinf(values).any():
        i = int(np.flatnonzero(np.isinf(values).ravel())[0])
        raise ValidationError(
            f"{what} overflows the float range (beyond 1.8e308) at index {i}: check {inputs}"
        )


def _as_dict(m: Mapping[str, float]) -> dict[str, float]:
    if not isinstance(m, Mapping):
        raise ValidationError(f"'rates' must be a mapping of activity key to cost: {m!r}")
    return dict(m)


def _opt_currency(value: object) -> str | None:
    return None if value is None else _to_currency(value)


@attrs.frozen
class CostRates:
    """Cost per interaction by activity key (a channel or an interaction type): a rate table as data.

    >>> CostRates({"call_center": 4.2, "visit": 85.0}).rate("visit")
    85.0
    """

    rates: Mapping[str, float] = attrs.field(converter=_as_dict)
    currency: str | None = attrs.field(default=None, converter=_opt_currency)

    def __attrs_post_init__(self) -> None:
        for key, value in self.rates.items():
            if not isinstance(key, str) or not key:
                raise ValidationError(f"'rates' keys must be non-empty strings: {key!r}")
            if not isinstance(value, int | float) or not np.isfinite(value) or value < 0:
                raise ValidationError(f"'rates[{key!r}]' must be a finite number >= 0: {value!r}")

    def rate(self, key: str) -> float:
        """The cost of one interaction of ``key`` (unknown key → ValidationError)."""
        if key not in self.rates:
            raise ValidationError(f"no cost rate for activity {key!r}; known: {sorted(self.rates)}")
        return float(self.rates[key])


@attrs.frozen(eq=False)
class CostBreakdown(Tabular):
    """Cost per customer (rows) and category (columns).

    >>> b = entry_costs([0, 1, 1], ["discount", "bad_debt", "discount"], [5.0, 40.0, 1.0], n_customers=2)
    >>> b.categories, b.total().tolist(), b.column("discount").tolist()
    (('bad_debt', 'discount'), [5.0, 41.0], [5.0, 1.0])
    """

    categories: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a cost category"))
    amounts: FloatArray = attrs.field(
        validator=array(lo=0, ndim=2, nan='nan_policy="propagate": a customer with a missing input')
    )  # shape (n_customers, len(categories))

    @property
    def n_customers(self) -> int:
        """Number of customers (rows)."""
        return int(self.amounts.shape[0])

    def total(self) -> FloatArray:
        """Cost to serve per customer, all categories."""
        out: FloatArray = self.amounts.sum(axis=1)
        return out

    def column(self, category: str) -> FloatArray:
        """The cost of one category per customer."""
        if category not in self.categories:
            raise ValidationError(f"no category {category!r}; known: {list(self.categories)}")
        return self.amounts[:, self.categories.index(category)]

    def by_category(self) -> dict[str, float]:
        """Total cost per category over all customers."""
        sums = self.amounts.sum(axis=0)
        return {c: float(v) for c, v in zip(self.categories, sums, strict=True)}

    def merge(self, other: CostBreakdown) -> CostBreakdown:
        """The sum of two breakdowns of the same customers (categories united, sorted).

        >>> a = entry_costs([0], ["discount"], [2.0], n_customers=1)
        >>> a.merge(activity_costs([0, 0], ["visit", "visit"], rates=CostRates({"visit": 3.0}),
        ...                        n_customers=1)).by_category()
        {'discount': 2.0, 'visit': 6.0}
        """
        if other.n_customers != self.n_customers:
            raise ValidationError(
                f"cannot merge cost breakdowns of {self.n_customers} and {other.n_customers} customers"
            )
        cats = tuple(sorted(set(self.categories) | set(other.categories)))
        out = np.zeros((self.n_customers, len(cats)))
        for src in (self, other):
            cols = [cats.index(c) for c in src.categories]
            out[:, cols] += src.amounts
        return CostBreakdown(cats, out)

    def _columns(self) -> Columns:
        return wide("", self.categories, self.amounts)


def _grouped(
    customer: npt.ArrayLike,
    labels: tuple[npt.NDArray[Any], IntArray],
    weights: FloatArray,
    *,
    n_customers: int,
    name: str,
) -> tuple[tuple[str, ...], IntArray, FloatArray]:
    n_customers = as_count(n_customers, name="n_customers", high=MAX_CUSTOMERS)
    cust = as_int_array(customer, name="customer")
    uniq, code = labels  # from crmcore.labels.factorize_labels
    if len(weights) != len(cust):  # NaN rows omitted from the weights: drop them here too
        raise ValidationError(f"internal: {len(weights)} weights for {len(cust)} rows")
    if len(cust) and (cust.min() < 0 or cust.max() >= n_customers):
        bad = int(np.flatnonzero((cust < 0) | (cust >= n_customers))[0])
        raise ValidationError(
            f"'customer' must index into 'n_customers' ({n_customers}) customers: "
            f"{cust[bad]} at index {bad}"
        )
    cats = tuple(str(u) for u in uniq)
    k = max(len(cats), 1)
    flat = np.bincount(cust * k + code, weights=weights, minlength=n_customers * k)
    amounts: FloatArray = flat.astype(np.float64).reshape(n_customers, k)[:, : len(cats)]
    _check_finite_sums(amounts, what="a customer's cost", inputs=f"'amount' and {name!r}")
    return cats, code.astype(np.int64), amounts


def _rows(
    customer: npt.ArrayLike,
    labels: npt.ArrayLike,
    label_name: str,
    values: npt.ArrayLike | None,
    value_name: str,
    nan_policy: str,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], FloatArray]:
    """Aligned rows (customer, label, value) after the length check and the NaN policy on the value."""
    cust = np.asarray(customer)
    lab = check_labels(labels, name=label_name)  # no missing label, over all rows
    for nm, a in (("customer", cust), (label_name, lab)):
        if a.ndim != 1:
            raise ValidationError(f"{nm!r} must be 1-dimensional, got shape {a.shape}")
    if values is None:
        check_same_length(customer=cust, **{label_name: lab})
        validate_nan_policy(nan_policy)
        return cust, lab, np.ones(len(lab))
    split = apply_nan_policy({value_name: values}, policy=nan_policy)
    check_same_length(customer=cust, **{label_name: lab}, **{value_name: split.mask})
    if split.dropped:
        cust, lab = cust[split.mask], lab[split.mask]
    return cust, lab, split.arrays[value_name]


def activity_costs(
    customer: npt.ArrayLike,
    activity: npt.ArrayLike,
    *,
    rates: CostRates,
    n_customers: int,
    quantity: npt.ArrayLike | None = None,
    nan_policy: str = "raise",
) -> CostBreakdown:
    """Activity-based cost to serve: interactions (customer index, activity key) × the rate table.

    ``quantity`` counts interactions per row (default 1 each). A key missing
    from the rate table is an error naming it. A NaN quantity follows the one
    NaN policy: ``omit`` leaves the row out, ``propagate`` makes that
    customer's cost of that activity NaN.

    >>> rates = CostRates({"call_center": 4.0, "visit": 80.0, "web": 0.1})
    >>> b = activity_costs([0, 0, 1, 1], ["web", "call_center", "visit", "call_center"],
    ...                    rates=rates, n_customers=2, quantity=[10, 1, 1, 2])
    >>> b.total().tolist()
    [5.0, 88.0]
    """
    rates = expect_instance(rates, CostRates, name="rates")
    customer, activity, qty = _rows(
        customer, activity, "activity", quantity, "quantity", nan_policy
    )
    uniq, code = factorize_labels(activity, name="activity")
    check_nonnegative(qty, name="quantity")
    missing = [str(u) for u in uniq if str(u) not in rates.rates]
    if missing:
        raise ValidationError(
            f"no cost rate for activity {missing[0]!r} ({len(missing)} unknown); "
            f"known: {sorted(rates.rates)}"
        )
    price = np.array([rates.rate(str(u)) for u in uniq])
    with np.errstate(over="ignore"):  # an overflow is refused by name in _grouped
        cost = qty * price[code]
    cats, _, amounts = _grouped(
        customer, (uniq, code), cost, n_customers=n_customers, name="activity"
    )
    return CostBreakdown(cats, amounts)


def entry_costs(
    customer: npt.ArrayLike,
    category: npt.ArrayLike,
    amount: npt.ArrayLike,
    *,
    n_customers: int,
    nan_policy: str = "raise",
) -> CostBreakdown:
    """Direct cost entries (discounts, returns, bad debt, ...) summed per customer and category.

    A NaN amount follows the one NaN policy (``omit``: the entry is left out;
    ``propagate``: that customer's cost of that category is NaN).

    >>> entry_costs([0], ["bad_debt"], [-1.0], n_customers=1)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'amount' must be >= 0: -1.0 at index 0
    """
    customer, category, amt = _rows(customer, category, "category", amount, "amount", nan_policy)
    check_nonnegative(amt, name="amount")
    labels = factorize_labels(category, name="category")
    cats, _, amounts = _grouped(customer, labels, amt, n_customers=n_customers, name="category")
    return CostBreakdown(cats, amounts)


def cost_entries_to_arrays(
    entries: Iterable[CostEntry], customer_ids: npt.ArrayLike
) -> tuple[IntArray, npt.NDArray[np.str_], FloatArray]:
    """``(customer index, category, amount)`` arrays from :class:`~crmcore.model.CostEntry` records.

    >>> from datetime import datetime, timezone
    >>> from crmcore.model import Money
    >>> e = CostEntry(id="k", customer_id="c-2", incurred_at=datetime(2025, 1, 1, tzinfo=timezone.utc),
    ...               amount=Money("12.5", "EUR"), category="return")
    >>> [a.tolist() for a in cost_entries_to_arrays([e], ["c-1", "c-2"])]
    [[1], ['return'], [12.5]]
    """
    rows = expect_items(entries, CostEntry, name="entries")
    ids = np.array([e.customer_id for e in rows], dtype=object)
    cats = np.array([e.category for e in rows], dtype=str)
    amounts = np.array([float(e.amount.amount) for e in rows], dtype=np.float64)
    return (
        _customer_index(
            ids.astype(str),
            _record_ids(customer_ids),
            rows="entries",
            row="'entries[{i}].customer_id' {v}",
        ),
        cats,
        amounts,
    )


def _record_ids(customer_ids: npt.ArrayLike) -> npt.NDArray[np.str_]:
    """The caller's customer ids as text: records' ids are strings, and ``1`` is not ``"1"``."""
    ids = check_labels(customer_ids, name="customer_ids")
    if ids.dtype.kind != "U" and not all(isinstance(v, str) for v in ids.tolist()):
        raise ArgumentTypeError(
            f"'customer_ids' must be string ids, as records' customer ids are: {show(ids[:3].tolist())}"
        )
    return ids.astype(str)


def interactions_to_arrays(
    interactions: Iterable[Interaction], customer_ids: npt.ArrayLike
) -> tuple[IntArray, npt.NDArray[np.str_]]:
    """``(customer index, channel)`` arrays from :class:`~crmcore.model.Interaction` records.

    Feed them to :func:`activity_costs` with a rate table keyed by channel.

    >>> from datetime import datetime, timezone
    >>> i = Interaction(id="i", customer_id="c-1", channel="call_center", direction="inbound",
    ...                 occurred_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
    >>> cust, chan = interactions_to_arrays([i, i], ["c-1"])
    >>> activity_costs(cust, chan, rates=CostRates({"call_center": 4.5}), n_customers=1).total().tolist()
    [9.0]
    """
    rows = expect_items(interactions, Interaction, name="interactions")
    ids = np.array([r.customer_id for r in rows], dtype=str)
    channels = np.array([r.channel.value for r in rows], dtype=str)
    return _customer_index(
        ids,
        _record_ids(customer_ids),
        rows="interactions",
        row="'interactions[{i}].customer_id' {v}",
    ), channels


@attrs.frozen(eq=False)
class Profitability(Tabular):
    """Revenue, cost of goods and cost to serve per customer; profit is their difference.

    >>> customer_profitability([10.0], [4.0], [1.0]).cost.tolist()
    [5.0]
    """

    revenue: FloatArray = attrs.field(
        validator=array(lo=0, nan='nan_policy="propagate": a customer with a missing input')
    )
    cost_of_goods: FloatArray = attrs.field(
        validator=array(
            lo=0, length="revenue", nan='nan_policy="propagate": a customer with a missing input'
        )
    )
    cost_to_serve: FloatArray = attrs.field(
        validator=array(
            lo=0, length="revenue", nan='nan_policy="propagate": a customer with a missing input'
        )
    )

    @property
    def cost(self) -> FloatArray:
        """All cost per customer: cost of goods + cost to serve."""
        return self.cost_of_goods + self.cost_to_serve

    @property
    def profit(self) -> FloatArray:
        """``revenue − cost of goods − cost to serve`` per customer."""
        return self.revenue - self.cost_of_goods - self.cost_to_serve

    def whale_curve(self) -> WhaleCurve:
        """The whale curve of :attr:`profit`."""
        return whale_curve(self.profit)

    def quantile_table(self, groups: int = 5) -> tuple[QuantileRow, ...]:
        """Equal-count groups ranked by profit (see :func:`profit_quantile_table`)."""
        return profit_quantile_table(self.revenue, self.cost, groups=groups)

    def _columns(self) -> Columns:
        return {
            "revenue": self.revenue,
            "cost_of_goods": self.cost_of_goods,
            "cost_to_serve": self.cost_to_serve,
            "cost": self.cost,
            "profit": self.profit,
        }


def customer_profitability(
    revenue: npt.ArrayLike,
    cost_of_goods: npt.ArrayLike,
    cost_to_serve: npt.ArrayLike | CostBreakdown,
    *,
    nan_policy: str = "raise",
) -> Profitability:
    """Per-customer profitability; every input is non-negative and aligned by customer.

    A customer is missing when any input is NaN (the one NaN policy): ``omit``
    keeps the other customers only, ``propagate`` gives the missing customer
    a NaN profit. A cost or profit beyond the float range is an error.

    >>> p = customer_profitability([100.0, 20.0], [60.0, 12.0], [5.0, 30.0])
    >>> p.profit.tolist()
    [35.0, -22.0]
    """
    cts = cost_to_serve.total() if isinstance(cost_to_serve, CostBreakdown) else cost_to_serve
    split = apply_nan_policy(
        {"revenue": revenue, "cost_of_goods": cost_of_goods, "cost_to_serve": cts},
        policy=nan_policy,
    )
    arrays = dict(split.arrays)
    for key, a in arrays.items():
        check_nonnegative(a, name=key)
    result = Profitability(**arrays)
    with np.errstate(over="ignore", invalid="ignore"):
        # every input is >= 0, so |cost| and |profit| of a customer are at most the sum of
        # all inputs: when that is finite nothing can overflow (one sum per input, no copy)
        bound = sum(
            np.add.reduce(a[~np.isnan(a)] if split.has_missing else a) for a in arrays.values()
        )
        if not np.isfinite(bound):  # an overflow is refused by name just below
            _check_finite_sums(
                result.cost, what="'cost_of_goods' + 'cost_to_serve'", inputs="the costs"
            )
            _check_finite_sums(result.profit, what="the profit", inputs="'revenue' and the costs")
    return result


@attrs.frozen
class WhaleCurve:
    """The whale curve summarised: ``peak_share`` = profit of the profitable customers / total profit.

    ``erosion = peak_share − 1``: the share of total profit the loss-makers
    destroy; ``loss`` is their (negative) profit in currency.

    >>> whale_curve([30.0, -10.0]).peak_share
    1.5
    """

    n: int = attrs.field(validator=number(0, integer=True, at_least=("peak_customers",)))
    total_profit: float = attrs.field(validator=FINITE)
    peak_profit: float = attrs.field(validator=FINITE)
    peak_customers: int = attrs.field(validator=COUNT)
    loss: float = attrs.field(validator=FINITE)
    loss_customers: int = attrs.field(validator=COUNT)

    @property
    def peak_share(self) -> float:
        """The height of the hump, as a share of total profit (e.g. 1.5–3.0)."""
        return self.peak_profit / self.total_profit

    @property
    def peak_fraction(self) -> float:
        """Share of customers ranked before the peak (the profitable ones)."""
        return self.peak_customers / self.n

    @property
    def erosion(self) -> float:
        """``peak_share − 1``: what the loss-making customers take back, as a share of total profit."""
        return self.peak_share - 1.0


def whale_curve(profit: npt.ArrayLike, *, nan_policy: str = "raise") -> WhaleCurve:
    """Summarise the whale curve of per-customer profit (one sort).

    The total profit must be > 0 (shares of it are undefined otherwise);
    customers with zero profit are counted after the peak but do not erode it.
    The curve itself: ``concentration(profit).pareto_curve()``.

    >>> whale_curve([-5.0, -1.0])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: the total of 'profit' must be > 0 for shares of it: -6.0
    """
    s_values, n_nan = _sorted_values(profit, name="profit", nan_policy=nan_policy)
    c = _build(s_values, n_nan)
    total_s = c._require_shares("profit")
    s = c.sorted_values
    n_neg = c.negatives
    n_pos = c.n - int(np.searchsorted(s, 0.0, side="right"))
    loss_s = c._prefix(n_neg)  # sums are kept scaled for huge values: unscaled once here
    with np.errstate(over="ignore"):  # refused by name just below
        total, peak, loss = (c._unscale(v) for v in (total_s, total_s - loss_s, loss_s))
    if not np.isfinite([total, peak, loss]).all():
        raise ValidationError(
            "the total profit of 'profit' overflows the float range (beyond 1.8e308): "
            f"{total!r}; express it in larger units"
        )
    return WhaleCurve(
        n=c.n,
        total_profit=total,
        peak_profit=peak,
        peak_customers=n_pos,
        loss=loss,
        loss_customers=n_neg,
    )


@attrs.frozen
class QuantileRow:
    """One group of a profit-ranked quantile table (group 1 = the most profitable customers).

    >>> QuantileRow(group=5, customers=10, revenue=100.0, cost=350.0).cost_to_revenue
    3.5
    """

    group: int = attrs.field(validator=COUNT)
    customers: int = attrs.field(validator=COUNT)
    revenue: float = attrs.field(validator=FINITE)
    cost: float = attrs.field(validator=FINITE)

    @property
    def profit(self) -> float:
        """Revenue − cost of the group."""
        return self.revenue - self.cost

    @property
    def revenue_to_cost(self) -> float | None:
        """Revenue / cost (None when the group has no cost)."""
        return self.revenue / self.cost if self.cost else None

    @property
    def cost_to_revenue(self) -> float | None:
        """Cost / revenue (None when the group has no revenue)."""
        return self.cost / self.revenue if self.revenue else None


def profit_quantile_table(
    revenue: npt.ArrayLike,
    cost: npt.ArrayLike,
    *,
    groups: int = 5,
    rank_by: npt.ArrayLike | None = None,
    nan_policy: str = "raise",
) -> tuple[QuantileRow, ...]:
    """Quintile (``groups=5``) or decile table of revenue and cost, ranked by profit (best first).

    Groups have equal counts (the first ``n % groups`` get one more). Tie
    policy: this is the one place where ties can be split, because the
    groups must have equal counts; tied customers are ordered by their index
    (a stable sort), so the table is deterministic. ``rank_by`` replaces
    profit as the ranking value (for example CLV). ``nan_policy``: ``"raise"``
    (default) or ``"omit"`` (a customer with any NaN input is left out);
    a table of sums cannot propagate NaN.

    >>> rows = profit_quantile_table([120, 60, 30, 10, 5], [20, 30, 25, 30, 20], groups=5)
    >>> [(r.group, r.profit, round(r.revenue_to_cost, 2)) for r in rows]
    [(1, 100.0, 6.0), (2, 30.0, 2.0), (3, 5.0, 1.2), (4, -15.0, 0.25), (5, -20.0, 0.33)]
    """
    validate_nan_policy(nan_policy, allowed=("raise", "omit"), what="a table of sums")
    inputs = {"revenue": revenue, "cost": cost}
    if rank_by is not None:
        inputs["rank_by"] = rank_by
    split = apply_nan_policy(inputs, policy=nan_policy)
    rev, cst = split.arrays["revenue"], split.arrays["cost"]
    n = len(rev)
    groups = as_count(groups, name="groups", low=1, high=2**63 - 1)
    if n < groups:
        raise ValidationError(f"{groups} groups need at least {groups} customers: got {n}")
    with np.errstate(over="ignore"):  # overflows are refused by name below
        key = rev - cst if rank_by is None else split.arrays["rank_by"]
        order = np.argsort(-key, kind="stable")
        r_cum = np.concatenate(([0.0], np.cumsum(rev[order])))
        c_cum = np.concatenate(([0.0], np.cumsum(cst[order])))
    _check_finite_sums(key, what="'revenue' − 'cost'", inputs="'revenue' and 'cost'")
    sizes = np.full(groups, n // groups)
    sizes[: n % groups] += 1
    bounds = np.concatenate(([0], np.cumsum(sizes)))
    _check_finite_sums(r_cum, what="the sum of 'revenue'", inputs="'revenue'")
    _check_finite_sums(c_cum, what="the sum of 'cost'", inputs="'cost'")
    return tuple(
        QuantileRow(
            group=g + 1,
            customers=int(sizes[g]),
            revenue=float(r_cum[bounds[g + 1]] - r_cum[bounds[g]]),
            cost=float(c_cum[bounds[g + 1]] - c_cum[bounds[g]]),
        )
        for g in range(groups)
    )
