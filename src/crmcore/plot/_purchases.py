"""Diagnostic plots of a fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD, GG/NBD) against
its data: repeat-purchase counts, calibration vs holdout, and the frequency/recency matrices.

The same checks as the lifetimes plots (``plot_period_transactions``,
``plot_calibration_purchases_vs_holdout_purchases``, ``plot_frequency_recency_matrix``,
``plot_probability_alive_matrix``) with two differences: the model's bars are the expected
counts (a sum of probabilities over the customers), not one random simulation, and the last
bar/point gathers every customer at or above ``max_frequency``, so both series add up to the
number of customers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from crmcore.arrays import FloatArray
from crmcore.durations import check_same_unit
from crmcore.errors import ValidationError
from crmcore.options import as_count, as_number, expect_instance
from crmcore.plot._base import ACTUAL, MODEL, axes, thousands, tidy, unit_name
from crmcore.valuation.btyd import PurchaseModelBase, RFMSummary

if TYPE_CHECKING:
    from matplotlib.axes import Axes

_MAX_BARS = 100
_MAX_CELLS = 250_000


def purchase_model(model: object) -> PurchaseModelBase:
    """A fitted purchase model without covariates, else an error naming ``model``."""
    if not isinstance(model, PurchaseModelBase):
        raise ValidationError(
            "'model' must be a fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD, "
            f"Gamma-Gompertz/NBD): {type(model).__name__}"
        )
    if model.covariates is not None:
        raise ValidationError(
            "'model' was fitted with covariates: these plots take a model without covariates"
        )
    return model


def _summary(summary: object, model: PurchaseModelBase) -> RFMSummary:
    s = expect_instance(summary, RFMSummary, name="summary", what="an RFMSummary")
    if len(s) == 0:
        raise ValidationError("'summary' holds no customer")
    check_same_unit(s.time_unit, model.time_unit, what="the summary", against="the model")
    return s


def _labels(max_frequency: int) -> list[str]:
    return [str(k) for k in range(max_frequency)] + [f"{max_frequency}+"]


def repeat_purchase_counts(
    model: PurchaseModelBase, summary: RFMSummary, max_frequency: int
) -> tuple[FloatArray, FloatArray]:
    """Customers with 0, 1, ..., ``max_frequency - 1`` and ``max_frequency`` or more repeat
    purchases: actual, and expected under the model (sum over customers of P(X(T_i) = k))."""
    x = np.minimum(summary.frequency, max_frequency).astype(np.int64)
    actual = np.bincount(x, minlength=max_frequency + 1).astype(np.float64)
    ages, count = np.unique(summary.T, return_counts=True)
    ks = np.arange(max_frequency, dtype=np.float64)
    kk, tt = (a.ravel() for a in np.meshgrid(ks, ages, indexing="ij"))
    p = model.probability_of_purchases(kk, tt).reshape(max_frequency, len(ages))
    below = p @ count.astype(np.float64)
    expected = np.append(below, max(float(len(summary)) - float(below.sum()), 0.0))
    return actual, expected


def plot_period_transactions(
    model: Any, summary: Any, *, max_frequency: int = 7, ax: Axes | None = None
) -> Axes:
    """Customers by number of repeat purchases in the calibration period: actual vs model.

    The first check of a purchase model (Fader, Hardie & Lee 2005, fig. 1): bars of the
    customers with 0, 1, 2, ... repeat purchases, beside the number the model expects given
    each customer's time since her first purchase (``summary.T``). The last pair gathers
    ``max_frequency`` or more. ``model`` is a fitted purchase model, ``summary`` the
    :class:`~crmcore.valuation.RFMSummary` it was fitted on (same time unit).

    >>> from crmcore.datasets import load_cdnow_sample
    >>> from crmcore.valuation import fit_bgnbd, summarize_transactions
    >>> s = summarize_transactions(load_cdnow_sample(), time_unit="W",
    ...                            calibration_end="1997-09-30", observation_end="1998-06-30")
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_period_transactions(fit_bgnbd(s), s, ax=ax) is ax
    True
    >>> ax.get_title(), len(ax.patches)
    ('Repeat purchases per customer: actual vs model', 16)
    >>> [round(p.get_height()) for p in ax.patches[:3]]   # actual: customers with 0, 1, 2
    [1411, 439, 214]
    """
    m = purchase_model(model)
    s = _summary(summary, m)
    k = as_count(max_frequency, name="max_frequency", low=1, high=_MAX_BARS)
    actual, expected = repeat_purchase_counts(m, s, k)
    ax = axes(ax)
    pos = np.arange(k + 1)
    w = 0.4
    ax.bar(pos - w / 2, actual, w, label="Actual", color=ACTUAL, zorder=2)
    ax.bar(pos + w / 2, expected, w, label="Model (expected)", color=MODEL, zorder=2)
    ax.set_xticks(pos, _labels(k))
    ax.set_xlabel(
        f"Repeat purchases in the calibration period (up to {float(s.T.max()):.0f} "
        f"{unit_name(s.time_unit)} per customer)"
    )
    ax.set_ylabel("Customers")
    ax.set_title("Repeat purchases per customer: actual vs model")
    thousands(ax)
    tidy(ax)
    ax.legend(frameon=False)
    return ax


def holdout_by_frequency(
    model: PurchaseModelBase, summary: RFMSummary, max_frequency: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Per calibration frequency 0..``max_frequency - 1`` and ``max_frequency``+: customers,
    mean actual holdout purchases, mean purchases the model expects in the holdout."""
    if summary.holdout_frequency is None or summary.holdout_duration is None:
        raise ValidationError(
            "'summary' has no holdout period: summarise with calibration_end before "
            "observation_end (summarize_transactions(..., calibration_end=...))"
        )
    if summary.holdout_duration <= 0:
        raise ValidationError(
            f"'summary' has a holdout period of length 0: {summary.holdout_duration!r}"
        )
    predicted = model.conditional_expected_purchases(summary.holdout_duration, summary)
    group = np.minimum(summary.frequency, max_frequency).astype(np.int64)
    n = np.bincount(group, minlength=max_frequency + 1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        actual = np.bincount(group, summary.holdout_frequency, max_frequency + 1) / n
        expected = np.bincount(group, predicted, max_frequency + 1) / n
    return n, actual, expected


def plot_calibration_vs_holdout(
    model: Any, summary: Any, *, max_frequency: int = 7, ax: Axes | None = None
) -> Axes:
    """Mean purchases in the holdout period by purchases in the calibration period: actual vs
    model (the model's conditional expectation for the holdout's length).

    The out-of-sample check of a purchase model (Fader, Hardie & Lee 2005, fig. 4):
    customers are grouped by their calibration repeat purchases (``max_frequency`` or more
    in the last group); the two lines should lie close together. ``summary`` is an
    :class:`~crmcore.valuation.RFMSummary` with a holdout period
    (``summarize_transactions(..., calibration_end=..., observation_end=...)``). Groups
    without customers are left out of the lines.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> from crmcore.valuation import fit_bgnbd, summarize_transactions
    >>> s = summarize_transactions(load_cdnow_sample(), time_unit="W",
    ...                            calibration_end="1997-09-30", observation_end="1998-06-30")
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_calibration_vs_holdout(fit_bgnbd(s), s, ax=ax) is ax
    True
    >>> ax.get_title()
    'Purchases in the holdout period: actual vs model'
    >>> [round(float(v), 3) for v in ax.lines[0].get_ydata()[:2]]   # actual, 0 and 1 repeats
    [0.237, 0.697]
    """
    m = purchase_model(model)
    s = _summary(summary, m)
    k = as_count(max_frequency, name="max_frequency", low=1, high=_MAX_BARS)
    n, actual, expected = holdout_by_frequency(m, s, k)
    assert s.holdout_duration is not None  # checked above
    ax = axes(ax)
    pos = np.arange(k + 1)
    seen = n > 0
    ax.plot(pos[seen], actual[seen], "o-", color=ACTUAL, label="Actual", lw=2, zorder=3)
    ax.plot(pos[seen], expected[seen], "s--", color=MODEL, label="Model (expected)", lw=2, zorder=3)
    ax.set_xticks(pos, _labels(k))
    unit = unit_name(s.time_unit)
    ax.set_xlabel("Repeat purchases in the calibration period")
    ax.set_ylabel(f"Mean purchases per customer\nin the next {s.holdout_duration:.0f} {unit}")
    ax.set_title("Purchases in the holdout period: actual vs model")
    ax.set_ylim(bottom=0)
    tidy(ax)
    ax.legend(frameon=False)
    return ax


def _grid(
    model: PurchaseModelBase,
    summary: Any,
    max_frequency: Any,
    max_recency: Any,
) -> tuple[int, float, str | None]:
    """(largest frequency, largest recency = the customers' age, time unit) of a matrix."""
    unit = model.time_unit
    if summary is not None:
        s = _summary(summary, model)
        f_hi = int(s.frequency.max()) if max_frequency is None else None
        r_hi = float(s.T.max()) if max_recency is None else None
    elif max_frequency is None or max_recency is None:
        raise ValidationError(
            "pass 'summary' (the data the model was fitted on) or both 'max_frequency' and "
            "'max_recency'"
        )
    else:
        f_hi = r_hi = None
    f = as_count(f_hi if f_hi is not None else max_frequency, name="max_frequency", low=1)
    r = as_number(r_hi if r_hi is not None else max_recency, name="max_recency", low=0)
    if r < 1:
        raise ValidationError(f"'max_recency' must be >= 1 (in the model's time unit): {r!r}")
    cells = (f + 1) * (int(np.floor(r)) + 1)
    if cells > _MAX_CELLS:
        raise ValidationError(
            f"the matrix would hold {cells:,} cells (max_frequency {f}, max_recency {r:g}): "
            f"at most {_MAX_CELLS:,}; pass smaller 'max_frequency' / 'max_recency'"
        )
    return f, r, unit


def _matrix(
    model: PurchaseModelBase, f_hi: int, r_hi: float, t: float | None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Recency values (rows), frequency values (columns) and the model's value per cell for a
    customer of age ``r_hi``; NaN where the history is impossible (no repeat purchase but a
    recency, or repeats at recency 0)."""
    rec = np.arange(int(np.floor(r_hi)) + 1, dtype=np.float64)
    freq = np.arange(f_hi + 1, dtype=np.float64)
    ff, rr = np.meshgrid(freq, rec)
    ok = (ff == 0) == (rr == 0)
    z = np.full(ff.shape, np.nan)
    x, tx, age = ff[ok], rr[ok], np.full(int(ok.sum()), r_hi)
    if t is None:
        z[ok] = model.probability_alive(x, tx, age)
    else:
        z[ok] = model.conditional_expected_purchases(t, x, tx, age)
    return rec, freq, z


def _heatmap(
    ax: Any, rec: FloatArray, freq: FloatArray, z: FloatArray, cmap: str, vmax: float | None
) -> Any:
    import matplotlib as mpl

    colours = mpl.colormaps[cmap].with_extremes(bad="#eeeeee")
    img = ax.imshow(
        np.ma.masked_invalid(z),
        origin="lower",
        aspect="auto",
        interpolation="nearest",
        cmap=colours,
        vmin=0.0,
        vmax=vmax,
        extent=(freq[0] - 0.5, freq[-1] + 0.5, rec[0] - 0.5, rec[-1] + 0.5),
    )
    return img


def plot_frequency_recency_matrix(
    model: Any,
    summary: Any = None,
    *,
    t: float = 1.0,
    max_frequency: int | None = None,
    max_recency: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Expected purchases in the next ``t`` time units by a customer's frequency and recency.

    Each cell is a customer of age ``max_recency`` (the oldest in ``summary`` by default)
    with that many repeat purchases, the last one at that recency: the best customers are in
    the top right (many purchases, the last one recent), the customers who bought often but
    stopped long ago are in the bottom right. Grey cells are impossible histories (a recency
    without a repeat purchase). ``summary`` sets the ranges (its largest frequency and T);
    without it pass ``max_frequency`` and ``max_recency`` (in the model's time unit).

    >>> from crmcore.datasets import load_cdnow_sample
    >>> from crmcore.valuation import fit_bgnbd, summarize_transactions
    >>> s = summarize_transactions(load_cdnow_sample(), time_unit="W",
    ...                            calibration_end="1997-09-30", observation_end="1998-06-30")
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_frequency_recency_matrix(fit_bgnbd(s), s, t=4, ax=ax) is ax
    True
    >>> ax.get_title()
    'Expected purchases in the next 4 weeks, by frequency and recency'
    >>> ax.images[0].get_array().shape   # recency 0..38 weeks x frequency 0..29
    (39, 30)
    """
    m = purchase_model(model)
    horizon = as_number(t, name="t", low=0, inclusive=(False, True))
    f_hi, r_hi, unit = _grid(m, summary, max_frequency, max_recency)
    rec, freq, z = _matrix(m, f_hi, r_hi, horizon)
    ax = axes(ax)
    img = _heatmap(ax, rec, freq, z, "viridis", None)
    bar = ax.figure.colorbar(img, ax=ax)
    bar.set_label(f"Expected purchases in the next {horizon:g} {unit_name(unit)}")
    _matrix_labels(ax, r_hi, unit)
    ax.set_title(
        f"Expected purchases in the next {horizon:g} {unit_name(unit)}, by frequency and recency"
    )
    return ax


def plot_probability_alive_matrix(
    model: Any,
    summary: Any = None,
    *,
    max_frequency: int | None = None,
    max_recency: float | None = None,
    ax: Axes | None = None,
) -> Axes:
    """P(still a customer) by a customer's frequency and recency.

    Read it as :func:`plot_frequency_recency_matrix`: a customer of age ``max_recency``
    with that many repeat purchases, the last one at that recency. Frequent buyers who have
    not bought for a long time (bottom right) are the ones the model believes lost.

    >>> from crmcore.datasets import load_cdnow_sample
    >>> from crmcore.valuation import fit_bgnbd, summarize_transactions
    >>> s = summarize_transactions(load_cdnow_sample(), time_unit="W",
    ...                            calibration_end="1997-09-30", observation_end="1998-06-30")
    >>> from matplotlib.figure import Figure
    >>> ax = Figure().subplots()  # None: a new pyplot figure (Jupyter shows it)
    >>> plot_probability_alive_matrix(fit_bgnbd(s), s, ax=ax) is ax
    True
    >>> ax.get_title()
    'Probability that a customer is still active, by frequency and recency'
    >>> float(ax.images[0].get_array()[0, 0])   # no repeat purchase: alive for BG/NBD
    1.0
    """
    m = purchase_model(model)
    f_hi, r_hi, unit = _grid(m, summary, max_frequency, max_recency)
    rec, freq, z = _matrix(m, f_hi, r_hi, None)
    ax = axes(ax)
    img = _heatmap(ax, rec, freq, z, "RdYlGn", 1.0)
    bar = ax.figure.colorbar(img, ax=ax, format="{x:.0%}")
    bar.set_label("P(still a customer)")
    _matrix_labels(ax, r_hi, unit)
    ax.set_title("Probability that a customer is still active, by frequency and recency")
    return ax


def _matrix_labels(ax: Any, age: float, unit: str | None) -> None:
    u = unit_name(unit)
    ax.set_xlabel("Repeat purchases (frequency)")
    ax.set_ylabel(f"Time of the last purchase\n({u} after the first; recency)")
    ax.text(
        0.0,
        -0.16,
        f"Customers {age:.0f} {u} after their first purchase",
        transform=ax.transAxes,
        fontsize="small",
        color="0.35",
        va="top",
    )
