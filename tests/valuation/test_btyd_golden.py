"""Golden tests: the published estimates and worked examples of the BTYD literature."""

from __future__ import annotations

import numpy as np
import pytest

from crmcore.datasets import load_cdnow_sample, load_cdnow_summary, load_donations
from crmcore.valuation import (
    BGNBDModel,
    BGNBDParams,
    fit_bgbb,
    fit_bgnbd,
    fit_gamma_gamma,
    fit_pareto_nbd,
    summarize_transactions,
)


@pytest.fixture(scope="module")
def cdnow() -> dict[str, np.ndarray]:
    return load_cdnow_summary()


def test_bgnbd_cdnow_estimates(cdnow: dict[str, np.ndarray]) -> None:
    """Fader, Hardie & Lee (2005), "Counting your customers the easy way", Marketing
    Science 24(2), section 4: r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4."""
    m = fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    got = (m.params.r, m.params.alpha, m.params.a, m.params.b)
    assert [round(v, 3) for v in got] == [0.243, 4.414, 0.793, 2.426]
    assert round(m.log_likelihood, 1) == -9582.4
    assert m.converged and m.n == 2357
    assert m.standard_errors is not None


def test_bgnbd_worked_example() -> None:
    """FHL 2005, section 5: the customer with x = 2, t_x = 30.43, T = 38.86 is expected
    to make 1.226 purchases in the next 39 weeks (published parameters)."""
    m = BGNBDModel(BGNBDParams(0.243, 4.414, 0.793, 2.426))
    got = m.conditional_expected_purchases(39, 2, 30.43, 38.86)[0]
    assert round(float(got), 3) == 1.226


def test_bgnbd_expected_purchases_independent_formula() -> None:
    """FHL 2005 eq. (9), E[X(t)] = (a+b-1)/(a-1) [1 - (alpha/(alpha+t))^r 2F1(r, b; a+b-1; t/(alpha+t))],
    evaluated straight from the paper's form (the implementation uses the Euler transform)."""
    from scipy.special import hyp2f1

    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    m = BGNBDModel(BGNBDParams(r, alpha, a, b))
    t = np.array([1.0, 39.0, 78.0])
    paper = (
        (a + b - 1)
        / (a - 1)
        * (1 - (alpha / (alpha + t)) ** r * hyp2f1(r, b, a + b - 1, t / (alpha + t)))
    )
    np.testing.assert_allclose(m.expected_purchases(t), paper, rtol=1e-10)


def test_pareto_nbd_cdnow_estimates(cdnow: dict[str, np.ndarray]) -> None:
    """FHL 2005 (BG/NBD paper, section 4, Pareto/NBD benchmark on the same data):
    r = 0.55, alpha = 10.58, s = 0.61, beta = 11.67, LL = -9595.0."""
    m = fit_pareto_nbd(cdnow["x"], cdnow["t_x"], cdnow["T"])
    got = (m.params.r, m.params.alpha, m.params.s, m.params.beta)
    assert [round(v, 2) for v in got] == [0.55, 10.58, 0.61, 11.67]
    assert round(m.log_likelihood, 1) == -9595.0


def test_gamma_gamma_cdnow_estimates() -> None:
    """Fader, Hardie & Lee (2005), "RFM and CLV: using iso-value curves for customer base
    analysis", JMR 42(4): p = 6.25, q = 3.74, gamma = 15.44 on the 946 repeat customers.

    Fitted on the unrounded mean repeat values summarised from the raw sample (the
    published file's zbar is rounded to cents, which moves gamma to 15.448)."""
    s = summarize_transactions(load_cdnow_sample(), time_unit="W", calibration_end="1997-09-30")
    rep = s.frequency > 0
    m = fit_gamma_gamma(s.frequency[rep], s.monetary_value[rep])
    assert m.n == 946
    got = (m.params.p, m.params.q, m.params.gamma)
    assert [round(v, 2) for v in got] == [6.25, 3.74, 15.44]


def test_bgbb_donations_estimates() -> None:
    """Fader, Hardie & Shang (2010), "Customer-base analysis in a discrete-time
    noncontractual setting", Marketing Science 29(6), Table 2:
    alpha = 1.204, beta = 0.750, gamma = 0.657, delta = 2.783, LL = -33225.6."""
    d = load_donations()
    m = fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
    got = (m.params.alpha, m.params.beta, m.params.gamma, m.params.delta)
    assert [round(v, 3) for v in got] == [1.204, 0.750, 0.657, 2.783]
    assert round(m.log_likelihood, 1) == -33225.6
    assert m.n == 11104


def test_bgbb_pmf_sums_to_one_and_matches_mean() -> None:
    """FHS 2010 eq. (7) and (8): P(X(n) = x) over x = 0..n sums to 1 and its mean is E[X(n)]."""
    d = load_donations()
    m = fit_bgbb(d["frequency"], d["recency"], d["periods"], weights=d["weights"])
    xs = np.arange(7)
    pmf = m.probability_of_purchases(xs, 6)
    assert abs(pmf.sum() - 1) < 1e-12
    assert abs(float(pmf @ xs) - float(m.expected_purchases(6)[0])) < 1e-10


def test_summary_reproduces_published_cdnow_file(cdnow: dict[str, np.ndarray]) -> None:
    """cdnow_customers_summary_with_transactions.csv (FHL 2005 data, rounded to 2 decimals)
    is reproduced from CDNOW_sample.txt: weeks, calibration end 1997-09-30 inclusive,
    same-day purchases merged, zbar = mean of the repeat transactions."""
    s = summarize_transactions(load_cdnow_sample(), time_unit="W", calibration_end="1997-09-30")
    assert s.customer_ids.tolist() == cdnow["id"].tolist()
    np.testing.assert_array_equal(s.frequency, cdnow["x"])
    np.testing.assert_allclose(s.recency, cdnow["t_x"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(s.T, cdnow["T"], atol=0.005 + 1e-9)
    np.testing.assert_allclose(s.monetary_value, cdnow["zbar"], atol=0.005 + 1e-6)
    assert int(s.frequency.sum()) == 2457
