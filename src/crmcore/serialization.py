"""One preconfigured cattrs converter for every crmcore record, and JSON helpers.

Encoding rules (what :func:`make_converter` produces):

* attrs classes become dicts keyed by field name; ``None`` stays ``None``;
* ``Decimal`` becomes a string (``"12.50"``): exact, never a float;
* ``datetime`` becomes ISO 8601 with its offset (``"2025-01-06T09:00:00+00:00"``),
  ``date`` becomes ``"2025-01-06"``; read back by the rule of :mod:`crmcore.timestamps`
  (an offset is converted to UTC; naive datetimes are rejected);
* enums become their value; tuples, lists and frozensets become lists
  (frozensets sorted); numpy arrays become lists and numpy scalars Python numbers;
* floats are kept, except NaN and infinity, which JSON cannot hold: they are
  refused when writing JSON;
* crmcore's versioned documents and analytical records carry their own forms,
  installed by :func:`configure_converter` itself (never at import time):
  funnel guards as ``{"type": "require_fields" | "require_reason", ...}``,
  tier and segment rule expressions as ``{field, op, value}`` /
  ``{"all" | "any": [...]}`` / ``{"not": ...}``, anomaly rules with a
  ``"type"`` tag (``{"type": "dormant", ...}``);
* fitted models (BG/NBD, MBG/NBD, Pareto/NBD, Gamma-Gompertz/NBD, BG/BB,
  Gamma-Gamma, sBG, the loyalty model and fit, the deal-scoring model) carry
  ``"type"`` (a stable name such as ``"bgnbd"`` or ``"deal_score"``) and ``"format"`` (:data:`MODEL_FORMAT`); reading
  checks the type against the class asked for, refuses a format newer than
  this code, and reads a file without them (crmcore 0.1, format 0) as the
  class asked for.
  :func:`load_model` reads any of them by its type.

Every converter from :func:`make_converter` reads everything crmcore writes,
whatever was imported first: there is no registry that packages add to.
Structuring bad input raises :class:`~crmcore.errors.ValidationError` whose
``problems`` list every bad path, for example ``$.contact_points[1].value``.
The global ``cattrs`` converter is never touched.

>>> from crmcore.model import Money
>>> to_dict(Money("12.50", "EUR"))
{'amount': '12.50', 'currency': 'EUR'}
>>> from_json(Money, '{"amount": "3", "currency": "usd"}')
Money(amount=Decimal('3'), currency='USD')
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import Enum, StrEnum
from functools import cache
from typing import Any, TypeVar

import attrs
import cattrs
import numpy as np
from cattrs.errors import BaseValidationError, ClassValidationError, IterableValidationError

from crmcore._messages import show
from crmcore.errors import ArgumentTypeError, ValidationError
from crmcore.model._fields import to_enum
from crmcore.model.money import _to_decimal
from crmcore.options import expect_instance
from crmcore.timestamps import as_date, time_ref

__all__ = [
    "MODEL_FORMAT",
    "configure_converter",
    "converter",
    "from_dict",
    "from_json",
    "load_model",
    "make_converter",
    "to_dict",
    "to_json",
]

T = TypeVar("T")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _structure_datetime(value: object, _t: type) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str):  # the one timestamp rule (crmcore.timestamps), offset required
        try:
            return _EPOCH + timedelta(microseconds=time_ref(value, assume_utc=False))
        except ValidationError:
            pass
    raise ValidationError(
        f"expected a timezone-aware ISO 8601 datetime (with its offset) in the years 1-9999: {value!r}"
    )


def _structure_date(value: object, _t: type) -> date:
    return as_date(value, name=None)  # the converter gives the path


def _structure_str(value: object, _t: type) -> str:
    if not isinstance(value, str):
        raise ValidationError(f"expected a string: {value!r}")
    return value


def _structure_int(value: object, _t: type) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ValidationError(f"expected an integer: {value!r}")
    return value


def _structure_float(value: object, _t: type) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"expected a number: {value!r}")
    return float(value)


def _structure_bool(value: object, _t: type) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"expected true or false: {value!r}")
    return value


def configure_converter(conv: cattrs.Converter) -> cattrs.Converter:
    """Install crmcore's encoding rules (see the module docstring) on ``conv`` and return it.

    The forms of the packages' own records (funnel guards, rule expressions,
    anomaly rules) are installed here too, so ``conv`` is complete whatever
    was imported before.

    >>> import cattrs
    >>> c = configure_converter(cattrs.Converter())
    >>> from decimal import Decimal
    >>> c.unstructure(Decimal("1.10"))
    '1.10'
    """
    expect_instance(conv, cattrs.Converter, name="conv", what="a cattrs Converter")
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, lambda v, _t: _to_decimal(v))
    conv.register_unstructure_hook(datetime, lambda d: d.isoformat())
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_unstructure_hook(date, lambda d: d.isoformat())
    conv.register_structure_hook(date, _structure_date)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(int, _structure_int)
    conv.register_structure_hook(float, _structure_float)
    conv.register_structure_hook(bool, _structure_bool)
    # StrEnum before str in the MRO: without its own hook, str's pass-through would keep the member
    conv.register_unstructure_hook(StrEnum, lambda e: e.value)
    conv.register_unstructure_hook(Enum, lambda e: e.value)
    conv.register_structure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, Enum),
        lambda v, t: to_enum(t, v),
    )
    conv.register_unstructure_hook(frozenset, lambda s: sorted(conv.unstructure(x) for x in s))
    conv.register_unstructure_hook(np.ndarray, lambda a: a.tolist())
    conv.register_unstructure_hook_func(
        lambda t: isinstance(t, type) and issubclass(t, np.generic), lambda x: x.item()
    )
    _refuse_text_as_items(conv)
    _configure_packages(conv)
    return conv


_COLLECTIONS = (list, tuple, set, frozenset)


def _refuse_text_as_items(conv: cattrs.Converter) -> None:
    """A list, tuple or set field refuses a JSON string (or an object) instead of reading its
    characters (or keys) as the items; the other checks stay cattrs' own."""
    generating: set[Any] = set()

    def wanted(t: Any) -> bool:
        origin = getattr(t, "__origin__", t)
        return isinstance(origin, type) and issubclass(origin, _COLLECTIONS) and t not in generating

    def factory(t: Any) -> Any:
        generating.add(t)
        try:
            default = conv.get_structure_hook(t, cache_result=False)
        finally:
            generating.discard(t)

        def structure(value: Any, cls: Any) -> Any:
            if isinstance(value, str | bytes | Mapping):
                raise ValidationError(f"expected a list: {value!r}")
            return default(value, cls)

        return structure

    conv.register_structure_hook_factory(wanted, factory)


