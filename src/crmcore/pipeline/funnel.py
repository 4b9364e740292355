"""Funnel definitions as data: stages, transitions, guards and the follow-up cycle.

A :class:`Funnel` is validated when it is built (unknown or duplicate
stages, unreachable stages, dead ends, no won stage raise
:class:`~crmcore.errors.ConfigurationError`) and precomputes its transition
tables, so a move is a few dictionary look-ups. It round-trips through the
shared converter as JSON.

>>> f = Funnel(
...     name="mini",
...     stages=(Stage("lead", probability=0.1), Stage("won", kind="won"), Stage("lost", kind="lost")),
...     transitions=(("lead", "won"), ("lead", "lost")),
... )
>>> sorted(f.targets("lead")), f.stage("won").forecast_category
(['lost', 'won'], <ForecastCategory.CLOSED: 'closed'>)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Any

import attrs

from crmcore.errors import ConfigurationError, ValidationError
from crmcore.model._fields import instance, name_text
from crmcore.model.opportunity import Opportunity
from crmcore.options import as_enum, as_probability

__all__ = [
    "GUARDABLE_FIELDS",
    "FollowUp",
    "ForecastCategory",
    "Funnel",
    "Guard",
    "RequireFields",
    "RequireReason",
    "Stage",
    "StageKind",
    "Transition",
]


class StageKind(StrEnum):
    """Where a stage sits in the life of a deal."""

    OPEN = "open"
    WON = "won"
    LOST = "lost"


class ForecastCategory(StrEnum):
    """Salesforce-style forecast categories (cumulative roll-up: closed ⊂ commit ⊂ best case ⊂ pipeline)."""

    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    CLOSED = "closed"
    OMITTED = "omitted"


GUARDABLE_FIELDS: frozenset[str] = frozenset(
    {"amount", "expected_close", "probability", "product", "parent_id"}
)
"""Opportunity fields a :class:`RequireFields` guard may name."""


def _to_str_tuple(value: object, field: str) -> tuple[str, ...]:
    """One string, or a collection (not a mapping) of strings; the message names ``field``."""
    if isinstance(value, str):
        return (value,)
    if isinstance(value, bytes | Mapping) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"{field!r} must be a string or a collection of strings: {value!r}"
        )
    out = tuple(value)
    for i, item in enumerate(out):
        if not isinstance(item, str):
            raise ConfigurationError(f"'{field}[{i}]' must be a string: {item!r}")
    return out


def _entry_tuple(value: object) -> tuple[str, ...]:
    return _to_str_tuple(value, "entry")


def _choices_tuple(value: object) -> tuple[str, ...]:
    return _to_str_tuple(value, "choices")


@attrs.frozen(init=False)
class RequireFields:
    """Guard: the named opportunity fields must be set before entering the stage.

    >>> RequireFields("amount", "expected_close").fields
    ('amount', 'expected_close')
    >>> RequireFields("colour")
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: 'fields' must be one of ['amount', 'expected_close', 'parent_id', 'probability', 'product']: 'colour'
    """

    fields: tuple[str, ...]

    def __init__(self, *fields: str | Iterable[str]) -> None:
        flat: list[str] = []
        for f in fields:
            flat.extend(_to_str_tuple(f, "fields"))
        if not flat:
            raise ConfigurationError("RequireFields needs at least one field name")
        bad = [f for f in flat if f not in GUARDABLE_FIELDS]
        if bad:
            raise ConfigurationError(
                f"'fields' must be one of {sorted(GUARDABLE_FIELDS)}: {bad[0]!r}"
            )
        object.__setattr__(self, "fields", tuple(flat))

    def failure(self, opportunity: Opportunity, reason: str | None) -> str | None:
        """Why the move is refused, or None when the guard passes.

        >>> from datetime import datetime, timezone
        >>> o = Opportunity(id="o", customer_id="c", owner_id="r", funnel="f", stage="s",
        ...                 created_at=datetime(2025, 1, 1, tzinfo=timezone.utc))
        >>> RequireFields("amount").failure(o, None)
        "'amount' is required"
        """
        for name in self.fields:
            if getattr(opportunity, name) is None:
                return f"{name!r} is required"
        return None


@attrs.frozen
class RequireReason:
    """Guard: a non-blank reason must be given (optionally one of ``choices``), e.g. for lost.

    >>> RequireReason(choices=("price", "competitor")).failure(None, "weather")
    "a reason in ['price', 'competitor'] is required: 'weather'"
    """

    choices: tuple[str, ...] = attrs.field(default=(), converter=_choices_tuple)

    def failure(self, opportunity: Opportunity, reason: str | None) -> str | None:
        """Why the move is refused, or None when the guard passes.

        >>> RequireReason().failure(None, "  ")
        'a reason is required: None'
        """
        if reason is None or not reason.strip():
            return "a reason is required: None"
        if self.choices and reason not in self.choices:
            return f"a reason in {list(self.choices)} is required: {reason!r}"
        return None


Guard = RequireFields | RequireReason
"""The guards a stage may carry (plain data, serialized with a ``"type"`` tag)."""

_GUARD_TAGS: dict[str, type[RequireFields] | type[RequireReason]] = {
    "require_fields": RequireFields,
    "require_reason": RequireReason,
}


def _to_kind(value: object) -> StageKind:
    return as_enum(value, StageKind, name="kind")


def _to_category(value: object) -> ForecastCategory | None:
    return None if value is None else as_enum(value, ForecastCategory, name="forecast_category")


def _to_guards(value: object) -> tuple[Guard, ...]:
    if isinstance(value, RequireFields | RequireReason):
        return (value,)
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ConfigurationError(f"'guards' must be a collection of guards: {value!r}")
    out = tuple(value)
    for g in out:
        if not isinstance(g, RequireFields | RequireReason):
            raise ConfigurationError(f"'guards' must hold RequireFields / RequireReason: {g!r}")
    return out


@attrs.frozen
class Stage:
    """One stage: name, kind, default win probability, forecast category and entry guards.

    Won stages have probability 1 and category "closed"; lost stages 0 and
    "omitted" (filled in when omitted). Open stages need a probability.

    >>> Stage("won", kind="won")
    Stage(name='won', kind=<StageKind.WON: 'won'>, probability=1.0, forecast_category=<ForecastCategory.CLOSED: 'closed'>, guards=())
    >>> Stage("lead")
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: stage 'lead': an open stage needs a 'probability' in [0, 1]: None
    """

    name: str = attrs.field(validator=name_text(error=ConfigurationError))
    kind: StageKind = attrs.field(default=StageKind.OPEN, converter=_to_kind)
    probability: float | None = None
    forecast_category: ForecastCategory | None = attrs.field(default=None, converter=_to_category)
    guards: tuple[Guard, ...] = attrs.field(default=(), converter=_to_guards)

    def __attrs_post_init__(self) -> None:
        fixed = {
            StageKind.WON: (1.0, ForecastCategory.CLOSED),
            StageKind.LOST: (0.0, ForecastCategory.OMITTED),
        }
        p = self.probability
        if p is not None:
            try:
                as_probability(p, name="probability")
            except ValidationError as e:  # a funnel definition's error, with the stage named
                raise ConfigurationError(f"stage {self.name!r}: {e}") from None
        if self.kind in fixed:
            want_p, want_c = fixed[self.kind]
            if p is not None and float(p) != want_p:
                raise ConfigurationError(
                    f"stage {self.name!r}: a {self.kind.value} stage has probability {want_p}: {p!r}"
                )
            if self.forecast_category not in (None, want_c):
                raise ConfigurationError(
                    f"stage {self.name!r}: a {self.kind.value} stage has forecast category "
                    f"{want_c.value!r}: {self.forecast_category!s}"
                )
            object.__setattr__(self, "probability", want_p)
            object.__setattr__(self, "forecast_category", want_c)
            return
        if p is None:
            raise ConfigurationError(
                f"stage {self.name!r}: an open stage needs a 'probability' in [0, 1]: None"
            )
        object.__setattr__(self, "probability", float(p))
        if self.forecast_category is None:
            object.__setattr__(self, "forecast_category", ForecastCategory.PIPELINE)
        elif self.forecast_category is ForecastCategory.CLOSED:
            raise ConfigurationError(
                f"stage {self.name!r}: an open stage cannot be in forecast category 'closed'"
            )


def _to_transitions(value: object) -> tuple[Transition, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"'transitions' must be a collection of (source, target) pairs: {value!r}"
        )
    out = []
    for i, v in enumerate(value):
        if isinstance(v, Transition):
            out.append(v)
        elif isinstance(v, tuple | list) and len(v) == 2:
            out.append(Transition(v[0], v[1]))
        else:
            raise ConfigurationError(f"'transitions[{i}]' must be a (source, target) pair: {v!r}")
    return tuple(out)


@attrs.frozen
class Transition:
    """An allowed move from ``source`` to ``target``.

    >>> Transition("lead", "qualified")
    Transition(source='lead', target='qualified')
    >>> Transition(None, 3)
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: 'source' must be a non-empty string without blanks around: None
    """

    source: str = attrs.field(validator=name_text(error=ConfigurationError))
    target: str = attrs.field(validator=name_text(error=ConfigurationError))


@attrs.frozen
class FollowUp:
    """What a win opens: a follow-up opportunity of ``kind`` in ``stage`` of the same funnel.

    >>> FollowUp(stage="needs", kind="repurchase").kind
    'repurchase'
    """

    stage: str = attrs.field(validator=name_text(error=ConfigurationError))
    kind: str = attrs.field(default="repurchase", validator=name_text(error=ConfigurationError))


def _stages_tuple(value: object) -> tuple[Stage, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise ConfigurationError(f"'stages' must be a collection of Stage: {value!r}")
    out = tuple(value)
    for i, s in enumerate(out):
        if not isinstance(s, Stage):
            raise ConfigurationError(f"'stages[{i}]' must be a Stage: {s!r}")
    return out


@attrs.frozen
class Funnel:
    """A validated funnel definition with precomputed transition tables.

    ``entry`` lists the stages an opportunity may be opened in (default: the
    first stage). Lost stages are exits; leaving one is an explicit
    ``reopen``; won stages are terminal (``follow_up`` opens the next cycle).

    >>> Funnel(name="x", stages=(Stage("a", probability=0.5), Stage("b", probability=0.5),
    ...        Stage("won", kind="won")), transitions=(("a", "won"),))
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: funnel 'x': stage 'b' is not reachable from the entry stage(s) ['a']
    """

    name: str = attrs.field(validator=name_text(error=ConfigurationError))
    stages: tuple[Stage, ...] = attrs.field(converter=_stages_tuple)
    transitions: tuple[Transition, ...] = attrs.field(converter=_to_transitions)
    entry: tuple[str, ...] = attrs.field(default=(), converter=_entry_tuple)
    follow_up: FollowUp | None = attrs.field(
        default=None,
        validator=instance(FollowUp, "a FollowUp", optional=True, error=ConfigurationError),
    )
    description: str = attrs.field(
        default="", validator=instance(str, "a string", error=ConfigurationError)
    )
    _by_name: dict[str, Stage] = attrs.field(init=False, repr=False, eq=False)
    _targets: dict[str, frozenset[str]] = attrs.field(init=False, repr=False, eq=False)
    _rank: dict[str, int] = attrs.field(init=False, repr=False, eq=False)
    _targets_by_stage: dict[str, dict[str, Stage]] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        where = f"funnel {self.name!r}"
        if not self.stages:
            raise ConfigurationError(f"{where}: 'stages' must not be empty")
        by_name: dict[str, Stage] = {}
        for s in self.stages:
            if s.name in by_name:
                raise ConfigurationError(f"{where}: duplicate stage name {s.name!r}")
            by_name[s.name] = s
        if not any(s.kind is StageKind.WON for s in self.stages):
            raise ConfigurationError(f"{where}: needs at least one stage of kind 'won'")
        targets: dict[str, set[str]] = {s.name: set() for s in self.stages}
        for t in self.transitions:
            for end, label in ((t.source, "source"), (t.target, "target")):
                if end not in by_name:
                    raise ConfigurationError(
                        f"{where}: transition {t.source!r} -> {t.target!r} has unknown {label} "
                        f"stage {end!r}; stages are {list(by_name)}"
                    )
            if t.source == t.target:
                raise ConfigurationError(f"{where}: transition {t.source!r} -> itself")
            kind = by_name[t.source].kind
            if kind is not StageKind.OPEN:
                raise ConfigurationError(
                    f"{where}: transition {t.source!r} -> {t.target!r} leaves a {kind.value} stage "
                    "(won stages are terminal; reopening a lost deal is an explicit reopen)"
                )
            targets[t.source].add(t.target)
        entry = self.entry or (self.stages[0].name,)
        for e in entry:
            if e not in by_name or by_name[e].kind is not StageKind.OPEN:
                raise ConfigurationError(f"{where}: entry stage {e!r} must be an open stage")
        object.__setattr__(self, "entry", tuple(entry))
        seen = set(entry)
        todo = list(entry)
        while todo:
            for nxt in targets[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for s in self.stages:
            if s.name not in seen:
                raise ConfigurationError(
                    f"{where}: stage {s.name!r} is not reachable from the entry stage(s) {list(entry)}"
                )
            if s.kind is StageKind.OPEN and not targets[s.name]:
                raise ConfigurationError(
                    f"{where}: open stage {s.name!r} has no way out (dead end)"
                )
        if self.follow_up is not None and self.follow_up.stage not in entry:
            raise ConfigurationError(
                f"{where}: follow-up stage {self.follow_up.stage!r} must be an entry stage {list(entry)}"
            )
        open_names = [s.name for s in self.stages if s.kind is StageKind.OPEN]
        rank = {n: i for i, n in enumerate(open_names)}
        for s in self.stages:
            if s.kind is StageKind.WON:
                rank[s.name] = len(open_names)
            elif s.kind is StageKind.LOST:
                rank[s.name] = -1
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_targets", {k: frozenset(v) for k, v in targets.items()})
        object.__setattr__(self, "_rank", rank)
        moves = {k: {t: by_name[t] for t in sorted(v)} for k, v in targets.items()}
        object.__setattr__(self, "_targets_by_stage", moves)

    def stage(self, name: str) -> Stage:
        """The stage called ``name`` (ConfigurationError when unknown).

        >>> from crmcore.pipeline.presets import B2B
        >>> B2B.stage("proposal").probability
        0.4
        """
        try:
            return self._by_name[name]
        except (KeyError, TypeError):  # TypeError: an unhashable name
            raise ConfigurationError(
                f"funnel {self.name!r} has no stage {name!r}; stages are {list(self._by_name)}"
            ) from None

    def targets(self, name: str) -> frozenset[str]:
        """The stages reachable in one move from ``name``.

        >>> from crmcore.pipeline.presets import TOP_IN_BEST
        >>> sorted(TOP_IN_BEST.targets("TOP"))
        ['IN', 'LOST']
        """
        self.stage(name)
        return self._targets[name]

    def rank(self, name: str) -> int:
        """Funnel depth: open stages 0, 1, …, won stages after them, lost stages -1.

        >>> from crmcore.pipeline.presets import B2B
        >>> B2B.rank("lead"), B2B.rank("won"), B2B.rank("lost")
        (0, 4, -1)
        """
        self.stage(name)
        return self._rank[name]

    @property
    def stage_names(self) -> tuple[str, ...]:
        """Stage names in definition order.

        >>> from crmcore.pipeline.presets import TOP_IN_BEST
        >>> TOP_IN_BEST.stage_names
        ('TOP', 'IN', 'BEST', 'WIN', 'LOST')
        """
        return tuple(s.name for s in self.stages)

    def names_of(self, kind: StageKind | str) -> tuple[str, ...]:
        """Names of the stages of one kind, in order.

        >>> from crmcore.pipeline.presets import B2B
        >>> B2B.names_of("lost")
        ('lost',)
        """
        k = as_enum(kind, StageKind, name="kind")
        return tuple(s.name for s in self.stages if s.kind is k)

    @classmethod
    def linear(
        cls,
        name: str,
        open_stages: Mapping[str, float],
        *,
        won: str = "won",
        lost: str | None = "lost",
        categories: Mapping[str, ForecastCategory | str] | None = None,
        guards: Mapping[str, tuple[Guard, ...] | Guard] | None = None,
        follow_up: FollowUp | None = None,
        description: str = "",
    ) -> Funnel:
        """A funnel whose open stages go one after the other to ``won``, with ``lost`` from any open stage.

        >>> f = Funnel.linear("demo", {"a": 0.2, "b": 0.6})
        >>> [(t.source, t.target) for t in f.transitions]
        [('a', 'b'), ('a', 'lost'), ('b', 'won'), ('b', 'lost')]
        """
        for arg, given in (
            ("open_stages", open_stages),
            ("categories", categories),
            ("guards", guards),
        ):
            if not isinstance(given, Mapping) and (given is not None or arg == "open_stages"):
                raise ConfigurationError(f"{arg!r} must be a mapping of stage names: {given!r}")
        cats = dict(categories or {})
        gs = dict(guards or {})
        names = list(open_stages)
        stages = [
            Stage(n, probability=p, forecast_category=cats.get(n), guards=gs.get(n, ()))
            for n, p in open_stages.items()
        ]
        stages.append(Stage(won, kind=StageKind.WON, guards=gs.get(won, ())))
        transitions: list[tuple[str, str]] = []
        for i, n in enumerate(names):
            transitions.append((n, names[i + 1] if i + 1 < len(names) else won))
            if lost is not None:
                transitions.append((n, lost))
        if lost is not None:
            stages.append(Stage(lost, kind=StageKind.LOST, guards=gs.get(lost, ())))
        return cls(
            name=name,
            stages=tuple(stages),
            transitions=tuple(Transition(a, b) for a, b in transitions),
            follow_up=follow_up,
            description=description,
        )


def _guard_unstructure(g: Guard) -> dict[str, Any]:
    if isinstance(g, RequireFields):
        return {"type": "require_fields", "fields": list(g.fields)}
    return {"type": "require_reason", "choices": list(g.choices)}


def _guard_structure(value: object, _t: object) -> Guard:
    if not isinstance(value, dict) or value.get("type") not in _GUARD_TAGS:
        raise ConfigurationError(
            f"a guard is an object with 'type' in {sorted(_GUARD_TAGS)}: {value!r}"
        )
    data = {k: v for k, v in value.items() if k != "type"}
    if value["type"] == "require_fields":
        if set(data) - {"fields"}:
            raise ConfigurationError(f"unknown guard keys: {sorted(set(data) - {'fields'})}")
        return RequireFields(*_to_str_tuple(data.get("fields", ()), "fields"))
    if set(data) - {"choices"}:
        raise ConfigurationError(f"unknown guard keys: {sorted(set(data) - {'choices'})}")
    return RequireReason(choices=_choices_tuple(data.get("choices", ())))


def configure_guards(conv: Any) -> None:
    """Install the guard form on ``conv`` (called by :func:`crmcore.serialization.configure_converter`)."""
    conv.register_unstructure_hook(RequireFields, _guard_unstructure)
    conv.register_unstructure_hook(RequireReason, _guard_unstructure)
    conv.register_structure_hook_func(lambda t: t == Guard, _guard_structure)
