"""Each deal's actual path through a funnel of any shape: what it entered, what it advanced from.

The one place where the pipeline reports read a deal's path (conversion, win
probabilities, cohorts, plans and scorecards); every funnel graph is allowed
(several entry stages, skips, back-moves, reopened deals). Definitions, over
the events before ``as_of``:

* a deal **reached** stage ``s`` when one of its events entered ``s`` (its
  creation in ``s``, a move or a reopen into ``s``);
* a move is **forward** when it leaves an open stage for a won stage, or for
  an open stage listed later in the funnel (stages are listed in funnel
  order); a move to a stage listed earlier is a back-move, a move to a lost
  stage a loss, a move out of a lost stage a reopen;
* a deal **advanced from** ``s`` when it left ``s`` by a forward move at
  least once: once per deal, however often it went back and forth;
* an **advance** (one event, for plans and scorecards) is a forward move
  into a stage the deal had not entered before: going back and entering a
  stage again is not another advance.

>>> from crmcore.pipeline.presets import TOP_IN_BEST
>>> from crmcore.tables import StageHistory
>>> h = StageHistory.from_arrays(
...     opportunity_ids=["a"] * 5, sequence=[0, 1, 2, 3, 4],
...     from_stage=[None, "TOP", "IN", "TOP", "IN"], to_stage=["TOP", "IN", "TOP", "IN", "BEST"],
...     at=["2025-01-0%d" % d for d in range(1, 6)])
>>> fh = FunnelHistory.build(h, TOP_IN_BEST)
>>> forward_moves(fh).tolist(), advance_events(fh).tolist()
([False, True, False, True, True], [False, True, False, False, True])
>>> reached(fh)[0].tolist(), advanced_from(fh)[0].tolist()
([True, True, True, False, False], [True, True, False, False, False])
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from crmcore.pipeline.history import FunnelHistory

__all__ = ["advance_events", "advanced_from", "forward_moves", "open_positions", "reached"]

BoolArray = npt.NDArray[np.bool_]

_CACHE: weakref.WeakKeyDictionary[FunnelHistory, dict[str, BoolArray]] = weakref.WeakKeyDictionary()
"""Per FunnelHistory (immutable), the path tables already computed (read-only arrays): several
reports of one history read the same paths."""


def _cached(
    name: str, compute: Callable[[FunnelHistory], BoolArray]
) -> Callable[[FunnelHistory], BoolArray]:
    def get(fh: FunnelHistory) -> BoolArray:
        mine = _CACHE.setdefault(fh, {})
        out = mine.get(name)
        if out is None:
            out = compute(fh)
            out.flags.writeable = False
            mine[name] = out
        return out

    get.__name__ = compute.__name__
    get.__doc__ = compute.__doc__
    return get


def _forward_table(fh: FunnelHistory) -> BoolArray:
    """``[from + 1, to]``: a move from stage ``from`` (-1: creation) to ``to`` is forward."""
    kind, rank = fh.stage_kind, fh.stage_rank
    n_st = len(kind)
    table = np.zeros((n_st + 1, n_st), dtype=bool)
    src_open = kind == 0
    to_won = kind == 1
    to_open = kind == 0
    table[1:] = src_open[:, None] & (
        to_won[None, :] | (to_open[None, :] & (rank[None, :] > rank[:, None]))
    )
    return table


def _forward_moves(fh: FunnelHistory) -> BoolArray:
    """Per event: a forward move (see the module docstring); creation events are not moves."""
    n_st = len(fh.stage_kind)
    out: BoolArray = _forward_table(fh).ravel()[(fh.ev_from + 1) * n_st + fh.ev_stage]
    return out


def _advance_events(fh: FunnelHistory) -> BoolArray:
    """Per event: an advance, a forward move into a stage the deal had not entered before."""
    n_st = len(fh.stage_kind)
    key = fh.ev_opp * n_st + fh.ev_stage
    visits = np.bincount(key, minlength=fh.n_opportunities * n_st)
    first = visits[key] == 1  # most (deal, stage) pairs are entered once
    again = np.flatnonzero(~first)
    if len(again):  # events are ordered by deal, then sequence: the first index is the first entry
        first[again[np.unique(key[again], return_index=True)[1]]] = True
    out: BoolArray = forward_moves(fh) & first
    return out


def _reached(fh: FunnelHistory) -> BoolArray:
    """``[deal, stage]``: the deal entered the stage (any kind of stage) before ``as_of``."""
    out = np.zeros((fh.n_opportunities, len(fh.stage_kind)), dtype=bool)
    out[fh.ev_opp, fh.ev_stage] = True
    return out


def _advanced_from(fh: FunnelHistory) -> BoolArray:
    """``[deal, stage]``: the deal left the (open) stage by a forward move at least once."""
    out = np.zeros((fh.n_opportunities, len(fh.stage_kind)), dtype=bool)
    fwd = forward_moves(fh)
    out[fh.ev_opp[fwd], fh.ev_from[fwd]] = True
    return out


forward_moves = _cached("forward", _forward_moves)
advance_events = _cached("advances", _advance_events)
reached = _cached("reached", _reached)
advanced_from = _cached("advanced_from", _advanced_from)


def open_positions(fh: FunnelHistory) -> tuple[npt.NDArray[np.int64], tuple[str, ...]]:
    """The indices of the open stages (funnel order) and their names.

    >>> from crmcore.pipeline.presets import B2B
    >>> from crmcore.tables import StageHistory
    >>> h = StageHistory.from_arrays(opportunity_ids=["a"], sequence=[0], from_stage=[None],
    ...                              to_stage=["lead"], at=["2025-01-01"])
    >>> open_positions(FunnelHistory.build(h, B2B))[1]
    ('lead', 'qualified', 'proposal', 'negotiation')
    """
    idx = np.flatnonzero(fh.stage_kind == 0).astype(np.int64)
    return idx, tuple(fh.funnel.stage_names[i] for i in idx)