def _configure_packages(conv: cattrs.Converter) -> None:
    # A fixed list, imported here rather than at the top: these packages import this module.
    from crmcore.anomaly.codec import configure_rules
    from crmcore.pipeline.funnel import configure_guards
    from crmcore.segmentation.tiers import configure_rule_expressions

    configure_guards(conv)
    configure_rule_expressions(conv)
    configure_rules(conv)
    _configure_models(conv)
    _configure_field_changes(conv)


def _configure_field_changes(conv: cattrs.Converter) -> None:
    """A FieldChange's ``old`` and ``new`` are read by the type of its ``field``
    (:func:`crmcore.model.opportunity.decode_field_value`)."""
    from cattrs.gen import make_dict_structure_fn

    from crmcore.model.opportunity import FieldChange, decode_field_value

    plain: Any = make_dict_structure_fn(
        FieldChange, conv, _cattrs_forbid_extra_keys=conv.forbid_extra_keys
    )

    def read(data: Any, cls: type) -> Any:
        if isinstance(data, Mapping) and isinstance(data.get("field"), str):
            field = data["field"]
            data = {
                **data,
                **{k: decode_field_value(field, data[k]) for k in ("old", "new") if k in data},
            }
        return plain(data, cls)

    conv.register_structure_hook(FieldChange, read)


MODEL_FORMAT = 2
"""The format version written in every fitted model's JSON: 2 carries the model's
``time_unit`` and its fit as one :class:`~crmcore.fitting.FitSummary` (``fit``); 1 had the
fit's fields beside the parameters (``standard_errors``, ``log_likelihood``, ``n``,
``converged``, ``message``); 0 is a file of crmcore 0.1, untyped. Older formats load."""


