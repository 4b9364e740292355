"""A customer's value state at a date: what the customer is worth and how to reach them.

:func:`value_state` reads one customer's records up to ``as_of`` through the repository
protocols (each an indexed read of that customer) and joins them with results the caller
computed for the whole base:

* **CLV and P(alive)** from a fitted purchase model (BG/NBD, Pareto/NBD, ...) and
  optionally a Gamma-Gamma spend model, on the customer's purchases up to ``as_of``
  (:func:`crmcore.valuation.summarize_transactions`,
  :func:`crmcore.valuation.customer_lifetime_value`); None without a model or purchase;
* **RFM segment** and **tier**: the customer's row of given
  :class:`~crmcore.segmentation.RFMScores` (named by a segment map) and
  :class:`~crmcore.segmentation.TierAssignment` (both need their ``customer_ids``);
* **NPS and CSAT**: the latest answers up to ``as_of``; a resolved service case's
  ``satisfaction`` is a CSAT answer given when the case was resolved;
* **open service cases**: the customer's cases opened by ``as_of`` and not resolved by
  then (a unit of work that stores service cases);
* **open deals**: the customer's opportunities created by ``as_of`` and not closed by
  then, with their stage at ``as_of`` and their P(win) from given
  :class:`~crmcore.pipeline.DealScores`;
* **open alerts**: the customer's alerts of an :class:`~crmcore.anomaly.AlertStore` raised
  by ``as_of`` and not resolved by then;
* **channel preference** (:class:`ChannelPreference`): per channel, the contacts the
  customer started (inbound), those the firm started (outbound) and those the customer
  answered (outbound with an outcome that is not a no-response outcome of
  :data:`NO_RESPONSE_OUTCOMES`); the preferred channel is the one the customer engages
  on most (inbound plus answered), ties broken by the response rate, then the name;
* **consent** as stored on the profile.

Everything is read as it stood just before ``as_of`` (records dated at or after it are
left out, the half-open rule of every period). ``as_of`` may be any instant of the years 1-9999: records after it are ignored, so a
far-future ``as_of`` sees the whole history and values it as if nothing happened since
the last record (P(alive) decays with the silence).

>>> from datetime import datetime, UTC
>>> from crmcore.model import Customer, Interaction
>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.customers.add(Customer(id="c-1", name="Ada"))
...     _ = uow.interactions.add(Interaction(id="i-1", customer_id="c-1", channel="email",
...         direction="outbound", occurred_at=datetime(2024, 1, 1, tzinfo=UTC), outcome="replied"))
...     uow.commit()
>>> with uow:
...     s = value_state(uow, "c-1", as_of="2025-01-01")
>>> s.preferred_channel, s.clv, s.consent.contact
('email', None, False)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular
from crmcore._results import array, number
from crmcore.anomaly import Alert, AlertStatus, AlertStore
from crmcore.durations import TimeUnit, as_time_unit
from crmcore.errors import ValidationError
from crmcore.model import (
    Consent,
    Customer,
    Direction,
    Interaction,
    Opportunity,
    ServiceCase,
)
from crmcore.model._fields import (
    instance,
    opt_str,
    opt_utc,
    record_id,
    tuple_of,
    utc,
)
from crmcore.options import as_count, as_id, as_number, expect_instance
from crmcore.pipeline import DealScores
from crmcore.relationship._view_fields import objects
from crmcore.repositories.protocols import (
    ServiceCaseUnitOfWork,
    UnitOfWork,
    expect_unit_of_work,
)
from crmcore.segmentation import DEFAULT_SEGMENTS, RFMScores, SegmentMap, TierAssignment
from crmcore.timestamps import as_datetime
from crmcore.valuation import (
    GammaGammaModel,
    PurchaseModel,
    RFMSummary,
    customer_lifetime_value,
    repurchase_propensity,
    summarize_transactions,
)

__all__ = [
    "NO_RESPONSE_OUTCOMES",
    "ChannelPreference",
    "OpenDeals",
    "ValueState",
    "value_state",
]

NO_RESPONSE_OUTCOMES: frozenset[str] = frozenset(
    {
        "no_answer",
        "unanswered",
        "no_response",
        "no_reply",
        "not_reached",
        "unreachable",
        "voicemail",
        "busy",
        "bounced",
        "ignored",
        "not_opened",
    }
)
"""Outcomes of an outbound interaction that mean the customer did not answer (compared in
lower case, every run of characters other than letters and digits read as one ``_``, none
at either end: ``"No answer."``, ``"no-answer"`` and ``"NO_ANSWER"`` are one outcome). Any
other recorded outcome is an answer; an outbound interaction without an outcome, or with a
blank one, is counted as sent, not as answered.

