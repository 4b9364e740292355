"""BG/NBD and MBG/NBD P(alive) on the block-wise fast path (``_alive_block`` through
``map_rft`` and ``chunked``), against independent evaluations, and the block check against
the one (frequency, recency, T) rule.

The fast path checks each block of BLOCK customers while it is in cache (``valid_block``)
and evaluates it pass by pass in place, with a table of log(a / (b + x - 1 + s)) per whole
frequency and a finite stand-in for the BG/NBD x = 0 entry. What is checked here:

* equal (to 2 ulp) to the formula evaluated plainly with numpy in the same order, on every
  kind of input: daily grids, continuous ages, x = 0, t_x = T, frequencies past the table
  (2**16) up to MAX_PERIODS, ages where the x = 0 stand-in gives way to -inf, tiny and huge
  parameters, one row to several blocks run on several threads;
* within the formula's conditioning of an independent evaluator (log1p of the age ratio,
  scipy's expit) and of a 50-digit mpmath evaluation: the relative error of P is about
  (1 - P) times the absolute error of the exponent, which grows with (r + x) and the logs;
* the same answer bit for bit on 1 and 2 threads, and through ``map_rft`` (checked per block)
  and ``chunked`` (checked beforehand, as the conditional expectations call it);
* every bad input refused with the error of ``check_rft`` (the slow path names the first bad
  row), wherever the bad row is (first block, middle, a short last block);
* ``valid_block`` accepts a block exactly when ``check_rft`` does.
"""

from __future__ import annotations

import warnings

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from crmcore.errors import ValidationError
from crmcore.options import MAX_PERIODS
from crmcore.parallel import threads
from crmcore.valuation import BGNBDModel, BGNBDParams, MBGNBDModel
from crmcore.valuation.btyd._blocks import (
    BLOCK,
    Scratch,
    block_kernel,
    blocks,
    chunked,
    valid_block,
)
from crmcore.valuation.btyd._common import check_rft

EPS = np.finfo(float).eps
KINDS = ("daily", "continuous", "no_repeat", "at_T", "huge_x", "tiny_T", "old", "mixed")


