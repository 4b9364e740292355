"""The long-term relationship report on the memory, SQLite and PostgreSQL backends, against
counts and indices computed in the test."""

from __future__ import annotations

import importlib.util
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from crmcore.errors import ArgumentTypeError, NotFoundError, ValidationError
from crmcore.model import Activity, Customer, Interaction, Money, SurveyResponse, Transaction
from crmcore.relationship import long_term_report
from crmcore.repositories import MemoryUnitOfWork
from crmcore.valuation import (
    BGNBDModel,
    BGNBDParams,
    SpendTable,
    acquisition_cost,
    customer_lifetime_value,
    repurchase_propensity,
)

_spec = importlib.util.spec_from_file_location(
    "_repositories_conftest", Path(__file__).parents[1] / "repositories" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_backends = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_backends)
postgres_url = _backends.postgres_url
postgres_engine = _backends.postgres_engine
postgres_factory = _backends.postgres_factory
sqlite_factory = _backends.sqlite_factory


def t(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=UTC)


AS_OF = t(2025, 6, 30)
MODEL = BGNBDModel(BGNBDParams(0.25, 40.0, 0.6, 2.5), time_unit="D")
CAC = acquisition_cost(
    SpendTable.from_arrays(channel=["search", "tv"], period=[1, 1], amount=[100.0, 400.0]),
    ["search", "search", "tv"],
    [1, 1, 1],
)  # search 50 per customer, tv 400


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def uow(request: pytest.FixtureRequest) -> Any:
    u = (
        MemoryUnitOfWork()
        if request.param == "memory"
        else request.getfixturevalue(f"{request.param}_factory")()
    )
    build(u)
    return u


def build(uow: Any) -> None:
    with uow:
        uow.customers.add_many(
            [
                Customer(id="c-1", name="Ada", segment="gold", acquisition_channel="search",
                         acquired_at=t(2021, 3, 1)),
                Customer(id="c-2", name="Bob", segment="gold", acquisition_channel="tv"),
                Customer(id="c-3", name="Cy", segment="silver"),
            ]
        )  # fmt: skip

        def i(id_: str, c: str, ch: str, at: datetime) -> Interaction:
            return Interaction(
                id=id_, customer_id=c, channel=ch, direction="outbound", occurred_at=at
            )

        uow.interactions.add_many(
            [
                i("i-1", "c-1", "meeting", t(2022, 5, 1)),  # before the window of 3 years
                i("i-2", "c-1", "phone", t(2023, 2, 1)),
                i("i-3", "c-1", "phone", t(2023, 9, 1)),
                i("i-4", "c-1", "meeting", t(2024, 4, 4)),
                i("i-5", "c-1", "email", t(2025, 7, 1)),  # after as_of
                i("i-6", "c-2", "web", t(2024, 1, 1)),
            ]
        )
        uow.activities.add_many(
            [
                Activity(id="a-1", kind="call", rep_id="r", customer_id="c-1", status="done",
                         done_at=t(2024, 10, 10)),
                Activity(id="a-2", kind="meeting", rep_id="r", customer_id="c-1", due_at=t(2025, 5, 1)),
            ]
        )  # fmt: skip

        def tx(id_: str, c: str, at: datetime, amount: str) -> Transaction:
            return Transaction(id=id_, customer_id=c, occurred_at=at, amount=Money(amount, "USD"))

        uow.transactions.add_many(
            [
                tx("t-1", "c-1", t(2023, 1, 10), "100"),
                tx("t-2", "c-1", t(2023, 6, 10), "60"),
                tx("t-3", "c-1", t(2024, 6, 10), "40"),
                tx("t-4", "c-2", t(2024, 2, 1), "30"),
            ]
        )
        uow.surveys.add_many(
            [
                SurveyResponse(id="s-1", customer_id="c-1", responded_at=t(2023, 3, 1), nps=10),
                SurveyResponse(id="s-2", customer_id="c-1", responded_at=t(2024, 3, 1), nps=9),
                SurveyResponse(id="s-3", customer_id="c-2", responded_at=t(2024, 5, 1), nps=3),
            ]
        )
        uow.commit()


def test_touches_per_year(uow: Any) -> None:
    with uow:
        r = long_term_report(uow, as_of=AS_OF, segment="gold", years=3)
    assert r.years == (2023, 2024, 2025)
    got = {(int(y), k, c): int(n) for y, k, c, n in zip(r.touches.year, r.touches.kind, r.touches.channel, r.touches.count, strict=True)}  # fmt: skip
    assert got == {
        (2023, "interaction", "phone"): 2,
        (2023, "transaction", None): 2,
        (2023, "survey", None): 1,
        (2024, "interaction", "meeting"): 1,
        (2024, "interaction", "web"): 1,
        (2024, "activity", "phone"): 1,
        (2024, "transaction", None): 2,
        (2024, "survey", None): 2,
        (2025, "activity", "meeting"): 1,
    }
    with uow:  # four years reach the meeting of 2022 ("the meetings of three years ago")
        r4 = long_term_report(uow, as_of=AS_OF, customer_ids=["c-1"], years=4)
    rows = r4.touches.to_pandas()
    meetings = rows[(rows.kind == "interaction") & (rows.channel == "meeting")]
    assert meetings[["year", "count"]].to_dict("records") == [
        {"year": 2022, "count": 1},
        {"year": 2024, "count": 1},
    ]