>>> "voicemail" in NO_RESPONSE_OUTCOMES
True
"""


_NOT_WORD = re.compile(r"[^0-9a-z]+")


def _norm(outcome: str) -> str:
    return _NOT_WORD.sub("_", outcome.lower()).strip("_")


@attrs.frozen(eq=False)
class ChannelPreference(Tabular):
    """Per channel (sorted by name): contacts the customer started (``inbound``), those the
    firm started (``outbound``), the outbound ones the customer answered (``answered``) and
    the response rate ``answered / outbound`` (NaN without outbound contact).

    >>> p = ChannelPreference.from_interactions([])
    >>> len(p), p.preferred
    (0, None)
    """

    channel: npt.NDArray[Any] = attrs.field(validator=array("O"))
    inbound: npt.NDArray[np.int64] = attrs.field(validator=array("i", lo=0, length="channel"))
    outbound: npt.NDArray[np.int64] = attrs.field(validator=array("i", lo=0, length="channel"))
    answered: npt.NDArray[np.int64] = attrs.field(validator=array("i", lo=0, length="channel"))

    def __attrs_post_init__(self) -> None:
        over = self.answered > self.outbound
        if over.any():
            i = int(np.flatnonzero(over)[0])
            raise ValidationError(
                f"ChannelPreference: 'answered' must not exceed 'outbound': {self.answered[i]} > "
                f"{self.outbound[i]} at index {i}"
            )

    def __len__(self) -> int:
        return len(self.channel)

    @property
    def response_rate(self) -> npt.NDArray[np.float64]:
        """``answered / outbound`` per channel (NaN where nothing was sent)."""
        out = np.full(len(self), np.nan)
        np.divide(self.answered, self.outbound, out=out, where=self.outbound > 0)
        return out

    @property
    def preferred(self) -> str | None:
        """The channel the customer engages on most (inbound + answered), ties broken by the
        response rate, then the name; None when the customer never engaged."""
        engaged = self.inbound + self.answered
        if len(self) == 0 or engaged.max() == 0:
            return None
        rate = np.nan_to_num(self.response_rate, nan=-1.0)
        best = max(range(len(self)), key=lambda i: (engaged[i], rate[i], -i))
        return str(self.channel[best])

    @classmethod
    def from_interactions(
        cls, interactions: Iterable[Interaction], *, no_response: Iterable[str] | None = None
    ) -> ChannelPreference:
        """Count the interactions per channel (see the class); ``no_response`` replaces
        :data:`NO_RESPONSE_OUTCOMES`.

        >>> from datetime import datetime, UTC
        >>> t = datetime(2024, 1, 1, tzinfo=UTC)
        >>> rows = [Interaction(id=f"i{k}", customer_id="c", channel=ch, direction="outbound",
        ...                     occurred_at=t, outcome=o)
        ...         for k, (ch, o) in enumerate([("phone", "no answer"), ("sms", "replied")])]
        >>> p = ChannelPreference.from_interactions(rows)
        >>> p.answered.tolist(), p.preferred
        ([0, 1], 'sms')
        """
        silent = (
            NO_RESPONSE_OUTCOMES
            if no_response is None
            else frozenset(_norm(str(o)) for o in no_response)
        )
        counts: dict[str, list[int]] = {}
        for r in interactions:
            expect_instance(r, Interaction, name="interactions")
            c = counts.setdefault(r.channel.value, [0, 0, 0])
            if r.direction is Direction.INBOUND:
                c[0] += 1
            else:
                c[1] += 1
                said = None if r.outcome is None else _norm(r.outcome)
                if said and said not in silent:
                    c[2] += 1
        names = sorted(counts)
        col = np.array([[counts[n][j] for n in names] for j in range(3)], dtype=np.int64)
        col = col.reshape(3, len(names))
        return cls(objects(names), col[0], col[1], col[2])

    def _columns(self) -> Columns:
        return {
            "channel": self.channel,
            "inbound": self.inbound,
            "outbound": self.outbound,
            "answered": self.answered,
            "response_rate": self.response_rate,
        }


@attrs.frozen(eq=False)
class OpenDeals(Tabular):
    """The customer's deals open at ``as_of``: the opportunity, its stage at ``as_of``, its
    amount and currency as stored (NaN / None without one), and its P(win) (NaN when no
    score was given for it).

    >>> OpenDeals((), (), np.zeros(0)).to_pandas().columns.tolist()
    ['opportunity_id', 'stage', 'amount', 'currency', 'score']
    """

    opportunities: tuple[Opportunity, ...] = attrs.field(
        validator=tuple_of(Opportunity, "an Opportunity")
    )
    stages: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a stage name"))
    scores: npt.NDArray[np.float64] = attrs.field(
        validator=array(lo=0, hi=1, nan="no score was given for the deal", length="opportunities")
    )

    def __attrs_post_init__(self) -> None:
        if len(self.stages) != len(self.opportunities):
            raise ValidationError(
                f"OpenDeals: 'stages' must have the length of 'opportunities' "
                f"({len(self.opportunities)}): {len(self.stages)}"
            )

    def __len__(self) -> int:
        return len(self.opportunities)

    def _columns(self) -> Columns:
        ops = self.opportunities
        return {
            "opportunity_id": objects(o.id for o in ops),
            "stage": objects(self.stages),
            "amount": np.array(
                [float(o.amount.amount) if o.amount else np.nan for o in ops], dtype=np.float64
            ),
            "currency": objects(o.amount.currency if o.amount else None for o in ops),
            "score": np.asarray(self.scores, dtype=np.float64),
        }


@attrs.frozen(eq=False)
class ValueState:
    """One customer's value state at ``as_of`` (see the module docstring for each part).

    ``p_alive`` and ``clv`` are None without a purchase model or without a purchase by
    ``as_of``; ``clv`` is also None without a spend model for a customer with no repeat
    purchase (the value per purchase is then unknown); ``rfm_segment`` / ``rfm_cell``, ``tier`` are None when no such result was
    given or the customer is not in it; ``nps`` / ``csat`` are the latest answers (None:
    never answered; CSAT from surveys and resolved service cases) and ``nps_at`` /
    ``csat_at`` when they were given; ``open_cases`` the service cases open at ``as_of``.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     value_state(uow, "c-1", as_of="2025-01-01")
    Traceback (most recent call last):
    crmcore.errors.NotFoundError: customer 'c-1' not found
    """

    customer_id: str = attrs.field(validator=record_id)
    as_of: datetime = attrs.field(validator=utc)
    p_alive: float | None = attrs.field(validator=number(0, 1, optional=True))
    clv: float | None = attrs.field(validator=number(0, optional=True))
    rfm_segment: str | None = attrs.field(validator=opt_str)
    rfm_cell: int | None = attrs.field(validator=number(0, 999, integer=True, optional=True))
    tier: str | None = attrs.field(validator=opt_str)
    nps: int | None = attrs.field(validator=number(0, 10, integer=True, optional=True))
    nps_at: datetime | None = attrs.field(validator=opt_utc)
    csat: int | None = attrs.field(validator=number(1, 5, integer=True, optional=True))
    csat_at: datetime | None = attrs.field(validator=opt_utc)
    open_deals: OpenDeals = attrs.field(validator=instance(OpenDeals, "an OpenDeals"))
    open_alerts: tuple[Alert, ...] = attrs.field(validator=tuple_of(Alert, "an Alert"))
    channels: ChannelPreference = attrs.field(
        validator=instance(ChannelPreference, "a ChannelPreference")
    )
    consent: Consent = attrs.field(validator=instance(Consent, "a Consent"))
    open_cases: tuple[ServiceCase, ...] = attrs.field(
        default=(), validator=tuple_of(ServiceCase, "a ServiceCase")
    )

    @property
    def preferred_channel(self) -> str | None:
        """The channel the customer engages on most (:attr:`ChannelPreference.preferred`)."""
        return self.channels.preferred

    @property
    def nps_category(self) -> str | None:
        """'promoter' (9-10), 'passive' (7-8), 'detractor' (0-6) of the latest NPS answer."""
        if self.nps is None:
            return None
        return "promoter" if self.nps >= 9 else "passive" if self.nps >= 7 else "detractor"


def _row_of(ids: npt.NDArray[Any] | None, customer_id: str, name: str) -> int | None:
    if ids is None:
        raise ValidationError(
            f"{name!r} must carry customer_ids to find a customer in it: customer_ids is None"
        )
    ids = np.asarray(ids)
    if ids.dtype.kind not in "OUS":
        raise ValidationError(
            f"{name!r} must carry the customers' text ids to find a customer in it: its "
            f"customer_ids are {ids.dtype} numbers (build it from a log with the stored ids)"
        )
    hits = np.flatnonzero(ids.astype(object) == customer_id)
    return int(hits[0]) if len(hits) else None


def model_values(
    uow: UnitOfWork,
    customer_ids: list[str],
    as_of: datetime,
    purchase_model: PurchaseModel,
    spend_model: GammaGammaModel | None,
    *,
    clv_steps: int,
    discount_rate: float,
    repurchase_within: float | None = None,
) -> dict[str, tuple[float, float, float]]:
    """``customer id -> (P(alive), CLV, repurchase propensity)`` of the customers with a
    purchase before ``as_of`` (propensity NaN when ``repurchase_within`` is None)."""
    log = uow.transactions.read_log(customer_ids=customer_ids, kinds=["purchase"], end=as_of)
    if len(log) == 0:
        return {}
    unit = cast(TimeUnit, as_time_unit(getattr(purchase_model, "time_unit", None) or "D"))
    summary: RFMSummary = summarize_transactions(
        log, time_unit=unit, observation_end=np.datetime64(as_of.replace(tzinfo=None), "D")
    )
    p_alive = np.asarray(purchase_model.probability_alive(summary), dtype=np.float64)
    clv = customer_lifetime_value(
        purchase_model,
        spend_model,
        summary,
        horizon=clv_steps,
        discount_rate=discount_rate,
    )
    if spend_model is None:  # no repeat purchase: no value per purchase to count on
        clv = np.where(np.asarray(summary.frequency) > 0, clv, np.nan)
    if repurchase_within is None:
        again = np.full(len(summary), np.nan)
    else:
        again = repurchase_propensity(
            purchase_model, repurchase_within, summary.frequency, summary.recency, summary.T
        )
    ids = [str(i) for i in summary.customer_ids]
    return {cid: (float(p_alive[i]), float(clv[i]), float(again[i])) for i, cid in enumerate(ids)}


def check_models(purchase_model: object, spend_model: object) -> None:
    """Entry checks of the optional models (named errors before anything is read)."""
    if purchase_model is not None and not isinstance(purchase_model, PurchaseModel):
        raise ValidationError(
            "'purchase_model' must be a fitted purchase model (BG/NBD, MBG/NBD, Pareto/NBD, "
            f"Gamma-Gompertz/NBD): {purchase_model!r}"[:300]
        )
    if spend_model is not None:
        if purchase_model is None:
            raise ValidationError("'spend_model' needs a 'purchase_model': purchase_model is None")
        expect_instance(spend_model, GammaGammaModel, name="spend_model")


def _stage_at(uow: UnitOfWork, opp: Opportunity, as_of: datetime) -> str | None:
    """The opportunity's stage at ``as_of`` (None: created later or closed by then)."""
    if opp.created_at >= as_of or (opp.closed_at is not None and opp.closed_at < as_of):
        return None
    stage = None
    for e in uow.opportunities.history(opp.id):
        if e.at < as_of:
            stage = e.to_stage
    return stage


