"""Deterministic keys: occurrence numbers across batches, ids one-to-one."""

from __future__ import annotations

from collections import Counter

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from crmcore.ingest._keys import Occurrences, transaction_id, transaction_ids


@given(st.lists(st.integers(0, 5), max_size=60), st.integers(1, 7))
def test_occurrences_count_repetitions_across_batches(values: list[int], batch: int) -> None:
    occ = Occurrences()
    got: list[int] = []
    for i in range(0, len(values), batch):
        chunk = np.array(values[i : i + batch], dtype=np.uint64)
        got.extend(occ.next(chunk).tolist())
    seen: Counter[int] = Counter()
    expected = []
    for v in values:
        expected.append(seen[v])
        seen[v] += 1
    assert got == expected


@given(st.lists(st.text(min_size=1, max_size=140), unique=True, max_size=20))
def test_transaction_ids_are_one_to_one_valid_ids(keys: list[str]) -> None:
    ids = transaction_ids(keys)
    assert ids == [transaction_id(k) for k in keys]
    assert len(set(ids)) == len(keys)
    assert all(0 < len(i) <= 128 and i == i.strip() for i in ids)


_short_keys = st.text(
    alphabet=st.sampled_from(["a", "b", "-", " ", "\t", "\x00", "\xa0", "\u3000", "é"]),
    min_size=1,
    max_size=6,
)


@given(st.lists(_short_keys, max_size=20))
def test_the_batch_fast_path_of_ids_equals_the_rule_per_key(keys: list[str]) -> None:
    """Short keys take the whole-batch path unless one ends in white space (Unicode's too):
    both give the ids of :func:`transaction_id`, key by key."""
    assert transaction_ids(keys) == [transaction_id(k) for k in keys]