def _history(kind: str, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Valid (frequency, recency, T) rows of one kind."""
    rng = np.random.default_rng(seed)
    if kind == "daily":  # whole days over two years
        T = rng.integers(0, 731, n).astype(float)
        x = np.where(T > 0, rng.poisson(rng.gamma(0.5, 4.0, n)), 0).astype(float)
        tx = np.where(x > 0, np.ceil(T * rng.uniform(0, 1, n)), 0.0)
        tx = np.minimum(tx, T)
        x[tx == 0] = 0
    elif kind == "continuous":
        T = rng.uniform(0, 80, n)
        x = rng.integers(0, 30, n).astype(float)
        tx = np.where(x > 0, T * rng.uniform(0.001, 1, n), 0.0)
    elif kind == "no_repeat":
        T = rng.uniform(0, 1e4, n)
        x, tx = np.zeros(n), np.zeros(n)
    elif kind == "at_T":
        T = rng.uniform(1e-3, 100, n)
        x = rng.integers(1, 50, n).astype(float)
        tx = T.copy()
    elif kind == "huge_x":  # past the frequency table, up to MAX_PERIODS
        x = rng.integers(1, MAX_PERIODS + 1, n).astype(float)
        x[: min(n, 3)] = [MAX_PERIODS, 2.0**16, 2.0**16 - 1][: min(n, 3)]
        T = rng.uniform(1, 1e7, n)
        tx = T * rng.uniform(0.999, 1, n)
    elif kind == "tiny_T":
        T = rng.uniform(0, 1e-6, n)
        x = rng.integers(0, 3, n).astype(float)
        tx = np.where(x > 0, T * rng.uniform(0.5, 1, n), 0.0)
        x[tx == 0] = 0
    elif kind == "old":  # ages where r log((alpha + T) / alpha) passes 600
        T = 10.0 ** rng.uniform(0, 250, n)
        x = rng.integers(0, 4, n).astype(float)
        tx = np.where(x > 0, T * rng.uniform(0.999, 1, n), 0.0)
    else:
        parts = [_history(k, n // 6 + 1, seed + i) for i, k in enumerate(KINDS[:6])]
        x, tx, T = (np.concatenate([p[j] for p in parts])[:n] for j in range(3))
        order = rng.permutation(len(x))
        x, tx, T = x[order], tx[order], T[order]
    return x, tx, T


def _plain(p: BGNBDParams, shift: int, x: np.ndarray, tx: np.ndarray, T: np.ndarray) -> np.ndarray:
    """The formula in numpy, in the order the fast path evaluates it, without blocks."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ld = np.log((T + p.alpha) / (tx + p.alpha)) * (x + p.r)
        ld = ld + (np.log(p.a) - np.log(np.maximum((x - 1 + shift) + p.b, 1e-300)))
        if not shift:
            ld[x == 0] = -np.inf
        return 1.0 / (1.0 + np.exp(ld))


def _independent(
    p: BGNBDParams, shift: int, x: np.ndarray, tx: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """P(alive) = 1 / (1 + a / (b + x - 1 + s) ((alpha + T) / (alpha + t_x))^(r + x)) written
    differently (log1p of the age ratio, scipy's expit), and its relative tolerance: a few
    ulp plus (1 - P) times the bound on the exponent's rounding error."""
    q = (x - 1 + shift) + p.b
    log_ratio = np.log1p((T - tx) / (p.alpha + tx))
    with np.errstate(divide="ignore", invalid="ignore"):
        ld = (p.r + x) * log_ratio + np.log(p.a) - np.log(q)
    out = expit(-ld)
    sure = (x == 0) & (shift == 0)  # BG/NBD without repeat purchases: alive for sure
    out[sure] = 1.0
    with np.errstate(divide="ignore"):
        spread = (p.r + x) * (2.0 + log_ratio) + abs(np.log(p.a)) + np.abs(np.log(np.abs(q)))
    spread[sure] = 0.0
    tol = EPS * (8.0 + 4.0 * (1.0 - out) * spread)
    return out, tol


def _model(shift: int, p: BGNBDParams) -> BGNBDModel | MBGNBDModel:
    return MBGNBDModel(p) if shift else BGNBDModel(p)


params = st.builds(
    BGNBDParams,
    r=st.floats(1e-3, 50.0),
    alpha=st.floats(1e-3, 1e4),
    a=st.floats(1e-3, 50.0),
    b=st.floats(1e-3, 50.0),
)
sizes = st.sampled_from([1, 2, 7, 1000, BLOCK - 1, BLOCK + 1, 4 * BLOCK + 3])


@settings(max_examples=40)
@given(
    p=params,
    shift=st.sampled_from([0, 1]),
    kind=st.sampled_from(KINDS),
    n=sizes,
    seed=st.integers(0, 2**32 - 1),
)
def test_fast_path_equals_the_formula_and_an_independent_evaluator(
    p: BGNBDParams, shift: int, kind: str, n: int, seed: int
) -> None:
    x, tx, T = _history(kind, n, seed)
    m = _model(shift, p)
    with np.errstate(over="ignore"):
        plain = _plain(p, shift, x, tx, T)
    if not np.isfinite(plain).all():  # beyond float64 (x = 0 at ages past 1e300): refused
        with pytest.raises(ValidationError, match="not finite"):
            m.probability_alive(x, tx, T)
        return
    fast = m.probability_alive(x, tx, T)
    np.testing.assert_array_max_ulp(fast, plain, maxulp=2)
    ref, tol = _independent(p, shift, x, tx, T)
    err = np.abs(fast - ref)
    assert (err <= tol * ref + 1e-300).all(), (kind, float(np.max(err / (tol * ref + 1e-300))))


@settings(max_examples=25)
@given(
    p=params,
    shift=st.sampled_from([0, 1]),
    kind=st.sampled_from(["daily", "continuous", "mixed", "huge_x"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_same_bits_on_any_thread_count_and_through_chunked(
    p: BGNBDParams, shift: int, kind: str, seed: int
) -> None:
    x, tx, T = _history(kind, 5 * BLOCK + 11, seed)
    m = _model(shift, p)
    with threads(1):
        one = m.probability_alive(x, tx, T)
    with threads(2):
        two = m.probability_alive(x, tx, T)
        rows = m._alive_rows(x, tx, T, (p.r, p.alpha, p.a, p.b))  # chunked, checked beforehand
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, rows)


@pytest.mark.parametrize("shift", [0, 1])
def test_matches_a_50_digit_evaluation_at_ordinary_and_extreme_points(shift: int) -> None:
    mpmath.mp.dps = 50
    cases = [
        (
            BGNBDParams(0.243, 30.9, 0.793, 2.426),
            [(0, 0, 730), (1, 1, 1), (3, 400, 700), (40, 729, 730)],
        ),
        (BGNBDParams(0.01, 1e4, 3.0, 1e-3), [(1, 0.5, 2.0), (1000, 5e3, 1e4), (2**16, 10.0, 20.0)]),
        (
            BGNBDParams(50.0, 1e-3, 1e-3, 50.0),
            [(0, 0, 1e-6), (5, 1e-4, 1e-3), (MAX_PERIODS, 1e6, 1e6)],
        ),
    ]
    for p, rows in cases:
        x, tx, T = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
        got = _model(shift, p).probability_alive(x, tx, T)
        for i, (xi, ti, Ti) in enumerate(rows):
            r, al, a, b = (mpmath.mpf(v) for v in (p.r, p.alpha, p.a, p.b))
            if xi == 0 and not shift:
                exact = mpmath.mpf(1)
            else:
                ratio = (al + mpmath.mpf(Ti)) / (al + mpmath.mpf(ti))
                exact = 1 / (1 + a / (b + xi - 1 + shift) * ratio ** (r + xi))
            L = float(mpmath.log((al + mpmath.mpf(Ti)) / (al + mpmath.mpf(ti))))
            bound = EPS * (8 + 4 * (1 - float(exact)) * ((p.r + xi) * (2 + L) + 40))
            assert abs(got[i] / float(exact) - 1) <= bound, (p, rows[i])


@pytest.mark.parametrize("shift", [0, 1])
@pytest.mark.parametrize("n_threads", [1, 2])
def test_no_floating_point_warning_where_the_exponential_overflows_or_not(
    shift: int, n_threads: int
) -> None:
    """The kernel silences overflow only in blocks whose exponent can pass 709 (errstate
    costs as much as a pass): P is 0 where e^ld overflows, and nothing else warns."""
    rng = np.random.default_rng(7)
    n = 2 * BLOCK + 9
    T = rng.uniform(1.0, 1e6, n)
    x = rng.integers(0, 200, n).astype(float)
    tx = np.where(x > 0, T * rng.uniform(1e-9, 1.0, n), 0.0)
    x[:BLOCK] = 0.0  # a block of customers without repeat purchases only
    tx[:BLOCK] = 0.0
    for p in (BGNBDParams(0.243, 30.9, 0.793, 2.426), BGNBDParams(50.0, 1e-3, 1e-3, 50.0)):
        m = _model(shift, p)
        with threads(n_threads), warnings.catch_warnings():
            warnings.simplefilter("error")
            with np.errstate(all="raise", under="ignore"):  # the calling thread: FP events raise
                got = m.probability_alive(x, tx, T)
        np.testing.assert_array_max_ulp(got, _plain(p, shift, x, tx, T), maxulp=2)


BAD = {
    "nan_frequency": ("frequency", np.nan),
    "inf_T": ("T", np.inf),
    "nan_T": ("T", np.nan),
    "negative_recency": ("recency", -1.0),
    "negative_frequency": ("frequency", -1.0),
    "fractional_frequency": ("frequency", 2.5),
    "frequency_too_large": ("frequency", MAX_PERIODS + 1.0),
    "recency_after_T": ("recency", "T+1"),
    "recency_without_repeat": ("recency", "x=0"),
    "repeat_without_recency": ("frequency", "t=0"),
}


def _corrupt(
    x: np.ndarray, tx: np.ndarray, T: np.ndarray, i: int, bad: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    x, tx, T = x.copy(), tx.copy(), T.copy()
    col, value = BAD[bad]
    if value == "T+1":
        x[i], tx[i], T[i] = 2.0, T[i] + 1.0, T[i]
    elif value == "x=0":
        x[i], tx[i], T[i] = 0.0, 1.0, 2.0
    elif value == "t=0":
        x[i], tx[i], T[i] = 3.0, 0.0, 2.0
    else:
        {"frequency": x, "recency": tx, "T": T}[col][i] = value
    return x, tx, T


def _message(fn: object) -> str:
    with pytest.raises(ValidationError) as info:
        fn()  # type: ignore[operator]
    return str(info.value)


@settings(max_examples=40)
@given(
    bad=st.sampled_from(sorted(BAD)),
    where=st.sampled_from(["first", "middle", "last", "second_of_two"]),
    shift=st.sampled_from([0, 1]),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_bad_input_is_refused_with_the_rules_error(
    bad: str, where: str, shift: int, seed: int
) -> None:
    n = 4 * BLOCK + 77  # four full blocks and a short one: the parallel runner
    x, tx, T = _history("daily", n, seed)
    i = {"first": 0, "middle": 2 * BLOCK + 5, "last": n - 1, "second_of_two": BLOCK}[where]
    x, tx, T = _corrupt(x, tx, T, i, bad)
    if where == "second_of_two":  # a later bad row too: the first is named
        x, tx, T = _corrupt(x, tx, T, n - 2, bad)
    expected = _message(lambda: check_rft(list(x), list(tx), list(T)))  # the slow path
    assert f"index {i}" in expected
    m = _model(shift, BGNBDParams(0.243, 30.9, 0.793, 2.426))
    for n_threads in (1, 2):
        with threads(n_threads):
            assert _message(lambda: m.probability_alive(x, tx, T)) == expected
            assert _message(lambda: m.conditional_expected_purchases(30.0, x, tx, T)) == expected


edge = st.sampled_from(
    [0.0, -0.0, 1.0, 2.0, 0.5, 5e-324, -5e-324, 1e300, np.inf, -np.inf, np.nan, MAX_PERIODS]
)
value = st.one_of(edge, st.floats(-2.0, 20.0), st.integers(0, 5).map(float))


@settings(max_examples=200)
@given(rows=st.lists(st.tuples(value, value, value), min_size=1, max_size=6))
def test_block_check_accepts_exactly_what_the_rule_accepts(
    rows: list[tuple[float, float, float]],
) -> None:
    x, tx, T = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    try:
        check_rft(list(x), list(tx), list(T))
        accepted = True
    except ValidationError:
        accepted = False
    assert valid_block(x, tx, T) is accepted


def test_block_check_records_the_largest_frequency_and_age() -> None:
    sc = Scratch(3)
    assert valid_block(
        np.array([0.0, 4.0, 2.0]), np.array([0.0, 3.0, 1.0]), np.array([9.0, 3.0, 2.0]), sc
    )
    assert (sc.x_max, sc.t_max) == (4.0, 9.0)


def test_block_runner_raises_the_first_error_and_nests_without_deadlock() -> None:
    def fail(lo: int, hi: int) -> None:
        if lo >= 3 * 10:
            raise ValueError(f"block at {lo}")

    with threads(2), pytest.raises(ValueError, match="block at"):
        blocks(fail, 100, size=10)

    seen = np.zeros(40 * 40, dtype=int)

    def outer(lo: int, hi: int) -> None:
        def inner(a: int, b: int) -> None:
            seen[lo * 40 + a : lo * 40 + b] += 1

        blocks(inner, 40, size=5)  # nested on the same pool: the caller takes every block left

    with threads(2):
        blocks(outer, 40, size=1)
    assert (seen == 1).all()


def test_chunked_kernel_and_plain_function_give_the_same_blocks() -> None:
    @block_kernel
    def root(a: np.ndarray, out: np.ndarray, sc: Scratch) -> None:
        assert len(out) <= BLOCK and sc.size >= len(out)
        np.sqrt(a, out=out)

    a = np.arange(5 * BLOCK + 5, dtype=float)
    with threads(2):
        assert chunked(root, a).tolist() == np.sqrt(a).tolist()
        assert chunked(np.sqrt, a, size=BLOCK).tolist() == np.sqrt(a).tolist()