_OLD_FIT_KEYS = ("standard_errors", "log_likelihood", "n", "converged", "message")


def _upgrade(data: Mapping[str, Any], cls: type) -> dict[str, Any]:
    """A model's JSON of format 0 or 1 in the form of format 2: the fit's fields beside the
    parameters become one ``fit`` summary (parameter names from ``params``, covariate
    coefficients after them; no covariance, iterations unknown: 0), with no time unit; an
    sBG model's own layout through :func:`_upgrade_sbg`."""
    out = dict(data)
    names = {f.name for f in attrs.fields(cls)} if attrs.has(cls) else set()
    if "fit" in names and "fit" not in out and all(k in out for k in _OLD_SBG_KEYS):
        return _upgrade_sbg(out)
    if "fit" in names and "fit" not in out and all(k in out for k in _OLD_LOYALTY_KEYS):
        return _upgrade_loyalty(out)
    if "fit" not in names or "fit" in out or not all(k in out for k in _OLD_FIT_KEYS[1:]):
        return out
    old = {k: out.pop(k) for k in _OLD_FIT_KEYS}
    params = out.get("params")
    if not isinstance(params, Mapping):
        return {**out, **old}  # left for the structuring errors to name
    keys, values = list(params), list(params.values())
    se = old["standard_errors"]
    ses = None if not isinstance(se, Mapping) else [se.get(k) for k in keys]
    cov = out.get("covariates")
    if isinstance(cov, Mapping):
        for side in ("purchase", "dropout"):
            coefs = cov.get(side) or []
            keys += [f"{side}[{j}]" for j in range(len(coefs))]
            values += list(coefs)
            side_se = cov.get(f"{side}_errors")
            if ses is not None:
                ses = ses + list(side_se) if side_se is not None else None
    out["fit"] = {
        "model": cls.__name__,
        "names": keys,
        "estimates": values,
        "standard_errors": ses,
        "covariance": None,
        "log_likelihood": old["log_likelihood"],
        "n": old["n"],
        "iterations": 0,
        "converged": old["converged"],
        "message": old["message"],
    }
    return out


_OLD_SBG_KEYS = (
    "alpha",
    "beta",
    "alpha_se",
    "beta_se",
    "log_likelihood",
    "n_periods",
    "n_customers",
    "converged",
    "iterations",
)


def _upgrade_sbg(data: dict[str, Any]) -> dict[str, Any]:
    """An sBG model of format 0 or 1 (alpha, beta, their SEs and the fit's fields side by
    side) in the form of format 2: ``params``, ``fit`` (n: the customers), ``n_periods``."""
    out = {k: v for k, v in data.items() if k not in _OLD_SBG_KEYS}
    out["params"] = {"alpha": data["alpha"], "beta": data["beta"]}
    out["n_periods"] = data["n_periods"]
    out["fit"] = {
        "model": "sBG",
        "names": ["alpha", "beta"],
        "estimates": [data["alpha"], data["beta"]],
        "standard_errors": [data["alpha_se"], data["beta_se"]],
        "covariance": None,
        "log_likelihood": data["log_likelihood"],
        "n": data["n_customers"],
        "iterations": data["iterations"],
        "converged": data["converged"],
        "message": "",
    }
    return out


_OLD_LOYALTY_KEYS = (
    "parameter_names",
    "standard_errors",
    "covariance",
    "log_likelihood",
    "n_responses",
    "converged",
    "iterations",
)


