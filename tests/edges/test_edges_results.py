"""Result types validate what they hold (issue 12, "Results").

Findings: ``NPSResult(score=nan)`` and ``ImportReport(stored=-17253)`` were
accepted. Every result class exported by a crmcore package now checks its
numeric fields (through :mod:`crmcore._results`), so a result cannot be built
half-valid by crmcore or from outside. The generic tests walk every
``__all__`` and fail for a new result class whose numbers are not checked.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import attrs
import numpy as np
import pytest

import crmcore
from crmcore._results import Array, Each, Number
from crmcore.errors import ValidationError
from crmcore.ingest import ImportReport
from crmcore.valuation import NPSResult, nps, nps_by_group

NAN = float("nan")
INF = float("inf")

# Exported attrs classes that are not analytical results: records of the domain model and
# configuration (validated by their own rules), services, and the columnar tables of the bridge.
NOT_RESULTS = {
    # domain records and their parts
    "Activity", "Address", "Alert", "AlertStep", "Consent", "ContactPoint", "CostEntry",
    "Customer", "FieldChange", "Interaction", "Money", "Opportunity", "Relationship",
    "ServiceCase", "StageChange", "SurveyResponse", "Transaction",
    # configuration: rules, funnels, plans, tiers, segment maps, model parameters
    "AllOf", "AnyOf", "BehaviourChange", "Condition", "CostRates",
    "CustomerContext", "DampeningWeights", "Dormant", "EWBaseline", "FollowUp", "Funnel",
    "LoyaltyCurve", "LoyaltyModel", "MarketConditions", "Not", "Period", "Plan",
    "RequireFields", "RequireReason", "RobustZ", "RuleSet", "Scope", "SegmentMap",
    "SegmentRule", "ServiceLevel", "Stage", "Targets", "Threshold", "Tier", "TierSet",
    "Transition", "Velocity", "BGBBParams", "BGNBDParams", "GammaGammaParams",
    "ParetoNBDParams", "GGompertzNBDParams", "SBGParams",
    # reminder rules (crmcore.relationship): configuration read by their own validators
    "Anniversary", "Birthday", "CaseFollowUp", "DormantCustomer", "LowPAlive", "ReminderRules",
    "Renewal", "WinFollowUp",
    # services
    "AlertStore",
    # columnar tables (the bridge): their integer columns are checked by their from_* / build
    # (scan=False); tests/edges/test_edges_results2.py covers them
    "FieldHistory", "FunnelHistory", "StageHistory", "TransactionColumns", "TransactionLog",
    "CloseDateChanges",
}  # fmt: skip


def _exported_attrs_classes() -> dict[str, type]:
    names = ["crmcore"] + [
        m.name for m in pkgutil.walk_packages(crmcore.__path__, "crmcore.") if m.ispkg
    ]
    found: dict[str, type] = {}
    for name in names:
        if name.startswith(("crmcore.testing", "crmcore.datasets")):
            continue
        mod = importlib.import_module(name)
        for n in getattr(mod, "__all__", ()):
            obj = getattr(mod, n, None)
            if isinstance(obj, type) and attrs.has(obj):
                found[obj.__name__] = obj
    return found


CLASSES = _exported_attrs_classes()
RESULTS = sorted(n for n in CLASSES if n not in NOT_RESULTS)


def _kind(t: Any) -> str | None:
    """'float' / 'int' scalars, 'farray' / 'iarray' numeric arrays, 'ftuple' tuples of floats."""
    s = t if isinstance(t, str) else getattr(t, "__name__", str(t))
    s = s.replace(" | None", "")
    if s in ("float", "int"):
        return s
    if s.startswith("tuple[") and "float" in s:
        return "ftuple"
    if s == "FloatArray" or "float64" in s:
        return "farray"
    if s == "IntArray" or "np.int" in s:
        return "iarray"
    return None


FIELDS = [
    (cls_name, f.name, kind)
    for cls_name in RESULTS
    for f in attrs.fields(CLASSES[cls_name])
    if not f.name.startswith("_") and (kind := _kind(f.type)) is not None
]


def _check(cls_name: str, field: str, value: Any) -> None:
    """Run the field's validator on ``value`` as construction would (other fields unset)."""
    cls = CLASSES[cls_name]
    f = attrs.fields_dict(cls)[field]
    v = f.validator
    if isinstance(v, Array) and v.length is not None:
        v = attrs.evolve(v, length=None)  # the length rule is tested on its own below
    if isinstance(v, Number) and v.at_least:
        v = attrs.evolve(v, at_least=())  # so is the order rule
    assert v is not None
    v(object.__new__(cls), f, value)