def test_indices_against_a_reference(uow: Any) -> None:
    with uow:
        r = long_term_report(
            uow, as_of=AS_OF, segment="gold", cac=CAC, purchase_model=MODEL, repurchase_within=90
        )
    ix = r.indices
    assert ix.customer_id.tolist() == ["c-1", "c-2"]
    assert ix.acquisition_channel.tolist() == ["search", "tv"]
    assert ix.tenure_days.tolist() == [(AS_OF - t(2021, 3, 1)).days, (AS_OF - t(2024, 1, 1)).days]
    assert ix.last_touch.astype("datetime64[D]").astype(str).tolist() == [
        "2024-10-10",
        "2024-01-01",
    ]
    assert ix.cac.tolist() == [50.0, 400.0]
    assert ix.nps.tolist() == [1.0, -1.0]
    # the summaries by hand: c-1 bought on 2023-01-10, 2023-06-10, 2024-06-10; c-2 once
    end = date(2025, 6, 30)
    x = [2.0, 0.0]
    t_x = [float((date(2024, 6, 10) - date(2023, 1, 10)).days), 0.0]
    big_t = [float((end - date(2023, 1, 10)).days), float((end - date(2024, 2, 1)).days)]
    m = [50.0, 0.0]
    want_clv = customer_lifetime_value(MODEL, None, x, t_x, big_t, m)
    # c-2 never bought again and no spend model was given: the value per purchase, and so
    # the CLV, is unknown (NaN), not 0, and the CLV > CAC check is masked for c-2
    want_clv[1] = np.nan
    np.testing.assert_allclose(ix.clv, want_clv, rtol=1e-9)
    np.testing.assert_allclose(
        ix.repurchase, repurchase_propensity(MODEL, 90, x, t_x, big_t), rtol=1e-9
    )
    assert ix.clv_above_cac.tolist() == [bool(want_clv[0] > 50), None]
    assert r.mean_clv == pytest.approx(float(want_clv[0]))
    assert r.mean_cac == 50.0
    assert r.profitable is bool(want_clv[0] > 50.0)
    assert r.nps is not None and r.nps.score == pytest.approx(1 / 3)
    frame = ix.to_pandas()
    assert frame.columns.tolist()[-1] == "clv_above_cac"


def test_undefined_indices(uow: Any) -> None:
    with uow:
        r = long_term_report(uow, as_of=AS_OF, customer_ids=["c-3"])
    ix = r.indices
    assert math.isnan(ix.tenure_days[0]) and np.isnat(ix.last_touch[0])
    assert all(math.isnan(v[0]) for v in (ix.cac, ix.clv, ix.nps, ix.repurchase))
    assert ix.clv_above_cac.mask.tolist() == [True]
    assert (r.nps, r.profitable, len(r.touches)) == (None, None, 0)
    assert math.isnan(r.clv_to_cac)
    with uow:
        empty = long_term_report(uow, as_of=AS_OF, segment="bronze")
    assert len(empty.indices) == 0 and empty.profitable is None


def test_far_dates(uow: Any) -> None:
    with uow:
        late = long_term_report(uow, as_of="9999-12-31", customer_ids=["c-1"], years=2)
        early = long_term_report(uow, as_of="0002-06-01", customer_ids=["c-1"], years=5)
    assert late.years == (9998, 9999) and len(late.touches) == 0
    assert np.isnat(late.indices.last_touch[0])  # no touch in the window
    assert early.years == (1, 2) and len(early.touches) == 0
    assert early.indices.tenure_days.tolist() == [0.0]  # acquired after as_of: no tenure yet


def test_bad_input(uow: Any) -> None:
    with uow:
        with pytest.raises(
            ValidationError, match="exactly one of 'customer_ids' and 'segment': neither"
        ):
            long_term_report(uow, as_of=AS_OF)
        with pytest.raises(NotFoundError, match="customer 'c-9' not found"):
            long_term_report(uow, as_of=AS_OF, customer_ids=["c-1", "c-9"])
        with pytest.raises(ValidationError, match="'customer_ids' must not repeat an id: 'c-1'"):
            long_term_report(uow, as_of=AS_OF, customer_ids=["c-1", "c-1"])
        with pytest.raises(ValidationError, match="'customer_ids' must be a list"):
            long_term_report(uow, as_of=AS_OF, customer_ids="c-1")
        for years in (0, 101, 2.5):
            with pytest.raises(ValidationError, match="'years'"):
                long_term_report(uow, as_of=AS_OF, customer_ids=["c-1"], years=years)  # type: ignore[arg-type]
        with pytest.raises(ArgumentTypeError, match="'cac' must be a CACReport"):
            long_term_report(uow, as_of=AS_OF, customer_ids=["c-1"], cac={"search": 50})  # type: ignore[arg-type]
        with pytest.raises(ValidationError, match="'repurchase_within'"):
            long_term_report(
                uow, as_of=AS_OF, customer_ids=["c-1"], purchase_model=MODEL, repurchase_within=-1
            )
        with pytest.raises(ValidationError, match="'as_of' must be timezone-aware"):
            long_term_report(uow, as_of=datetime(2025, 1, 1), customer_ids=["c-1"])