def _upgrade_loyalty(data: dict[str, Any]) -> dict[str, Any]:
    """A loyalty fit with the fit's fields beside the model (formats 0 and 1, and format 2
    before the loyalty fit carried a FitSummary) in the form of format 2: ``fit`` holds
    the estimated coefficients (read from the model), ``boundary`` becomes ``at_bound``."""
    out = {k: v for k, v in data.items() if k not in (*_OLD_LOYALTY_KEYS, "message", "boundary")}
    model = data.get("model")
    names = data["parameter_names"]
    if not isinstance(model, Mapping) or not isinstance(names, list):
        return data  # left for the structuring errors to name
    out["fit"] = {
        "model": "loyalty",
        "names": names,
        "estimates": [model.get(n, 0.0) for n in names],
        "standard_errors": data["standard_errors"],
        "covariance": data["covariance"],
        "log_likelihood": data["log_likelihood"],
        "n": data["n_responses"],
        "iterations": data["iterations"],
        "converged": data["converged"],
        "message": data.get("message", ""),
        "scales": ["linear"] * len(names),
        "at_bound": data.get("boundary", []),
    }
    return out


def _model_types() -> dict[str, type]:
    """The fitted models' stable JSON type names (a fixed list: one place, no registry)."""
    # imported here, not at the top: these packages import this module
    from crmcore.fitting import FitSummary
    from crmcore.pipeline._scoring_model import DealScoreModel
    from crmcore.satisfaction.curve import LoyaltyModel
    from crmcore.satisfaction.fit import LoyaltyFit
    from crmcore.valuation.btyd.bgbb import BGBBModel
    from crmcore.valuation.btyd.bgnbd import BGNBDModel, MBGNBDModel
    from crmcore.valuation.btyd.gamma_gamma import GammaGammaModel
    from crmcore.valuation.btyd.ggompertz_nbd import GGompertzNBDModel
    from crmcore.valuation.btyd.pareto_nbd import ParetoNBDModel
    from crmcore.valuation.economics.sbg import SBGModel

    # DealScoreModel names FitSummary for type checkers only (crmcore.pipeline does not
    # import scipy): its annotations are resolved here, where the converter needs them
    attrs.resolve_types(DealScoreModel, localns={"FitSummary": FitSummary})
    return {
        "bgnbd": BGNBDModel,
        "mbgnbd": MBGNBDModel,
        "pareto_nbd": ParetoNBDModel,
        "ggompertz_nbd": GGompertzNBDModel,
        "bgbb": BGBBModel,
        "gamma_gamma": GammaGammaModel,
        "sbg": SBGModel,
        "loyalty_model": LoyaltyModel,
        "loyalty_fit": LoyaltyFit,
        "deal_score": DealScoreModel,
    }


def _model_type_of(data: Mapping[str, Any], asked: str) -> str | None:
    """The type named by a model's JSON (None for a crmcore 0.1 file), after checking its format."""
    fmt = data.get("format", 0)
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 0:
        raise ValidationError(
            f"'format' of a {asked} must be a whole number >= 0: {show(fmt)}",
            problems=(f"$.format: must be a whole number >= 0: {show(fmt)}",),
        )
    if fmt > MODEL_FORMAT:
        msg = (
            f"'format' {fmt} is newer than this crmcore reads ({MODEL_FORMAT}):"
            f" upgrade crmcore to read this {asked}"
        )
        raise ValidationError(msg, problems=(f"$.format: {msg}",))
    kind = data.get("type")
    if kind is None and fmt == 0:
        return None
    types = _model_types()
    if not isinstance(kind, str) or kind not in types:
        msg = f"'type' must be one of {sorted(types)}: {show(kind)}"
        raise ValidationError(msg, problems=(f"$.type: {msg}",))
    return kind


def _configure_models(conv: cattrs.Converter) -> None:
    from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

    for kind, cls in _model_types().items():
        plain_out: Any = make_dict_unstructure_fn(cls, conv)
        plain_in: Any = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=conv.forbid_extra_keys
        )

        def write(obj: Any, _kind: str = kind, _out: Any = plain_out) -> dict[str, Any]:
            return {"type": _kind, "format": MODEL_FORMAT, **_out(obj)}

        def read(data: Any, cls: type, _kind: str = kind, _in: Any = plain_in) -> Any:
            if not isinstance(data, Mapping):
                return _in(data, cls)
            found = _model_type_of(data, cls.__name__)
            if found is not None and found != _kind:
                other = _model_types()[found].__name__
                msg = f"cannot read {other} (type {found!r}) as {cls.__name__} (type {_kind!r})"
                raise ValidationError(msg, problems=(f"$.type: {msg}",))
            rest = {k: v for k, v in data.items() if k not in ("type", "format")}
            if data.get("format", 0) < 2 or "parameter_names" in rest:  # a loyalty fit's
                rest = _upgrade(rest, cls)  # fields were flat in format 2 until it had a fit
            return _in(rest, cls)

        conv.register_unstructure_hook(cls, write)
        conv.register_structure_hook(cls, read)


