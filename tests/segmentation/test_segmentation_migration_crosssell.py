"""Value tiers, tier migration and co-purchase: hand-computed cases and plain-Python cross-checks."""

from __future__ import annotations

from collections import Counter
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmcore.errors import ValidationError
from crmcore.segmentation import (
    co_purchase,
    decile_groups,
    tier_migration,
    value_tiers,
)

TIERS = ["gold", "silver", "bronze"]


def test_decile_groups_and_value_tiers():
    assert decile_groups(np.arange(10.0)).tolist() == list(range(10, 0, -1))
    assert decile_groups([3.0, 3.0, 3.0]).tolist() == [1, 1, 1]  # ties share the top group
    v = value_tiers(np.arange(20.0))
    assert v.counts() == {"platinum": 2, "gold": 4, "silver": 6, "bronze": 8}
    with pytest.raises(ValidationError, match="'deciles'"):
        value_tiers([1.0], tiers=("a", "b"), deciles=(5, 4))


def test_migration_golden():
    m = tier_migration(
        ["a", "b", "c", "d"],
        ["gold", "silver", "bronze", "silver"],
        ["a", "b", "c", "e"],
        ["silver", "silver", "gold", "bronze"],
        tiers=TIERS,
    )
    assert m.labels == ("gold", "silver", "bronze", "(none)")
    assert m.matrix.tolist() == [
        [0, 1, 0, 0],
        [0, 1, 0, 1],
        [1, 0, 0, 0],
        [0, 0, 1, 0],
    ]
    assert (m.moved_up, m.moved_down, m.stayed, m.left, m.new) == (1, 1, 1, 1, 1)
    assert m.customers("bronze", "gold").tolist() == ["c"]
    assert m.customers("(none)", "bronze").tolist() == ["e"]
    assert m.customers("gold", "gold").tolist() == []
    with pytest.raises(ValidationError, match="unknown tier 'platinum'"):
        m.customers("platinum", "gold")


def test_migration_bad_input():
    with pytest.raises(ValidationError, match="unique"):
        tier_migration(["a", "a"], ["gold", "gold"], [], [], tiers=TIERS)
    with pytest.raises(ValidationError, match="unknown tier 'iron'"):
        tier_migration(["a"], ["iron"], [], [], tiers=TIERS)
    empty = tier_migration([], [], [], [], tiers=TIERS)
    assert int(empty.matrix.sum()) == 0


snapshot = st.dictionaries(st.integers(0, 30), st.sampled_from(TIERS), max_size=20)


@given(snapshot, snapshot)
def test_migration_equals_plain_python(before, after):
    m = tier_migration(
        list(before), list(before.values()), list(after), list(after.values()), tiers=TIERS
    )
    rank = {t: i for i, t in enumerate(TIERS)}
    cells: Counter[tuple[str, str]] = Counter()
    for cid in set(before) | set(after):
        cells[(before.get(cid, "(none)"), after.get(cid, "(none)"))] += 1
    for (b, a), n in cells.items():
        assert len(m.customers(b, a)) == n
    assert int(m.matrix.sum()) == len(set(before) | set(after))
    up = sum(1 for c in set(before) & set(after) if rank[after[c]] < rank[before[c]])
    down = sum(1 for c in set(before) & set(after) if rank[after[c]] > rank[before[c]])
    assert (m.moved_up, m.moved_down) == (up, down)
    assert m.left == len(set(before) - set(after))
    assert m.new == len(set(after) - set(before))


# -- cross-sell ---------------------------------------------------------------------------------
def test_co_purchase_golden():
    """4 customers: a {cd, dvd}, b {cd, dvd}, c {cd}, d {book}."""
    cp = co_purchase(
        ["a", "a", "b", "b", "b", "c", "d"], ["cd", "dvd", "cd", "dvd", "dvd", "cd", "book"]
    )
    assert cp.support("cd", "dvd") == 0.5
    assert cp.confidence("dvd", "cd") == 1.0
    assert cp.confidence("cd", "dvd") == pytest.approx(2 / 3)
    assert cp.lift("cd", "dvd") == pytest.approx(0.5 / (0.75 * 0.5))
    pairs = cp.pairs()
    assert [(p.antecedent, p.consequent) for p in pairs] == [("cd", "dvd"), ("dvd", "cd")]
    rec = cp.recommend(k=2)
    assert [p for p, _ in rec.for_customer("c")] == ["dvd"]
    assert rec.for_customer("a") == []  # owns everything associated
    assert rec.for_customer("d") == []
    with pytest.raises(ValidationError, match="unknown product"):
        cp.lift("cd", "vinyl")
    with pytest.raises(ValidationError, match="'score'"):
        cp.recommend(score="magic")


purchases = st.lists(
    st.tuples(st.integers(0, 8), st.sampled_from("pqrstu")), min_size=1, max_size=40
)


@settings(max_examples=40)
@given(purchases, st.sampled_from(["lift", "confidence"]))
def test_co_purchase_equals_plain_python(rows, score):
    owned: dict[int, set[str]] = {}
    for c, p in rows:
        owned.setdefault(c, set()).add(p)
    n = len(owned)
    count = Counter(p for items in owned.values() for p in items)
    joint = Counter(pair for items in owned.values() for pair in combinations(sorted(items), 2))
    cp = co_purchase([r[0] for r in rows], [r[1] for r in rows])
    for (a, b), k in joint.items():
        assert cp.support(a, b) == pytest.approx(k / n)
        assert cp.lift(a, b) == pytest.approx(k * n / (count[a] * count[b]))
        assert cp.confidence(b, a) == pytest.approx(k / count[b])
    rec = cp.recommend(k=6, score=score)
    for c, items in owned.items():
        expected = {}
        for j in count:
            if j in items:
                continue
            s = 0.0
            for i in items:
                k = joint[tuple(sorted((i, j)))]
                if not k:
                    continue
                w = k * n / (count[i] * count[j]) if score == "lift" else k / count[i]
                if score == "lift" and w <= 1.0:
                    continue
                s += w
            if s > 0:
                expected[j] = s
        got = dict(rec.for_customer(c))
        assert set(got) == set(expected)
        for j, s in expected.items():
            assert got[j] == pytest.approx(s)


def test_co_purchase_empty():
    cp = co_purchase([], [])
    assert cp.n_customers == 0
    assert cp.pairs() == []
    assert cp.recommend().codes.shape == (0, 3)
