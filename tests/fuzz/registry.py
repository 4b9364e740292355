"""What the public-API fuzz test calls: hand entries, example values by name, and the skip list.

Most valid calls are harvested from the doctests (see ``fuzzlib``); this module
holds what a doctest cannot give: hand-made calls (``HAND``), example values
for required parameters keyed by parameter name (``VALUES``), and the names
that are not fuzzed, each with its reason (``SKIP`` and ``skip_reason``).
"""

from __future__ import annotations

import contextlib
import enum
import inspect
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
from fuzzlib import Call

T0 = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)

#: example values for required parameters, by parameter name
VALUES: dict[str, Callable[[], Any]] = {
    "frequency": lambda: np.array([0.0, 2.0, 5.0]),
    "recency": lambda: np.array([0.0, 10.0, 30.0]),
    "T": lambda: np.array([38.0, 38.0, 38.0]),
    "x": lambda: np.array([0.0, 2.0, 5.0]),
    "t_x": lambda: np.array([0.0, 10.0, 30.0]),
    "amounts": lambda: np.array([10.0, 20.0, 30.0]),
    "customer_ids": lambda: np.array(["a", "b", "c"], dtype=object),
    "as_of": lambda: T0,
    "at": lambda: T0,
    "calibration_end": lambda: T0,
    "confidence": lambda: 0.9,
    "nan_policy": lambda: "raise",
    "time_unit": lambda: "W",
    "sample_id": lambda: 7,
    "n": lambda: 3,
}


@contextlib.contextmanager
def _restoring_threads() -> Iterator[None]:
    """Put crmcore.parallel's process setting back after a fuzzed set_threads call."""
    import crmcore.parallel as parallel

    before = parallel._process
    try:
        yield
    finally:
        parallel._process = before