def _open_at(alert: Alert, as_of: datetime) -> bool:
    if alert.occurred_at >= as_of:
        return False
    status = AlertStatus.OPEN
    for step in alert.steps:
        if step.at < as_of:
            status = step.status
    return status is not AlertStatus.RESOLVED


def value_state(
    uow: UnitOfWork,
    customer_id: str,
    *,
    as_of: Any,
    purchase_model: PurchaseModel | None = None,
    spend_model: GammaGammaModel | None = None,
    clv_steps: int = 12,
    discount_rate: float = 0.01,
    rfm: RFMScores | None = None,
    segment_map: SegmentMap = DEFAULT_SEGMENTS,
    tiers: TierAssignment | None = None,
    deal_scores: DealScores | None = None,
    alerts: AlertStore | None = None,
    no_response: Iterable[str] | None = None,
) -> ValueState:
    """The value state of one customer at ``as_of`` (see the module docstring).

    ``clv_steps`` and ``discount_rate`` are passed to
    :func:`~crmcore.valuation.customer_lifetime_value` (steps of one month by default);
    without ``spend_model`` the customer's mean purchase value is the value per purchase.
    ``no_response`` replaces :data:`NO_RESPONSE_OUTCOMES`. An unknown customer raises
    NotFoundError.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> with MemoryUnitOfWork() as uow:
    ...     value_state(uow, "c-1", as_of="2025-01-01", rfm="best")
    Traceback (most recent call last):
    crmcore.errors.ArgumentTypeError: 'rfm' must be a RFMScores, not a str: 'best'
    """
    uow = expect_unit_of_work(uow)
    customer_id = as_id(customer_id, name="customer_id")
    at = as_datetime(as_of, name="as_of")
    check_models(purchase_model, spend_model)
    clv_steps = as_count(clv_steps, name="clv_steps", low=1)
    discount_rate = as_number(discount_rate, name="discount_rate", low=0)
    if rfm is not None:
        rfm = expect_instance(rfm, RFMScores, name="rfm")
    segment_map = expect_instance(segment_map, SegmentMap, name="segment_map")
    if tiers is not None:
        tiers = expect_instance(tiers, TierAssignment, name="tiers")
    if deal_scores is not None:
        deal_scores = expect_instance(deal_scores, DealScores, name="deal_scores")
    if alerts is not None:
        alerts = expect_instance(alerts, AlertStore, name="alerts")
    customer: Customer = uow.customers.get(customer_id)

    p_alive = clv = None
    if purchase_model is not None:
        values = model_values(
            uow,
            [customer_id],
            at,
            purchase_model,
            spend_model,
            clv_steps=clv_steps,
            discount_rate=discount_rate,
        ).get(customer_id)
        if values is not None:
            p_alive = values[0]
            clv = values[1] if np.isfinite(values[1]) else None

    rfm_segment = rfm_cell = None
    if rfm is not None:
        i = _row_of(rfm.customer_ids, customer_id, "rfm")
        if i is not None:
            one = RFMScores(rfm.recency[i : i + 1], rfm.frequency[i : i + 1],
                            rfm.monetary[i : i + 1], rfm.bins)  # fmt: skip
            rfm_segment = str(one.segments(segment_map).labels()[0])
            rfm_cell = int(one.cells()[0])
    tier = None
    if tiers is not None:
        i = _row_of(tiers.customer_ids, customer_id, "tiers")
        if i is not None:
            tier = str(tiers.labels()[i]) or None

    nps = csat = None
    nps_at = csat_at = None
    for r in uow.surveys.list(customer_id=customer_id, end=at):
        if r.nps is not None and (nps_at is None or r.responded_at >= nps_at):
            nps, nps_at = r.nps, r.responded_at
        if r.csat is not None and (csat_at is None or r.responded_at >= csat_at):
            csat, csat_at = r.csat, r.responded_at
    open_cases: list[ServiceCase] = []
    if isinstance(uow, ServiceCaseUnitOfWork):
        for case in uow.service_cases.list(customer_id=customer_id, end=at):
            done = case.resolved_at
            if done is None or done >= at:
                open_cases.append(case)
            elif case.satisfaction is not None and (csat_at is None or done >= csat_at):
                csat, csat_at = case.satisfaction, done

    opps: list[Opportunity] = []
    stages: list[str] = []
    for o in uow.opportunities.list(customer_id=customer_id):
        stage = _stage_at(uow, o, at)
        if stage is not None:
            opps.append(o)
            stages.append(stage)
    scores = np.full(len(opps), np.nan)
    if deal_scores is not None:
        index = {str(k): j for j, k in enumerate(deal_scores.opportunity_ids)}
        for j, o in enumerate(opps):
            if o.id in index:
                scores[j] = float(deal_scores.probability[index[o.id]])

    open_alerts: tuple[Alert, ...] = ()
    if alerts is not None:
        open_alerts = tuple(
            a for a in alerts.list(customer_id=customer_id, end=at) if _open_at(a, at)
        )

    channels = ChannelPreference.from_interactions(
        uow.interactions.iter(customer_id=customer_id, end=at), no_response=no_response
    )
    return ValueState(
        customer_id=customer_id,
        as_of=at,
        p_alive=p_alive,
        clv=clv,
        rfm_segment=rfm_segment,
        rfm_cell=rfm_cell,
        tier=tier,
        nps=nps,
        nps_at=nps_at,
        csat=csat,
        csat_at=csat_at,
        open_deals=OpenDeals(tuple(opps), tuple(stages), scores),
        open_alerts=open_alerts,
        channels=channels,
        consent=customer.consent,
        open_cases=tuple(open_cases),
    )
