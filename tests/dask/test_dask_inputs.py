"""crmcore.dask refuses bad input as the single-machine functions do, and locates it.

What is not a Dask frame, a missing column, missing customer ids for value tiers, a
``partitioned=True`` frame whose customers are split across partitions; errors raised
inside a partition name the caller's row, customer and transaction (not a position in
the partition); ABC classes come back with the caller's ids.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
dd = pytest.importorskip("dask.dataframe")
pytest.importorskip("distributed")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from crmcore.anomaly import (  # noqa: E402
    CustomerContext,
    RuleSet,
    Threshold,
    UnknownCustomerError,
)
from crmcore.anomaly.demo import DEMO_RULES  # noqa: E402
from crmcore.dask import (  # noqa: E402
    DaskConcentration,
    concentration_dask,
    detect_dask,
    rfm_dask,
    summarize_dask,
    value_tiers_dask,
)
from crmcore.errors import ValidationError  # noqa: E402
from crmcore.segmentation import abc_classes, concentration, value_tiers  # noqa: E402

ROWS = pd.DataFrame(
    {
        "customer_id": ["a", "a", "b", "c", "c", "d"],
        "occurred_at": pd.to_datetime(
            ["2024-01-01", "2024-01-08", "2024-01-05", "2024-02-01", "2024-02-03", "2024-02-04"]
        ),
        "amount": [10.0, 7.0, 3.0, 4.0, 6.0, 1.0],
        "kind": ["purchase"] * 6,
        "id": ["t1", "t2", "t3", "t4", "t5", "t6"],
    },
    index=[10, 11, 12, 13, 14, 15],  # the caller's row labels, not positions
)


def test_summarize_dask_refuses_what_is_not_a_dask_frame() -> None:
    for default_end in (True, False):
        end = None if default_end else "2024-02-10"
        with pytest.raises(ValidationError, match="'frame' must be a dask.dataframe.DataFrame"):
            summarize_dask(ROWS, kind="kind", observation_end=end)


@pytest.mark.parametrize(
    ("option", "missing"),
    [("customer", "cid"), ("time", "ts"), ("amount", "value"), ("kind", "knd")],
)
def test_summarize_dask_names_a_missing_column(option: str, missing: str) -> None:
    frame = dd.from_pandas(ROWS, npartitions=2)
    for end in (None, "2024-02-10"):
        with pytest.raises(ValidationError, match=re.escape(f"no column(s) [{missing!r}]")):
            summarize_dask(frame, observation_end=end, **{option: missing})


def test_partitioned_true_on_split_customers_is_refused(client: Any) -> None:
    split = dd.from_pandas(ROWS, npartitions=3, sort=False)  # a and c span two partitions
    s = summarize_dask(split, kind="kind", observation_end="2024-02-10", partitioned=True)
    for read in (s.purchase_statistics, s.spend_statistics, s.compute):
        with pytest.raises(ValidationError, match="partitioned=True"):
            read()
    with pytest.raises(ValidationError, match="partitioned=True"):
        rfm_dask(split, "2024-02-10", kind="kind", partitioned=True)
    # the same rows shuffled by customer (the default), or partitioned by customer: accepted
    whole = summarize_dask(split, kind="kind", observation_end="2024-02-10")
    by_customer = dd.from_pandas(ROWS, npartitions=1)
    ok = summarize_dask(by_customer, kind="kind", observation_end="2024-02-10", partitioned=True)
    assert ok.purchase_statistics().equals(whole.purchase_statistics())
    assert ok.compute().customer_ids.tolist() == ["a", "b", "c", "d"]
    one = rfm_dask(by_customer, "2024-02-10", kind="kind", partitioned=True)
    assert one.populations["monetary"][1].sum() == 4


def test_value_tiers_refuse_missing_ids_as_in_memory(client: Any) -> None:
    f = pd.DataFrame({"customer_id": ["a", None, "c"], "clv": [1.0, 2.0, 3.0]}, index=[5, 6, 7])
    with pytest.raises(ValidationError) as single:
        value_tiers(f["clv"].to_numpy(), customer_ids=f["customer_id"].to_numpy(dtype=object))
    rule = str(single.value).split(": None")[0]  # the value shown and the row differ
    assert "'customer_ids' must be labels (none missing" in rule
    with pytest.raises(ValidationError, match=re.escape(rule)) as got:
        value_tiers_dask(dd.from_pandas(f, npartitions=2), "clv").compute()
    assert "at row 6 of the frame" in str(got.value)


@settings(max_examples=15, deadline=None)
@given(
    values=st.lists(st.integers(1, 50).map(float), min_size=1, max_size=30),
    parts=st.integers(1, 4),
)
def test_concentration_returns_abc_classes_with_the_callers_ids(
    client: Any, values: list[float], parts: int
) -> None:
    ids = [f"c{i:03d}" for i in range(len(values))]
    rng = np.random.default_rng(len(values))
    f = pd.DataFrame({"customer_id": ids, "clv": values}).iloc[rng.permutation(len(values))]
    r = concentration_dask(dd.from_pandas(f, npartitions=parts, sort=False), column="clv")
    assert isinstance(r, DaskConcentration)
    got = r.classes().set_index("customer_id")["class"]
    want = abc_classes(np.asarray(values)).names()  # the single machine, in id order
    assert got.loc[ids].tolist() == want.tolist()
    c, abc = r  # unpacks as the pair it was
    assert c.gini() == concentration(np.asarray(values)).gini() and abc is r.abc


def test_concentration_of_a_series_keeps_its_pair_and_has_no_ids(client: Any) -> None:
    r = concentration_dask(dd.from_pandas(pd.Series([3.0, 1.0]), npartitions=1))
    c, abc = r
    assert c is r[0] and r[1] is abc and len(r) == 2 and r.customer_ids is None
    with pytest.raises(ValidationError, match="no customer ids"):
        r.classes()
    with pytest.raises(ValidationError, match=re.escape("no column(s) ['clv']")):
        concentration_dask(dd.from_pandas(ROWS, npartitions=1), column="clv")


@pytest.mark.parametrize(
    ("column", "value", "rule"),
    [
        ("amount", np.nan, "'amount' must not contain NaN"),
        ("occurred_at", pd.NaT, "'time' must be a time, not NaT"),
        ("kind", None, "'kind' must not contain missing labels"),
    ],
)
def test_errors_in_a_partition_name_the_callers_row_customer_and_transaction(
    client: Any, column: str, value: Any, rule: str
) -> None:
    bad = ROWS.copy()
    bad.loc[14, column] = value  # customer c, transaction t5: the second row of c
    frame = dd.from_pandas(bad, npartitions=2)
    where = "at row 14 of the frame, customer 'c'"
    with pytest.raises(ValidationError, match=re.escape(rule)) as e:
        summarize_dask(frame, kind="kind", observation_end="2024-02-10").frame.compute()
    assert where in str(e.value) and "at index" not in str(e.value)
    with pytest.raises(ValidationError, match=re.escape(f"{where}, transaction 't5'")):
        detect_dask(frame, DEMO_RULES, kind="kind").compute()
    with pytest.raises(ValidationError, match=re.escape(where)):
        rfm_dask(frame, "2024-02-10", kind="kind").summary.compute()


def test_a_missing_customer_id_names_the_row_and_transaction(client: Any) -> None:
    bad = ROWS.copy()
    bad.loc[12, "customer_id"] = None
    frame = dd.from_pandas(bad, npartitions=2)
    with pytest.raises(ValidationError, match="'customer_id' must not contain missing") as e:
        detect_dask(frame, DEMO_RULES, kind="kind").compute()
    assert "at row 12 of the frame, transaction 't3'" in str(e.value)
    assert "in this partition" in str(e.value)


def test_unknown_customers_error_says_the_count_is_one_partitions(client: Any) -> None:
    rules = RuleSet(name="big", rules=[Threshold(name="big", at_least=5.0)])
    frame = dd.from_pandas(ROWS, npartitions=2)
    known = {"a": CustomerContext(segment="vip")}
    with pytest.raises(UnknownCustomerError, match=r"of one partition \(its count only\)"):
        detect_dask(frame, rules, known, kind="kind", unknown_customers="error").compute()
