"""Shared machinery of the BTYD models: input checks, row compression, maximum likelihood.

Every fit goes through :func:`maximize`: the negative mean log-likelihood is
minimised over the logarithms of the (positive) parameters. Models that give
their analytic Hessian (all but Pareto/NBD's fallback path) run scipy's
trust-region Newton method (``trust-krylov``), a handful of iterations from
data-driven start values; otherwise, or when it stalls, BFGS with the analytic
gradient, restarted from a Nelder-Mead polish. Standard errors come from the
Hessian of the log-likelihood in the natural parametrisation at the optimum
(analytic where the model has it, numerical otherwise).

>>> import numpy as np
>>> rows, w = compress_rows(np.array([1, 1, 0]), np.array([2.0, 2.0, 0.0]), weights=None)
>>> [r.tolist() for r in rows], w.tolist()
([[0.0, 1.0], [0.0, 2.0]], [1.0, 2.0])
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence, Sized
from typing import Any, TypeVar

import attrs
import numpy as np
import numpy.typing as npt
from scipy.special import zeta

from crmcore.arrays import (
    FloatArray,
    apply_nan_policy,
    as_float_array,
    check_exact_total,
    check_integer_valued,
    check_nonnegative,
    check_same_length,
    validate_nan_policy,
)
from crmcore.errors import ValidationError
from crmcore.fitting import FitSummary, LogLik, Newton, maximum_likelihood
from crmcore.options import MAX_PERIODS, as_number
from crmcore.valuation.btyd._blocks import (
    BLOCK,
    CHUNK,
    blocks,
    chunked,
    is_kernel,
    scratch,
    valid_block,
)

__all__ = [
    "CHUNK",
    "MaxResult",
    "aligned",
    "as_counts",
    "blocks",
    "check_customers",
    "check_rft",
    "chunked",
    "compress_rows",
    "elementwise",
    "factorize_rows",
    "fit_rows",
    "map_rft",
    "maximize",
    "per_row",
    "positive",
    "time_penalty_scales",
    "time_steps",
    "trigamma",
    "weights_or_ones",
]


def trigamma(z: npt.ArrayLike) -> Any:
    """The trigamma function psi_1(z) = zeta(2, z) for z > 0 (scipy's ``polygamma(1, z)``
    without its Python-level dispatch, which costs more than the evaluation here).

    >>> round(float(trigamma(1.0)), 12)  # pi^2 / 6
    1.644934066848
    """
    return zeta(2.0, z)


def positive(_inst: object, attribute: attrs.Attribute[float], value: float) -> None:
    """attrs validator: a finite float > 0 (model parameters, standard errors), through
    :func:`crmcore.options.as_number` (``10**400`` and non-numbers named too).

    >>> positive(None, attrs.fields(MaxResult).log_likelihood, -1.0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'log_likelihood' must be > 0: -1.0
    """
    as_number(value, name=attribute.name, low=0, inclusive=(False, True))


def as_counts(values: npt.ArrayLike, *, name: str) -> FloatArray:
    """Non-negative whole numbers as float64 (frequencies, periods).

    >>> as_counts([0, 2], name="frequency").tolist()
    [0.0, 2.0]
    """
    arr = as_float_array(values, name=name)
    _check_counts(arr, name=name)
    return arr


def _check_counts(arr: FloatArray, *, name: str) -> None:
    """Whole numbers in [0, MAX_PERIODS]: a count of purchase periods or opportunities (a
    frequency counts the periods with a repeat purchase, so it is capped like a horizon)."""
    check_nonnegative(arr, name=name)
    check_integer_valued(arr, name=name)
    big = arr > MAX_PERIODS
    if big.any():
        i = int(np.flatnonzero(big)[0])
        raise ValidationError(
            f"{name!r} must be at most {MAX_PERIODS} (a count of periods): {arr[i]:g} at index {i}"
        )


def _aligned(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """The three columns as float64 vectors of one length, when they already are numpy vectors."""
    arrs = []
    for v in (frequency, recency, T):
        if not isinstance(v, np.ndarray) or v.ndim != 1 or len(v) == 0 or v.dtype.kind not in "iuf":
            return None
        arrs.append(v if v.dtype == np.float64 else v.astype(np.float64))
    x, t_x, tt = arrs
    return (x, t_x, tt) if len(x) == len(t_x) == len(tt) else None


def _fast_rft(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike
) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """The common case (aligned valid float arrays) checked block by block; None otherwise."""
    arrs = _aligned(frequency, recency, T)
    if arrs is None:
        return None
    x, t_x, tt = arrs
    ok = [True]

    def check(lo: int, hi: int) -> None:
        if not valid_block(x[lo:hi], t_x[lo:hi], tt[lo:hi], scratch(hi - lo)):
            ok[0] = False

    blocks(check, len(x), BLOCK)
    return arrs if ok[0] else None


def map_rft(
    fn: Callable[..., Any],
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    size: int | None = None,
) -> FloatArray:
    """Validate a (frequency, recency, T) history and apply the element-wise ``fn`` in the same
    pass, block by block (each block is checked while it is in cache, then computed); a bad
    value raises the error of :func:`check_rft`, naming the first bad row.

    ``fn(x, t_x, T)`` returns a block's values; a
    :func:`~crmcore.valuation.btyd._blocks.block_kernel` ``fn(x, t_x, T, out, scratch)``
    writes them into ``out`` with the thread's scratch buffers, which hold the block's
    largest frequency and age found by the check (blocks of
    :data:`~crmcore.valuation.btyd._blocks.BLOCK` rows, else :data:`CHUNK`, unless ``size``).

    >>> map_rft(lambda x, tx, T: x + tx, np.array([1.0]), np.array([2.0]), np.array([3.0])).tolist()
    [3.0]
    """
    arrs = _aligned(frequency, recency, T)
    if arrs is None:
        return chunked(fn, *check_rft(frequency, recency, T), size=size)
    x, t_x, tt = arrs
    kernel = is_kernel(fn)
    out = np.empty(len(x), dtype=np.float64)
    ok = [True]

    def run(lo: int, hi: int) -> None:
        xb, tb, Tb = x[lo:hi], t_x[lo:hi], tt[lo:hi]
        sc = scratch(hi - lo)
        if not valid_block(xb, tb, Tb, sc):
            ok[0] = False
        elif kernel:
            fn(xb, tb, Tb, out[lo:hi], sc)
        else:
            out[lo:hi] = fn(xb, tb, Tb)

    blocks(run, len(x), size or (BLOCK if kernel else CHUNK))
    if not ok[0]:
        return chunked(fn, *check_rft(frequency, recency, T), size=size)
    return out


def check_rft(
    frequency: npt.ArrayLike,
    recency: npt.ArrayLike,
    T: npt.ArrayLike,
    *,
    broadcast: bool = True,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Validate a (frequency, recency, T) history: finite counts, 0 <= recency <= T, and
    recency 0 exactly when frequency is 0 (a repeat purchase happens after the first one).

    The one rule for every BTYD fit and prediction (the block-wise fast path of
    :func:`map_rft` applies the same rule). Lengths are checked before anything is
    broadcast: with ``broadcast`` a scalar stands for every customer, but 1-D inputs must
    have one length.

    >>> check_rft([1], [5.0], [4.0])
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'recency' must be <= 'T': 5.0 > 4.0 at index 0
    >>> check_rft([1, 2], [1.0, 2.0, 3.0], 4.0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: inputs must have the same length: frequency has 2, recency has 3
    """
    fast = _fast_rft(frequency, recency, T)
    if fast is not None:
        return fast
    x, t_x, tt = aligned(
        {"frequency": frequency, "recency": recency, "T": T},
        counts=("frequency",),
        broadcast=broadcast,
    )
    check_nonnegative(t_x, name="recency")
    check_nonnegative(tt, name="T")
    bad = t_x > tt
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"'recency' must be <= 'T': {t_x[i]} > {tt[i]} at index {i}")
    bad = (x == 0) & (t_x != 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"'recency' must be 0 when 'frequency' is 0: {t_x[i]} at index {i}")
    bad = (x > 0) & (t_x == 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            f"'recency' must be > 0 when 'frequency' is > 0 (repeat purchases come after "
            f"the first): frequency {x[i]} with recency 0 at index {i}"
        )
    return x, t_x, tt


