"""crmcore.progress: the events of a stage arrive in order, ``done`` never above ``total``."""

from __future__ import annotations

import itertools
import pathlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.progress import ProgressEvent, stage


def _check_stream(events: list[ProgressEvent], total: int | None) -> None:
    assert events[0].done == 0
    dones = [e.done for e in events]
    assert dones == sorted(dones)
    assert all(e.total is None or e.done <= e.total for e in events)
    assert all(b.done > a.done or b.total != a.total for a, b in itertools.pairwise(events))
    last = events[-1]
    assert last.total == (total if total is not None else last.done)
    assert last.done == last.total


@settings(max_examples=30)
@given(
    total=st.none() | st.integers(0, 50),
    steps=st.lists(st.integers(0, 20), max_size=12),
)
def test_a_stage_reports_in_order_and_within_its_total(total: int | None, steps: list[int]) -> None:
    events: list[ProgressEvent] = []
    with stage(events.append, "work", total=total) as tick:
        for n in steps:
            tick.advance(n)
    _check_stream(events, total)
    assert {e.stage for e in events} == {"work"}


def test_an_error_inside_a_stage_reports_no_end() -> None:
    events: list[ProgressEvent] = []

    def work() -> None:
        with stage(events.append, "work", total=10) as tick:
            tick.advance(3)
            raise KeyError("x")

    with pytest.raises(KeyError):
        work()
    assert [e.done for e in events] == [0, 3]


def test_a_callback_that_raises_stops_the_work() -> None:
    def stop(event: ProgressEvent) -> None:
        if event.done >= 2:
            raise KeyboardInterrupt

    tick = stage(stop, "work", total=5)
    tick.advance()
    with pytest.raises(KeyboardInterrupt):
        tick.advance()


def test_no_listener_costs_nothing() -> None:
    def fn(x: int) -> int:
        return x

    assert stage(None, "work").counting(fn) is fn


