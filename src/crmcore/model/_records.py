"""New records from valid values, validating only what is new: ``attrs.evolve`` without the rest.

An attrs record is validated when it is built, so a record that differs from
a valid one in a few fields need not run the validators of the fields it
copies: they hold the same values, which passed the same validators. The two
helpers here build frozen attrs records with the class's own converters,
validators and ``__attrs_post_init__`` (its rules across fields), so a
refused value raises the error the class's constructor raises:

* :func:`evolve_valid` is ``attrs.evolve`` that converts and validates the
  changed fields only;
* :func:`derive` builds a record from the values of all its fields.

Both run the converter and validator of every value named in ``check``
(:func:`evolve_valid`: every changed value unless told otherwise), in field
order after all values are set, as the generated ``__init__`` does. A value
not named was validated before by its field's rule or a stricter one:
checked by the caller with that rule, or read from a validated record (a
field of the same rule). That is the caller's claim; each use keeps the list
of such values short and its tests prove it (the records equal those the
validated constructors build from the same values, and a bad value is refused
with the constructor's error).

Records of classes that keep their fields in an instance dictionary
(``slots=False``) are copied with one dictionary update; slotted classes are
copied field by field. A copy made by :func:`evolve_valid` keeps sharing its
keys with the other instances (the memory of a slotted record); a record made
by :func:`derive` holds its own dictionary (about twice the memory of the
record's fields: fine for a record built for the caller, while a record kept
by the thousand is better rebuilt by its constructor).

>>> from datetime import datetime, timezone
>>> from crmcore.model.opportunity import Opportunity
>>> t = datetime(2025, 1, 6, tzinfo=timezone.utc)
>>> o = Opportunity(id="o-1", customer_id="c-1", owner_id="ann", funnel="f", stage="a", created_at=t)
>>> evolve_valid(o, {"stage": "b"}).stage
'b'
>>> evolve_valid(o, {"stage": " "})
Traceback (most recent call last):
crmcore.errors.ValidationError: 'stage' must be a non-empty string: ' '
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

import attrs

__all__ = ["derive", "evolve_valid"]

R = TypeVar("R")

_new = object.__new__
_setattr = object.__setattr__
_disabled = attrs.validators.get_disabled

_Rule = tuple[
    str,  # the field's name
    int,  # its place in the class
    Callable[[Any], Any] | None,  # its converter
    Callable[[Any, "attrs.Attribute[Any]", Any], Any] | None,  # its validator
    "attrs.Attribute[Any]",
]


_Checks = tuple[
    tuple[tuple[str, Callable[[Any], Any]], ...],  # (name, converter) of the checked fields
    tuple[tuple[str, Callable[..., Any], "attrs.Attribute[Any]"], ...],  # (name, validator, field)
]


@attrs.frozen(slots=False)  # a private plan, built once per class
class _Plan:
    cls: type
    names: tuple[str, ...]
    rules: dict[str, _Rule]  # by field name
    post_init: Callable[[Any], None] | None
    in_dict: bool  # the instances keep their fields in a __dict__
    checks: dict[tuple[str, ...], _Checks]  # what to run for a check= (cached)


_PLANS: dict[type, _Plan] = {}


def _converter(a: attrs.Attribute[Any]) -> Callable[[Any], Any] | None:
    conv: Any = a.converter
    if conv is None:
        return None
    if isinstance(conv, attrs.Converter):
        wrapped: Any = conv
        if wrapped.takes_self:
            raise TypeError(f"field {a.name!r}: a converter that takes self needs attrs.evolve")
        return lambda value: wrapped(value, None, a)
    return conv  # type: ignore[no-any-return]  # a plain callable


def _caches_hash(cls: type) -> bool:
    """Whether attrs made ``cls`` cache its hash (``cache_hash=True``): its generated hash
    and init read and reset a cache field."""
    for method in (cls.__dict__.get("__hash__"), cls.__dict__.get("__init__")):
        code = getattr(method, "__code__", None)
        if code is not None and "_attrs_cached_hash" in (*code.co_names, *code.co_consts):
            return True
    return False


def _plan(cls: type) -> _Plan:
    """What building a ``cls`` needs, checked once: an attrs class whose generated
    ``__init__`` sets every field from an argument of the field's name and does nothing a
    copy would miss (no pre-init, no cached hash)."""
    if not isinstance(cls, type) or not attrs.has(cls):
        raise TypeError(f"{cls!r} is not an attrs class")
    fields = attrs.fields(cls)
    for a in fields:
        if not a.init or (a.alias or a.name) != a.name:
            raise TypeError(
                f"{cls.__name__}.{a.name} is not set by an argument of its name: use attrs.evolve"
            )
    # attrs writes __attrs_init__ when the class has its own __init__ (init=False); the
    # generated __init__ itself may be wrapped later (a test's recorder), so it is not read
    if hasattr(cls, "__attrs_init__") or hasattr(cls, "__attrs_pre_init__"):
        raise TypeError(f"{cls.__name__} has its own __init__ or pre-init: use attrs.evolve")
    if _caches_hash(cls):
        raise TypeError(f"{cls.__name__} caches its hash (a copy would keep it): use attrs.evolve")
    try:
        _new(cls).__dict__  # noqa: B018  # the test: slotted instances have none
        in_dict = True
    except AttributeError:
        in_dict = False
    plan = _Plan(
        cls=cls,
        names=tuple(a.name for a in fields),
        rules={a.name: (a.name, i, _converter(a), a.validator, a) for i, a in enumerate(fields)},
        post_init=getattr(cls, "__attrs_post_init__", None),
        in_dict=in_dict,
        checks={},
    )
    _PLANS[cls] = plan
    return plan


def _unknown(cls: type, name: object) -> TypeError:
    return TypeError(f"{cls.__name__}.__init__() got an unexpected keyword argument {name!r}")


def _checks(plan: _Plan, check: Collection[str]) -> _Checks:
    """The converters and validators of the fields named in ``check``, in field order (cached
    per ``check`` tuple: a handful of call sites)."""
    key = check if type(check) is tuple else tuple(check)
    found = plan.checks.get(key)
    if found is None:
        rules = []
        for name in key:
            rule = plan.rules.get(name)
            if rule is None:
                raise _unknown(plan.cls, name)
            rules.append(rule)
        rules.sort(key=lambda r: r[1])
        found = (
            tuple((r[0], r[2]) for r in rules if r[2] is not None),
            tuple((r[0], r[3], r[4]) for r in rules if r[3] is not None),
        )
        if len(plan.checks) < 64:  # never grows without bound
            plan.checks[key] = found
    return found


def _validate(plan: _Plan, new: Any, check: Collection[str]) -> None:
    """Convert and validate the values named in ``check`` (set already) in field order, after
    every value is set, as the generated ``__init__`` does."""
    converters, validators = _checks(plan, check)
    for name, conv in converters:
        value = conv(getattr(new, name))
        if plan.in_dict:
            new.__dict__[name] = value
        else:
            _setattr(new, name, value)
    if validators and not _disabled():
        for name, rule, attribute in validators:
            rule(new, attribute, getattr(new, name))


def evolve_valid(inst: R, changes: Mapping[str, Any], /, check: Collection[str] | None = None) -> R:
    """``attrs.evolve(inst, **changes)`` for a valid ``inst``, running the converters and
    validators of the changed fields only (those named in ``check``; None: all of
    ``changes``), then the class's ``__attrs_post_init__``.

    The fields ``inst`` keeps were validated when it was built. A refused value
    raises the error ``attrs.evolve`` raises; ``inst`` is unchanged.

    >>> from datetime import datetime, timezone
    >>> from crmcore.model.opportunity import Opportunity
    >>> t = datetime(2025, 1, 6, tzinfo=timezone.utc)
    >>> o = Opportunity(id="o-1", customer_id="c-1", owner_id="ann", funnel="f", stage="a", created_at=t)
    >>> n = evolve_valid(o, {"owner_id": "bob", "probability": 0.5})
    >>> (n.owner_id, n.probability, o.owner_id)
    ('bob', 0.5, 'ann')
    >>> evolve_valid(o, {"probability": 1.5})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'probability' must be in [0, 1]: 1.5
    """
    cls = type(inst)
    plan = _PLANS.get(cls) or _plan(cls)
    if not changes.keys() <= plan.rules.keys():
        raise _unknown(cls, next(n for n in changes if n not in plan.rules))
    new = _new(cls)
    if plan.in_dict:
        d = new.__dict__
        d.update(inst.__dict__)  # the instance dicts keep sharing their keys
        d.update(changes)
    else:
        for name in plan.names:
            _setattr(new, name, changes[name] if name in changes else getattr(inst, name))
    if check is None or check:
        _validate(plan, new, tuple(changes) if check is None else check)
    if plan.post_init is not None:
        plan.post_init(new)
    return new


def derive(cls: type[R], values: Mapping[str, Any], /, check: Collection[str]) -> R:
    """A ``cls`` from the ``values`` of all its fields, running the converters and validators
    of those named in ``check`` (the others are valid already: see the module docstring),
    then the class's ``__attrs_post_init__``.

    Every field is given (a field left out is a TypeError, as for the constructor,
    even where it has a default).

    >>> from crmcore.model.money import Money
    >>> derive(Money, {"amount": Money("2", "EUR").amount, "currency": "eur"}, check=("currency",))
    Money(amount=Decimal('2'), currency='EUR')
    >>> derive(Money, {"amount": Money("2", "EUR").amount, "currency": "euro"}, check=("currency",))
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'currency' must be an ISO 4217 code: 'euro'
    """
    plan = _PLANS.get(cls) or _plan(cls)
    if values.keys() != plan.rules.keys():
        extra = [n for n in values if n not in plan.rules]
        if extra:
            raise _unknown(cls, extra[0])
        missing = [n for n in plan.names if n not in values]
        raise TypeError(f"{cls.__name__}: derive() needs every field; missing {missing}")
    new = _new(cls)
    if plan.in_dict:
        new.__dict__.update(values)
    else:
        for name, value in values.items():
            _setattr(new, name, value)
    if check:
        _validate(plan, new, check)
    if plan.post_init is not None:
        plan.post_init(new)
    return new
