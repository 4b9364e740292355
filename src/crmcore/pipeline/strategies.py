"""Hypothesis strategies for funnels, for property-based tests (needs the ``testing`` extra).

Not imported by :mod:`crmcore.pipeline`; import it from your tests.

>>> from hypothesis import strategies as st
>>> isinstance(funnels(), st.SearchStrategy)
True
"""

from __future__ import annotations

from hypothesis import strategies as st

from crmcore.pipeline.funnel import FollowUp, Funnel, RequireReason, Stage

__all__ = ["funnels"]


@st.composite
def funnels(draw: st.DrawFn, *, max_open: int = 5) -> Funnel:
    """Random valid funnels: a chain of open stages to a won stage, extra edges, maybe lost and follow-up.

    >>> funnels(max_open=2) is not None
    True
    """
    n = draw(st.integers(1, max_open))
    names = [f"s{i}" for i in range(n)]
    probs = draw(st.lists(st.floats(0, 1), min_size=n, max_size=n))
    stages = [Stage(nm, probability=p) for nm, p in zip(names, probs, strict=True)]
    n_won = draw(st.integers(1, 2))
    stages += [Stage(f"won{i}", kind="won") for i in range(n_won)]
    has_lost = draw(st.booleans())
    if has_lost:
        guards = draw(st.sampled_from([(), (RequireReason(),)]))
        stages.append(Stage("lost", kind="lost", guards=guards))
    edges = {(names[i], names[i + 1]) for i in range(n - 1)}
    edges.add((names[-1], "won0"))
    for i in range(1, n_won):
        edges.add((draw(st.sampled_from(names)), f"won{i}"))
    extra = draw(st.lists(st.tuples(st.sampled_from(names), st.sampled_from(names)), max_size=4))
    edges |= {(a, b) for a, b in extra if a != b}
    if has_lost:
        edges |= {(nm, "lost") for nm in names if nm == names[0] or draw(st.booleans())}
    follow = FollowUp(stage=names[0]) if draw(st.booleans()) else None
    return Funnel(
        name=draw(st.sampled_from(["f", "g"])),
        stages=tuple(stages),
        transitions=tuple(sorted(edges)),
        follow_up=follow,
    )
