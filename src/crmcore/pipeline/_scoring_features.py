"""The factors of deal scoring: what a deal looks like at a moment, as one level per factor.

A *moment* is an opportunity at a time while it is open: its stage event in
force then (which gives the stage, the path so far, the owner and the
amount of that time), its age (days since creation) and its time in stage.
Scoring takes one moment per open deal at ``as_of``; training takes, for
every stay of a closed deal in an open stage, one moment at the start of
each time-in-stage band the stay reached (0, 7, 14, 30, ... days into it):
"a deal in this stage for at least this long" -- the moments an open deal
can be scored at.

Every factor maps a moment to one *level* (an index into its labels):

* ``stage``: the open stage (the funnel's open stage names);
* ``path``: how the deal got there: direct, skipped a stage, went back,
  reopened, or a combination (``PATHS``);
* ``age`` / ``time_in_stage``: day bands (``DAY_EDGES``);
* ``amount`` and number fields: bands at the training quintiles (edges
  rounded to two significant digits), plus ``(missing)``;
* ``owner``, ``product`` and label fields: each value seen in at least
  ``min_count`` training deals (the ``MAX_LABELS`` most frequent ones),
  ``(other)`` for the rest (and for values not seen in training),
  ``(missing)`` for no value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.arrays import FloatArray, IntArray
from crmcore.errors import ValidationError
from crmcore.pipeline._scoring_data import DealFields
from crmcore.pipeline.history import FunnelHistory

__all__ = [
    "DAY_EDGES",
    "MISSING",
    "OTHER",
    "PATHS",
    "Moments",
    "Spec",
    "deal_moments",
    "encode",
    "make_spec",
    "training_moments",
]

DAY_EDGES = (7.0, 14.0, 30.0, 60.0, 90.0, 180.0, 365.0)
MISSING = "(missing)"
OTHER = "(other)"
PATHS = (
    "direct",
    "skipped",
    "went back",
    "skipped+went back",
    "reopened",
    "skipped+reopened",
    "went back+reopened",
    "skipped+went back+reopened",
)
MAX_LABELS = 100  # the most frequent labels of a factor that get their own level
_DAY = np.timedelta64(86_400_000_000, "us")
_QUANTILES = (0.2, 0.4, 0.6, 0.8)
KINDS = ("stage", "path", "days", "band", "label")


@attrs.frozen
class Spec:
    """One factor: its name, kind (see ``KINDS``), level labels and band edges."""

    name: str
    kind: str
    levels: tuple[str, ...]
    edges: tuple[float, ...] = ()


@attrs.frozen(eq=False)
class Moments:
    """Open deals at moments: deal row in the history, event in force, age and time in stage
    (days); ``current``: the moments are ``as_of`` (amount and owner are then the deal's values
    at ``as_of``, edits after its last move included), else those of the event in force."""

    opp: IntArray
    event: IntArray
    age: FloatArray
    tis: FloatArray
    current: bool = False


def _ends(fh: FunnelHistory) -> IntArray:
    n = len(fh.ev_opp)
    out: IntArray = (
        np.flatnonzero(np.append(fh.ev_opp[1:] != fh.ev_opp[:-1], True))
        if n
        else (np.zeros(0, dtype=np.int64))
    )
    return out


def deal_moments(fh: FunnelHistory, rows: IntArray) -> Moments:
    """The moment ``as_of`` of the deals ``rows`` of ``fh`` (their last event is in force)."""
    ends = _ends(fh)
    cut = np.full(len(rows), fh.as_of)
    return Moments(
        rows,
        ends[rows],
        (cut - fh.created[rows]) / _DAY,
        (cut - fh.entered[rows]) / _DAY,
        current=True,
    )


def training_moments(fh: FunnelHistory) -> tuple[Moments, npt.NDArray[np.bool_]]:
    """Moments of the closed deals of ``fh`` (see the module docstring) and whether each was won."""
    closed = ~fh.is_open
    open_ev = fh.stage_kind[fh.ev_stage] == 0
    sel = np.flatnonzero(open_ev & closed[fh.ev_opp] & ~np.isnat(fh.ev_exit))
    opp = fh.ev_opp[sel]
    stay = (fh.ev_exit[sel] - fh.ev_at[sel]) / _DAY
    entry_age = (fh.ev_at[sel] - fh.created[opp]) / _DAY
    parts: list[tuple[IntArray, FloatArray, float]] = []
    for low in (0.0, *DAY_EDGES):
        m = stay > low
        parts.append((np.flatnonzero(m), entry_age[m] + low, low))
    idx = np.concatenate([p[0] for p in parts])
    age = np.concatenate([p[1] for p in parts])
    tis = np.concatenate([np.full(len(p[0]), p[2]) for p in parts])
    moments = Moments(opp[idx], sel[idx], age, tis)
    return moments, fh.is_won[moments.opp]


def path_codes(fh: FunnelHistory) -> IntArray:
    """Per event: the path so far as a code into ``PATHS`` (bits: 1 skipped, 2 went back, 4 reopened)."""
    n = len(fh.ev_opp)
    if not n:
        return np.zeros(0, dtype=np.int64)
    kind_to = fh.stage_kind[fh.ev_stage]
    frm = fh.ev_from
    has_from = frm >= 0
    kind_from = np.where(has_from, fh.stage_kind[np.maximum(frm, 0)], -1)
    rank_to = fh.stage_rank[fh.ev_stage]
    rank_from = np.where(has_from, fh.stage_rank[np.maximum(frm, 0)], 0)
    both_open = (kind_to == 0) & (kind_from == 0)
    flags = (
        (both_open & (rank_to > rank_from + 1)).astype(np.int64)
        + 2 * (both_open & (rank_to < rank_from))
        + 4 * ((kind_from == 2) & (kind_to == 0))
    )
    starts = np.flatnonzero(np.append(True, fh.ev_opp[1:] != fh.ev_opp[:-1]))
    out = np.zeros(n, dtype=np.int64)
    for bit in (1, 2, 4):  # cumulative "ever" per opportunity: a running count above its start
        c = np.cumsum((flags & bit) > 0)
        before = (c[starts] - ((flags[starts] & bit) > 0))[fh.ev_opp]
        out |= np.where(c - before > 0, bit, 0)
    return out


def _round2(x: float) -> float:
    if x <= 0 or not math.isfinite(x):
        return float(x)
    digits = 1 - math.floor(math.log10(x))
    return float(round(x, digits))


def _fmt(x: float) -> str:
    a = abs(x)
    for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}"


def band_levels(edges: Sequence[float], unit: str = "") -> tuple[str, ...]:
    """Labels of the bands cut by ``edges``: ``<e0``, ``e0-e1``, ..., ``eN+``.

    >>> band_levels([7.0, 14.0], "d")
    ('<7d', '7-14d', '14d+')
    """
    if not edges:
        return ("all",)
    e = [_fmt(x) for x in edges]
    mid = [f"{a}-{b}{unit}" for a, b in itertools.pairwise(e)]
    return (f"<{e[0]}{unit}", *mid, f"{e[-1]}{unit}+")


def _bands(values: FloatArray, edges: tuple[float, ...], with_missing: bool) -> IntArray:
    out: IntArray = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="right")
    if with_missing:
        out[np.isnan(values)] = len(edges) + 1
    return out.astype(np.int64, copy=False)


def _raw(
    name: str,
    fh: FunnelHistory,
    m: Moments,
    fields: DealFields | None,
    field_rows: IntArray | None,
    paths: IntArray | None,
) -> tuple[str, Any, Any]:
    """A factor's raw values at the moments: ("number", values, None) or ("label", codes, labels)."""
    if name == "amount":
        return "number", fh.amount[m.opp] if m.current else fh.ev_amount[m.event], None
    if name == "owner":
        return "label", fh.owner[m.opp] if m.current else fh.ev_owner[m.event], fh.owner_ids
    if name == "product":
        return "label", fh.product[m.opp], fh.products
    if name == "age":
        return "days", m.age, None
    if name == "time_in_stage":
        return "days", m.tis, None
    if name == "stage":
        return "stage", fh.ev_stage[m.event], None
    if name == "path":
        assert paths is not None
        return "path", paths[m.event], None
    assert fields is not None and field_rows is not None
    kind, values, labels = fields.column(name)
    rows = field_rows[m.opp]
    has = rows >= 0
    if kind == "number":
        return "number", np.where(has, values[np.maximum(rows, 0)], np.nan), None
    return "label", np.where(has, values[np.maximum(rows, 0)], -1), labels