@pytest.mark.parametrize(
    ("done", "total", "match"),
    [(-1, 3, "'done' must be >= 0"), (4, 3, "at most 'total'"), (1, -2, "'total' must be >= 0")],
)
def test_an_impossible_event_is_refused(done: int, total: int, match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ProgressEvent("x", done, total)


@settings(max_examples=8)
@given(rows=st.integers(0, 40), batch=st.integers(1, 15), bad=st.integers(0, 3))
def test_an_import_reports_its_rows_in_order(rows: int, batch: int, bad: int) -> None:
    from crmcore.ingest import import_transactions
    from crmcore.repositories import MemoryUnitOfWork

    data = [
        {"customer_id": f"c{i % 4}", "occurred_at": f"2024-01-{1 + i % 28:02d}", "amount": i}
        for i in range(rows)
    ] + [{"customer_id": "c", "occurred_at": "never", "amount": 1}] * bad
    events: list[ProgressEvent] = []
    report = import_transactions(
        MemoryUnitOfWork(), data, currency="EUR", batch_size=batch, progress=events.append
    )
    _check_stream(events, rows + bad or None)
    assert {e.stage for e in events} == {"import transactions"}
    assert events[-1].done == report.rows_read


def test_a_csv_import_of_customers_reports_its_rows(tmp_path: pathlib.Path) -> None:
    from crmcore.ingest import import_customers
    from crmcore.repositories import MemoryUnitOfWork

    source = tmp_path / "c.csv"
    source.write_text("id,name\n" + "".join(f"c{i},Name {i}\n" for i in range(25)))
    events: list[ProgressEvent] = []
    import_customers(MemoryUnitOfWork(), source, batch_size=10, progress=events.append)
    assert [(e.done, e.total) for e in events] == [(0, 25), (10, 25), (20, 25), (25, 25)]


def test_the_batch_rules_report_each_leaf_rule() -> None:
    from crmcore.anomaly import AllOf, RobustZ, RuleSet, Threshold, detect
    from crmcore.datasets import load_cdnow_sample

    rules = RuleSet(
        name="r",
        rules=[
            Threshold(name="big", at_least=300),
            AllOf(name="both", rules=[Threshold(at_least=100), RobustZ(lookback=10, z=3.0)]),
        ],
    )
    events: list[ProgressEvent] = []
    detect(load_cdnow_sample(), rules, progress=events.append)
    assert [(e.stage, e.done, e.total) for e in events] == [
        ("anomaly rules", k, 3) for k in range(4)
    ]


def test_a_bad_progress_is_refused_before_any_work() -> None:
    from crmcore.errors import ArgumentTypeError
    from crmcore.ingest import import_transactions
    from crmcore.repositories import MemoryUnitOfWork

    uow = MemoryUnitOfWork()
    row = {"customer_id": "c", "occurred_at": "2024-01-01", "amount": 1}
    with pytest.raises(ArgumentTypeError, match="'progress' must be a function"):
        import_transactions(uow, [row], currency="EUR", progress="yes")  # type: ignore[arg-type]
    with uow:
        assert uow.transactions.count() == 0


def test_a_fit_reports_its_likelihood_evaluations() -> None:
    import numpy as np

    from crmcore.fitting import maximum_likelihood

    def ll(th: np.ndarray) -> tuple[float, np.ndarray]:
        return float(30 * np.log(th[0]) - 10 * th[0]), np.array([30 / th[0] - 10])

    calls = 0

    def counted(th: np.ndarray) -> tuple[float, np.ndarray]:
        nonlocal calls
        calls += 1
        return ll(th)

    events: list[ProgressEvent] = []
    maximum_likelihood(counted, [1.0], model="toy", names=["lam"], n=10, progress=events.append)
    _check_stream(events, None)
    assert {e.stage for e in events} == {"fit toy"}
    assert events[-1].done == calls > 5


@pytest.mark.parametrize("fit_name", ["fit_bgnbd", "fit_mbgnbd", "fit_pareto_nbd"])
def test_the_purchase_model_fits_report_progress(fit_name: str) -> None:
    import crmcore.valuation as valuation
    from crmcore.datasets import load_cdnow_summary

    s = load_cdnow_summary()
    events: list[ProgressEvent] = []
    model = getattr(valuation, fit_name)(s["x"], s["t_x"], s["T"], progress=events.append)
    _check_stream(events, None)
    assert {e.stage for e in events} == {f"fit {model.fit.model}"}
    assert events[-1].done > 3


def test_the_other_likelihood_fits_report_progress() -> None:
    """BG/BB, Gamma-Gamma and Gamma-Gompertz/NBD report their evaluations like the rest."""
    import crmcore.valuation as valuation
    from crmcore.datasets import load_cdnow_summary, load_donations
    from crmcore.errors import FitError

    d = load_donations()
    s = load_cdnow_summary()
    repeat = s["x"] > 0
    fits = {
        "BG/BB": lambda p: valuation.fit_bgbb(
            d["frequency"], d["recency"], d["periods"], weights=d["weights"], progress=p
        ),
        "Gamma-Gamma": lambda p: valuation.fit_gamma_gamma(
            s["x"][repeat], s["zbar"][repeat], progress=p
        ),
    }
    for name, run in fits.items():
        events: list[ProgressEvent] = []
        model = run(events.append)
        _check_stream(events, None)
        assert {e.stage for e in events} == {f"fit {model.fit.model}"}, name
        assert events[-1].done > 3, name
    # CDNOW has no Gamma-Gompertz/NBD maximum (FitError): the evaluations are heard in
    # order, and a stage that ends in an error reports no end
    events = []
    with pytest.raises(FitError):
        valuation.fit_ggompertz_nbd(s["x"], s["t_x"], s["T"], progress=events.append)
    dones = [e.done for e in events]
    assert dones[0] == 0 and dones == sorted(dones) and dones[-1] > 3
    assert {e.stage for e in events} == {"fit Gamma-Gompertz/NBD"}
    assert all(e.total is None for e in events)
