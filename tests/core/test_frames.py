"""DataFrames out (crmcore._frames): the one conversion rule, and every tabular result.

* the rule, property-based: any mix of float (NaN, inf), integer, flag, instant (years
  1-9999, NaT), calendar-date, text (None, HTML, any unicode) and integer-id columns comes
  back from pandas, polars and Arrow with the documented types and the same values;
* every result class that inherits ``Tabular`` is listed here with the columns (names and
  kinds) it documents, built from a small real call, and checked on the three libraries;
  ids and labels come back as given, not as codes; a new ``Tabular`` class without an
  entry fails :func:`test_every_tabular_result_is_covered`;
* a missing library raises ``MissingDependencyError`` naming the extra;
* ``_repr_html_`` escapes, caps rows and columns, and needs no library.
"""

from __future__ import annotations

import html
import importlib
import pkgutil
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import attrs
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import crmcore
from crmcore._frames import HTML_COLUMNS, HTML_ROWS, Tabular, frame_columns
from crmcore.errors import MissingDependencyError

T0 = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)

# -- the documented types, per kind -----------------------------------------------------------

PANDAS = {
    "float": "float64",
    "int": "int64",
    "bool": "bool",
    "instant": "datetime64[us, UTC]",
    "date": "datetime64[s]",
    "text": "str",
}
PANDAS_NULLABLE = {"int": "Int64", "bool": "boolean"}
POLARS = {
    "float": pl.Float64,
    "int": pl.Int64,
    "bool": pl.Boolean,
    "instant": pl.Datetime("us", "UTC"),
    "date": pl.Date,
    "text": pl.String,
}
ARROW = {
    "float": pa.float64(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "instant": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "text": pa.string(),
}


class Cols(Tabular):
    """A bare result: the columns it is given (for the rule's property test)."""

    def __init__(self, **cols: Any) -> None:
        self._cols = cols

    __slots__ = ("_cols",)

    def _columns(self) -> dict[str, Any]:
        return self._cols


def _canonical(kind: str, values: list[Any]) -> list[Any]:
    """Values as comparable Python objects: None for every missing value."""
    out: list[Any] = []
    for v in values:
        if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
            out.append(None)
        elif kind == "instant":
            out.append(
                int(np.datetime64(v, "us").astype(np.int64))
                if not isinstance(v, datetime)
                else int((v - datetime(1970, 1, 1, tzinfo=UTC)) / _US)
            )
        elif kind == "date":
            out.append(
                np.datetime64(v, "D").astype(str) if not isinstance(v, date) else v.isoformat()[:10]
            )
        elif isinstance(v, np.generic):
            out.append(v.item())
        else:
            out.append(v)
    return out


_US = np.timedelta64(1, "us").astype("timedelta64[us]").item()


def _from_pandas(df: pd.DataFrame, name: str, kind: str) -> list[Any]:
    s = df[name]
    if kind == "instant":
        return [
            None if pd.isna(v) else int(v.value // 1000 if v.unit == "ns" else _micros(v))
            for v in s
        ]
    if kind == "date":
        return [None if pd.isna(v) else v.date().isoformat() for v in s]
    return _canonical(kind, s.tolist())


def _micros(ts: pd.Timestamp) -> int:
    return int(ts.tz_convert(None).to_datetime64().astype("datetime64[us]").astype(np.int64))


def _from_polars(df: pl.DataFrame, name: str, kind: str) -> list[Any]:
    s = df[name]
    if kind == "instant":
        return s.dt.epoch("us").to_list()
    if kind == "date":
        return [None if v is None else v.isoformat() for v in s.to_list()]
    return _canonical(kind, s.to_list())


def _from_arrow(t: pa.Table, name: str, kind: str) -> list[Any]:
    col = t.column(name)
    if kind == "instant":
        return col.cast(pa.int64()).to_pylist()
    if kind == "date":
        return [None if v is None else v.isoformat() for v in col.to_pylist()]
    return _canonical(kind, col.to_pylist())


def _expected(kind: str, values: np.ndarray) -> list[Any]:
    if kind == "instant":
        return [
            None if np.isnat(v) else int(v.astype("datetime64[us]").astype(np.int64))
            for v in values
        ]
    if kind == "date":
        return [None if np.isnat(v) else str(v.astype("datetime64[D]")) for v in values]
    if kind == "float":
        return [None if np.isnan(v) else float(v) for v in values]
    return _canonical(kind, list(values))


def check_frames(result: Tabular, kinds: dict[str, str] | None = None) -> dict[str, Any]:
    """The three frames of ``result`` agree with its columns, in names, types and values."""
    cols = frame_columns(result)
    if kinds is not None:
        assert [(c.name, c.kind) for c in cols] == list(kinds.items())
    df, pf, at = result.to_pandas(), result.to_polars(), result.to_arrow()
    names = [c.name for c in cols]
    assert list(df.columns) == names and pf.columns == names and at.column_names == names
    assert len(df) == len(pf) == at.num_rows == (len(cols[0].values) if cols else 0)
    for c in cols:
        nullable = c.missing is not None
        want_pd = PANDAS_NULLABLE[c.kind] if nullable else PANDAS[c.kind]
        got_pd = str(df[c.name].dtype)
        if c.kind == "text":
            assert pd.api.types.is_string_dtype(df[c.name].dtype), (c.name, got_pd)
        else:
            assert got_pd == want_pd, (c.name, got_pd, want_pd)
        assert pf.schema[c.name] == POLARS[c.kind], (c.name, pf.schema[c.name])
        assert at.schema.field(c.name).type == ARROW[c.kind], (c.name, at.schema)
        values = c.values.astype(object) if nullable else c.values
        if nullable:
            values[c.missing] = None
        want = _expected(c.kind, values) if not nullable else _canonical(c.kind, list(values))
        assert _from_pandas(df, c.name, c.kind) == want, c.name
        assert _from_polars(pf, c.name, c.kind) == want, c.name
        assert _from_arrow(at, c.name, c.kind) == want, c.name
    page = result._repr_html_()
    assert page.startswith('<div class="crmcore-table">') and page.endswith("</div>")
    return {"pandas": df, "polars": pf, "arrow": at}


# -- the rule, property-based -----------------------------------------------------------------

_N = st.shared(st.integers(0, 12), key="n")
_LO, _HI = np.datetime64("0001-01-01", "us"), np.datetime64("9999-12-31T23:59:59.999999", "us")


def _column(kind: str) -> st.SearchStrategy[np.ndarray]:
    if kind == "float":
        return _N.flatmap(lambda n: hnp.arrays(np.float64, n))
    if kind == "int":
        return _N.flatmap(lambda n: hnp.arrays(np.int64, n))
    if kind == "int8":
        return _N.flatmap(lambda n: hnp.arrays(np.int8, n))
    if kind == "bool":
        return _N.flatmap(lambda n: hnp.arrays(np.bool_, n))
    if kind == "instant":
        us = st.one_of(
            st.integers(int(_LO.astype(np.int64)), int(_HI.astype(np.int64))),
            st.just(None),
        )
        return _N.flatmap(lambda n: st.lists(us, min_size=n, max_size=n)).map(
            lambda xs: np.array(
                [np.datetime64("NaT", "us") if x is None else np.datetime64(x, "us") for x in xs],
                dtype="datetime64[us]",
            )
        )
    if kind == "date":
        days = st.one_of(st.integers(-719162, 2932896), st.just(None))
        return _N.flatmap(lambda n: st.lists(days, min_size=n, max_size=n)).map(
            lambda xs: np.array(
                [np.datetime64("NaT", "D") if x is None else np.datetime64(x, "D") for x in xs],
                dtype="datetime64[D]",
            )
        )
    if kind == "text":
        text = st.one_of(st.none(), st.text(st.characters(exclude_categories=("Cs",))))
        return _N.flatmap(lambda n: st.lists(text, min_size=n, max_size=n)).map(
            lambda xs: np.array([*xs, None], dtype=object)[:-1]
        )
    assert kind == "ids"
    ids = st.integers(-(2**63), 2**63 - 1)
    return _N.flatmap(lambda n: st.lists(ids, min_size=n, max_size=n)).map(
        lambda xs: np.array([*xs, None], dtype=object)[:-1]
    )


_KIND = {
    "int8": "int",
    "ids": "int",
    "float": "float",
    "int": "int",
    "bool": "bool",
    "instant": "instant",
    "date": "date",
    "text": "text",
}


@given(
    st.lists(st.sampled_from(sorted(_KIND)), min_size=1, max_size=6).flatmap(
        lambda kinds: st.tuples(st.just(kinds), st.tuples(*(_column(k) for k in kinds)))
    )
)
def test_any_columns_come_back_typed_and_equal(
    case: tuple[list[str], tuple[np.ndarray, ...]],
) -> None:
    kinds, arrays = case
    cols = {f"c{i}_{k}": a for i, (k, a) in enumerate(zip(kinds, arrays, strict=True))}
    result = Cols(**cols)
    expected = {name: _KIND[k] for name, k in zip(cols, kinds, strict=True)}
    if all(len(a) == 0 for a in arrays):  # an empty object column has no values to type it
        expected = {
            n: ("text" if k == "int" and cols[n].dtype == object else k)
            for n, k in expected.items()
        }
    check_frames(result, expected)


@given(
    _N.flatmap(lambda n: hnp.arrays(np.int64, n)),
    _N.flatmap(lambda n: hnp.arrays(np.bool_, n)),
    _N.flatmap(lambda n: hnp.arrays(np.bool_, n)),
)
def test_a_masked_column_is_nullable_whatever_is_missing(
    values: np.ndarray, flags: np.ndarray, mask: np.ndarray
) -> None:
    r = Cols(
        i=np.ma.masked_array(values, mask=mask),
        b=np.ma.masked_array(flags, mask=mask),
        f=np.ma.masked_array(values.astype(float), mask=mask),
    )
    frames = check_frames(r, {"i": "int", "b": "bool", "f": "float"})
    assert frames["pandas"]["i"].isna().tolist() == mask.tolist()
    assert frames["polars"]["b"].is_null().to_list() == mask.tolist()
    assert frames["arrow"].column("f").is_null().to_pylist() == mask.tolist()


def test_integer_ids_with_none_are_a_nullable_integer_column() -> None:
    r = Cols(id=np.array([7, None, 2**62], dtype=object))
    frames = check_frames(r, {"id": "int"})
    assert str(frames["pandas"]["id"].dtype) == "Int64"
    assert frames["polars"]["id"].to_list() == [7, None, 2**62]


def test_labels_of_other_kinds_come_back_as_their_text() -> None:
    r = Cols(d=np.array([date(2025, 1, 2), None, b"x\xff"], dtype=object))
    frames = check_frames(r, {"d": "text"})
    assert frames["polars"]["d"].to_list() == ["2025-01-02", None, "x\\xff"]


def test_float_nan_is_null_in_polars_and_arrow_and_infinity_stays() -> None:
    frames = check_frames(Cols(x=np.array([1.5, np.nan, np.inf])))
    assert frames["polars"]["x"].to_list() == [1.5, None, float("inf")]
    assert frames["arrow"].column("x").null_count == 1
    assert frames["pandas"]["x"].isna().tolist() == [False, True, False]


def test_columns_must_be_one_dimensional_and_of_one_length() -> None:
    with pytest.raises(TypeError, match="column 'm' must be 1-D"):
        Cols(m=np.zeros((2, 2))).to_pandas()
    with pytest.raises(TypeError, match="column 'b' has 1 rows, column 'a' 2"):
        Cols(a=np.zeros(2), b=np.zeros(1)).to_arrow()
    with pytest.raises(TypeError, match="not a table column"):
        Cols(a=np.array([1j])).to_polars()


# -- missing libraries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "module", "extra"),
    [
        ("to_pandas", "pandas", "pandas"),
        ("to_polars", "polars", "polars"),
        ("to_arrow", "pyarrow", "arrow"),
    ],
)
def test_a_missing_library_names_the_extra_to_install(
    monkeypatch: pytest.MonkeyPatch, method: str, module: str, extra: str
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # import now raises ImportError
    r = Cols(a=np.arange(3))
    with pytest.raises(MissingDependencyError, match=rf"pip install 'crmcore\[{extra}\]'") as e:
        getattr(r, method)()
    assert isinstance(e.value, ImportError) and repr(module) in str(e.value)
    assert "<table" in r._repr_html_()  # the HTML table needs no library


def test_crmcore_imports_no_frame_library() -> None:
    import subprocess

    code = (
        "import sys, crmcore, crmcore.valuation, crmcore.segmentation, crmcore.pipeline, "
        "crmcore.satisfaction, crmcore.anomaly, crmcore.tables, crmcore.ingest; "
        "print(sorted(m for m in ('pandas', 'polars', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# -- _repr_html_ ------------------------------------------------------------------------------


@given(st.text(st.characters(exclude_categories=("Cs",)), min_size=1))
def test_repr_html_escapes_every_value_and_name(text: str) -> None:
    page = Cols(**{text: np.array([text], dtype=object)})._repr_html_()
    assert html.escape(text) in page
    if "<" in text or "&" in text:
        assert text not in page.replace(html.escape(text), "")


def test_repr_html_of_a_script_is_inert() -> None:
    evil = "<script>alert('x')</script>"
    page = Cols(**{evil: np.array([evil, "a&b"], dtype=object)})._repr_html_()
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page and "a&amp;b" in page


def test_repr_html_caps_rows_and_columns_and_says_how_many_more() -> None:
    n = HTML_ROWS + 7
    wide = {f"c{j}": np.arange(n) for j in range(HTML_COLUMNS + 2)}
    page = Cols(**wide)._repr_html_()
    assert page.count("<tr>") == HTML_ROWS + 1  # header + the first rows
    assert "... 7 more rows" in page
    assert "... 2 more columns: c30, c31" in page
    assert f"{n:,} rows" in page


def test_repr_html_shows_missing_values_blank_and_nan_as_nan() -> None:
    r = Cols(
        t=np.array(["2025-03-04T12:30", "NaT"], dtype="datetime64[us]"),
        d=np.array(["2025-03-04", "NaT"], dtype="datetime64[D]"),
        x=np.array([0.123456789, np.nan]),
        s=np.array(["a", None], dtype=object),
        i=np.ma.masked_array([1, 2], mask=[False, True]),
    )
    page = r._repr_html_()
    assert (
        "<td>2025-03-04 12:30</td><td>2025-03-04</td><td>0.123457</td><td>a</td><td>1</td>" in page
    )
    assert "<td></td><td></td><td>NaN</td><td></td><td></td>" in page


def test_repr_html_heads_the_table_with_the_scalar_fields() -> None:
    from crmcore.segmentation import rfm_summary
    from crmcore.tables import TransactionLog

    log = TransactionLog.from_arrays(customer_ids=["<b>"], timestamps=["2020-01-01"], amounts=[3.0])
    page = rfm_summary(log, "2020-01-11")._repr_html_()
    assert "<p><b>RFMSummary</b>: 1 row (as_of 2020-01-11)</p>" in page
    assert "<td>&lt;b&gt;</td>" in page


# -- every tabular result ---------------------------------------------------------------------


def _k(spec: str) -> dict[str, str]:
    """``"name:kind name:kind"`` as an ordered mapping."""
    return dict(item.split(":") for item in spec.split())


@pytest.fixture(scope="module")
def pipeline() -> Any:
    from crmcore.pipeline.history import FunnelHistory
    from crmcore.pipeline.presets import B2B
    from crmcore.pipeline.synthetic import synthetic_pipeline

    p = synthetic_pipeline(B2B, n_opportunities=300, seed=3, start="2024-01-01", days=547)
    return p, FunnelHistory.build(p.history, B2B, as_of=p.as_of, reasons=p.reasons)


@pytest.fixture(scope="module")
def scoring() -> Any:
    from crmcore.pipeline.presets import B2B
    from crmcore.pipeline.scoring import (
        fit_deal_scores,
        score_deals,
        synthetic_scoring_pipeline,
    )

    s = synthetic_scoring_pipeline(B2B, n_opportunities=300, seed=5)
    model = fit_deal_scores(s.history, B2B, as_of=s.as_of, fields=s.fields)
    return s, score_deals(model, s.history, B2B, as_of=s.as_of, fields=s.fields)


@pytest.fixture(scope="module")
def cdnow() -> Any:
    from crmcore.datasets import load_cdnow_sample

    return load_cdnow_sample()


def _economics() -> dict[str, Any]:
    from crmcore.valuation.economics.acquisition import SpendTable, acquisition_cost
    from crmcore.valuation.economics.clv import retention_what_if
    from crmcore.valuation.economics.csat import csat_by_group
    from crmcore.valuation.economics.nps import compare_nps, nps, nps_by_group
    from crmcore.valuation.economics.ratios import cac_payback, clv_to_cac
    from crmcore.valuation.economics.response import channel_response

    spend = SpendTable.from_arrays(
        channel=["web", "tv", "web"],
        period=np.array(["2025-01", "2025-01", "2025-02"], "M"),
        amount=[90.0, 30.0, 60.0],
        campaign=["spring", "tv-1", "summer"],
    )
    months = np.array(["2025-01", "2025-01", "2025-01", "2025-02"], "M")
    rep = acquisition_cost(spend, ["web", "web", "tv", "web"], months)
    return {
        "csat": csat_by_group([5, 1, 4, 4, 3], [2, 2, 7, 7, 7]),
        "nps": nps_by_group([10, 2, 9, 9, 0], ["south", "south", "north", "north", "north"]),
        "compare": compare_nps(nps([10, 2] * 20), nps([10, 10, 2] * 20)),
        "spend": spend,
        "cac": rep.cells,
        "clvcac": clv_to_cac(rep, [50.0, 10.0, 30.0, 80.0]).by_channel,
        "payback": cac_payback([100.0, 500.0], 50.0, retention=0.9),
        "response": channel_response(
            ["web", "mail"], contacts=[200, 50], responses=[0, 5], cost=[50.0, 20.0]
        ),
        "whatif": retention_what_if(np.array([10.0, 20.0]), 0.5, 0.0, 100, points=10),
    }


def _cases() -> list[tuple[str, Callable[..., Any], str]]:
    """(class name, factory(fixtures) -> result, documented columns)."""

    def econ(key: str) -> Callable[..., Any]:
        return lambda **_: _economics()[key]

    return [
        (
            "CSATTable",
            econ("csat"),
            "group:int n:float effective_n:float mean:float sd:float "
            "mean_low:float mean_high:float top_box:float top_box_low:float top_box_high:float "
            "top2_box:float top2_box_low:float top2_box_high:float share_1:float share_2:float "
            "share_3:float share_4:float share_5:float",
        ),
        (
            "NPSTable",
            econ("nps"),
            "group:text n:float effective_n:float promoters:float "
            "passives:float detractors:float score:float se:float low:float high:float",
        ),
        (
            "NPSComparison",
            econ("compare"),
            "difference:float se:float z:float p_value:float low:float high:float",
        ),
        ("SpendTable", econ("spend"), "channel:text period:date amount:float campaign:text"),
        (
            "CACTable",
            econ("cac"),
            "channel:text period:date spend:float customers:float cac:float defined:bool",
        ),
        (
            "CLVCACTable",
            econ("clvcac"),
            "channel:text customers:float mean_clv:float cac:float "
            "ratio:float ratio_defined:bool flagged:bool flagged_customers:float",
        ),
        ("PaybackResult", econ("payback"), "months:float whole_months:int recovered:bool"),
        (
            "ResponseTable",
            econ("response"),
            "channel:text contacts:float responses:float "
            "rate:float low:float high:float cost:float acquired:float cost_per_response:float "
            "cost_per_response_defined:bool cost_per_customer:float cost_per_customer_defined:bool",
        ),
        (
            "RetentionWhatIf",
            econ("whatif"),
            "retention_before:float retention_after:float "
            "clv_before:float clv_after:float profit_effect:float relative_change:float",
        ),
        *[(name, f, cols) for name, f, cols in _segmentation()],
        *[(name, f, cols) for name, f, cols in _valuation()],
        *[(name, f, cols) for name, f, cols in _satisfaction()],
        *[(name, f, cols) for name, f, cols in _pipeline()],
        *[(name, f, cols) for name, f, cols in _anomaly_tables_ingest()],
        *[(name, f, cols) for name, f, cols in _relationship_view()],
        *_relationship_work(),
    ]


def _segmentation() -> list[tuple[str, Callable[..., Any], str]]:
    from crmcore.segmentation import (
        Tier,
        TierSet,
        abc_classes,
        co_purchase,
        cond,
        customer_profitability,
        entry_costs,
        rfm_from_log,
        segment_table,
        tier_migration,
    )

    def rfm(cdnow: Any, **_: Any) -> Any:
        return rfm_from_log(cdnow, "1998-06-30")

    return [
        (
            "segmentation.rfm.RFMSummary",
            lambda cdnow, **_: rfm(cdnow)[0],
            "customer_id:int recency:float frequency:int monetary:float",
        ),
        (
            "RFMScores",
            lambda cdnow, **_: rfm(cdnow)[1],
            "customer_id:int recency:int frequency:int monetary:int cell:int",
        ),
        ("Segments", lambda cdnow, **_: rfm(cdnow)[1].segments(), "segment:text"),
        (
            "SegmentTable",
            lambda cdnow, **_: segment_table(rfm(cdnow)[0], rfm(cdnow)[1].segments()),
            "segment:text customers:int recency:float frequency:float monetary:float",
        ),
        (
            "ABCClasses",
            lambda **_: abc_classes([50, 30, 10, 6, 4]),
            "class:text customers:int share:float threshold:float",
        ),
        (
            "TierAssignment",
            lambda **_: TierSet("t", (Tier("big", cond("x", ">", 1)),)).evaluate({"x": [5, 0]}),
            "tier:text",
        ),
        (
            "TierMigration",
            lambda **_: tier_migration([1, 2], ["a", "b"], [1, 2], ["a", "a"], tiers=["a", "b"]),
            "before:text after:text customers:int",
        ),
        (
            "Recommendations",
            lambda **_: co_purchase([1, 1, 2, 3], ["x", "y", "x", "z"]).recommend(k=2),
            "customer_id:int rank:int product:text score:float",
        ),
        (
            "CostBreakdown",
            lambda **_: entry_costs(
                [0, 1, 1], ["discount", "bad_debt", "discount"], [5.0, 40.0, 1.0], n_customers=3
            ),
            "bad_debt:float discount:float",
        ),
        (
            "Profitability",
            lambda **_: customer_profitability([10.0, 3.0], [4.0, 1.0], [1.0, 5.0]),
            "revenue:float cost_of_goods:float cost_to_serve:float cost:float profit:float",
        ),
    ]


def _valuation() -> list[tuple[str, Callable[..., Any], str]]:
    from crmcore.fitting import FitSummary
    from crmcore.valuation import (
        fit_bgnbd,
        fit_gamma_gamma,
        score_customers,
        summarize_transactions,
    )
    from crmcore.valuation.btyd.covariates import CovariateEffects
    from crmcore.valuation.btyd.tracking import tracking_curves

    def summary(cdnow: Any) -> Any:
        return summarize_transactions(
            cdnow, time_unit="W", calibration_end="1997-09-30", observation_end="1998-06-30"
        )

    def curves(cdnow: Any, **_: Any) -> Any:
        model = fit_bgnbd(summary(cdnow))
        return tracking_curves(model, cdnow, step=4)

    return [
        (
            "FitSummary",
            lambda **_: FitSummary(
                "toy",
                ("r", "beta"),
                (3.0, -0.5),
                (0.5, 0.0),
                None,
                -7.0,
                10,
                5,
                True,
                "",
                scales=("log", "linear"),
                at_bound=("beta",),
            ),
            "parameter:text estimate:float standard_error:float lower:float upper:float z:float "
            "p_value:float scale:text at_bound:bool",
        ),
        (
            "valuation.btyd.summary.RFMSummary",
            lambda cdnow, **_: summary(cdnow),
            "customer_id:int frequency:float recency:float T:float monetary_value:float "
            "holdout_frequency:float holdout_monetary_value:float",
        ),
        (
            "CustomerScores",
            lambda cdnow, **_: score_customers(
                fit_bgnbd(summary(cdnow)),
                summary(cdnow),
                horizon=13,
                spend_model=fit_gamma_gamma(summary(cdnow)),
            ),
            "customer_id:int p_alive:float expected_purchases:float clv:float",
        ),
        (
            "TrackingCurves",
            curves,
            "date:date expected_cumulative:float actual_cumulative:float "
            "expected_incremental:float actual_incremental:float",
        ),
        (
            "CovariateEffects",
            lambda **_: CovariateEffects(
                purchase=(0.4, -0.1),
                dropout=(0.2,),
                purchase_errors=(0.1, 0.2),
                purchase_names=("age", "web"),
            ),
            "process:text position:int covariate:text coefficient:float standard_error:float",
        ),
    ]


def _satisfaction() -> list[tuple[str, Callable[..., Any], str]]:
    from crmcore.model import SurveyResponse
    from crmcore.satisfaction import preset_model
    from crmcore.satisfaction.quadrants import classify_quadrants, competition_scenario
    from crmcore.satisfaction.survey import csat_columns
    from crmcore.satisfaction.value import uplift_value

    return [
        (
            "QuadrantResult",
            lambda **_: classify_quadrants([5, 5, 1], [1, 1, 0], extremes=True),
            "quadrant:text",
        ),
        (
            "ScenarioResult",
            lambda **_: competition_scenario(
                preset_model(),
                [1, 5, 1, 5],
                value=[10.0] * 4,
                segment=[0, 0, 1, 1],
                competition_before=0.0,
                competition_after=1.0,
            ),
            "segment:int competition_before:float competition_after:float customers:int "
            "loyal_before:float loyal_after:float defections:float hostage_defections:float "
            "value_at_risk:float hostage_value_at_risk:float",
        ),
        (
            "UpliftRanking",
            lambda **_: uplift_value(
                preset_model(), [4, 2, 5, 4], [100.0, 1000.0, 500.0, 50.0], 1.0
            ),
            "satisfaction:int gain:float value:float",
        ),
        (
            "CsatColumns",
            lambda **_: csat_columns(
                [
                    SurveyResponse(id="s1", customer_id="c1", responded_at=T0, csat=4),
                    SurveyResponse(id="s2", customer_id="c2", responded_at=T0, csat=2),
                ]
            ),
            "customer_id:text satisfaction:int",
        ),
    ]


def _pipeline() -> list[tuple[str, Callable[..., Any], str]]:
    from crmcore.model import Activity, Opportunity
    from crmcore.pipeline.breakdowns import (
        breakdown,
        cohort_conversion,
        lost_reasons,
        who_sells_what,
    )
    from crmcore.pipeline.forecast import backtest, forecast, time_to_close, win_probabilities
    from crmcore.pipeline.hygiene import CloseDateChanges, close_date_slippage, pipeline_hygiene
    from crmcore.pipeline.metrics import stage_conversion, time_in_stage, weighted_pipeline
    from crmcore.pipeline.plans import (
        Period,
        Plan,
        Targets,
        actuals,
        next_period_forecast,
        plan_vs_actual,
    )
    from crmcore.pipeline.presets import B2B
    from crmcore.pipeline.scorecard import scorecards

    june = Period.month(date(2025, 6, 1))
    stages = ["lead", "qualified", "proposal", "negotiation"]

    def changes() -> CloseDateChanges:
        return CloseDateChanges.from_arrays(
            opportunity_ids=["a", "a", "b"],
            owner_ids=["ann", "ann", "bob"],
            at=["2025-01-05", "2025-03-01", "2025-01-09"],
            old=["2025-01-31", "2025-02-28", None],
            new=["2025-02-28", "2025-05-31", "2025-04-01"],
        )

    def hygiene(**_: Any) -> Any:
        t = datetime(2025, 3, 1, 9, tzinfo=UTC)
        deals = [
            Opportunity(
                id="a",
                customer_id="c",
                owner_id="ann",
                funnel="f",
                stage="s",
                created_at=t,
                expected_close=date(2025, 3, 31),
            ),
            Opportunity(
                id="b", customer_id="c", owner_id="bob", funnel="f", stage="s", created_at=t
            ),
        ]
        acts = [
            Activity(
                id="x",
                kind="call",
                rep_id="ann",
                opportunity_id="a",
                due_at=datetime(2025, 3, 20, 9, tzinfo=UTC),
            )
        ]
        return pipeline_hygiene(deals, acts, as_of=datetime(2025, 3, 10, tzinfo=UTC))

    def fh(pipeline: Any) -> Any:
        return pipeline[1]

    rate = "rate:float"
    return [
        (
            "StageConversion",
            lambda pipeline, **_: stage_conversion(fh(pipeline)),
            f"stage:text reached:int advanced:int decided:int {rate} converted:int",
        ),
        (
            "TimeInStage",
            lambda pipeline, **_: time_in_stage(fh(pipeline)),
            "stage:text count:int mean_days:float median_days:float",
        ),
        (
            "WeightedPipeline",
            lambda pipeline, **_: weighted_pipeline(fh(pipeline)),
            "stage:text count:int total:float weighted:float",
        ),
        (
            "Breakdown",
            lambda pipeline, **_: breakdown(fh(pipeline), by="owner"),
            "owner:text opportunities:int open:int won:int lost:int win_rate:float "
            "won_value:float pipeline_value:float weighted_value:float",
        ),
        (
            "SalesMatrix",
            lambda pipeline, **_: who_sells_what(fh(pipeline)),
            "owner:text product:text won_value:float won_count:int",
        ),
        (
            "LostReasons",
            lambda pipeline, **_: lost_reasons(fh(pipeline)),
            "reason:text count:int value:float share:float "
            + " ".join(f"from_{s}:int" for s in stages),
        ),
        (
            "CohortConversion",
            lambda pipeline, **_: cohort_conversion(fh(pipeline)),
            "month:date created:int "
            + " ".join(f"reached_{s}:int" for s in stages)
            + " won:int lost:int open:int win_rate:float",
        ),
        (
            "WinProbabilities",
            lambda pipeline, **_: win_probabilities(fh(pipeline)),
            "stage:text closed:int won:int empirical:float prior:float smoothed:float",
        ),
        (
            "TimeToClose",
            lambda pipeline, **_: time_to_close(fh(pipeline)),
            "stage:text days:float stay_days:float weight:float",
        ),
        (
            "Forecast",
            lambda pipeline, **_: forecast(fh(pipeline), months=3),
            "month:date expected:float sd:float low:float high:float",
        ),
        (
            "Backtest",
            lambda pipeline, **_: backtest(pipeline[0].history, B2B, as_of="2025-03-01", months=3),
            "month:date actual:float expected_history:float expected_stage:float",
        ),
        (
            "Scorecards",
            lambda pipeline, **_: scorecards(june, history=fh(pipeline)),
            "rep:text activities:int advances:int wins:int revenue:float cost:float profit:float "
            "percentile_activities:float percentile_advances:float percentile_wins:float "
            "percentile_revenue:float percentile_profit:float diagnosis:text",
        ),
        (
            "Actuals",
            lambda pipeline, **_: actuals(june, history=fh(pipeline)),
            "rep:text activities:int advances:int wins:int revenue:float",
        ),
        (
            "NextPeriodForecast",
            lambda pipeline, **_: next_period_forecast(fh(pipeline), period=june.next()),
            "rep:text pipeline:float run_rate:float expected:float sd:float",
        ),
        (
            "PlanReport",
            lambda pipeline, **_: plan_vs_actual(
                [Plan("rep-1", june, Targets(wins=3)), Plan("rep-2", june.shift(-1), Targets())],
                history=fh(pipeline),
            ),
            "rep:text period:text start:date "
            + " ".join(
                f"{m}_target:float {m}_actual:float {m}_attainment:float"
                for m in ("activities", "advances", "wins", "revenue")
            ),
        ),
        (
            "CloseDateChanges",
            lambda **_: changes(),
            "opportunity_id:text at:instant old:date new:date owner_id:text",
        ),
        (
            "Slippage",
            lambda **_: close_date_slippage(changes()),
            "opportunity_id:text owner_id:text changes:int pushes:int pull_ins:int days_pushed:int "
            "first_close:date current_close:date slipped_days:float",
        ),
        (
            "Hygiene",
            hygiene,
            "opportunity_id:text owner_id:text next_activity:instant planned:int overdue:int "
            "no_next_activity:bool expected_close:date stale_close:bool no_close_date:bool",
        ),
        (
            "DealScores",
            lambda scoring, **_: scoring[1],
            "opportunity_id:text probability:float log_odds:float stage:text age:text "
            "time_in_stage:text amount:text owner:text product:text source:text employees:text",
        ),
        (
            "DealExplanation",
            lambda scoring, **_: scoring[1].explain(scoring[1].opportunity_ids[0]),
            "factor:text level:text contribution:float",
        ),
        (
            "ScoreBacktest",
            _score_backtest,
            "method:text bin_low:float bin_high:float deals:int predicted:float observed:float",
        ),
    ]


def _score_backtest(scoring: Any, **_: Any) -> Any:
    from crmcore.pipeline.presets import B2B
    from crmcore.pipeline.scoring import backtest_deal_scores

    s = scoring[0]
    return backtest_deal_scores(
        s.history, B2B, as_of=s.as_of - np.timedelta64(120, "D"), fields=s.fields, bins=4
    )


def _anomaly_tables_ingest() -> list[tuple[str, Callable[..., Any], str]]:
    from crmcore.anomaly import AlertTable, detect, summarize
    from crmcore.anomaly.demo import DEMO_RULES, synthetic_owners
    from crmcore.ingest.report import ImportReport, RowError
    from crmcore.tables import FieldHistory

    alert_cols = (
        "id:text ruleset:text rule:text rule_version:int rule_type:text customer_id:text "
        "transaction_ids:text occurred_at:instant opened_at:instant observed:float "
        "baseline:float deviation:float history:int status:text outcome:text owner_id:text "
        "routed_to:text window:text explanation:text"
    )

    def found(cdnow: Any) -> Any:
        log = cdnow.take(np.flatnonzero(cdnow.customer < 300))
        return detect(log, DEMO_RULES, synthetic_owners([str(c) for c in log.customer_ids]))

    def field_history(**_: Any) -> Any:
        return FieldHistory.from_arrays(
            opportunity_ids=["o-1", "o-1"],
            sequence=[1, 2],
            fields=["amount", "expected_close"],
            at=[T0, T0],
            recorded_at=[T0, T0],
            new=[5.0, date(2025, 3, 1)],
            old=[None, None],
            by=["ann", "bob"],
            reasons=["typo", None],
        )

    return [
        ("Detection", lambda cdnow, **_: found(cdnow), alert_cols),
        ("AlertTable", lambda cdnow, **_: AlertTable(found(cdnow).alerts()), alert_cols),
        (
            "AlertSummary",
            lambda cdnow, **_: summarize(found(cdnow).alerts()),
            "by:text key:text alerts:int",
        ),
        (
            "TransactionLog",
            lambda cdnow, **_: cdnow,
            "customer_id:int occurred_at:instant amount:float kind:text quantity:int",
        ),
        (
            "StageHistory",
            lambda pipeline, **_: pipeline[0].history,
            "opportunity_id:text sequence:int from_stage:text to_stage:text at:instant "
            "amount:float owner_id:text product:text",
        ),
        (
            "FieldHistory",
            field_history,
            "opportunity_id:text sequence:int field:text old:text new:text at:instant "
            "recorded_at:instant by:text reason:text",
        ),
        (
            "ImportReport",
            lambda **_: ImportReport(
                source="o.csv",
                target="transactions",
                rows_read=3,
                stored=1,
                rejected=2,
                errors=(
                    RowError(row=2, line=3, column="amount", value="'-5'", reason="< 0"),
                    RowError(row=3, line=None, column=None, value=None, reason="empty"),
                ),
            ),
            "row:int line:int column:text value:text reason:text",
        ),
    ]


def _relationship_view() -> list[tuple[str, Callable[..., Any], str]]:
    """The customer view's and the long-term report's tables (crmcore.relationship)."""
    from collections import Counter

    from crmcore.model import Customer, Interaction, Money, Opportunity, Relationship
    from crmcore.relationship import (
        ChannelPreference,
        LongTermIndices,
        OpenDeals,
        RelatedParties,
        TimelineEvent,
        TimelinePage,
        YearlyTouches,
    )

    def objs(*v: Any) -> Any:
        out = np.empty(len(v), dtype=object)
        out[:] = v
        return out

    def page(**_: Any) -> Any:
        return TimelinePage("c-1", (TimelineEvent(T0, "interaction", "i-1", "phone", "inbound phone", None),
                                    TimelineEvent(T0, "transaction", "t-1", None, "purchase", None)), None)  # fmt: skip

    def channels(**_: Any) -> Any:
        return ChannelPreference.from_interactions(
            Interaction(id=f"i-{k}", customer_id="c", channel=ch, direction=d, occurred_at=T0, outcome=o)
            for k, (ch, d, o) in enumerate([("phone", "inbound", None), ("sms", "outbound", "ok")])
        )  # fmt: skip

    def deals(**_: Any) -> Any:
        o = Opportunity(id="o-1", customer_id="c", owner_id="ann", funnel="b2b", stage="lead",
                        created_at=T0, amount=Money("5", "EUR"))  # fmt: skip
        return OpenDeals((o,), ("lead",), np.array([np.nan]))

    def related(**_: Any) -> Any:
        c = Customer(
            id="c",
            name="A",
            relationships=[Relationship("employee_of", "o"), Relationship("x", "z")],
        )
        return RelatedParties.from_customers(
            c, {"o": Customer(id="o", name="O", kind="organization")}
        )

    def indices(**_: Any) -> Any:
        return LongTermIndices(
            customer_id=objs("c-1", "c-2"), segment=objs("gold", None), acquisition_channel=objs("web", None),
            tenure_days=np.array([10.0, np.nan]),
            last_touch=np.array(["2024-01-01T00:00:00", "NaT"], dtype="datetime64[us]"),
            cac=np.array([5.0, np.nan]), clv=np.array([7.0, 1.0]), nps=np.array([1.0, np.nan]),
            repurchase=np.array([0.5, np.nan]),
        )  # fmt: skip

    return [
        ("TimelinePage", page, "at:instant kind:text id:text channel:text summary:text"),
        (
            "ChannelPreference",
            channels,
            "channel:text inbound:int outbound:int answered:int response_rate:float",
        ),
        (
            "OpenDeals",
            deals,
            "opportunity_id:text stage:text amount:float currency:text score:float",
        ),
        ("RelatedParties", related, "relation:text customer_id:text name:text customer_kind:text"),
        (
            "YearlyTouches",
            lambda **_: YearlyTouches.from_counts(
                Counter({(2024, "interaction", "phone"): 2, (2024, "transaction", None): 1})
            ),
            "year:int kind:text channel:text count:int",
        ),
        (
            "LongTermIndices",
            indices,
            "customer_id:text segment:text acquisition_channel:text tenure_days:float "
            "last_touch:instant cac:float clv:float nps:float repurchase:float clv_above_cac:bool",
        ),
    ]


def _relationship_work() -> list[tuple[str, Callable[..., Any], str]]:
    """The reminders' and CRM health's tables (crmcore.relationship)."""
    from datetime import UTC, date, datetime

    from crmcore.model import Consent, ContactPoint, Customer, Interaction
    from crmcore.relationship import Birthday, ReminderRules, crm_health, plan_reminders
    from crmcore.repositories import MemoryUnitOfWork

    def store() -> Any:
        uow = MemoryUnitOfWork()
        with uow:
            uow.customers.add_many([
                Customer(id="c-1", name="Ada", birthday=date(1980, 3, 14), owner_id="ann",
                         acquisition_channel="web", consent=Consent(contact=True),
                         acquired_at=datetime(2026, 2, 2, tzinfo=UTC),
                         contact_points=[ContactPoint("email", "ada@example.com")]),
                Customer(id="c-2", name="Bob", birthday=date(1980, 3, 14)),
            ])  # fmt: skip
            uow.interactions.add(Interaction(id="i-1", customer_id="c-1", channel="phone",
                direction="outbound", occurred_at=datetime(2026, 2, 3, tzinfo=UTC), rep_id="ann"))  # fmt: skip
            uow.commit()
        return uow

    def plan(**_: Any) -> Any:
        uow = store()
        with uow:
            rules = ReminderRules(name="r", rules=[Birthday(name="b", days_ahead=0)])
            return plan_reminders(uow, rules, as_of="2026-03-14")

    def health(part: str) -> Callable[..., Any]:
        def make(**_: Any) -> Any:
            uow = store()
            with uow:
                return getattr(crm_health(uow, start="2026-01-01", end="2026-04-01"), part)

        return make

    return [
        (
            "ReminderPlan",
            plan,
            "id:text rule:text customer_id:text occasion:text due_at:instant rep_id:text "
            "channel:text kind:text status:text reason:text",
        ),
        (
            "RepAdoption",
            health("adoption"),
            "level:text name:text team:text reps:int logged:int working_days:int "
            "logged_per_day:float customers:int touched:int share_touched:float "
            "won_revenue:float represented_revenue:float share_represented:float",
        ),
        (
            "FieldQuality",
            health("fields"),
            "entity:text field:text source:text records:int filled:int completeness:float "
            "median_age_days:float stale_share:float",
        ),
        (
            "SourceQuality",
            health("sources"),
            "source:text customers:int completeness:float duplicates:int duplicate_rate:float "
            "consented:int consent_coverage:float",
        ),
        (
            "MonthlyHealth",
            health("trends"),
            "month:date logged:int active_reps:int working_days:int customers:int touched:int "
            "share_touched:float won_revenue:float share_represented:float new_customers:int "
            "new_completeness:float new_duplicate_rate:float new_consent_coverage:float",
        ),
    ]


CASES = _cases()


def _fixtures(request: pytest.FixtureRequest, factory: Callable[..., Any]) -> dict[str, Any]:
    import inspect

    wanted = [p for p in inspect.signature(factory).parameters if p != "_"]
    return {name: request.getfixturevalue(name) for name in wanted}


@pytest.mark.parametrize(("name", "factory", "columns"), CASES, ids=[c[0] for c in CASES])
def test_result_round_trips_with_its_documented_columns(
    request: pytest.FixtureRequest, name: str, factory: Callable[..., Any], columns: str
) -> None:
    result = factory(**_fixtures(request, factory))
    assert isinstance(result, Tabular) and name.endswith(type(result).__name__)
    frames = check_frames(result, _k(columns))
    assert len(frames["pandas"]) > 0, "each case has rows to compare"


def test_every_tabular_result_is_covered() -> None:
    """Every class of crmcore that inherits Tabular has a round-trip case above."""
    found = set()
    for m in pkgutil.walk_packages(crmcore.__path__, "crmcore."):
        mod = importlib.import_module(m.name)
        for obj in vars(mod).values():
            ours = isinstance(obj, type) and obj.__module__.startswith("crmcore.")
            if ours and issubclass(obj, Tabular) and obj is not Tabular:
                found.add(f"{obj.__module__}.{obj.__qualname__}")
    covered = {name for name, _, _ in CASES}
    missing = {f for f in found if not any(f.endswith(c) for c in covered)}
    assert not missing, f"Tabular results without a round-trip case: {sorted(missing)}"
    assert len(found) >= 55


# -- ids and labels as given, meta ------------------------------------------------------------


def test_ids_come_back_as_given_strings_integers_and_order(cdnow: Any) -> None:
    from crmcore.segmentation import rfm_from_log, rfm_scores
    from crmcore.tables import TransactionLog

    summary, _ = rfm_from_log(cdnow, "1998-06-30")
    df = summary.to_pandas()
    assert df["customer_id"].tolist() == summary.customer_ids.tolist()  # CDNOW ids are integers
    assert str(df["customer_id"].dtype) == "int64"
    log = TransactionLog.from_arrays(
        customer_ids=["z-9", "a-1", "z-9"],
        timestamps=["2020-01-01", "2020-01-02", "2020-01-03"],
        amounts=[1.0, 2.0, 3.0],
    )
    assert log.to_polars()["customer_id"].to_list() == ["z-9", "a-1", "z-9"]
    s = rfm_scores(
        [5, 1, 3],
        [1, 2, 3],
        [9.0, 8.0, 7.0],
        bins=3,
        customer_ids=np.array(["c", "a", "b"], dtype=object),
    )
    assert s.to_arrow().column("customer_id").to_pylist() == ["c", "a", "b"]


def test_labels_are_decoded_not_codes(pipeline: Any) -> None:
    from crmcore.segmentation import Tier, TierSet, cond

    t = TierSet("t", (Tier("gold", cond("x", ">", 5)), Tier("silver", cond("x", ">", 1))))
    assert t.evaluate({"x": [9, 0, 3]}).to_pandas()["tier"].isna().tolist() == [False, True, False]
    tiers = t.evaluate({"x": [9, 0, 3]}).to_polars()["tier"].to_list()
    assert tiers == ["gold", None, "silver"]
    h = pipeline[0].history
    df = h.to_pandas()
    first = int(np.flatnonzero(h.from_stage < 0)[0])
    assert pd.isna(df["from_stage"][first])  # creation: no stage before
    assert set(df["to_stage"]) <= {str(s) for s in h.stages.tolist()}


def test_scalar_fields_go_to_pandas_attrs_and_arrow_metadata(cdnow: Any) -> None:
    from crmcore.valuation import summarize_transactions

    s = summarize_transactions(cdnow, time_unit="W", calibration_end="1997-09-30")
    attrs_ = s.to_pandas().attrs
    assert attrs_["time_unit"] == "W" and attrs_["calibration_end"] == date(1997, 9, 30)
    meta = s.to_arrow().schema.metadata
    assert meta[b"time_unit"] == b"W" and meta[b"calibration_end"] == b"1997-09-30"
    from crmcore.segmentation import rfm_summary

    r = rfm_summary(cdnow, "1998-06-30T12:00:00Z")
    assert r.to_pandas().attrs["as_of"] == pd.Timestamp("1998-06-30 12:00", tz="UTC")


def test_fit_summary_rows_are_its_estimates() -> None:
    from crmcore.datasets import load_cdnow_summary
    from crmcore.valuation import fit_bgnbd

    s = load_cdnow_summary()
    fit = fit_bgnbd(s["x"], s["t_x"], s["T"]).fit
    df = fit.to_pandas()
    assert df["parameter"].tolist() == list(fit.names)
    for row, e in zip(df.itertuples(), fit.table(), strict=True):
        assert (row.estimate, row.standard_error, row.lower, row.upper, row.z, row.p_value) == (
            e.estimate,
            e.standard_error,
            e.lower,
            e.upper,
            e.z,
            e.p_value,
        )
    assert df.attrs["model"] == "BG/NBD" and df.attrs["converged"] is True


def test_a_fit_without_standard_errors_has_null_intervals() -> None:
    from crmcore.fitting import FitSummary

    fit = FitSummary("toy", ("a",), (1.0,), None, None, -1.0, 3, 1, True, "")
    pf = fit.to_polars()
    assert pf["standard_error"].to_list() == [None] and pf["lower"].to_list() == [None]


def test_segment_table_is_a_frozen_result_that_still_iterates_as_rows(cdnow: Any) -> None:
    from crmcore.segmentation import SegmentTable, rfm_from_log, segment_table

    summary, scores = rfm_from_log(cdnow, "1998-06-30")
    seg = scores.segments()
    table = segment_table(summary, seg)
    assert isinstance(table, SegmentTable)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        table.customers = np.zeros(1)  # type: ignore[misc]
    rows = list(table)
    assert [r[0] for r in rows] == list(table.segments)
    counts = seg.counts()
    assert {r[0]: r[1] for r in rows} == counts and sum(table.customers) == len(summary)
    labels = seg.labels()
    champions = labels == "champions"
    r = rows[table.segments.index("champions")]
    assert r[2:] == pytest.approx(
        (
            summary.recency[champions].mean(),
            summary.frequency[champions].mean(),
            summary.monetary[champions].mean(),
        )
    )
    df = table.to_pandas().set_index("segment")
    assert df.loc["champions", "customers"] == counts["champions"]
