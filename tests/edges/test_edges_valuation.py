"""Valuation edges (issue 12): numbers, options and the NaN policy through ``crmcore.valuation``.

Findings, each pinned here through the public API:

* ``+inf`` frequency in a float64 array gave NaN from BG/NBD predictions (the
  block-wise fast check let it through; a list was refused);
* arrays of different lengths reached numpy's broadcast error in every BTYD
  prediction, ``fit_bgbb``, ``fit_gamma_gamma`` and CLV;
* ``fit_bgnbd([], [], [])`` (and every fit) raised IndexError;
* finite but extreme inputs came back NaN (NPS with a weight of 1e308,
  Pareto/NBD P(alive) at frequency 1e308, ``sbg_log_likelihood(inf, ...)``,
  ``SBGModel.project(nan, 3)``);
* ``fit_pareto_nbd`` with recency 0 for repeat buyers ran for 40-70 s;
* BG/BB or sBG horizons of 3e8 periods: MemoryError;
* ``10**400`` as a scalar option: OverflowError; a wrong enum string named no
  field;
* BTYD, CAC and CLV took no ``nan_policy`` while their errors recommended one.

The property tests state, for every valuation function that takes
``nan_policy``, ``f(x, nan_policy="omit") == f(x[~nan])`` and for the
element-wise ones ``f(x, "propagate")[~nan] == f(x[~nan])``, NaN where missing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

import attrs
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmcore.errors import FitError, ValidationError
from crmcore.valuation import (
    BGBBModel,
    BGBBParams,
    BGNBDModel,
    BGNBDParams,
    GammaGammaModel,
    GammaGammaParams,
    MBGNBDModel,
    ParetoNBDModel,
    ParetoNBDParams,
    SBGModel,
    SBGParams,
    SpendTable,
    acquisition_cost,
    cac_payback,
    channel_response,
    clv_to_cac,
    csat,
    csat_by_group,
    customer_lifetime_value,
    fit_bgbb,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_mbgnbd,
    fit_pareto_nbd,
    fit_sbg,
    nps,
    nps_by_group,
    nps_counts,
    nps_interval_coverage,
    proportion_interval,
    repurchase_propensity,
    retention_clv,
    retention_what_if,
    sbg_log_likelihood,
    simulate_bgbb,
    simulate_bgnbd,
    wilson_interval,
)

BG = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426), time_unit="W")
MBG = MBGNBDModel(BGNBDParams(0.5, 5.0, 0.8, 2.5), time_unit="W")
PNBD = ParetoNBDModel(ParetoNBDParams(0.5534, 10.5802, 0.6061, 11.6562), time_unit="W")
BB = BGBBModel(BGBBParams(1.204, 0.750, 0.657, 2.783))
GG = GammaGammaModel(GammaGammaParams(6.25, 3.74, 15.44))
SBG = SBGModel(SBGParams(1.0, 1.0))
CONTINUOUS = (BG, MBG, PNBD)

# small valid histories: (frequency, recency, T) and BG/BB (frequency, recency, n_periods)
_X, _TX, _T = simulate_bgnbd(BGNBDParams(0.6, 5.0, 0.8, 2.5), np.full(60, 40.0), seed=5)
_TX = np.minimum(np.ceil(_TX), _T)  # whole days: a repeat purchase comes >= 1 day after the first
_BX, _BTX, _BN = simulate_bgbb(BGBBParams(1.2, 0.75, 0.66, 2.78), np.full(80, 6), seed=2)
_M = np.where(_X > 0, 10.0 + 3.0 * np.arange(len(_X)) % 17, 0.0)


# -- one history rule: +inf, recency 0 for repeat buyers, lengths -------------------------------
@pytest.mark.parametrize("model", CONTINUOUS, ids=["bgnbd", "mbgnbd", "pareto"])
def test_infinite_frequency_is_refused_alike_as_array_and_list(model: Any) -> None:
    x, tx, T = [np.inf, 1.0], [1.0, 1.0], [2.0, 2.0]
    messages = []
    for conv in (np.array, list):
        with pytest.raises(
            ValidationError, match="'frequency' must be finite: inf at index 0"
        ) as e:
            model.probability_alive(conv(x), conv(tx), conv(T))
        messages.append(str(e.value))
        with pytest.raises(ValidationError, match="'frequency'"):
            model.conditional_expected_purchases(5.0, conv(x), conv(tx), conv(T))
    assert messages[0] == messages[1]


def test_infinite_frequency_in_a_large_array_takes_the_block_path_and_is_refused() -> None:
    x = np.ones(300_000)
    x[-1] = np.inf
    with pytest.raises(ValidationError, match="index 299999"):
        BG.probability_alive(x, np.ones_like(x), np.full_like(x, 2.0))


def test_repeat_buyer_with_recency_zero_is_refused_up_front() -> None:
    x = np.array([2.0, 1.0, 0.0] * 200)
    tx = np.array([0.0, 3.0, 0.0] * 200)
    T = np.full(len(x), 10.0)
    start = time.perf_counter()
    with pytest.raises(ValidationError, match=r"'recency' must be > 0 when 'frequency' is > 0"):
        fit_pareto_nbd(x, tx, T)
    assert time.perf_counter() - start < 2.0
    for fit in (fit_bgnbd, fit_mbgnbd):
        with pytest.raises(ValidationError, match="index 0"):
            fit(x, tx, T)
    # the block-wise fast path of the predictions applies the same rule
    with pytest.raises(ValidationError, match=r"'recency' must be > 0"):
        BG.probability_alive(x, tx, T)


_LENGTH_CASES: list[tuple[str, Callable[[], object], str]] = [
    (
        "bg alive",
        lambda: BG.probability_alive([1, 2], [1.0, 2.0, 3.0], [5.0, 5.0]),
        "recency has 3",
    ),
    (
        "pareto expected",
        lambda: PNBD.conditional_expected_purchases(3, [1, 2], [1.0, 2.0], [5.0, 5.0, 5.0]),
        "T has 3",
    ),
    (
        "mbg repurchase",
        lambda: MBG.probability_of_repurchase(3, [1, 2, 3], [1.0, 2.0], 5.0),
        "recency has 2",
    ),
    ("bgbb alive", lambda: BB.probability_alive([1, 2], [1, 2, 3], 6), "recency has 3"),
    (
        "bgbb expected",
        lambda: BB.conditional_expected_purchases(2, [1, 2], [1, 2], [6, 6, 6]),
        "n_periods has 3",
    ),
    ("fit_bgbb", lambda: fit_bgbb([1, 2], [1, 2, 3], [6, 6]), "recency has 3"),
    ("fit_bgnbd", lambda: fit_bgnbd([1, 2], [1.0, 2.0, 3.0], [6.0, 6.0]), "recency has 3"),
    ("fit_gamma_gamma", lambda: fit_gamma_gamma([1, 2, 3], [5.0, 6.0]), "monetary_value has 2"),
    (
        "gg value",
        lambda: GG.conditional_expected_average_value([1, 2, 3], [5.0, 6.0]),
        "monetary_value has 2",
    ),
    (
        "clv",
        lambda: customer_lifetime_value(BG, GG, [1, 2], [1.0, 2.0], [5.0, 5.0], [10.0, 20.0, 30.0]),
        "monetary_value has 3",
    ),
    ("retention_clv", lambda: retention_clv([1.0, 2.0], [0.5, 0.5, 0.5], 0.1), "retention has 3"),
    (
        "repurchase_propensity",
        lambda: repurchase_propensity(BG, 2.0, [1, 2], [1.0, 2.0, 3.0], [5.0, 5.0]),
        "recency has 3",
    ),
]


@pytest.mark.parametrize(
    ("label", "call", "shown"), _LENGTH_CASES, ids=[c[0] for c in _LENGTH_CASES]
)
def test_lengths_are_checked_before_broadcasting(
    label: str, call: Callable[[], object], shown: str
) -> None:
    with pytest.raises(ValidationError, match="same length") as e:
        call()
    assert shown in str(e.value)


def test_scalars_still_stand_for_every_customer() -> None:
    got = BG.conditional_expected_purchases(39, [2, 2], 30.43, 38.86)
    assert got.shape == (2,) and got[0] == pytest.approx(1.226, abs=5e-4)


@pytest.mark.parametrize(
    ("fit", "args", "model"),
    [
        (fit_bgnbd, ([], [], []), "BG/NBD"),
        (fit_mbgnbd, ([], [], []), "MBG/NBD"),
        (fit_pareto_nbd, ([], [], []), "Pareto/NBD"),
        (fit_bgbb, ([], [], []), "BG/BB"),
        (fit_gamma_gamma, ([], []), "Gamma-Gamma"),
    ],
)
def test_empty_fits_need_a_customer(
    fit: Callable[..., object], args: tuple[Any, ...], model: str
) -> None:
    with pytest.raises(ValidationError, match=f"^{model} needs at least one customer: got 0 rows"):
        fit(*args)


def test_omit_of_every_customer_leaves_none_to_fit() -> None:
    with pytest.raises(ValidationError, match="BG/NBD needs at least one customer"):
        fit_bgnbd([np.nan], [1.0], [2.0], nan_policy="omit")


# -- finite but extreme --------------------------------------------------------------------------
def test_nps_with_a_huge_weight_is_finite_and_right() -> None:
    r = nps([10, 0, 5], weights=[1e308, 1.0, 1.0])
    assert r.n == 1e308 and r.score == 1.0 and r.detractors == pytest.approx(2e-308)
    assert r.effective_n == pytest.approx(1.0) and np.isfinite([r.se, r.low, r.high]).all()
    c = csat([5, 1, 3], weights=[1e308, 1.0, 1.0])
    assert c.mean == 5.0 and c.n == 1e308
    with pytest.raises(ValidationError, match="'weights' of group 'all' sum beyond the range"):
        nps([10, 0], weights=[1e308, 1e308])


def test_pareto_probability_alive_at_huge_frequency() -> None:
    """A frequency counts periods with a repeat purchase: capped like a horizon, named."""
    got = PNBD.probability_alive([1e6, 1e6], [1.0, 2.0], [2.0, 2.0])
    assert got.tolist() == [0.0, 1.0]
    for conv in (np.array, list):
        with pytest.raises(ValidationError, match="'frequency' must be at most 1000000"):
            PNBD.probability_alive(conv([1e308, 1.0]), conv([1.0, 1.0]), conv([2.0, 2.0]))
    with pytest.raises(ValidationError, match="'frequency' must be at most 1000000"):
        fit_gamma_gamma([2**63, 1, 2], [10.0, 20.0, 30.0])


def test_sbg_log_likelihood_refuses_infinity_and_is_right_near_1e300() -> None:
    with pytest.raises(ValidationError, match="'alpha' must be a finite number: inf"):
        sbg_log_likelihood(np.inf, 1.0, [100, 50, 25])
    with pytest.raises(ValidationError, match="'beta'"):
        sbg_log_likelihood(1.0, 10**400, [100, 50, 25])
    # alpha = beta: churn 1/2, then 1/2 (alpha, beta >> t): ln L = 50 ln .5 + 25 ln .25 + 25 ln .25
    want = 50 * np.log(0.5) + 50 * np.log(0.25)
    assert sbg_log_likelihood(1e300, 1e300, [100, 50, 25]) == pytest.approx(want, rel=1e-12)
    assert np.isfinite(sbg_log_likelihood(1e308, 1.0, [100, 50, 25]))
    # unchanged at ordinary values (closed form with alpha = beta = 1: P(T=t) = 1/(t(t+1)))
    counts = [1000, 869, 743, 653, 593, 551, 517, 491]
    lost = -np.diff(counts)
    t = np.arange(1, 8)
    exact = float(np.sum(lost * np.log(1 / (t * (t + 1))))) + 491 * np.log(1 / 8)
    assert sbg_log_likelihood(1.0, 1.0, counts) == pytest.approx(exact, rel=1e-12)


def test_sbg_projection_refuses_nan_and_huge_horizons() -> None:
    with pytest.raises(ValidationError, match="'cohort_size' must be a finite number: nan"):
        SBG.project(np.nan, 3)
    with pytest.raises(ValidationError, match="'periods' must be at most 1000000 periods"):
        SBG.project(100, 3e8)
    with pytest.raises(ValidationError, match="'periods' must be at most 1000000 periods"):
        SBG.project(100, 10**400)
    with pytest.raises(ValidationError, match="'cohort_size' is out of the range of a float"):
        SBG.project(10**400, 3)
    with pytest.raises(ValidationError, match="'horizon' must be at most"):
        SBG.expected_residual_lifetime(1, horizon=3e8)
    with pytest.raises(ValidationError, match="'counts' must be a whole number, not NaN"):
        fit_sbg([1000, np.nan, 400])


def test_bgbb_horizons_are_capped() -> None:
    with pytest.raises(ValidationError, match="'m' must be at most 1000000"):
        BB.probability_of_repurchase(3e8, 1, 1, 6)
    with pytest.raises(ValidationError, match="'n_periods' must be at most 1000000"):
        BB.probability_alive(1, 1, 3e8)
    with pytest.raises(ValidationError, match="'n' must be at most 1000000"):
        BB.probability_of_purchases(1, 3e8)
    with pytest.raises(ValidationError, match="'n' must be at most 1000000"):
        BB.expected_purchases(3e8)
    assert np.isfinite(BB.expected_purchases(1e6)).all()


# -- scalar options: 10**400, enums --------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: nps([10, 0], confidence=10**400), "confidence"),
        (lambda: csat([5, 1], confidence=10**400), "confidence"),
        (lambda: wilson_interval(1, 3, confidence=10**400), "confidence"),
        (
            lambda: customer_lifetime_value(BG, None, 1, 1.0, 2.0, 1.0, discount_rate=10**400),
            "discount_rate",
        ),
        (lambda: customer_lifetime_value(BG, None, 1, 1.0, 2.0, 1.0, horizon=10**400), "horizon"),
        (lambda: customer_lifetime_value(BG, None, 1, 1.0, 2.0, 1.0, margin=10**400), "margin"),
        (lambda: retention_clv(1.0, 0.5, 0.1, horizon=10**400), "horizon"),
        (lambda: retention_what_if(1.0, 0.5, 0.1, 10, points=10**400), "points"),
        (lambda: repurchase_propensity(BG, 10**400, [1], [1.0], [2.0]), "t"),
        (lambda: SBG.discounted_residual_lifetime(1, 10**400), "discount"),
        (lambda: cac_payback(100.0, 10.0, discount=10**400), "discount"),
    ],
)
def test_huge_integers_are_a_named_validation_error(call: Callable[[], object], field: str) -> None:
    with pytest.raises(ValidationError, match=f"^'{field}'"):
        call()


_SPEND = SpendTable.from_arrays(channel=["tv", "web"], period=[1, 1], amount=[500, 100])


@pytest.mark.parametrize(
    ("call", "field", "allowed"),
    [
        (lambda: nps([10], method="exact"), "method", "'adjusted-wald', 'wald'"),
        (lambda: proportion_interval(1, 3, method="exact"), "method", "'wilson', 'agresti-coull'"),
        (
            lambda: acquisition_cost(_SPEND, ["web"], [1], unattributed="x"),
            "unattributed",
            "'spread', 'report'",
        ),
        (
            lambda: acquisition_cost(_SPEND, ["web"], [1], zero_customers="x"),
            "zero_customers",
            "'raise', 'flag'",
        ),
        (
            lambda: customer_lifetime_value(BG, None, 1, 1.0, 2.0, 1.0, time_unit="Q"),
            "time_unit",
            "'D', 'W', 'M'",
        ),
    ],
)
def test_wrong_enum_strings_name_the_field_and_the_allowed_values(
    call: Callable[[], object], field: str, allowed: str
) -> None:
    with pytest.raises(ValidationError, match=f"^'{field}' must be one of {allowed}: "):
        call()


# -- nan_policy: exists wherever it is recommended; policies without meaning refused ----------------
def test_nan_errors_recommend_a_policy_the_function_takes() -> None:
    x, tx, T = [1.0, np.nan], [1.0, 1.0], [2.0, 2.0]
    checks: list[tuple[Callable[..., Any], tuple[Any, ...]]] = [
        (BG.probability_alive, (x, tx, T)),
        (PNBD.conditional_expected_purchases, (3.0, x, tx, T)),
        (fit_bgnbd, (x, tx, T)),
        (fit_gamma_gamma, ([1.0, np.nan], [2.0, 3.0])),
        (GG.conditional_expected_average_value, ([1.0, np.nan], [2.0, 3.0])),
        (lambda *a, **k: customer_lifetime_value(BG, GG, *a, **k), (x, tx, T, [1.0, 2.0])),
        (retention_clv, ([1.0, np.nan], 0.5, 0.1)),
        (nps, ([10, np.nan],)),
    ]
    for f, args in checks:
        with pytest.raises(ValidationError, match="nan_policy='omit'"):
            f(*args)
        with contextlib.suppress(FitError):  # the option exists (one customer may not fit)
            f(*args, nan_policy="omit")
    for f, args in [(SBG.survival, ([1.0, np.nan],)), (fit_sbg, ([1000, np.nan],))]:
        with pytest.raises(ValidationError) as e:
            f(*args)
        assert "nan_policy" not in str(e.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda: fit_bgnbd(_X, _TX, _T, nan_policy="propagate"),
        lambda: fit_pareto_nbd(_X, _TX, _T, nan_policy="propagate"),
        lambda: fit_bgbb(_BX, _BTX, _BN, nan_policy="propagate"),
        lambda: fit_gamma_gamma([1, 2], [3.0, 4.0], nan_policy="propagate"),
        lambda: acquisition_cost(_SPEND, ["web", "tv"], [1, 1], nan_policy="propagate"),
        lambda: retention_what_if(1.0, 0.5, 0.1, 10, points=1, nan_policy="propagate"),
        lambda: nps([10], nan_policy="propagate"),
    ],
)
def test_propagate_is_refused_where_a_nan_result_says_nothing(call: Callable[[], object]) -> None:
    with pytest.raises(
        ValidationError,
        match="'nan_policy' 'propagate' has no meaning for .*it takes 'raise' or 'omit'",
    ):
        call()


def test_unknown_policy_is_named() -> None:
    with pytest.raises(ValidationError, match="'nan_policy' must be one of"):
        BG.probability_alive([1], [1.0], [2.0], nan_policy="drop")  # type: ignore[arg-type]


# -- the property: omit == the call on the rows kept; propagate is element-wise ---------------------
def _holes(n: int) -> st.SearchStrategy[np.ndarray]:
    return st.lists(st.booleans(), min_size=n, max_size=n).map(np.array)


def _punch(values: np.ndarray, holes: np.ndarray) -> np.ndarray:
    out = np.asarray(values, dtype=np.float64).copy()
    out[holes] = np.nan
    return out


_N = 12
_PROP = settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _elementwise_cases() -> list[tuple[str, Callable[..., np.ndarray], dict[str, np.ndarray]]]:
    hist = {"frequency": _X[:_N], "recency": _TX[:_N], "T": _T[:_N]}
    bb = {"frequency": _BX[:_N], "recency": _BTX[:_N], "n_periods": _BN[:_N]}
    cases: list[tuple[str, Callable[..., np.ndarray], dict[str, np.ndarray]]] = []
    for name, m in (("bgnbd", BG), ("mbgnbd", MBG), ("pareto", PNBD)):
        cases.append((f"{name}.alive", m.probability_alive, hist))
        cases.append(
            (f"{name}.expected", lambda m=m, **k: m.conditional_expected_purchases(5.0, **k), hist)
        )
        cases.append(
            (f"{name}.repurchase", lambda m=m, **k: m.probability_of_repurchase(5.0, **k), hist)
        )
    cases.append(("bgbb.alive", BB.probability_alive, bb))
    cases.append(("bgbb.expected", lambda **k: BB.conditional_expected_purchases(3, **k), bb))
    cases.append(("bgbb.repurchase", lambda **k: BB.probability_of_repurchase(3, **k), bb))
    cases.append(
        (
            "gg.value",
            GG.conditional_expected_average_value,
            {"frequency": _X[:_N], "monetary_value": _M[:_N]},
        )
    )
    cases.append(
        (
            "clv",
            lambda **k: customer_lifetime_value(BG, GG, **k, horizon=6),
            {**hist, "monetary_value": _M[:_N]},
        )
    )
    cases.append(
        (
            "retention_clv",
            lambda **k: retention_clv(**k, horizon=12),
            {
                "margin": np.linspace(10, 50, _N),
                "retention": np.linspace(0.3, 0.9, _N),
                "discount": np.full(_N, 0.1),
            },
        )
    )
    cases.append(("repurchase_propensity", lambda **k: repurchase_propensity(PNBD, 4.0, **k), hist))
    return cases


_ELEMENTWISE = _elementwise_cases()


@pytest.mark.parametrize(("label", "f", "cols"), _ELEMENTWISE, ids=[c[0] for c in _ELEMENTWISE])
@_PROP
@given(holes=_holes(_N), which=st.integers(0, 3))
def test_elementwise_omit_and_propagate(
    label: str,
    f: Callable[..., np.ndarray],
    cols: dict[str, np.ndarray],
    holes: np.ndarray,
    which: int,
) -> None:
    target = list(cols)[which % len(cols)]
    given_cols = {k: (_punch(v, holes) if k == target else v) for k, v in cols.items()}
    kept = ~holes
    omitted = f(**given_cols, nan_policy="omit")
    propagated = f(**given_cols, nan_policy="propagate")
    assert propagated.shape == (_N,) and np.isnan(propagated[holes]).all()
    if kept.any():
        want = f(**{k: v[kept] for k, v in cols.items()})
        np.testing.assert_allclose(omitted, want, rtol=1e-12, atol=0)
        np.testing.assert_allclose(propagated[kept], want, rtol=1e-12, atol=0)
    else:
        assert omitted.shape == (0,)


def _same_fit(a: Any, b: Any) -> None:
    pa, pb = attrs.astuple(a.params), attrs.astuple(b.params)
    np.testing.assert_allclose(pa, pb, rtol=1e-9)
    assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-12)
    assert a.n == b.n


_FITS: list[tuple[str, Callable[..., Any], dict[str, np.ndarray]]] = [
    ("bgnbd", fit_bgnbd, {"frequency": _X, "recency": _TX, "T": _T}),
    ("mbgnbd", fit_mbgnbd, {"frequency": _X, "recency": _TX, "T": _T}),
    ("pareto", fit_pareto_nbd, {"frequency": _X, "recency": _TX, "T": _T}),
    ("bgbb", fit_bgbb, {"frequency": _BX, "recency": _BTX, "n_periods": _BN}),
    (
        "gamma_gamma",
        fit_gamma_gamma,
        {
            "frequency": _X[_X > 0],
            "monetary_value": _M[_X > 0],
            "weights": np.ones(int((_X > 0).sum())),
        },
    ),
]


@pytest.mark.parametrize(("label", "fit", "cols"), _FITS, ids=[c[0] for c in _FITS])
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_fit_omit_is_the_fit_of_the_rows_kept(
    label: str, fit: Callable[..., Any], cols: dict[str, np.ndarray], data: st.DataObject
) -> None:
    n = len(next(iter(cols.values())))
    rows = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4, unique=True))
    target = data.draw(st.sampled_from(list(cols)))
    holes = np.zeros(n, dtype=bool)
    holes[rows] = True
    given_cols = {k: (_punch(v, holes) if k == target else v) for k, v in cols.items()}
    _same_fit(fit(**given_cols, nan_policy="omit"), fit(**{k: v[~holes] for k, v in cols.items()}))


def test_fit_omit_drops_the_covariate_rows_too() -> None:
    z = np.linspace(-1.0, 1.0, len(_X))
    x = _punch(_X, np.arange(len(_X)) == 3)
    got = fit_bgnbd(x, _TX, _T, purchase_covariates=z, nan_policy="omit")
    keep = np.arange(len(_X)) != 3
    want = fit_bgnbd(_X[keep], _TX[keep], _T[keep], purchase_covariates=z[keep])
    _same_fit(got, want)
    assert got.covariates == want.covariates


_AGGREGATES: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
    ("nps", nps, {"scores": np.arange(_N) % 11, "weights": np.linspace(1, 3, _N)}),
    ("csat", csat, {"scores": np.arange(_N) % 5 + 1, "weights": np.linspace(1, 3, _N)}),
    (
        "nps_by_group",
        nps_by_group,
        {
            "scores": np.arange(_N) % 11,
            "groups": np.array(["a", "b"] * (_N // 2)),
            "weights": np.ones(_N),
        },
    ),
    (
        "csat_by_group",
        csat_by_group,
        {"scores": np.arange(_N) % 5 + 1, "groups": np.array(["a", "b"] * (_N // 2))},
    ),
]


def _equal_results(a: Any, b: Any) -> None:
    for field in attrs.fields(type(a)):
        va, vb = getattr(a, field.name), getattr(b, field.name)
        if (isinstance(va, np.ndarray) and va.dtype.kind == "f") or isinstance(va, float):
            np.testing.assert_allclose(va, vb, rtol=1e-12)
        elif isinstance(va, np.ndarray):
            assert va.tolist() == vb.tolist()
        else:
            assert va == vb


@pytest.mark.parametrize(("label", "f", "cols"), _AGGREGATES, ids=[c[0] for c in _AGGREGATES])
@_PROP
@given(data=st.data())
def test_aggregate_omit_is_the_summary_of_the_rows_kept(
    label: str, f: Callable[..., Any], cols: dict[str, Any], data: st.DataObject
) -> None:
    rows = data.draw(st.lists(st.integers(0, _N - 1), min_size=1, max_size=_N - 2, unique=True))
    holes = np.zeros(_N, dtype=bool)
    holes[rows] = True
    kept = ~holes
    if label.endswith("by_group") and len(set(cols["groups"][kept].tolist())) < 2:
        return  # a group left without answers is its own (tested) error
    target = data.draw(st.sampled_from(list(cols)))
    given_cols = dict(cols)
    if target == "groups":
        g = cols["groups"].astype(object)
        g[holes] = None
        given_cols["groups"] = g
    else:
        given_cols[target] = _punch(cols[target], holes)
    _equal_results(f(**given_cols, nan_policy="omit"), f(**{k: v[kept] for k, v in cols.items()}))


@_PROP
@given(holes=_holes(_N), which=st.sampled_from(["customer_channels", "customer_periods"]))
def test_acquisition_cost_omit_is_the_report_of_the_customers_kept(
    holes: np.ndarray, which: str
) -> None:
    spend = SpendTable.from_arrays(channel=["tv", "web"], period=[1, 2], amount=[500, 100])
    cols = {
        "customer_channels": np.array(["tv", "web", "web"] * (_N // 3), dtype=object),
        "customer_periods": np.array([1, 2] * (_N // 2), dtype=object),
    }
    kept = ~holes
    given_cols = dict(cols)
    punched = cols[which].copy()
    punched[holes] = None
    given_cols[which] = punched
    try:
        want = acquisition_cost(
            spend, **{k: v[kept].tolist() for k, v in cols.items()}, zero_customers="flag"
        )
    except ValidationError:
        with pytest.raises(ValidationError):
            acquisition_cost(spend, **given_cols, zero_customers="flag", nan_policy="omit")
        return
    got = acquisition_cost(spend, **given_cols, zero_customers="flag", nan_policy="omit")
    assert got.blended == pytest.approx(want.blended, nan_ok=True)
    np.testing.assert_allclose(got.by_channel.cac, want.by_channel.cac, rtol=1e-12)
    np.testing.assert_allclose(got.by_period.cac, want.by_period.cac, rtol=1e-12)


@_PROP
@given(holes=_holes(4))
def test_retention_what_if_omit_is_the_what_if_of_the_cohorts_kept(holes: np.ndarray) -> None:
    cols = {
        "margin": np.array([100.0, 80.0, 60.0, 40.0]),
        "retention": np.array([0.5, 0.6, 0.7, 0.8]),
        "discount": np.full(4, 0.1),
        "cohort_sizes": np.array([1000.0, 500.0, 200.0, 100.0]),
    }
    kept = ~holes
    given_cols = {**cols, "retention": _punch(cols["retention"], holes)}
    got = retention_what_if(**given_cols, points=5, nan_policy="omit")
    want = retention_what_if(**{k: v[kept] for k, v in cols.items()}, points=5)
    np.testing.assert_allclose(got.profit_effect, want.profit_effect, rtol=1e-12)
    np.testing.assert_allclose(got.clv_after, want.clv_after, rtol=1e-12)


# -- arguments of the wrong kind are named (the fuzz harness's valuation findings) ----------------
@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: fit_bgnbd([1, 0], [1.0, 0.0], np.array(["x", "x"], dtype=object)), "T"),
        (lambda: fit_pareto_nbd(np.array(["x"], dtype=object), [1.0], [2.0]), "frequency"),
        (
            lambda: repurchase_propensity(
                BG, 1.0, np.array(["x", "x"], dtype=object), [0, 1], [2, 2]
            ),
            "frequency",
        ),
        (lambda: customer_lifetime_value("\x00", None, [1], [1.0], [2.0], [1.0]), "purchase_model"),
        (lambda: customer_lifetime_value(BG, "gg", [1], [1.0], [2.0], [1.0]), "spend_model"),
        (lambda: acquisition_cost(None, ["web"], [1]), "spend"),  # type: ignore[arg-type]
        (lambda: nps_counts([1, 2], [], [1, 2]), "passives"),
        (lambda: nps_by_group([10, 2, 9], ["a", "b"]), "groups"),
        (lambda: csat_by_group([5, 1, 4], ["a", "b"]), "groups"),
        (lambda: nps_interval_coverage(30, 0.4, None), "detractors"),  # type: ignore[arg-type]
        (lambda: nps_interval_coverage(10**400, 0.4, 0.2), "n"),
        (lambda: BGNBDParams(10**400, 1.0, 1.0, 1.0), "r"),
        (lambda: GammaGammaParams(1.0, float("inf"), 1.0), "q"),
    ],
)
def test_wrong_kinds_are_a_validation_error_naming_the_argument(
    call: Callable[[], object], field: str
) -> None:
    with pytest.raises(ValidationError, match=rf"'{field}'|\b{field} has \d"):
        call()


@pytest.mark.parametrize(
    "f",
    [
        wilson_interval,
        lambda *a, **k: proportion_interval(*a, method="agresti-coull", **k),
    ],
    ids=["wilson", "agresti-coull"],
)
@_PROP
@given(holes=_holes(_N), which=st.integers(0, 1))
def test_interval_omit_and_propagate(f: Callable[..., Any], holes: np.ndarray, which: int) -> None:
    k, n = np.arange(_N, dtype=float), np.full(_N, 20.0)
    kept = ~holes
    args = [_punch(k, holes), n] if which == 0 else [k, _punch(n, holes)]
    lo_o, hi_o = f(*args, nan_policy="omit")
    lo_p, hi_p = f(*args, nan_policy="propagate")
    assert np.isnan(lo_p[holes]).all() and np.isnan(hi_p[holes]).all()
    if kept.any():
        lo, hi = f(k[kept], n[kept])
        for got in (lo_o, lo_p[kept]):
            np.testing.assert_allclose(got, lo, rtol=1e-12)
        for got in (hi_o, hi_p[kept]):
            np.testing.assert_allclose(got, hi, rtol=1e-12)


@_PROP
@given(holes=_holes(_N), which=st.sampled_from(["channels", "contacts", "responses", "cost"]))
def test_channel_response_omit_is_the_table_of_the_rows_kept(holes: np.ndarray, which: str) -> None:
    cols: dict[str, Any] = {
        "channels": np.array(["mail", "web", "phone"] * (_N // 3), dtype=object),
        "contacts": np.full(_N, 100.0),
        "responses": np.arange(_N, dtype=float),
        "cost": np.linspace(10.0, 50.0, _N),
    }
    kept = ~holes
    given_cols = dict(cols)
    if which == "channels":
        g = cols["channels"].copy()
        g[holes] = None
        given_cols["channels"] = g
    else:
        given_cols[which] = _punch(cols[which], holes)
    if not kept.any():
        with pytest.raises(ValidationError):
            channel_response(**given_cols, nan_policy="omit")
        return
    got = channel_response(**given_cols, nan_policy="omit")
    want = channel_response(**{k: v[kept] for k, v in cols.items()})
    _equal_results(got, want)


@_PROP
@given(holes=_holes(_N))
def test_cac_payback_omit_is_the_payback_of_the_rows_kept(holes: np.ndarray) -> None:
    cac = np.linspace(50.0, 600.0, _N)
    margin = np.full(_N, 40.0)
    kept = ~holes
    got = cac_payback(_punch(cac, holes), margin, retention=0.9, nan_policy="omit")
    want = cac_payback(cac[kept], margin[kept], retention=0.9)
    assert got.months.tolist() == want.months.tolist()
    assert got.recovered.tolist() == want.recovered.tolist()


def test_cac_payback_lengths_are_named() -> None:
    with pytest.raises(ValidationError, match="cac has 2, monthly_margin has 3"):
        cac_payback([1.0, 2.0], [1.0, 2.0, 3.0])


@_PROP
@given(holes=_holes(6))
def test_clv_to_cac_omit_is_the_report_of_the_customers_kept(holes: np.ndarray) -> None:
    spend = SpendTable.from_arrays(channel=["ads", "mail"], period=[1, 1], amount=[300, 100])
    channels = ["ads", "ads", "mail", "ads", "mail", "mail"]
    clv = np.array([100.0, 180.0, 400.0, 50.0, 20.0, 90.0])
    kept = ~holes
    full = acquisition_cost(spend, channels, [1] * 6)
    if not kept.any():
        with pytest.raises(ValidationError, match="'clv' holds no value"):
            clv_to_cac(full, _punch(clv, holes), nan_policy="omit")
        return
    got = clv_to_cac(full, _punch(clv, holes), nan_policy="omit")
    assert got.customer_flag.tolist() == (clv < full.cells.cac[full.customer_cell])[kept].tolist()
    ads = [i for i in range(6) if kept[i] and channels[i] == "ads"]
    want_mean = clv[ads].mean() if ads else 0.0
    assert got.by_channel.mean_clv[0] == pytest.approx(want_mean, rel=1e-12)
    assert got.blended_ratio == pytest.approx(clv[kept].mean() / full.blended, rel=1e-12)


@_PROP
@given(holes=_holes(6), which=st.sampled_from(["promoters", "passives", "detractors"]))
def test_nps_counts_omit_keeps_the_callers_row_labels(holes: np.ndarray, which: str) -> None:
    cols = {
        "promoters": np.array([50.0, 5, 20, 7, 9, 30]),
        "passives": np.array([30.0, 0, 10, 3, 1, 30]),
        "detractors": np.array([20.0, 0, 5, 1, 2, 40]),
    }
    kept = ~holes
    given_cols = {**cols, which: _punch(cols[which], holes)}
    got = nps_counts(**given_cols, nan_policy="omit")
    want = nps_counts(**{k: v[kept] for k, v in cols.items()}, labels=np.flatnonzero(kept))
    _equal_results(got, want)
    assert got.labels.tolist() == np.flatnonzero(kept).tolist()  # the caller's rows


def test_extreme_weights_values_and_counts_are_named() -> None:
    with pytest.raises(ValidationError, match="'weights' must sum to at most 2\\*\\*53"):
        fit_bgbb(_BX, _BTX, _BN, weights=np.r_[1e308, np.ones(len(_BX) - 1)])
    rep = _X > 0
    with pytest.raises(ValidationError, match="'monetary_value' must be at most 1e\\+150"):
        fit_gamma_gamma(_X[rep], np.r_[1e308, _M[rep][1:]])
    with pytest.raises(ValidationError, match="'monetary_value'"):
        GG.conditional_expected_average_value([1e6], [1e308])
    with pytest.raises(FitError, match="'counts'"):
        fit_sbg([2**63, 631, 468, 382, 326])
    with pytest.raises(ValidationError, match="channels has 4, contacts has 3"):
        channel_response(
            ["mail", "mail", "call", "mail"], contacts=[10, 10, 10], responses=[1, 1, 1, 1]
        )


def test_predictions_are_never_a_silent_nan_or_infinity() -> None:
    """Parameters beyond what the formula can evaluate (a, b in the hundreds of thousands, as a
    fit to a handful of customers can give) are reported, not returned as NaN; horizons are capped."""

    from crmcore.valuation import BGNBDModel, BGNBDParams

    x, tx, T = [2, 1, 0], [5.0, 3.0, 0.0], [10.0, 8.0, 6.0]
    # the parameters themselves, not a fit: three customers identify no model (whether the
    # optimiser stops short of the edge or reports it depends on the numpy/scipy release)
    model = BGNBDModel(params=BGNBDParams(r=0.5, alpha=5.0, a=1.3e5, b=8e5))
    with pytest.raises(ValidationError, match="conditional_expected_purchases with BGNBDParams"):
        model.conditional_expected_purchases(30, x, tx, T)
    with pytest.raises(ValidationError, match="'t' must be at most 1e\\+10"):
        model.expected_purchases(1e300)