def aligned(
    columns: dict[str, npt.ArrayLike],
    *,
    counts: Sequence[str] = (),
    broadcast: bool = True,
) -> list[FloatArray]:
    """Aligned 1-D inputs of a function that takes ``nan_policy``, under ``'raise'``: float64,
    finite, one length checked before any broadcasting (with ``broadcast`` an input given as
    a scalar stands for every row); the inputs named in ``counts`` must hold whole numbers
    >= 0. A NaN is refused naming the argument and row, recommending ``nan_policy='omit'``.

    >>> [a.tolist() for a in aligned({"x": [1, 2], "m": 3.0}, counts=("x",))]
    [[1.0, 2.0], [3.0, 3.0]]
    >>> aligned({"x": [1, 2], "m": [3.0]})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: inputs must have the same length: x has 2, m has 1
    """
    split = apply_nan_policy(columns, policy="raise", broadcast=tuple(columns) if broadcast else ())
    for name in counts:
        _check_counts(split.arrays[name], name=name)
    return [split.arrays[k] for k in columns]


MAX_FIT_AGE = 1e10
"""The longest customer age ``T`` (in the data's time unit) that a BG/NBD or Pareto/NBD fit
takes: the fit's time-scale parameters (alpha, beta) live below e**25 (about 7.2e10), so
ages beyond this cannot be fitted (over 27 million years in days, 317 years in seconds)."""