def _label_texts(labels: npt.NDArray[Any]) -> list[str | None]:
    """Text of each label (None for the missing label "" of an owner column)."""
    return [None if (isinstance(x, str) and x == "") else str(x) for x in labels.tolist()]


def make_spec(
    name: str,
    fh: FunnelHistory,
    m: Moments,
    *,
    fields: DealFields | None,
    field_rows: IntArray | None,
    paths: IntArray | None,
    min_count: int,
) -> Spec:
    """The factor ``name`` learnt from the training moments ``m`` (bands, kept labels)."""
    kind, v, labels = _raw(name, fh, m, fields, field_rows, paths)
    if kind == "stage":
        open_idx = np.flatnonzero(fh.stage_kind == 0)
        return Spec(name, "stage", tuple(fh.funnel.stage_names[i] for i in open_idx))
    if kind == "path":
        return Spec(name, "path", PATHS)
    if kind == "days":
        return Spec(name, "days", band_levels(DAY_EDGES, "d"), DAY_EDGES)
    if kind == "number":
        finite = v[~np.isnan(v)]
        edges: tuple[float, ...] = ()
        if len(finite):
            lo = float(finite.min())
            q = np.quantile(finite, _QUANTILES)
            edges = tuple(e for e in sorted({_round2(float(x)) for x in q}) if e > lo)
        return Spec(name, "band", (*band_levels(edges), MISSING), edges)
    texts = _label_texts(labels)
    has = v >= 0
    pairs = np.unique(m.opp[has] * np.int64(len(texts) + 1) + v[has])
    per_label = np.bincount(pairs % (len(texts) + 1), minlength=len(texts) + 1)[: len(texts)]
    ranked = sorted(
        (-c, t)
        for t, c in zip(texts, per_label.tolist(), strict=True)
        if t is not None and c >= min_count
    )
    kept = sorted(t for _, t in ranked[:MAX_LABELS])
    return Spec(name, "label", (*kept, OTHER, MISSING))


