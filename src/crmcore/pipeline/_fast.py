"""Building records without re-running validators, for values that are already valid.

The move path of :mod:`crmcore.pipeline.moves` uses two generated
constructors: ``restage`` (an opportunity with new stage fields) and
``event`` (a stage-change event from all its fields). Both are generated
from ``attrs.fields`` when the module is imported, so a field added to the
model later is copied too; the tests compare them with ``attrs.evolve`` and
with the validated constructors.

>>> from datetime import datetime, timezone
>>> from crmcore.model import Opportunity
>>> t = datetime(2025, 1, 1, tzinfo=timezone.utc)
>>> o = Opportunity(id="o", customer_id="c", owner_id="r", funnel="f", stage="a", created_at=t)
>>> restage(o, "b", t, None, None, 0.5).stage
'b'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from crmcore.model.opportunity import Opportunity, StageChange

__all__ = ["STAGE_FIELDS", "event", "restage"]

STAGE_FIELDS = ("stage", "stage_entered_at", "closed_at", "lost_reason", "probability")
"""The opportunity fields a move changes, in ``restage``'s argument order."""


def _builder(
    cls: type,
    params: list[str],
    values: dict[str, str],
    name: str,
    defaults: dict[str, Any] | None = None,
) -> Callable[..., Any]:
    """Generate ``name(*params)`` that returns a ``cls`` whose fields are ``values`` (expressions).

    Construction without re-running validators, for values that are already
    valid. Fields are stored on an instance of a private subclass with plain
    ``__setattr__`` (CPython's specialised slot stores, several times cheaper
    than ``object.__setattr__`` per field) whose class is then set to ``cls``;
    the subclass adds no slots, so the layout is the same and the result is
    an exact ``cls`` instance. Where ``__class__`` assignment is refused, the
    slot descriptors' setters are used instead. The code is generated from
    ``attrs.fields`` so that a field added to the model later is copied too.
    """
    fields = [a.name for a in attrs.fields(cls)]
    building = type(
        f"_Building{cls.__name__}",
        (cls,),
        {"__slots__": (), "__setattr__": object.__setattr__, "__delattr__": object.__delattr__},
    )
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls, "_building": building}
    scope.update(defaults or {})
    lines = [f"def {name}(" + ", ".join(params) + "):"]
    try:
        probe: Any = object.__new__(building)
        probe.__class__ = cls
        fast = type(probe) is cls
    except TypeError:  # pragma: no cover (interpreters without __class__ assignment)
        fast = False
    if fast:
        lines.append("    n = _new(_building)")
        lines += [f"    n.{f} = {values[f]}" for f in fields]
        lines.append("    n.__class__ = _cls")
    else:  # pragma: no cover
        scope.update({f"_set_{f}": cls.__dict__[f].__set__ for f in fields})
        lines.append("    n = _new(_cls)")
        lines += [f"    _set_{f}(n, {values[f]})" for f in fields]
    lines.append("    return n")
    exec("\n".join(lines), scope)
    fn: Callable[..., Any] = scope[name]
    return fn


def _opportunity_builder() -> Callable[..., Opportunity]:
    """``_restage(o, stage, stage_entered_at, closed_at, lost_reason, probability)``.

    ``o`` with new stage fields; every other field is copied from ``o``
    (valid); the five new values come from the funnel (stage, probability)
    or were checked by the caller (``at``, ``reason``). Tests compare it
    with ``attrs.evolve``.
    """
    values = {a.name: f"o.{a.name}" for a in attrs.fields(Opportunity)}
    values.update({f: f for f in STAGE_FIELDS})
    return _builder(Opportunity, ["o", *STAGE_FIELDS], values, "_restage")


def _event_builder() -> Callable[..., StageChange]:
    """``_event(...)``: a StageChange from every field in order, positionally (defaults kept)."""
    fields = attrs.fields(StageChange)
    params = [a.name if a.default is attrs.NOTHING else f"{a.name}=_d_{a.name}" for a in fields]
    defaults = {f"_d_{a.name}": a.default for a in fields if a.default is not attrs.NOTHING}
    return _builder(StageChange, params, {a.name: a.name for a in fields}, "_event", defaults)


restage: Callable[..., Opportunity] = _opportunity_builder()
"""``restage(o, stage, stage_entered_at, closed_at, lost_reason, probability)``."""
event: Callable[..., StageChange] = _event_builder()
"""``event(opportunity_id, sequence, from_stage, to_stage, at, by, reason, amount, ...)`` in field order."""