def make_converter() -> cattrs.Converter:
    """A new converter with crmcore's rules; use it to add hooks for your own types.

    >>> conv = make_converter()
    >>> from crmcore.model import Customer
    >>> conv.structure({"id": "c-1", "name": "Ada"}, Customer).name
    'Ada'
    """
    return configure_converter(cattrs.Converter(detailed_validation=True, forbid_extra_keys=True))


converter: cattrs.Converter
"""The shared, preconfigured converter (built by :func:`make_converter` on first use)."""


@cache
def _shared() -> cattrs.Converter:
    # built on first use, not at import: configuring it imports the domain packages
    return make_converter()


def __getattr__(name: str) -> cattrs.Converter:
    # ``converter``: the shared, preconfigured converter (built on first use)
    if name == "converter":
        return _shared()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FIELD_MSG = re.compile(r"^'([A-Za-z_][A-Za-z0-9_]*)' (.*)$", re.S)


def _flatten(exc: BaseException, path: str) -> list[str]:
    from cattrs.errors import ForbiddenExtraKeysError

    out: list[str] = []
    if isinstance(exc, ForbiddenExtraKeysError):
        return [f"{path}: unknown field(s) {sorted(exc.extra_fields)}"]
    if isinstance(exc, BaseValidationError):
        if isinstance(exc, ClassValidationError):
            with_notes, without = exc.group_exceptions()
            for inner, note in with_notes:
                if isinstance(inner, KeyError):
                    out.append(f"{path}.{note.name}: required field is missing")
                else:
                    out += _flatten(inner, f"{path}.{note.name}")
            for inner in without:
                out += _flatten(inner, path)
        elif isinstance(exc, IterableValidationError):
            with_inotes, iwithout = exc.group_exceptions()
            for inner, inote in with_inotes:
                out += _flatten(inner, f"{path}[{inote.index!r}]")
            for inner in iwithout:
                out += _flatten(inner, path)
        else:
            for inner in exc.exceptions:
                out += _flatten(inner, path)
        return out
    if isinstance(exc, KeyError):
        return [f"{path}.{exc.args[0]}: required field is missing"]
    msg = str(exc)
    m = _FIELD_MSG.match(msg)
    if m:
        return [f"{path}.{m.group(1)}: {m.group(2)}"]
    return [f"{path}: {msg}"]


def from_dict(cls: type[T], data: Any, *, conv: cattrs.Converter | None = None) -> T:
    """Structure ``data`` (JSON-safe dicts and lists) into ``cls``, validating everything.

    >>> from crmcore.model import Customer
    >>> from_dict(Customer, {"id": "c-1", "name": "Ada",
    ...     "contact_points": [{"kind": "email", "value": "ada@example.com"},
    ...                        {"kind": "email", "value": "nope"}]})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: cannot read Customer: $.contact_points[1].value: must be an email address: 'nope'
    """
    c = _converter(conv)
    if not isinstance(cls, type):
        raise ArgumentTypeError(f"'cls' must be the class to read: {show(cls)}")
    name = cls.__name__
    if attrs.has(cls) and not isinstance(data, Mapping):
        raise ArgumentTypeError(
            f"'data' must be a mapping (a JSON object) for {name}: {show(data)}"
        )
    try:
        return c.structure(data, cls)
    except cattrs.errors.StructureHandlerNotFoundError:
        raise ArgumentTypeError(f"'cls' is not a class crmcore can read: {show(cls)}") from None
    except ValidationError as e:
        if e.problems:
            raise
        problems = _flatten(e, "$")
    except (BaseValidationError, ValueError, TypeError, KeyError, AttributeError) as e:
        problems = _flatten(e, "$")
    raise ValidationError(
        f"cannot read {name}: " + "; ".join(problems), problems=problems
    ) from None


