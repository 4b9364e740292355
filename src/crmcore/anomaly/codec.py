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
from typing import Any

import cattrs
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
        conv.register_structure_hook(cls, _tagged_structure(st, tag))

    def structure_member(value: Any, _t: Any) -> Any:
        if not isinstance(value, dict):
            raise ValidationError(f"expected {what}: {value!r}")
        tag = value.get("type")
        if tag not in by_tag:
            raise ValidationError(f"'type' must be one of {sorted(by_tag)}: {tag!r}")
        return conv.structure(value, by_tag[tag])

    read_set: Any = make_dict_structure_fn(
        container, conv, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
    )
    write_set: Any = make_dict_unstructure_fn(container, conv)

    def structure_container(value: Any, cls: Any) -> Any:
        rules = value.get("rules") if isinstance(value, dict) else None
        if isinstance(rules, list) and all(isinstance(r, dict) for r in rules):
            _check_top_level(
                [
                    (r.get("name", ""), negated is not None and r.get("type") == negated)
                    for r in rules
                ]
            )
        return read_set(value, cls)

    conv.register_structure_hook(container, structure_container)
    conv.register_unstructure_hook(container, lambda r: _plain(write_set(r)))
    conv.register_structure_hook(member, structure_member)
    conv.register_unstructure_hook(member, lambda r: conv.unstructure(r, type(r)))


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
