"""The JSON form of a funnel: what :func:`crmcore.serialization.to_json` writes and
:func:`~crmcore.serialization.from_json` reads (installed by ``configure_guards``).

Written: ``name``, ``stages`` (objects), ``transitions`` as ``{"source", "target"}``
objects, ``entry``, ``follow_up``, ``description``; ``version``, ``valid_from`` and
``derived_from`` (an object ``{"new stage": "previous stage"}``) only when they are
not the defaults of a first version, so a version-1 document reads in older crmcore.
Read: the same, with transitions also as ``[source, target]`` pairs and ``entry`` also
as one string. Every problem is reported with its JSON path, all at once where the
parts can be read independently (``$.stages[2].probability: ...;
$.transitions[4]: ...``), then the funnel's own rules (``$.transitions[1]: funnel
'x': transition 'a' -> 'zz' has unknown target stage 'zz'; ...``).

>>> from crmcore.serialization import from_json
>>> from crmcore.pipeline.funnel import Funnel
>>> f = from_json(Funnel, '{"name": "mini", "stages": [{"name": "lead", "probability": 0.2},'
...               ' {"name": "won", "kind": "won"}], "transitions": [["lead", "won"]]}')
>>> f.transitions[0]
Transition(source='lead', target='won')
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from cattrs.errors import BaseValidationError

from crmcore._messages import show
from crmcore.errors import ConfigurationError, ValidationError
from crmcore.pipeline.funnel import FollowUp, Funnel, Stage, Transition, problem_path

__all__ = ["configure_funnel_json"]

_FIELDS = (
    "name",
    "stages",
    "transitions",
    "entry",
    "follow_up",
    "description",
    "version",
    "valid_from",
    "derived_from",
)
_REQUIRED = ("name", "stages", "transitions")
_READ_ERRORS = (BaseValidationError, ValueError, TypeError, KeyError, AttributeError)


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseValidationError):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]


def _flatten(exc: BaseException, path: str) -> list[str]:
    """Problem lines of a failed read at ``path``: a funnel rule names its own place."""
    from crmcore.serialization import _flatten as flatten  # the one path rule of the converter

    leaves = _leaves(exc)
    where = problem_path(leaves[0]) if len(leaves) == 1 else None
    if where is not None:
        return [f"{path}.{where}: {leaves[0]}"]
    return flatten(exc, path)


def _transition(item: object, i: int) -> Transition | str:
    """A Transition, or the problem (with its path) of item ``i``."""
    where = f"$.transitions[{i}]"
    if isinstance(item, Mapping):
        if set(item) != {"source", "target"}:
            return f"{where}: a transition object has exactly 'source' and 'target': {show(item)}"
        pair: object = [item["source"], item["target"]]
    else:
        pair = item
    if not isinstance(pair, list | tuple) or len(pair) != 2:
        return (
            f'{where}: must be a [source, target] pair or {{"source": ..., "target": ...}}: '
            f"{show(item)}"
        )
    try:
        return Transition(pair[0], pair[1])
    except ConfigurationError as e:
        return f"{where}: {e}"


def _structure_funnel(conv: Any, value: object) -> Funnel:
    def fail(problems: list[str]) -> ValidationError:
        return ValidationError("cannot read Funnel: " + "; ".join(problems), problems=problems)

    if not isinstance(value, Mapping):
        raise fail(
            [f"$: a funnel is a JSON object with 'name', 'stages' and 'transitions': {show(value)}"]
        )
    problems: list[str] = []
    unknown = sorted(set(value) - set(_FIELDS))
    if unknown:
        problems.append(f"$: unknown field(s) {unknown}; a funnel has {list(_FIELDS)}")
    problems += [f"$.{k}: required field is missing" for k in _REQUIRED if k not in value]
    fields: dict[str, Any] = {}
    if "name" in value:
        fields["name"] = value["name"]
    raw_stages = value.get("stages", [])
    stages: list[Stage] = []
    if not isinstance(raw_stages, list):
        problems.append(f"$.stages: must be a list of stage objects: {show(raw_stages)}")
    else:
        for i, item in enumerate(raw_stages):
            if not isinstance(item, Mapping):
                problems.append(
                    f"$.stages[{i}]: a stage is an object with 'name', 'kind', 'probability', "
                    f"'forecast_category' and 'guards': {show(item)}"
                )
                continue
            try:
                stages.append(conv.structure(item, Stage))
            except _READ_ERRORS as e:
                problems += _flatten(e, f"$.stages[{i}]")
    fields["stages"] = tuple(stages)
    raw_tr = value.get("transitions", [])
    transitions: list[Transition] = []
    if not isinstance(raw_tr, list):
        problems.append(f"$.transitions: must be a list of [source, target] pairs: {show(raw_tr)}")
    else:
        for i, item in enumerate(raw_tr):
            t = _transition(item, i)
            if isinstance(t, str):
                problems.append(t)
            else:
                transitions.append(t)
    fields["transitions"] = tuple(transitions)
    if "entry" in value:
        entry = value["entry"]
        fields["entry"] = [entry] if isinstance(entry, str) else entry
    if value.get("follow_up") is not None:
        try:
            fields["follow_up"] = conv.structure(value["follow_up"], FollowUp)
        except _READ_ERRORS as e:
            problems += _flatten(e, "$.follow_up")
    for key, kind in (("description", str), ("version", int), ("valid_from", datetime)):
        if value.get(key) is not None:
            try:
                fields[key] = conv.structure(value[key], kind)
            except _READ_ERRORS as e:
                problems += [f"$.{key}: {line.split(': ', 1)[-1]}" for line in _flatten(e, "$")]
    if "derived_from" in value:
        fields["derived_from"] = value["derived_from"]
    if problems:
        raise fail(problems)
    try:
        return Funnel(**fields)
    except ConfigurationError as e:
        where = problem_path(e)
        raise fail([f"$.{where}: {e}" if where else f"$: {e}"]) from None


def _unstructure_funnel(conv: Any, f: Funnel) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": f.name,
        "stages": [conv.unstructure(s) for s in f.stages],
        "transitions": [{"source": t.source, "target": t.target} for t in f.transitions],
        "entry": list(f.entry),
        "follow_up": conv.unstructure(f.follow_up),
        "description": f.description,
    }
    if f.version != 1 or f.valid_from is not None or f.derived_from:
        out["version"] = f.version
        out["valid_from"] = conv.unstructure(f.valid_from)
        out["derived_from"] = dict(f.derived_from)
    return out


def configure_funnel_json(conv: Any) -> None:
    """Install the funnel's JSON form (see the module docstring) on ``conv``.

    >>> from crmcore.serialization import make_converter
    >>> from crmcore.pipeline.presets import B2B
    >>> make_converter().unstructure(B2B)["transitions"][0]
    {'source': 'lead', 'target': 'qualified'}
    """
    conv.register_structure_hook(Funnel, lambda v, _t: _structure_funnel(conv, v))
    conv.register_unstructure_hook(Funnel, lambda f: _unstructure_funnel(conv, f))