def to_dict(obj: object, *, conv: cattrs.Converter | None = None) -> Any:
    """Unstructure ``obj`` into JSON-safe dicts, lists, strings, numbers and None.

    >>> from datetime import datetime, timezone
    >>> from crmcore.model import SurveyResponse
    >>> to_dict(SurveyResponse(id="s", customer_id="c", nps=10,
    ...         responded_at=datetime(2025, 1, 1, tzinfo=timezone.utc)))["responded_at"]
    '2025-01-01T00:00:00+00:00'
    """
    data = _converter(conv).unstructure(obj)
    where = _not_json(data, "$")
    if where is not None:
        raise ValidationError(f"'obj' ({type(obj).__name__}) cannot be written as JSON: {where}")
    return data


def _converter(conv: object) -> cattrs.Converter:
    if conv is None:
        return _shared()
    return expect_instance(conv, cattrs.Converter, name="conv", what="a cattrs Converter")


def _not_json(data: object, path: str) -> str | None:
    """Where ``data`` holds something JSON cannot carry (NaN, infinity, other objects), or None."""
    stack: list[tuple[object, str]] = [(data, path)]
    while stack:
        value, at = stack.pop()
        if value is None or isinstance(value, str | bool | int):
            continue
        if isinstance(value, float):
            if not math.isfinite(value):
                return f"{at} is {value!r}"
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                if not isinstance(k, str):
                    return f"{at} has a key that is not a string: {show(k)}"
                stack.append((v, f"{at}.{k}"))
            continue
        if isinstance(value, list | tuple):
            stack.extend((v, f"{at}[{i}]") for i, v in enumerate(value))
            continue
        return f"{at} holds a value of type {type(value).__name__}: {show(value)}"
    return None


def to_json(obj: object, *, conv: cattrs.Converter | None = None, indent: int | None = None) -> str:
    """``obj`` as a JSON string (NaN and infinity are refused, not written).

    >>> from crmcore.model import Money
    >>> to_json(Money("1", "EUR"))
    '{"amount": "1", "currency": "EUR"}'
    """
    return json.dumps(to_dict(obj, conv=conv), allow_nan=False, indent=indent)


def from_json(cls: type[T], text: str | bytes, *, conv: cattrs.Converter | None = None) -> T:
    """Read ``cls`` from a JSON string, validating everything (see :func:`from_dict`).

    >>> from crmcore.model import Money
    >>> from_json(Money, "{not json")
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'text' is not valid JSON for Money: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)
    """
    what = cls.__name__ if isinstance(cls, type) else show(cls)  # a bad 'cls': from_dict names it
    return from_dict(cls, _loads(text, what), conv=conv)


def _loads(text: object, what: str) -> Any:
    """``text`` parsed as JSON; ``what`` (the class or "a model") names what it should hold."""
    if not isinstance(text, str | bytes | bytearray):
        raise ArgumentTypeError(f"'text' must be a JSON string: {show(text)}")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValidationError(f"'text' is not valid JSON for {what}: {e}") from None


def load_model(text: str | bytes, *, conv: cattrs.Converter | None = None) -> Any:
    """Read any fitted model from JSON, as the class its ``"type"`` names.

    A file without a type (crmcore 0.1) cannot say what it holds: read it with
    :func:`from_json` and the class instead.

    >>> from crmcore.valuation import BGNBDParams, MBGNBDModel
    >>> m = MBGNBDModel(BGNBDParams(0.5, 5.0, 0.8, 2.5))
    >>> type(load_model(to_json(m))).__name__
    'MBGNBDModel'
    >>> load_model('{"format": 3, "type": "bgnbd"}')
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'format' 3 is newer than this crmcore reads (2): upgrade crmcore to read this model
    """
    data = _loads(text, "a model")
    if not isinstance(data, Mapping):
        raise ArgumentTypeError(f"'text' must hold a JSON object (a model): {show(data)}")
    kind = _model_type_of(data, "model")
    if kind is None:
        raise ValidationError(
            "'text' names no model 'type' (a crmcore 0.1 file):"
            " read it with from_json and the model's class"
        )
    return from_dict(_model_types()[kind], data, conv=conv)
