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
from datetime import datetime
from enum import StrEnum
from typing import Any

import attrs

from crmcore.errors import ConfigurationError, ValidationError
from crmcore.model._fields import instance, name_text, opt_utc
from crmcore.model._storable import COUNT_MAX
from crmcore.model.opportunity import Opportunity
from crmcore.options import as_enum, as_probability, expect_instance

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


def _at(message: str, *, path: str) -> ConfigurationError:
    """A :class:`ConfigurationError` of a funnel definition that knows where it is: ``path``
    (relative to the funnel: ``"transitions[3]"``, ``"stages[1].probability"``) is kept on the
    error, so the JSON reader reports ``$.transitions[3]: ...`` (see :func:`problem_path`).

    >>> problem_path(_at("'x' is wrong", path="stages[0]"))
    'stages[0]'
    """
    e = ConfigurationError(message)
    e.funnel_path = path  # type: ignore[attr-defined]  # an exception takes attributes
    return e


def problem_path(error: BaseException) -> str | None:
    """The place in the funnel of an error raised by its rules, or None.

    >>> problem_path(ValueError("x")) is None
    True
    """
    path = getattr(error, "funnel_path", None)
    return path if isinstance(path, str) else None


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
        where = f"stage {self.name!r}"
        if p is not None:
            try:
                as_probability(p, name="probability")
            except ValidationError as e:  # a funnel definition's error, with the stage named
                raise _at(f"{where}: {e}", path="probability") from None
        if self.kind in fixed:
            want_p, want_c = fixed[self.kind]
            if p is not None and float(p) != want_p:
                raise _at(
                    f"{where}: a {self.kind.value} stage has probability {want_p}: {p!r}",
                    path="probability",
                )
            if self.forecast_category not in (None, want_c):
                raise _at(
                    f"{where}: a {self.kind.value} stage has forecast category "
                    f"{want_c.value!r}: {self.forecast_category!s}",
                    path="forecast_category",
                )
            object.__setattr__(self, "probability", want_p)
            object.__setattr__(self, "forecast_category", want_c)
            return
        if p is None:
            raise _at(
                f"{where}: an open stage needs a 'probability' in [0, 1]: None", path="probability"
            )
        object.__setattr__(self, "probability", float(p))
        if self.forecast_category is None:
            object.__setattr__(self, "forecast_category", ForecastCategory.PIPELINE)
        elif self.forecast_category is ForecastCategory.CLOSED:
            raise _at(
                f"{where}: an open stage cannot be in forecast category 'closed'",
                path="forecast_category",
            )


def _to_transitions(value: object) -> tuple[Transition, ...]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise _at(
            f"'transitions' must be a collection of (source, target) pairs: {value!r}",
            path="transitions",
        )
    out = []
    for i, v in enumerate(value):
        if isinstance(v, Transition):
            out.append(v)
            continue
        if isinstance(v, Mapping) and set(v) == {"source", "target"}:
            v = (v["source"], v["target"])
        if not (isinstance(v, tuple | list) and len(v) == 2):
            raise _at(
                f"'transitions[{i}]' must be a [source, target] pair or "
                f'{{"source": ..., "target": ...}}: {v!r}',
                path=f"transitions[{i}]",
            )
        try:
            out.append(Transition(v[0], v[1]))
        except ConfigurationError as e:
            raise _at(f"'transitions[{i}]': {e}", path=f"transitions[{i}]") from None
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
        raise _at(f"'stages' must be a collection of Stage: {value!r}", path="stages")
    out = tuple(value)
    for i, s in enumerate(out):
        if not isinstance(s, Stage):
            raise _at(f"'stages[{i}]' must be a Stage: {s!r}", path=f"stages[{i}]")
    return out