def _refused(cls_name: str, field: str, value: Any) -> None:
    with pytest.raises(ValidationError) as e:
        _check(cls_name, field, value)
    assert cls_name in str(e.value) and repr(field) in str(e.value), str(e.value)


# -- the findings ---------------------------------------------------------------------------------
def _nps_fields(**changes: Any) -> dict[str, Any]:
    good = attrs.asdict(nps([10, 9, 8, 2]))
    return {**good, **changes}


def test_nps_result_with_a_nan_score_is_refused_naming_the_class_field_and_value() -> None:
    NPSResult(**_nps_fields())  # the valid one builds
    with pytest.raises(
        ValidationError, match=r"NPSResult: 'score' must be a number in \[-1, 1\]: nan"
    ):
        NPSResult(**_nps_fields(score=NAN))
    with pytest.raises(ValidationError, match=r"'promoters' must be a number in \[0, 1\]: 1.5"):
        NPSResult(**_nps_fields(promoters=1.5))
    with pytest.raises(ValidationError, match="'method' must be one of"):
        NPSResult(**_nps_fields(method="guess"))


def test_import_report_with_a_negative_count_is_refused() -> None:
    assert ImportReport(source="a.csv", target="transactions", rows_read=3, stored=3).stored == 3
    with pytest.raises(
        ValidationError, match=r"ImportReport: 'stored' must be an integer >= 0: -17253"
    ):
        ImportReport(source="a.csv", target="transactions", stored=-17253)
    with pytest.raises(ValidationError, match="'rows_read'"):
        ImportReport(source="a.csv", target="transactions", rows_read=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="'target'"):
        ImportReport(source="a.csv", target="orders")  # type: ignore[arg-type]
    with pytest.raises(
        ValidationError,
        match=r"ImportReport: 'rows_read' must be >= stored \+ rejected \+ skipped \(5\): 4",
    ):
        ImportReport(source="a.csv", target="customers", rows_read=4, stored=3, rejected=2)


def test_intervals_and_totals_are_consistent() -> None:
    with pytest.raises(ValidationError, match=r"NPSResult: 'high' must be >= low \(0.5\): 0.2"):
        NPSResult(**_nps_fields(low=0.5, high=0.2))
    from crmcore.pipeline import WinRate

    with pytest.raises(ValidationError, match=r"WinRate: 'closed' must be >= won \+ lost \(5\): 4"):
        WinRate(3, 2, 4, 0.6, 0.0, 0.0, NAN, 0)
    assert WinRate(3, 2, 5, 0.6, 0.0, 0.0, NAN, 0).closed == 5  # NaN: a ratio over no value


def test_tables_refuse_arrays_of_other_lengths_and_bad_elements() -> None:
    t = nps_by_group([10, 2, 9, 9], ["a", "a", "b", "b"])
    good = {f.name: getattr(t, f.name) for f in attrs.fields(type(t))}
    with pytest.raises(
        ValidationError, match=r"NPSTable: 'score' must have the length of 'labels' \(2\): 3"
    ):
        type(t)(**{**good, "score": np.array([0.0, 1.0, 0.5])})
    with pytest.raises(
        ValidationError, match=r"NPSTable: 'se' must be a number >= 0: -0.1 at index 1"
    ):
        type(t)(**{**good, "se": np.array([0.1, -0.1])})
    with pytest.raises(ValidationError, match=r"'n' must be a 1-D numpy array of numbers"):
        type(t)(**{**good, "n": [2.0, 2.0]})