def encode(
    spec: Spec,
    fh: FunnelHistory,
    m: Moments,
    *,
    fields: DealFields | None,
    field_rows: IntArray | None,
    paths: IntArray | None,
) -> IntArray:
    """The level of factor ``spec`` at each moment (an index into ``spec.levels``)."""
    kind, v, labels = _raw(spec.name, fh, m, fields, field_rows, paths)
    if spec.kind == "stage":
        index = {s: i for i, s in enumerate(spec.levels)}
        lut = np.full(len(fh.stage_kind), -1, dtype=np.int64)
        for i, s in enumerate(fh.funnel.stage_names):
            if fh.stage_kind[i] == 0:
                if s not in index:
                    raise ValidationError(
                        f"open stage {s!r} of funnel {fh.funnel.name!r} is not one the model "
                        f"was fitted on ({list(spec.levels)}): fit the model on this funnel"
                    )
                lut[i] = index[s]
        out: IntArray = lut[v]
        return out
    if spec.kind == "path":
        return np.asarray(v, dtype=np.int64)
    if spec.kind == "band" and kind != "number":
        raise ValidationError(
            f"factor {spec.name!r} was fitted on numbers: the field must hold numbers, not labels"
        )
    if spec.kind in ("days", "band"):
        return _bands(np.asarray(v, dtype=np.float64), spec.edges, spec.kind == "band")
    if kind != "label":
        raise ValidationError(
            f"factor {spec.name!r} was fitted on labels: the field must hold labels, not numbers"
        )
    index = {s: i for i, s in enumerate(spec.levels[:-2])}
    other, missing = len(spec.levels) - 2, len(spec.levels) - 1
    lut = np.array(
        [missing if t is None else index.get(t, other) for t in _label_texts(labels)] + [missing],
        dtype=np.int64,
    )
    out = lut[v]  # code -1 picks the appended "missing"
    return out