def _to_derived_from(value: object) -> tuple[tuple[str, str], ...]:
    """A mapping (or pairs) of this version's stage -> the previous version's stage, as sorted pairs."""
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise _at(
            f"'derived_from' must map stages of this version to stages of the previous one: {value!r}",
            path="derived_from",
        )
    else:
        items = [tuple(v) if isinstance(v, list | tuple) else v for v in value]
    out = []
    for item in items:
        if not (isinstance(item, tuple) and len(item) == 2) or not all(
            isinstance(x, str) and x for x in item
        ):
            raise _at(
                f"'derived_from' entries are (new stage, previous stage) names: {item!r}",
                path="derived_from",
            )
        out.append((item[0], item[1]))
    keys = [k for k, _ in out]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise _at(f"'derived_from' names stage {dup!r} twice", path=f"derived_from.{dup}")
    return tuple(sorted(out))


def _version_number(_inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= COUNT_MAX:
        raise _at(f"'version' must be a whole number in [1, 2**31 - 1]: {value!r}", path="version")


def _valid_from(inst: object, attribute: attrs.Attribute[Any], value: object) -> None:
    try:
        opt_utc(inst, attribute, value)
    except ValidationError as e:
        raise _at(str(e), path="valid_from") from None


@attrs.frozen
class Funnel:
    """A validated funnel definition with precomputed transition tables.

    ``entry`` lists the stages an opportunity may be opened in (default: the
    first stage). Lost stages are exits; leaving one is an explicit
    ``reopen``; won stages are terminal (``follow_up`` opens the next cycle).
    Stages are listed in funnel order: a move to an open stage listed later,
    or to a won stage, is an *advance*; a move to one listed earlier is a
    back-move (see :mod:`crmcore.pipeline.metrics`).

    A funnel that is redesigned gets a new ``version`` (1, 2, ...) that takes
    effect at ``valid_from`` (UTC; None for the first version, "since
    always"); ``derived_from`` maps each stage of this version that replaces
    stages of the previous one to the previous stage it comes from (a stage
    split in two: both halves map to it; stages that keep their name map to
    themselves without being listed). :class:`~crmcore.pipeline.versions.FunnelVersions`
    uses it to read history across versions.

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
    version: int = attrs.field(default=1, validator=_version_number)
    valid_from: datetime | None = attrs.field(default=None, validator=_valid_from)
    derived_from: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_to_derived_from)
    _by_name: dict[str, Stage] = attrs.field(init=False, repr=False, eq=False)
    _targets: dict[str, frozenset[str]] = attrs.field(init=False, repr=False, eq=False)
    _rank: dict[str, int] = attrs.field(init=False, repr=False, eq=False)
    _targets_by_stage: dict[str, dict[str, Stage]] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        where = f"funnel {self.name!r}"

        def problem(message: str, path: str) -> ConfigurationError:
            return _at(f"{where}: {message}", path=path)

        if not self.stages:
            raise problem("'stages' must not be empty", "stages")
        by_name: dict[str, Stage] = {}
        for i, s in enumerate(self.stages):
            if s.name in by_name:
                raise problem(f"duplicate stage name {s.name!r}", f"stages[{i}].name")
            by_name[s.name] = s
        if not any(s.kind is StageKind.WON for s in self.stages):
            raise problem("needs at least one stage of kind 'won'", "stages")
        targets: dict[str, set[str]] = {s.name: set() for s in self.stages}
        for i, t in enumerate(self.transitions):
            at = f"transitions[{i}]"
            for end, label in ((t.source, "source"), (t.target, "target")):
                if end not in by_name:
                    raise problem(
                        f"transition {t.source!r} -> {t.target!r} has unknown {label} "
                        f"stage {end!r}; stages are {list(by_name)}",
                        at,
                    )
            if t.source == t.target:
                raise problem(f"transition {t.source!r} -> itself", at)
            kind = by_name[t.source].kind
            if kind is not StageKind.OPEN:
                raise problem(
                    f"transition {t.source!r} -> {t.target!r} leaves a {kind.value} stage "
                    "(won stages are terminal; reopening a lost deal is an explicit reopen)",
                    at,
                )
            targets[t.source].add(t.target)
        entry = self.entry or (self.stages[0].name,)
        for i, e in enumerate(entry):
            if e not in by_name:
                raise problem(
                    f"entry stage {e!r} is not a stage of the funnel; stages are {list(by_name)}",
                    f"entry[{i}]",
                )
            if by_name[e].kind is not StageKind.OPEN:
                raise problem(f"entry stage {e!r} must be an open stage", f"entry[{i}]")
        object.__setattr__(self, "entry", tuple(entry))
        seen = set(entry)
        todo = list(entry)
        while todo:
            for nxt in targets[todo.pop()]:
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        for i, s in enumerate(self.stages):
            if s.name not in seen:
                raise problem(
                    f"stage {s.name!r} is not reachable from the entry stage(s) {list(entry)}",
                    f"stages[{i}]",
                )
            if s.kind is StageKind.OPEN and not targets[s.name]:
                raise problem(f"open stage {s.name!r} has no way out (dead end)", f"stages[{i}]")
        if self.follow_up is not None and self.follow_up.stage not in entry:
            raise problem(
                f"follow-up stage {self.follow_up.stage!r} must be an entry stage {list(entry)}",
                "follow_up.stage",
            )
        if self.derived_from and self.version == 1:
            raise problem(
                "version 1 has no previous version to be 'derived_from': "
                f"{dict(self.derived_from)}",
                "derived_from",
            )
        for new, _old in self.derived_from:
            if new not in by_name:
                raise problem(
                    f"'derived_from' names stage {new!r}, which this version does not have; "
                    f"stages are {list(by_name)}",
                    f"derived_from.{new}",
                )
        if self.version > 1 and self.valid_from is None:
            raise problem(
                f"version {self.version} needs 'valid_from' (when it takes effect): None",
                "valid_from",
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

    def origin(self, name: str) -> str:
        """The stage of the previous version that stage ``name`` comes from (itself unless mapped).

        >>> from datetime import datetime, timezone
        >>> v2 = Funnel.linear("f", {"lead": 0.1, "draft": 0.3, "sent": 0.5}, version=2,
        ...                    valid_from=datetime(2025, 1, 1, tzinfo=timezone.utc),
        ...                    derived_from={"draft": "proposal", "sent": "proposal"})
        >>> v2.origin("sent"), v2.origin("lead")
        ('proposal', 'lead')
        """
        self.stage(name)
        return dict(self.derived_from).get(name, name)

    def check_successor_of(self, previous: Funnel) -> None:
        """Refuse this funnel as the next version of ``previous`` unless every rule holds.

        Same name; ``version`` one more; ``valid_from`` later than the previous
        one's; ``derived_from`` names stages of ``previous``; every stage of
        ``previous`` has a counterpart here of the same kind (same name, or
        named in ``derived_from``), so that old history can be read in this
        version's terms.

        >>> from datetime import datetime, timezone
        >>> v1 = Funnel.linear("f", {"lead": 0.1, "proposal": 0.4})
        >>> v2 = Funnel.linear("f", {"lead": 0.1, "draft": 0.3}, version=2,
        ...                    valid_from=datetime(2025, 1, 1, tzinfo=timezone.utc))
        >>> v2.check_successor_of(v1)
        Traceback (most recent call last):
        crmcore.errors.ConfigurationError: funnel 'f' version 2: stage 'proposal' of version 1 has no counterpart: name it in 'derived_from'
        """
        expect_instance(previous, Funnel, name="previous")
        where = f"funnel {self.name!r} version {self.version}"
        if previous.name != self.name:
            raise _at(
                f"{where} cannot follow funnel {previous.name!r}: the name must stay the same",
                path="name",
            )
        if self.version != previous.version + 1:
            raise _at(
                f"{where} cannot follow version {previous.version}: versions are numbered "
                f"one after the other (expected {previous.version + 1})",
                path="version",
            )
        if (
            self.valid_from is not None
            and previous.valid_from is not None
            and self.valid_from <= previous.valid_from
        ):
            raise _at(
                f"{where}: 'valid_from' {self.valid_from.isoformat()} must be after version "
                f"{previous.version}'s {previous.valid_from.isoformat()}",
                path="valid_from",
            )
        for new, old in self.derived_from:
            if old not in previous._by_name:
                raise _at(
                    f"{where}: 'derived_from' maps {new!r} to {old!r}, which version "
                    f"{previous.version} does not have; its stages are {list(previous.stage_names)}",
                    path=f"derived_from.{new}",
                )
        image = self.from_previous(previous)
        for was in previous.stages:
            now = self._by_name[image[was.name]]
            if now.kind is not was.kind:
                raise _at(
                    f"{where}: {was.kind.value} stage {was.name!r} of version {previous.version} "
                    f"becomes {now.kind.value} stage {now.name!r}: a stage keeps its kind",
                    path="derived_from",
                )

    def from_previous(self, previous: Funnel) -> dict[str, str]:
        """Each stage of ``previous`` (the version before) -> the stage of this version it becomes.

        A stage split in two becomes the first of its halves (in funnel order):
        a deal that entered "proposal" entered the proposal phase, whose first
        step is now "draft".

        >>> from datetime import datetime, timezone
        >>> v1 = Funnel.linear("f", {"lead": 0.1, "proposal": 0.4})
        >>> v2 = Funnel.linear("f", {"lead": 0.1, "draft": 0.3, "sent": 0.5}, version=2,
        ...                    valid_from=datetime(2025, 1, 1, tzinfo=timezone.utc),
        ...                    derived_from={"draft": "proposal", "sent": "proposal"})
        >>> v2.from_previous(v1)
        {'lead': 'lead', 'proposal': 'draft', 'won': 'won', 'lost': 'lost'}
        """
        expect_instance(previous, Funnel, name="previous")
        mapped = dict(self.derived_from)
        out: dict[str, str] = {}
        for s in self.stages:
            origin = mapped.get(s.name, s.name)
            if origin in previous._by_name and origin not in out:
                out[origin] = s.name
        missing = [n for n in previous.stage_names if n not in out]
        if missing:
            raise _at(
                f"funnel {self.name!r} version {self.version}: stage {missing[0]!r} of version "
                f"{previous.version} has no counterpart: name it in 'derived_from'",
                path="derived_from",
            )
        return {n: out[n] for n in previous.stage_names}

    def to_previous(self, previous: Funnel) -> dict[str, str]:
        """Each stage of this version -> the stage of ``previous`` it comes from (to read new
        history in the old version's terms: both halves of a split stage become the old stage).

        >>> from datetime import datetime, timezone
        >>> v1 = Funnel.linear("f", {"lead": 0.1, "proposal": 0.4})
        >>> v2 = Funnel.linear("f", {"lead": 0.1, "draft": 0.3, "sent": 0.5}, version=2,
        ...                    valid_from=datetime(2025, 1, 1, tzinfo=timezone.utc),
        ...                    derived_from={"draft": "proposal", "sent": "proposal"})
        >>> v2.to_previous(v1)["sent"]
        'proposal'
        """
        expect_instance(previous, Funnel, name="previous")
        out = {s.name: self.origin(s.name) for s in self.stages}
        for new, old in out.items():
            if old not in previous._by_name:
                raise _at(
                    f"funnel {self.name!r} version {self.version}: stage {new!r} has no "
                    f"counterpart in version {previous.version}: name it in 'derived_from' to "
                    "read its history in the older version's terms",
                    path=f"derived_from.{new}",
                )
        return out

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
        version: int = 1,
        valid_from: datetime | None = None,
        derived_from: Mapping[str, str] | None = None,
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
            version=version,
            valid_from=valid_from,
            derived_from=derived_from or {},
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
    """Install the funnel JSON forms on ``conv``: guards, and funnels whose transitions are
    ``[source, target]`` pairs or objects, read with JSON paths in their errors (see
    :mod:`crmcore.pipeline._funnel_json`). Called by :func:`crmcore.serialization.configure_converter`.
    """
    from crmcore.pipeline._funnel_json import configure_funnel_json

    conv.register_unstructure_hook(RequireFields, _guard_unstructure)
    conv.register_unstructure_hook(RequireReason, _guard_unstructure)
    conv.register_structure_hook_func(lambda t: t == Guard, _guard_structure)
    configure_funnel_json(conv)