# -- every result class -------------------------------------------------------------------------
def test_the_walk_finds_the_result_classes() -> None:
    for name in ("NPSResult", "NPSTable", "CSATResult", "CACReport", "SBGModel", "BGNBDModel",
                 "RFMScores", "TierAssignment", "LoyaltyFit", "UpliftRanking", "WinRate",
                 "Forecast", "Scorecards", "ImportReport", "AlertSummary"):  # fmt: skip
        assert name in RESULTS
    assert len(FIELDS) > 150


@pytest.mark.parametrize(
    ("cls_name", "field", "kind"), FIELDS, ids=[f"{c}.{f}" for c, f, _ in FIELDS]
)
def test_every_numeric_field_of_a_result_refuses_nan_infinity_and_negative_counts(
    cls_name: str, field: str, kind: str
) -> None:
    v = attrs.fields_dict(CLASSES[cls_name])[field].validator
    assert isinstance(v, Number | Array | Each), f"{cls_name}.{field} holds numbers unchecked"
    if kind == "ftuple":
        assert isinstance(v, Each)
        inner: Any = NAN
        while isinstance(v, Each):
            v, inner = v.item, (inner,)  # one level of tuple per Each: ((nan,),) for rows
        _refused(cls_name, field, inner)
        _refused(cls_name, field, list(inner))
    elif kind == "float":
        assert isinstance(v, Number) and not v.integer
        if v.nan is None:
            _refused(cls_name, field, NAN)
        else:
            assert v.nan.strip(), "a field that may hold NaN says why"
            _check(cls_name, field, NAN)
        _refused(cls_name, field, INF)
        _refused(cls_name, field, -INF)
        _refused(cls_name, field, "1.0")
        _refused(cls_name, field, 10**400)
    elif kind == "int":
        assert isinstance(v, Number) and v.integer
        assert v.lo is not None and v.lo >= 0, "counts cannot be negative"
        _refused(cls_name, field, -1)
        _refused(cls_name, field, 1.5)
        _refused(cls_name, field, True)
    else:
        assert isinstance(v, Array)
        shape = (2,) * (v.ndim or 1)
        if kind == "farray":
            for bad, reason in ((NAN, v.nan), (INF, v.inf), (-INF, v.inf)):
                x = np.ones(shape)
                x.flat[1] = bad
                if reason is None or (bad < 0 and v.lo is not None):
                    _refused(cls_name, field, x)
        else:
            assert v.lo is not None, f"{cls_name}.{field}: integer arrays have a lower bound"
            x = np.zeros(shape, dtype=np.int64)
            x.flat[1] = int(v.lo) - 1
            _refused(cls_name, field, x)
        _refused(cls_name, field, np.ones(shape).tolist())  # a list is not a result's array


def test_fields_that_may_hold_nan_are_few_and_documented() -> None:
    allowed = [
        (c, f)
        for c, f, _ in FIELDS
        if getattr(attrs.fields_dict(CLASSES[c])[f].validator, "nan", None) is not None
    ]
    assert 0 < len(allowed) < len(FIELDS) // 4
    assert ("NPSResult", "score") not in allowed
    assert ("CACTable", "cac") in allowed  # undefined without customers; `defined` says where


def test_bridge_tables_cannot_be_built_with_misaligned_columns() -> None:
    from crmcore.tables import TransactionLog

    log = TransactionLog.from_arrays(
        customer_ids=["a", "b"], timestamps=["2024-01-01", "2024-01-02"], amounts=[1.0, 2.0]
    )
    fields = {f.name: getattr(log, f.name) for f in attrs.fields(TransactionLog)}
    with pytest.raises(
        ValidationError,
        match=r"TransactionLog: 'amount' must have the length of 'customer' \(2\): 3",
    ):
        TransactionLog(**{**fields, "amount": np.array([1.0, 2.0, 3.0])})
    with pytest.raises(ValidationError, match="TransactionLog: 'time' must be a 1-D numpy array"):
        TransactionLog(**{**fields, "time": ["2024-01-01", "2024-01-02"]})