def _hand() -> dict[str, Callable[[], Call]]:
    """Hand-made valid calls, by canonical name (imports are local: only what each needs)."""
    from crmcore.anomaly.alerts import AlertSummary
    from crmcore.anomaly.plan import Hit
    from crmcore.anomaly.streaming import Event
    from crmcore.datasets import load_cdnow_sample
    from crmcore.ingest.cdnow import cdnow_customer_id, import_cdnow_sample
    from crmcore.pipeline.breakdowns import SalesMatrix
    from crmcore.pipeline.metrics import Coverage, SalesCycle
    from crmcore.pipeline.moves import move, open_opportunity, reopen
    from crmcore.pipeline.presets import B2B
    from crmcore.pipeline.service import load_history
    from crmcore.repositories import MemoryUnitOfWork
    from crmcore.repositories.demo import demo
    from crmcore.satisfaction.curve import Zones
    from crmcore.segmentation.crosssell import PairStat
    from crmcore.segmentation.rules import cond, expr_from_dict, expr_to_dict
    from crmcore.segmentation.tiers import Tier, TierSet, tier_set_from_dict, tier_set_to_dict

    def reopen_call() -> Call:
        o, e = open_opportunity(B2B, id="o-1", customer_id="c", owner_id="bob", at=T0)
        o, e = move(o, "lost", funnel=B2B, by="bob", at=T0, after=e, reason="price")
        return Call(reopen, (o,), {"funnel": B2B, "by": "bob", "at": T0, "after": e})

    def small_cdnow() -> Any:
        log = load_cdnow_sample()
        return log.take(np.flatnonzero(log.customer < 20))

    from crmcore.anomaly import RuleSet, Threshold
    from crmcore.anomaly.store import load_ruleset, save_ruleset
    from crmcore.pipeline.presets import TOP_IN_BEST
    from crmcore.pipeline.service import (
        Edited,
        advance,
        create_opportunity,
        edit,
        load_funnel,
        load_opportunity,
        reopen_opportunity,
        save_funnel,
    )
    from crmcore.pipeline.versions import funnel_versions
    from crmcore.repositories.sql import SqlUnitOfWork
    from crmcore.repositories.sql.schema import (
        check_schema,
        create_missing_indexes,
        ensure_schema,
        schema_plan,
        transactions,
    )
    from crmcore.segmentation.tiers import load_tier_set, save_tier_set

    def stored() -> MemoryUnitOfWork:
        """A unit of work holding a funnel, an opportunity in it, a rule set and a tier set."""
        uow = MemoryUnitOfWork()
        with uow:
            save_funnel(uow, TOP_IN_BEST)
            create_opportunity(uow, TOP_IN_BEST, id="o-1", customer_id="c-1", owner_id="ann", at=T0)
            save_ruleset(uow, RuleSet(name="bank", rules=[Threshold(name="big", at_least=9e4)]))
            save_tier_set(uow.documents, TierSet("vip", (Tier("all"),)), expected_version=None)
            uow.commit()
        return uow

    def lost_call() -> Call:
        """reopen_opportunity on a stored deal that was lost."""
        uow = stored()
        with uow:
            advance(uow, "o-1", "LOST", expected_version=0, funnel=TOP_IN_BEST, by="ann", at=T0,
                    reason="price")  # fmt: skip
            uow.commit()
        kwargs = {"expected_version": 1, "funnel": TOP_IN_BEST, "by": "ann", "at": T0}
        return Call(reopen_opportunity, (uow, "o-1"), kwargs, context=uow)

    def abc_classes_call() -> Call:
        from crmcore.segmentation.concentration import ABCClasses, abc_classes

        r = abc_classes([9.0, 1.0])
        fields = ("codes", "labels", "thresholds", "counts", "shares")
        return Call(ABCClasses, kwargs={f: getattr(r, f) for f in fields})

    def in_uow(fn: Any, *args: Any, **kwargs: Any) -> Callable[[], Call]:
        """A call on a fresh stored unit of work (its first argument), inside ``with uow:``."""

        def make() -> Call:
            uow = stored()
            first = uow.documents if args and args[0] == "documents" else uow
            return Call(fn, (first, *args[1:]), dict(kwargs), context=uow)

        return make

    def sqlite() -> Any:
        import sqlalchemy as sa

        return sa.create_engine("sqlite://")

    def schema_call(fn: Any, *args: Any) -> Callable[[], Call]:
        def make() -> Call:
            engine = sqlite()
            conn = engine.connect()
            ensure_schema(conn)
            return Call(fn, (conn, *args), context=conn)

        return make

    def reminder_rules_call() -> Call:
        """load_reminder_rules on a unit of work that holds the rule set."""
        from crmcore.relationship import (
            Birthday,
            ReminderRules,
            load_reminder_rules,
            save_reminder_rules,
        )

        uow = MemoryUnitOfWork()
        with uow:
            save_reminder_rules(uow, ReminderRules(name="bakery", rules=[Birthday(name="b")]))
            uow.commit()
        return Call(load_reminder_rules, (uow, "bakery"), context=uow)

    def report_call() -> Call:
        from crmcore.report import build_report

        return Call(build_report, (MemoryUnitOfWork(),), {"title": "t", "as_of": T0})

    def example_data_call() -> Call:
        from crmcore.report import add_example_data

        kwargs = {"customers": 12, "deals": 2, "seed": 1, "purchases": True}
        return Call(add_example_data, (MemoryUnitOfWork(),), kwargs, fresh=example_data_call)

    return {
        "crmcore.report._build.build_report": report_call,  # an empty store: the fast path
        "crmcore.report._example.add_example_data": example_data_call,  # a new store each case
        "crmcore.anomaly.store.save_ruleset": in_uow(
            save_ruleset, None, RuleSet(name="bank2", rules=[Threshold(name="big", at_least=9e4)])
        ),
        "crmcore.anomaly.store.load_ruleset": in_uow(load_ruleset, None, "bank"),
        "crmcore.relationship._reminder_rules.load_reminder_rules": reminder_rules_call,
        "crmcore.pipeline.service.save_funnel": in_uow(save_funnel, None, B2B),
        "crmcore.pipeline.service.load_funnel": in_uow(load_funnel, None, "top-in-best"),
        "crmcore.pipeline.versions.funnel_versions": in_uow(funnel_versions, None, "top-in-best"),
        "crmcore.pipeline.service.create_opportunity": in_uow(
            create_opportunity,
            None,
            TOP_IN_BEST,
            id="o-2",
            customer_id="c-1",
            owner_id="ann",
            at=T0,
        ),
        "crmcore.pipeline.service.advance": in_uow(
            advance, None, "o-1", "IN", expected_version=0, funnel=TOP_IN_BEST, by="ann", at=T0
        ),
        "crmcore.pipeline.service.edit": in_uow(
            edit,
            None,
            "o-1",
            expected_version=0,
            changes={"owner_id": "bob"},
            funnel=TOP_IN_BEST,
            by="ann",
            at=T0,
        ),
        "crmcore.pipeline.service.load_opportunity": in_uow(
            load_opportunity, None, "o-1", funnel=TOP_IN_BEST
        ),
        "crmcore.pipeline.service.reopen_opportunity": lost_call,
        "crmcore.pipeline.service.Edited": lambda: Call(
            Edited,
            kwargs={
                "opportunity": open_opportunity(
                    TOP_IN_BEST, id="o-1", customer_id="c", owner_id="ann", at=T0
                )[0],
                "changes": (),
            },
        ),
        "crmcore.segmentation.tiers.save_tier_set": in_uow(
            save_tier_set, "documents", TierSet("gold", (Tier("all"),)), expected_version=None
        ),
        "crmcore.segmentation.tiers.load_tier_set": in_uow(load_tier_set, "documents", "vip"),
        "crmcore.repositories.sql.schema.ensure_schema": schema_call(ensure_schema),
        "crmcore.repositories.sql.schema.check_schema": schema_call(check_schema),
        "crmcore.repositories.sql.schema.schema_plan": schema_call(schema_plan),
        "crmcore.repositories.sql.schema.create_missing_indexes": schema_call(
            create_missing_indexes, transactions
        ),
        "crmcore.repositories.sql.uow.SqlUnitOfWork": lambda: Call(
            SqlUnitOfWork, kwargs={"engine": sqlite()}
        ),
        "crmcore.segmentation.rules.Condition": lambda: Call(
            __import__("crmcore.segmentation.rules", fromlist=["Condition"]).Condition,
            ("assets", ">", 100),
        ),
        "crmcore.valuation.economics.intervals.proportion_interval": lambda: Call(
            __import__("crmcore.valuation.economics.intervals", fromlist=["x"]).proportion_interval,
            (np.array([3, 5]), np.array([10, 10])),
            {"confidence": 0.9, "method": "agresti-coull"},
        ),
        "crmcore.options.expect_items": lambda: Call(
            __import__("crmcore.options", fromlist=["x"]).expect_items,
            ([B2B.stages[0]], type(B2B.stages[0])),
            {"name": "stages"},
        ),
        "crmcore.parallel.set_threads": lambda: Call(
            __import__("crmcore.parallel", fromlist=["x"]).set_threads,
            (2,),
            context=_restoring_threads(),
        ),
        "crmcore.options.expect_callable": lambda: Call(
            __import__("crmcore.options", fromlist=["x"]).expect_callable,
            (print,),
            {"name": "write"},
        ),
        "crmcore.segmentation.demo.demo": lambda: Call(
            __import__("crmcore.segmentation.demo", fromlist=["x"]).demo,
            (lambda line: None,),
            {"transactions": small_cdnow()},
        ),
        "crmcore.segmentation.concentration.ABCClasses": abc_classes_call,
        "crmcore.anomaly.alerts.AlertSummary": lambda: Call(
            AlertSummary,
            kwargs={
                "start": T0,
                "end": T0,
                "total": 1,
                "by_rule": {"r": 1},
                "by_owner": {"ann": 1},
                "by_status": {"open": 1},
                "by_outcome": {"pending": 1},
                "customers": 1,
            },
        ),
        "crmcore.anomaly.plan.Hit": lambda: Call(
            Hit, kwargs={"observed": 5.0, "baseline": 1.0, "deviation": 4.0, "history": 3}
        ),
        "crmcore.anomaly.streaming.Event": lambda: Call(
            Event, ("e-1", "c-1", T0, 12.5), {"kind": "purchase", "channel": "web", "product": "p"}
        ),
        "crmcore.ingest.cdnow.cdnow_customer_id": lambda: Call(cdnow_customer_id, (7,)),
        "crmcore.ingest.cdnow.import_cdnow_sample": lambda: Call(
            import_cdnow_sample, (MemoryUnitOfWork(),)
        ),
        "crmcore.pipeline.breakdowns.SalesMatrix": lambda: Call(
            SalesMatrix,
            kwargs={
                "owners": ("ann", "bob"),
                "products": ("p",),
                "won_value": np.array([[10.0], [0.0]]),
                "won_count": np.array([[1], [0]]),
            },
        ),
        "crmcore.pipeline.metrics.Coverage": lambda: Call(
            Coverage,
            kwargs={
                "target": 100.0,
                "achieved": 40.0,
                "remaining": 60.0,
                "open_pipeline": 120.0,
                "weighted_pipeline": 50.0,
                "coverage": 2.0,
                "weighted_coverage": 50.0 / 60.0,
            },
        ),
        "crmcore.pipeline.metrics.SalesCycle": lambda: Call(
            SalesCycle,
            kwargs={
                "won": 3,
                "mean_days": 10.0,
                "median_days": 9.0,
                "p25_days": 5.0,
                "p75_days": 14.0,
                "closed_mean_days": 11.0,
            },
        ),
        "crmcore.pipeline.moves.reopen": reopen_call,
        "crmcore.pipeline.service.load_history": in_uow(load_history, None, TOP_IN_BEST, as_of=T0),
        "crmcore.repositories.demo.demo": lambda: Call(
            demo, (lambda line: None,), {"transactions": small_cdnow()}
        ),
        "crmcore.satisfaction.curve.Zones": lambda: Call(
            Zones,
            kwargs={
                "defection": (1, 2, 3, 4),
                "indifference": (),
                "affection": (5,),
                "defect_below": 0.5,
                "affection_from": 0.75,
            },
        ),
        "crmcore.segmentation.crosssell.PairStat": lambda: Call(
            PairStat,
            kwargs={
                "antecedent": "a",
                "consequent": "b",
                "count": 3,
                "support": 0.3,
                "confidence": 0.5,
                "lift": 1.2,
            },
        ),
        "crmcore.segmentation.rules.expr_from_dict": lambda: Call(
            expr_from_dict, (expr_to_dict(cond("x", ">", 1)),)
        ),
        "crmcore.segmentation.tiers.tier_set_from_dict": lambda: Call(
            tier_set_from_dict,
            (tier_set_to_dict(TierSet("t", (Tier("big", cond("x", ">", 1)), Tier("all")))),),
        ),
    }