TIME_SCALES = {"alpha": "'recency' and 'T'", "beta": "'recency' and 'T'"}
"""The time-scale parameters of the BG/NBD and Pareto/NBD fits (``maximize(scales=...)``)."""


def fit_history(
    frequency: npt.ArrayLike, recency: npt.ArrayLike, T: npt.ArrayLike, *, model: str
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The history a fit takes: the rule of :func:`check_rft` (one row per customer, no
    broadcasting), at least one customer, and ages ``T`` of at most :data:`MAX_FIT_AGE`
    (recency is at most T), so an extreme time scale is refused by name up front instead of
    failing inside the optimiser.

    >>> fit_history([1, 0], [2.0, 0.0], [3.0, 1e12], model="BG/NBD")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'T' must be at most 1e+10 (in the data's time unit) for a BG/NBD fit: 1e+12 at index 1; express 'recency' and 'T' in a coarser time unit
    """
    x, tx, tt = check_rft(frequency, recency, T, broadcast=False)
    check_customers(len(x), model=model)
    if tt.max() > MAX_FIT_AGE:
        i = int(np.flatnonzero(tt > MAX_FIT_AGE)[0])
        raise ValidationError(
            f"'T' must be at most {MAX_FIT_AGE:g} (in the data's time unit) for a {model} fit: "
            f"{tt[i]:g} at index {i}; express 'recency' and 'T' in a coarser time unit"
        )
    return x, tx, tt


def check_customers(n: int, *, model: str) -> None:
    """Raise unless a fit has at least one customer (after ``nan_policy='omit'``).

    >>> check_customers(0, model="BG/NBD")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: BG/NBD needs at least one customer: got 0 rows
    """
    if n < 1:
        raise ValidationError(f"{model} needs at least one customer: got {n} rows")


def fit_rows(
    nan_policy: str,
    columns: dict[str, npt.ArrayLike | None],
    *,
    model: str,
    rows: dict[str, npt.ArrayLike | None] | None = None,
) -> dict[str, Any]:
    """The NaN policy of a fit (an aggregate over customers): ``'raise'`` leaves the inputs to
    the fit's checks (a NaN is an error), ``'omit'`` drops every customer with a NaN in one of
    ``columns`` (aligned 1-D inputs; None entries are absent) and the same rows of the
    row-aligned ``rows`` (covariate matrices); ``'propagate'`` is refused, because a fit of
    data with a NaN would only be a NaN.

    >>> out = fit_rows("omit", {"frequency": [1, float("nan")], "weights": None}, model="BG/NBD")
    >>> out["frequency"].tolist(), out["weights"]
    ([1.0], None)
    >>> fit_rows("propagate", {"frequency": [1]}, model="BG/NBD")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'nan_policy' 'propagate' has no meaning for a BG/NBD fit (it would be NaN): it takes 'raise' or 'omit'
    """
    pol = validate_nan_policy(
        nan_policy, allowed=("raise", "omit"), what=f"a {model} fit (it would be NaN)"
    )
    given = {k: v for k, v in columns.items() if v is not None}
    extra = dict(rows or {})
    if pol == "raise":
        return {**columns, **extra}
    split = apply_nan_policy(given, policy="omit")
    out: dict[str, Any] = {k: split.arrays.get(k) for k in columns}
    for k, v in extra.items():
        out[k] = None if v is None or split.mask.all() else np.asarray(v)[split.mask]
    return out


_F = TypeVar("_F", bound=Callable[..., FloatArray])


def elementwise(
    *columns: str,
    rows: Sequence[str] = (),
    prepare: Callable[[Any, dict[str, Any]], None] | None = None,
) -> Callable[[_F], _F]:
    """Give a per-customer prediction its ``nan_policy`` (the element-wise rule of
    :mod:`crmcore.arrays`), applied once by :func:`per_row`: the decorated function is the
    prediction under ``'raise'``; ``columns`` name its aligned inputs (scalars stand for
    every customer), ``rows`` its row-aligned matrices (covariates), cut to the rows kept.

    ``prepare(owner, arguments)`` (optional) rewrites the bound arguments in place before
    anything else (``owner`` is the first argument, the model of a method): a public
    prediction reads its columns from a summary and its horizon in the model's time unit
    there, so its body sees plain arrays.

    >>> @elementwise("x")
    ... def double(x, *, nan_policy="raise"):
    ...     return np.asarray(x, dtype=float) * 2
    >>> double([1.0, float("nan")], nan_policy="propagate").tolist()
    [2.0, nan]
    """

    def wrap(fn: _F) -> _F:
        sig = inspect.signature(fn)

        def finite(out: FloatArray, model: object) -> FloatArray:
            return finite_prediction(out, fn.__name__.lstrip("_"), model)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> FloatArray:
            policy = kwargs.pop("nan_policy", "raise")
            given = sig.bind(*args, **kwargs).arguments
            model = next(iter(given.values()), None)
            if prepare is not None:
                prepare(model, given)
            if policy == "raise":
                _check_lengths(given, columns)
                return finite(fn(**given), model)
            cols = {k: given[k] for k in columns}
            extra = {k: given.get(k) for k in rows}
            rest = {k: v for k, v in given.items() if k not in cols and k not in extra}
            return per_row(
                lambda **kept: finite(fn(**rest, **kept), model),
                policy,
                cols,
                broadcast=columns,
                rows=extra,
            )

        return inner  # type: ignore[return-value]

    return wrap


def finite_prediction(out: FloatArray, what: str, model: object) -> FloatArray:
    """``out`` when every value is finite; a prediction of finite inputs is never a silent
    NaN or infinity (parameters far outside the range the formula can evaluate, such as a
    BG/NBD fitted to a handful of customers with ``a`` and ``b`` in the hundreds of
    thousands, are reported instead)."""
    arr = np.asarray(out)
    if arr.dtype.kind == "f" and arr.size and not np.isfinite(np.sum(arr)):
        bad = ~np.isfinite(arr)
        if bad.any():
            i = int(np.flatnonzero(bad.ravel())[0])
            params = getattr(model, "params", None)
            shown = f" with {params}" if params is not None else ""
            raise ValidationError(
                f"{what}{shown} is not finite for the customer at index {i} "
                f"({arr.ravel()[i]}): the parameters are beyond the range where it can be "
                "evaluated in floating point"
            )
    return out


def _check_lengths(given: Mapping[str, Any], columns: Sequence[str]) -> None:
    """Aligned inputs of one length (a scalar stands for every customer), in O(1) per input,
    before numpy broadcasts them (a horizon ``t`` per customer was not checked)."""
    sized: dict[str, int] = {}
    for k in columns:
        v = given.get(k)
        if isinstance(v, np.ndarray):
            if v.ndim:
                sized[k] = v.shape[0]
        elif isinstance(v, Sized) and not isinstance(v, str | bytes):
            sized[k] = len(v)
    if len({n for n in sized.values() if n != 1}) > 1:  # length 1 broadcasts like a scalar
        shown = ", ".join(f"{k} has {n}" for k, n in sized.items())
        raise ValidationError(f"inputs must have the same length: {shown}")


def per_row(
    fn: Callable[..., FloatArray],
    nan_policy: str,
    columns: dict[str, npt.ArrayLike],
    *,
    broadcast: Sequence[str] = (),
    rows: dict[str, npt.ArrayLike | None] | None = None,
) -> FloatArray:
    """The element-wise NaN policy of a prediction (see :mod:`crmcore.arrays`): ``fn`` (the
    prediction under ``'raise'``) runs on the rows without NaN, keyword by keyword; with
    ``'omit'`` the result holds the rows kept, with ``'propagate'`` every row, NaN where an
    input is NaN. ``rows`` (covariate matrices) are cut to the same rows.

    >>> per_row(lambda x: x * 2, "propagate", {"x": [1.0, float("nan")]}).tolist()
    [2.0, nan]
    """
    split = apply_nan_policy(columns, policy=nan_policy, broadcast=broadcast)
    keep = split.rows[split.complete]
    cut = len(keep) < len(split.mask)
    extra = {
        k: np.asarray(v)[keep] if cut and v is not None else v for k, v in (rows or {}).items()
    }
    return split.fill(fn(**split.clean(), **extra))


def weights_or_ones(weights: npt.ArrayLike | None, n: int) -> FloatArray:
    """Per-row weights (counts of identical customers, at most 2**53 in all: beyond, a
    count of customers is not exact in float64); ones when None.

    >>> weights_or_ones(None, 2).tolist()
    [1.0, 1.0]
    >>> weights_or_ones([1e308, 1.0], 2)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'weights' must sum to at most 2**53 customers: 1e+308
    """
    if weights is None:
        return np.ones(n, dtype=np.float64)
    w = as_float_array(weights, name="weights")
    check_same_length(weights=w, rows=np.empty(n))
    check_nonnegative(w, name="weights")
    check_exact_total(w, name="weights", unit="customers")
    if not (w > 0).any():
        raise ValidationError("'weights' must not all be 0")
    return w


def compress_rows(
    *cols: npt.NDArray[Any], weights: FloatArray | None
) -> tuple[list[npt.NDArray[Any]], FloatArray]:
    """Identical rows of aligned columns merged into one with the summed weight (exact):
    the unique rows of :func:`factorize_rows` (column by column, sorted) and their weights
    (rows whose weights sum to 0 dropped).

    >>> rows, w = compress_rows(np.array([1.0, 1.0, 0.0]), np.array([2.0, 2.0, 0.0]), weights=None)
    >>> [r.tolist() for r in rows], w.tolist()
    ([[0.0, 1.0], [0.0, 2.0]], [1.0, 2.0])
    """
    rows, inverse = factorize_rows(*(np.asarray(c, dtype=np.float64) for c in cols))
    w = np.bincount(inverse, weights=weights, minlength=len(rows[0])).astype(np.float64)
    keep = w > 0
    if keep.all():
        return list(rows), w
    return [r[keep] for r in rows], w[keep]


@attrs.frozen
class MaxResult:
    """The optimum of a fit: natural parameters, log-likelihood, standard errors, status, and
    the :class:`~crmcore.fitting.FitSummary` it was read from."""

    theta: FloatArray
    log_likelihood: float
    standard_errors: FloatArray | None
    converged: bool
    message: str
    iterations: int
    summary: FitSummary


def maximize(
    loglik: LogLik,
    theta0: FloatArray,
    *,
    total_weight: float,
    model: str,
    names: Sequence[str],
    log_bound: float = 25.0,
    gtol: float = 1e-7,
    hessian: Callable[[FloatArray], FloatArray] | None = None,
    newton: Newton | None = None,
    free: int = 0,
    scales: dict[str, str] | None = None,
    penalizer: float = 0.0,
    penalty_scales: npt.ArrayLike | None = None,
) -> MaxResult:
    """:func:`crmcore.fitting.maximum_likelihood` with the BTYD models' arguments (the one
    engine; see there).

    >>> import numpy as np
    >>> def ll(th):  # Poisson rate 3 from 10 observations summing to 30
    ...     return 30 * np.log(th[0]) - 10 * th[0], np.array([30 / th[0] - 10])
    >>> res = maximize(ll, np.array([1.0]), total_weight=10, model="toy", names=["lam"])
    >>> round(float(res.theta[0]), 12), res.converged
    (3.0, True)
    """
    fit = maximum_likelihood(
        loglik,
        theta0,
        model=model,
        names=names,
        n=total_weight,
        free=free,
        newton=newton,
        hessian=hessian,
        penalizer=penalizer,
        penalty_scales=penalty_scales,
        scales=scales,
        log_bound=log_bound,
        gtol=gtol,
    )
    se = None if fit.standard_errors is None else np.array(fit.standard_errors)
    return MaxResult(
        np.array(fit.estimates),
        fit.log_likelihood,
        se,
        fit.converged,
        fit.message,
        fit.iterations,
        fit,
    )


def _whole_codes(col: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int64]] | None:
    """(sorted distinct values, code of each row) of a column of whole numbers with a small
    range, without sorting; None for any other column."""
    n = len(col)
    if n:
        lo, hi = float(col.min()), float(col.max())
        if hi - lo < 4 * n + 1024 and lo == np.floor(lo):
            shifted = col - lo
            as_int = shifted.astype(np.int64)
            if np.array_equal(as_int, shifted):
                present = np.zeros(int(hi - lo) + 1, dtype=bool)
                present[as_int] = True
                pos = np.cumsum(present) - 1
                uniq_int: FloatArray = (np.flatnonzero(present) + lo).astype(np.float64)
                return uniq_int, pos[as_int].astype(np.int64)
    return None


def _sorted_rows(cols: Sequence[FloatArray]) -> tuple[list[FloatArray], npt.NDArray[np.int64]]:
    """:func:`factorize_rows` of finite columns by one lexicographic sort (the first
    column most significant): the same unique rows in the same order."""
    order = np.lexsort(tuple(reversed(cols)))
    n = len(order)
    new = np.empty(n, dtype=bool)
    new[:1] = True
    new[1:] = False
    sorted_cols = [c[order] for c in cols]
    for c in sorted_cols:
        new[1:] |= c[1:] != c[:-1]
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.cumsum(new) - 1
    return [c[new] for c in sorted_cols], inverse


def _column_codes(col: FloatArray) -> tuple[FloatArray, npt.NDArray[np.int64]]:
    whole = _whole_codes(col)
    if whole is not None:
        return whole
    uniq = np.unique(col)
    return uniq, np.searchsorted(uniq, col).astype(np.int64)


def factorize_rows(*cols: FloatArray) -> tuple[list[FloatArray], npt.NDArray[np.int64]]:
    """Unique rows of aligned float columns and, per input row, the index of its unique row.

    Whole-number columns with a small range are coded without sorting; the
    packed keys are made unique through a dense table when it is small.

    >>> rows, inv = factorize_rows(np.array([2.0, 0.0, 2.0]), np.array([1.5, 0.0, 1.5]))
    >>> [r.tolist() for r in rows], inv.tolist()
    ([[0.0, 2.0], [0.0, 1.5]], [1, 0, 1])
    """
    n = len(cols[0])
    coded: list[tuple[FloatArray, npt.NDArray[np.int64]] | None] = []
    for c in cols:
        head = c[:64]
        known = None if np.any(head != np.floor(head)) else _whole_codes(c)
        if n and known is None and all(np.isfinite(col).all() for col in cols):
            # a column of fractions: one sort instead of one per column and one of the keys
            return _sorted_rows([np.ascontiguousarray(c) for c in cols])
        coded.append(known)
    uniqs: list[FloatArray] = []
    key = np.zeros(n, dtype=np.int64)
    size = 1
    for c, known in zip(cols, coded, strict=True):
        u, code = _column_codes(c) if known is None else known
        uniqs.append(u)
        size *= max(len(u), 1)
        if size >= 2**62:
            stacked = np.column_stack(cols)
            urows, inv = np.unique(stacked, axis=0, return_inverse=True)
            return [urows[:, j].copy() for j in range(len(cols))], inv.reshape(-1).astype(np.int64)
        key *= len(u)
        key += code
    if size <= 4 * n + 1024:
        present = np.zeros(size, dtype=bool)
        present[key] = True
        ukey = np.flatnonzero(present)
        pos = np.cumsum(present) - 1
        inverse = pos[key]
    else:
        ukey, inverse = np.unique(key, return_inverse=True)
    out: list[FloatArray] = []
    for u in reversed(uniqs):
        out.append(u[ukey % len(u)])
        ukey = ukey // len(u)
    out.reverse()
    return out, inverse.astype(np.int64)


def time_steps(t: npt.ArrayLike, *, name: str = "t") -> FloatArray:
    """Validate a horizon (scalar or array, finite, >= 0 and at most :data:`MAX_FIT_AGE`;
    a horizon has no NaN policy).

    >>> time_steps(-1.0)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 't' must be >= 0: -1.0 at index 0
    >>> time_steps(float("nan"))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 't' must be a number, not NaN: nan at index 0
    """
    arr = as_float_array(t, name=name, ndim=None, allow_nan=True)
    if arr.ndim > 1:
        raise ValidationError(f"{name!r} must be a number or 1-dimensional, got shape {arr.shape}")
    nan = np.isnan(arr.reshape(-1))
    if nan.any():
        i = int(np.flatnonzero(nan)[0])
        raise ValidationError(f"{name!r} must be a number, not NaN: nan at index {i}")
    check_nonnegative(arr.reshape(-1), name=name)
    if arr.size and arr.max() > MAX_FIT_AGE:
        i = int(np.flatnonzero(arr.reshape(-1) > MAX_FIT_AGE)[0])
        raise ValidationError(
            f"{name!r} must be at most {MAX_FIT_AGE:g} (in the model's time unit): "
            f"{arr.reshape(-1)[i]} at index {i}"
        )
    return arr


def summary_columns(
    frequency: Any, recency: Any, T: Any, *, unit: str | None, against: str
) -> tuple[Any, Any, Any, str | None]:
    """(frequency, recency, T, time unit) of a call given an
    :class:`~crmcore.valuation.btyd.summary.RFMSummary` as ``frequency`` (its columns and
    unit; a unit other than ``unit`` is an error naming ``against``) or three arrays (in
    ``unit``).

    >>> summary_columns([1], None, [3.0], unit=None, against="the model")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'recency' is required (or pass an RFMSummary as the first argument)
    """
    from crmcore.durations import check_same_unit
    from crmcore.valuation.btyd.summary import RFMSummary

    if isinstance(frequency, RFMSummary):
        if recency is not None or T is not None:
            raise ValidationError(
                "'recency' and 'T' come from the summary: pass the RFMSummary alone"
            )
        check_same_unit(frequency.time_unit, unit, what="the summary", against=against)
        return frequency.frequency, frequency.recency, frequency.T, frequency.time_unit
    for name, value in (("recency", recency), ("T", T)):
        if value is None:
            raise ValidationError(
                f"{name!r} is required (or pass an RFMSummary as the first argument)"
            )
    return frequency, recency, T, unit


def time_penalty_scales(names: Sequence[str], T: FloatArray) -> FloatArray:
    """The L2 penalty's scale per parameter of a BG/NBD-type fit: 1 / max(T) for the time
    scales (alpha, beta), 1 for the rest, so ``penalizer`` acts on the parameters of the time
    rescaled to max(T) = 1 as lifetimes' ``penalizer_coef`` does, and a penalised fit does not
    depend on the time unit.

    >>> time_penalty_scales(["r", "alpha", "a", "b"], np.array([10.0, 40.0])).tolist()
    [1.0, 0.025, 1.0, 1.0]
    """
    top = float(np.max(T)) if len(T) else 1.0
    return np.array([1.0 / top if n in TIME_SCALES and top > 0 else 1.0 for n in names])
