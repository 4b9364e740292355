"""Tiers with service levels: rules as data, evaluated over all customers at once.

Rules are the expressions of :mod:`crmcore.segmentation.rules` (a condition
``(field, op, value)`` or ``all`` / ``any`` / ``not`` of rules, plain JSON).
Their encoding is part of every converter :func:`crmcore.serialization.make_converter`
builds, so a :class:`TierSet` round-trips through :func:`crmcore.serialization.to_json`.

A :class:`TierSet` is an ordered list of tiers, best first; each customer
gets the *first* tier whose rule matches (a tier without a rule matches
everyone: the catch-all). Evaluation turns every condition into one numpy
comparison over the whole column, so 10 million customers take a fraction
of a second. Missing values follow the one NaN policy of :mod:`crmcore.arrays`
(a customer is missing when a numeric column used by a rule is NaN): with
``nan_policy="raise"`` (default) it is an error naming the column and row;
``"omit"`` assigns the other customers only; ``"propagate"`` leaves a missing
customer without a tier (code -1) whatever the rules say.

>>> platinum = Tier("platinum", any_of(cond("assets", ">", 100_000), cond("trades_per_year", ">=", 12)),
...                 ServiceLevel(dedicated_rep=True, skip_queue=True, response_time_hours=1))
>>> ts = TierSet("brokerage", (platinum, Tier("standard")))
>>> ts.evaluate({"assets": [250_000, 5_000, 900], "trades_per_year": [1, 20, 2]}).labels().tolist()
['platinum', 'platinum', 'standard']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._frames import Columns, Tabular, decode
from crmcore._results import array
from crmcore.arrays import apply_nan_policy, check_same_length
from crmcore.errors import ConfigurationError, ValidationError
from crmcore.model._fields import as_tuple, instance, name_text, tuple_of
from crmcore.options import as_number, expect_instance
from crmcore.repositories._writes import check_document_key
from crmcore.repositories.protocols import DocumentRepository
from crmcore.segmentation.rules import (
    EXPR_TYPES,
    EXPR_WHAT,
    AllOf,
    AnyOf,
    Condition,
    Expr,
    Not,
    RuleEvaluator,
    any_of,  # noqa: F401  (used by the doctests of this module)
    cond,  # noqa: F401  (used by the doctests of this module)
    expr_fields,
    expr_from_dict,
    expr_to_dict,
)

__all__ = [
    "ServiceLevel",
    "Tier",
    "TierAssignment",
    "TierSet",
    "load_tier_set",
    "save_tier_set",
    "tier_set_from_dict",
    "tier_set_to_dict",
]


_CE = ConfigurationError


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


@attrs.frozen
class ServiceLevel:
    """How a tier is served: a dedicated rep, skipping the queue, a response-time promise.

    ``response_time_hours`` is a finite number of hours > 0, or None (no promise).

    >>> ServiceLevel(response_time_hours=-1)
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: 'response_time_hours' must be > 0: -1
    """

    dedicated_rep: bool = attrs.field(default=False, validator=instance(bool, "a bool", error=_CE))
    skip_queue: bool = attrs.field(default=False, validator=instance(bool, "a bool", error=_CE))
    response_time_hours: float | None = None
    description: str = attrs.field(default="", validator=instance(str, "a string", error=_CE))

    def __attrs_post_init__(self) -> None:
        h = self.response_time_hours
        if h is None:
            return
        if not _is_number(h):
            raise ConfigurationError(
                f"'response_time_hours' must be a number of hours or None: {h!r}"
            )
        try:
            as_number(h, name="response_time_hours", low=0, inclusive=(False, True))
        except ValidationError as e:
            raise ConfigurationError(str(e)) from None


@attrs.frozen
class Tier:
    """A named tier, its rule (None = everyone) and its service level.

    >>> Tier("standard").service.dedicated_rep
    False
    >>> Tier("gold", rule="assets > 1")
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: 'rule' must be a rule expression (cond, all_of, any_of, not_) or None: 'assets > 1'
    """

    name: str = attrs.field(validator=name_text(error=_CE))
    rule: Expr | None = attrs.field(
        default=None,
        validator=instance(EXPR_TYPES, EXPR_WHAT, optional=True, error=_CE),
    )
    service: ServiceLevel = attrs.field(
        factory=ServiceLevel, validator=instance(ServiceLevel, "a ServiceLevel", error=_CE)
    )


@attrs.frozen(eq=False)
class TierAssignment(Tabular):
    """Tier code per customer (index into ``tiers``, best first; -1 = no tier matched), and the
    customers' ids when the caller gave them (row i is ``customer_ids[i]``; its frames
    start with a ``customer_id`` column).

    >>> TierAssignment(np.array([1, -1], dtype=np.int16), ("gold", "silver")).labels().tolist()
    ['silver', '']
    """

    codes: npt.NDArray[np.int16] = attrs.field(validator=array("i", lo=-1))
    tiers: tuple[str, ...] = attrs.field(validator=tuple_of(str, "a tier name"))
    customer_ids: npt.NDArray[Any] | None = attrs.field(
        default=None, validator=array("O", length="codes", optional=True)
    )

    def labels(self) -> npt.NDArray[np.str_]:
        """Tier name per customer ("" where none matched)."""
        return np.array([*self.tiers, ""])[self.codes]

    def counts(self) -> dict[str, int]:
        """Customers per tier, in tier order (unmatched under ``""`` when any).

        >>> TierSet("t", (Tier("big", cond("x", ">", 1)),)).evaluate({"x": [5, 0]}).counts()
        {'big': 1, '': 1}
        """
        c = np.bincount(self.codes.astype(np.int64) + 1, minlength=len(self.tiers) + 1)
        out = {nm: int(k) for nm, k in zip(self.tiers, c[1:], strict=True)}
        if c[0]:
            out[""] = int(c[0])
        return out

    def _columns(self) -> Columns:
        tier = decode(self.tiers, self.codes)
        if self.customer_ids is None:
            return {"tier": tier}
        return {"customer_id": self.customer_ids, "tier": tier}


@attrs.frozen
class TierSet:
    """Ordered tiers (best first); the first matching tier wins.

    ``fields``, when given, is the vocabulary rules may use: an unknown field
    is a :class:`~crmcore.errors.ConfigurationError` naming its path.

    >>> TierSet("t", (Tier("vip", cond("asets", ">", 1)),), fields=("assets",))
    Traceback (most recent call last):
    crmcore.errors.ConfigurationError: tier set 't': $.tiers[0].rule.field: unknown field 'asets'; known: ['assets']
    """

    name: str = attrs.field(validator=name_text(error=_CE))
    tiers: tuple[Tier, ...] = attrs.field(
        converter=as_tuple, validator=tuple_of(Tier, "a Tier", error=_CE)
    )
    fields: tuple[str, ...] = attrs.field(
        default=(),
        converter=as_tuple,
        validator=tuple_of(str, "a field name", error=_CE),
    )

    def __attrs_post_init__(self) -> None:
        names = [t.name for t in self.tiers]
        if len(set(names)) != len(names):
            first: dict[str, int] = {}
            for i, nm in enumerate(names):
                if nm in first:
                    raise ConfigurationError(
                        f"tier set {self.name!r}: 'tiers' must have unique names: "
                        f"'tiers[{i}]' repeats {nm!r} of 'tiers[{first[nm]}]'"
                    )
                first[nm] = i
        if self.fields:
            for field, path in self.field_paths():
                if field not in self.fields:
                    raise ConfigurationError(
                        f"tier set {self.name!r}: {path}: unknown field {field!r}; "
                        f"known: {sorted(self.fields)}"
                    )

    def field_paths(self) -> list[tuple[str, str]]:
        """Every ``(field, path)`` the rules use, e.g. ``('assets', '$.tiers[0].rule.any[0].field')``."""
        out: list[tuple[str, str]] = []
        for i, t in enumerate(self.tiers):
            if t.rule is not None:
                out += expr_fields(t.rule, f"$.tiers[{i}].rule")
        return out

    def service(self, tier: str) -> ServiceLevel:
        """The service level of a tier by name."""
        for t in self.tiers:
            if t.name == tier:
                return t.service
        raise ValidationError(f"no tier {tier!r} in tier set {self.name!r}")

    def evaluate(
        self, columns: Mapping[str, npt.ArrayLike], *, nan_policy: str = "raise"
    ) -> TierAssignment:
        """Assign every customer its first matching tier (columns are aligned per customer).

        >>> TierSet("t", (Tier("vip", cond("assets", ">", 1)),)).evaluate({"asets": [1]})
        Traceback (most recent call last):
        crmcore.errors.ValidationError: tier set 't': $.tiers[0].rule.field: no column 'assets' in the data; columns: ['asets']
        """
        cols = {k: np.asarray(c) for k, c in columns.items()}
        for k, c in cols.items():
            if c.ndim != 1:
                raise ValidationError(
                    f"tier set {self.name!r}: column {k!r} must be 1-dimensional: {c.shape}"
                )
        n = check_same_length(**cols) if cols else 0
        used = []
        for field, path in self.field_paths():
            if field not in cols:
                raise ValidationError(
                    f"tier set {self.name!r}: {path}: no column {field!r} in the data; "
                    f"columns: {sorted(cols)}"
                )
            used.append(field)
        floats = {f: cols[f] for f in dict.fromkeys(used) if cols[f].dtype.kind == "f"}
        split = apply_nan_policy(floats, policy=nan_policy, allow_inf=True) if floats else None
        if split is not None and split.dropped:
            cols = {k: c[split.mask] for k, c in cols.items()}
            n = int(split.mask.sum())
        # NaN left only under propagate: those rows are blanked below, whatever the rules say
        ev = RuleEvaluator(cols, n, "propagate", f"tier set {self.name!r}")
        codes = np.full(n, -1, dtype=np.int16)
        # worst tier first, so that a better tier overwrites: the first match in order wins
        for i in range(len(self.tiers) - 1, -1, -1):
            rule = self.tiers[i].rule
            if rule is None:
                codes.fill(i)
            else:
                np.copyto(codes, np.int16(i), where=ev.mask(rule))
        if split is not None and split.has_missing:
            codes[~split.complete] = -1
        return TierAssignment(codes, tuple(t.name for t in self.tiers))


# -- persistence ---------------------------------------------------------------------------------
def tier_set_to_dict(ts: TierSet) -> dict[str, Any]:
    """The JSON-safe form of a tier set (what is stored).

    >>> tier_set_to_dict(TierSet("t", (Tier("all"),)))["tiers"][0]["rule"] is None
    True
    """
    expect_instance(ts, TierSet, name="ts")
    from crmcore.serialization import to_dict

    return dict(to_dict(ts))


def tier_set_from_dict(data: Any) -> TierSet:
    """Read a tier set, validating every part (errors name the path).

    >>> tier_set_from_dict({"name": "t", "tiers": [{"name": "x", "rule": {"field": "a", "op": "~", "value": 1}}]})
    Traceback (most recent call last):
    crmcore.errors.ValidationError: cannot read TierSet: $.tiers[0].rule: $: condition on 'a': 'op' must be one of ('==', '!=', '<', '<=', '>', '>=', 'in', 'not_in'): '~'
    """
    from crmcore.serialization import from_dict

    return from_dict(TierSet, data)


def _documents(value: object) -> DocumentRepository:
    # a runtime-checkable protocol is a valid isinstance() target; mypy wants a concrete class
    what = "a document repository"
    return expect_instance(value, DocumentRepository, name="documents", what=what)  # type: ignore[type-abstract]


def save_tier_set(
    documents: DocumentRepository, ts: TierSet, *, expected_version: int | None
) -> int:
    """Store a new version of the tier set under ``("tier_set", ts.name)``; returns the version.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> uow = MemoryUnitOfWork()
    >>> with uow:
    ...     save_tier_set(uow.documents, TierSet("vip", (Tier("all"),)), expected_version=None)
    ...     uow.commit()
    1
    >>> with uow:
    ...     load_tier_set(uow.documents, "vip")[1]
    1
    """
    _documents(documents)
    expect_instance(ts, TierSet, name="ts")
    return documents.put(
        "tier_set", ts.name, tier_set_to_dict(ts), expected_version=expected_version
    )


def load_tier_set(
    documents: DocumentRepository, name: str, *, version: int | None = None
) -> tuple[TierSet, int]:
    """The stored tier set (latest or the given version) and its version.

    See :func:`save_tier_set` for an example; a missing name raises NotFoundError.
    """
    _documents(documents)
    check_document_key("tier_set", name, names=("kind", "name"))
    data, v = documents.get("tier_set", name, version=version)
    return tier_set_from_dict(data), v


def configure_rule_expressions(conv: Any) -> None:
    """Install the rule-expression form on ``conv`` (called by :func:`crmcore.serialization.configure_converter`)."""
    is_expr = lambda t: t == Expr or t == (Expr | None) or t in (Condition, AllOf, AnyOf, Not)  # noqa: E731
    conv.register_unstructure_hook_func(is_expr, lambda e: None if e is None else expr_to_dict(e))
    conv.register_structure_hook_func(
        is_expr, lambda d, _t: None if d is None else expr_from_dict(d)
    )


attrs.resolve_types(Tier, globals(), locals())
attrs.resolve_types(TierSet, globals(), locals())