HAND = _hand()

#: names that are not fuzzed, with the reason (canonical names)
SKIP: dict[str, str] = {
    "crmcore.cli.main": "the command line: argparse exits with SystemExit by design (tests/core/test_cli.py)",
    "crmcore.cli.build_parser": "builds an argparse parser; takes no input",
    "crmcore.anomaly.plan.describe": "internal plan walker: its callbacks are crmcore's own closures",
    "crmcore.satisfaction.plot.plot_curves": "draws a matplotlib figure (the plot extra); its inputs are fitted curves",
    "crmcore.repositories.sql.schema.index_build_memory": (
        "needs a live SQLAlchemy connection; the SQL backend tests cover it"
    ),
}


def skip_reason(key: str, obj: Any) -> str | None:
    """Why ``obj`` is not fuzzed, or None. Category rules first, then the explicit list."""
    if key in SKIP:
        return SKIP[key]
    if key.startswith("crmcore.dask."):
        return (
            "Dask / pandas frames in (the dask extra): each partition runs the single-machine "
            "function fuzzed here; tests/dask compares every function with it"
        )
    if key.startswith("crmcore.testing."):
        return (
            "testing support (hypothesis strategies, contract-suite base classes, state machines)"
        )
    if not callable(obj):
        return "a constant, table or type alias: nothing to call"
    if inspect.isclass(obj):
        if issubclass(obj, BaseException):
            return "exception class: raised by crmcore, not an input edge"
        if isinstance(obj, enum.EnumMeta):
            return "Enum: value lookup is the standard library's (fields coerce and name it)"
        if getattr(obj, "_is_protocol", False):
            return "typing.Protocol: no constructor"
    if not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return "type alias (typing special form)"
    return None
