"""The converter hooks of the rule records: a ``"type"`` tag on every rule, paths in errors.

Installed by :func:`crmcore.serialization.configure_converter` on every
converter it configures (never at import time).

>>> from crmcore.serialization import to_dict
>>> from crmcore.anomaly.rules import Dormant
>>> to_dict(Dormant(name="d"))["type"]
'dormant'
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

import attrs
import cattrs
from cattrs.errors import ClassValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn

from crmcore.anomaly.rules import TAGS, Rule, RuleSet, Scope, _check_top_level
from crmcore.errors import ValidationError

__all__: list[str] = []


def configure_rules(conv: cattrs.Converter) -> None:
    """Install the rule forms on ``conv`` (called by :func:`crmcore.serialization.configure_converter`)."""
    scope_un = make_dict_unstructure_fn(Scope, conv)
    conv.register_unstructure_hook(Scope, lambda s: _plain(scope_un(s)))
    register_rule_family(
        conv, tags=TAGS, member=Rule, container=RuleSet, what="a rule object", negated="not"
    )


def register_rule_family(
    conv: cattrs.Converter,
    *,
    tags: Mapping[type, str],
    member: Any,
    container: type,
    what: str,
    negated: str | None = None,
) -> None:
    """The JSON form of a family of rules as data, on ``conv``: each rule class of ``tags``
    tagged with its ``"type"`` (unknown keys refused, every error with its path), ``member``
    (the union of the classes) read by its tag, and the ``container`` (a named set with a
    ``rules`` list) checked for top-level names as :func:`~crmcore.anomaly.rules._check_top_level`
    does (``negated``: the tag of a rule that negates another). The anomaly rules and the
    reminder rules (:mod:`crmcore.relationship`) are written this way."""
    by_tag = {tag: cls for cls, tag in tags.items()}
    for cls, tag in tags.items():
        un: Any = make_dict_unstructure_fn(cls, conv)
        conv.register_unstructure_hook(cls, _tagged_unstructure(un, tag))
        st: Any = make_dict_structure_fn(
            cls, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
        )
        conv.register_structure_hook(cls, _tagged_structure(_every_problem(conv, st), tag))

    def structure_member(value: Any, _t: Any) -> Any:
        if not isinstance(value, dict):
            raise ValidationError(f"expected {what}: {value!r}")
        tag = value.get("type")
        if tag not in by_tag:
            raise ValidationError(f"'type' must be one of {sorted(by_tag)}: {tag!r}")
        return conv.structure(value, by_tag[tag])

    read_set: Any = _every_problem(
        conv,
        make_dict_structure_fn(
            container, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
        ),
    )
    write_set: Any = make_dict_unstructure_fn(container, conv)

    def structure_container(value: Any, cls: Any) -> Any:
        rules = value.get("rules") if isinstance(value, dict) else None
        names: ValidationError | None = None
        if isinstance(rules, list) and all(isinstance(r, dict) for r in rules):
            try:
                _check_top_level(
                    [
                        (r.get("name", ""), negated is not None and r.get("type") == negated)
                        for r in rules
                    ]
                )
            except ValidationError as e:
                names = e
        try:
            out = read_set(value, cls)
        except Exception as e:
            if names is None:
                raise
            # the rules' own problems and the set's name problems, reported together
            from crmcore.serialization import _flatten

            said = {p.split(":", 1)[0] for p in names.problems}
            own = [
                p
                for p in _flatten(e, "$")
                if p.split(":", 1)[0] not in said and p.removeprefix("$: ") not in names.problems
            ]
            problems = [*own, *names.problems]
            raise ValidationError(
                f"cannot read {cls.__name__}: " + "; ".join(problems), problems=problems
            ) from None
        if names is not None:
            raise names
        return out

    conv.register_structure_hook(container, structure_container)
    conv.register_unstructure_hook(container, lambda r: _plain(write_set(r)))
    conv.register_structure_hook(member, structure_member)
    conv.register_unstructure_hook(member, lambda r: conv.unstructure(r, type(r)))


def _every_problem(conv: cattrs.Converter, fn: Any) -> Any:
    """``fn`` (a generated structure function) reporting every bad field of a record at once.

    cattrs reports the fields whose values cannot be converted and then stops; the record's
    validators run one after the other and the first failure stops them. When reading fails,
    every field not already reported is read and checked alone (its type, converter and
    validator), and all the problems found are raised together.
    """

    def structure(value: Any, cls: Any) -> Any:
        try:
            return fn(value, cls)
        except (ClassValidationError, ValidationError) as first:
            if not isinstance(value, Mapping) or not attrs.has(cls):
                raise
            found: list[Exception] = []
            reported: set[str] = set()
            if isinstance(first, ClassValidationError):
                with_notes, without = first.group_exceptions()
                found += [inner for inner, _ in with_notes] + list(without)
                reported |= {note.name for _, note in with_notes}
            else:
                found.append(first)
            messages = {str(e) for e in found}
            for a in attrs.fields(cls):
                if a.name in reported or a.alias not in value or a.validator is None:
                    continue
                try:
                    v = conv.structure(value[a.alias], a.type)
                    if callable(a.converter):
                        v = a.converter(v)
                    a.validator(SimpleNamespace(), a, v)
                except ValidationError as e:
                    if str(e) not in messages:
                        found.append(e)
                        messages.add(str(e))
                except Exception:  # a check that needs the whole record: left to it
                    continue
            if len(found) <= 1:
                raise
            raise ClassValidationError(f"While structuring {cls.__name__}", found, cls) from None

    return structure


def _tagged_unstructure(fn: Any, tag: str) -> Any:
    def un(obj: Any) -> dict[str, Any]:
        return {"type": tag, **_plain(fn(obj))}

    return un


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    # cattrs passes str-valued enums through its generated functions; JSON wants plain values
    return {
        k: v.value
        if isinstance(v, StrEnum)
        else [x.value if isinstance(x, StrEnum) else x for x in v]
        if isinstance(v, list)
        else v
        for k, v in d.items()
    }


def _tagged_structure(fn: Any, tag: str) -> Any:
    def st(value: Any, cls: Any) -> Any:
        if isinstance(value, dict) and "type" in value:
            if value["type"] != tag:
                raise ValidationError(f"'type' must be {tag!r} here: {value['type']!r}")
            value = {k: v for k, v in value.items() if k != "type"}
        return fn(value, cls)

    return st
