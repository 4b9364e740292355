"""Deterministic keys and ids for idempotent imports.

* A transaction's **external key** is its ``external_ref`` (with the
  import's ``ref_prefix``), or, when the row has none, ``"row:"`` and 32 hex
  digits of a 128-bit hash of its parsed content (customer, UTC time in µs,
  amount, currency, kind, quantity, product, category, channel), followed by
  ``"#k"`` for the k-th repetition of identical content within one import
  (k >= 1), so that two identical rows are two transactions and a re-run
  maps them to the same two keys again.
* A transaction's **id** is ``"t:"`` followed by its key when that is a
  valid id (at most 126 characters, no trailing blank), which keeps the
  source's order of keys in the primary-key index (sequential order numbers
  are appended, not scattered); otherwise ``"t-"`` and 32 hex digits of
  BLAKE2b of the key. Both forms are one-to-one and cannot collide.
* A customer's derived id is ``"c-"`` and 32 hex digits of BLAKE2b of its
  external key.

>>> transaction_id("order-1"), len(transaction_id("x" * 200))
('t:order-1', 34)
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from operator import itemgetter

import numpy as np
import numpy.typing as npt

__all__ = [
    "Occurrences",
    "content_keys",
    "customer_id_for",
    "transaction_id",
    "transaction_ids",
]

_U64 = np.uint64
_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
_NONE = (np.uint64(0x6A09E667F3BCC908), np.uint64(0xBB67AE8584CAA73B))


def _digest(text: str, prefix: bytes = b"") -> str:
    return hashlib.blake2b(
        prefix + text.encode("utf-8", "surrogatepass"), digest_size=16
    ).hexdigest()


def transaction_id(key: str) -> str:
    """The id of the transaction whose external key is ``key``."""
    if len(key) <= 126 and key == key.rstrip():
        return "t:" + key
    return "t-" + _digest(key)


def transaction_ids(keys: list[str]) -> list[str]:
    """:func:`transaction_id` of many keys (non-empty strings).

    >>> transaction_ids(["a", "b "])[0], transaction_ids(["a", "b "])[1][:2]
    ('t:a', 't-')
    """
    # the common case at C speed: every key short, none ending in white space
    if keys and max(map(len, keys)) <= 126 and not any(map(str.isspace, map(itemgetter(-1), keys))):
        return list(map("t:".__add__, keys))
    return [
        ("t:" + k) if len(k) <= 126 and not k[-1].isspace() else "t-" + _digest(k) for k in keys
    ]


def customer_id_for(external_key: str) -> str:
    """The derived id of the customer whose external key is ``external_key``.

    >>> customer_id_for("crm:42")[:2], len(customer_id_for("crm:42"))
    ('c-', 34)
    """
    return "c-" + _digest(external_key)


def _mix(h: npt.NDArray[np.uint64], x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """One splitmix64 round of ``h ^ x`` (wrapping uint64 arithmetic)."""
    z = (h ^ x) + _U64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> _U64(30))) * _U64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> _U64(27))) * _U64(0x94D049BB133111EB)
    out: npt.NDArray[np.uint64] = z ^ (z >> _U64(31))
    return out


def _text_hashes(
    values: Sequence[object],
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Two 64-bit halves of BLAKE2b per value (computed once per distinct value; None is fixed)."""
    table: dict[object, tuple[int, int]] = {}
    for v in dict.fromkeys(values):
        if v is None:
            table[v] = (int(_NONE[0]), int(_NONE[1]))
        else:
            d = hashlib.blake2b(
                str(v).encode("utf-8", "surrogatepass"), digest_size=16, person=b"crm-cell"
            ).digest()
            table[v] = (int.from_bytes(d[:8], "little"), int.from_bytes(d[8:], "little"))
    pairs = np.array([table[v] for v in values], dtype=np.uint64).reshape(len(values), 2)
    return pairs[:, 0], pairs[:, 1]


def _hex(h1: npt.NDArray[np.uint64], h2: npt.NDArray[np.uint64]) -> list[str]:
    """32 lowercase hex digits per row (vectorised)."""
    n = len(h1)
    raw = np.empty((n, 2), dtype=">u8")
    raw[:, 0] = h1
    raw[:, 1] = h2
    b = raw.view(np.uint8).reshape(n, 16)
    out = np.empty((n, 32), dtype=np.uint8)
    out[:, 0::2] = _HEX[b >> 4]
    out[:, 1::2] = _HEX[b & 15]
    texts: list[str] = out.view("S32").ravel().astype("U32").tolist()
    return texts


def content_hashes(
    texts: Sequence[Sequence[object]], numbers: Sequence[npt.NDArray[np.generic]]
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """A 128-bit hash per row of aligned text and numeric columns (as two uint64 lanes)."""
    n = len(numbers[0]) if numbers else len(texts[0])
    h1 = np.full(n, 0x243F6A8885A308D3, dtype=np.uint64)
    h2 = np.full(n, 0x13198A2E03707344, dtype=np.uint64)
    for col in texts:
        a, b = _text_hashes(col)
        h1, h2 = _mix(h1, a), _mix(h2, b)
    for num in numbers:
        x = (
            np.ascontiguousarray(num).astype(np.int64, copy=False)
            if num.dtype.kind in "iub"
            else num
        )
        bits = x.view(np.uint64) if x.dtype.itemsize == 8 else x.astype(np.uint64)
        h1, h2 = _mix(h1, bits), _mix(h2, bits ^ _U64(0x5851F42D4C957F2D))
    return h1, h2


class Occurrences:
    """Counts identical contents across the batches of one import (by the first 64-bit lane).

    >>> occ = Occurrences()
    >>> occ.next(np.array([5, 7, 5], dtype=np.uint64)).tolist(), occ.next(np.array([5], dtype=np.uint64)).tolist()
    ([0, 0, 1], [2])
    """

    def __init__(self) -> None:
        self._keys = np.zeros(0, dtype=np.uint64)
        self._counts = np.zeros(0, dtype=np.int64)

    def next(self, h: npt.NDArray[np.uint64]) -> npt.NDArray[np.int64]:
        """The occurrence number of each row's content (0 for the first), updating the counts."""
        n = len(h)
        if n == 0:
            return np.zeros(0, dtype=np.int64)
        order = np.argsort(h, kind="stable")
        sh = h[order]
        starts = np.r_[True, sh[1:] != sh[:-1]]
        idx = np.arange(n)
        first = np.maximum.accumulate(np.where(starts, idx, 0))
        within = np.empty(n, dtype=np.int64)
        within[order] = idx - first
        pos = np.searchsorted(self._keys, h)
        pos_c = np.minimum(pos, max(len(self._keys) - 1, 0))
        found = (
            (pos < len(self._keys)) & (self._keys[pos_c] == h)
            if len(self._keys)
            else np.zeros(n, bool)
        )
        prior = np.where(found, self._counts[pos_c] if len(self._keys) else 0, 0)
        # merge the counts with sorts (np.unique's hash path is slow on large arrays)
        merged = np.concatenate([self._keys, sh])
        merged_counts = np.concatenate([self._counts, np.ones(n, dtype=np.int64)])
        order2 = np.argsort(merged, kind="stable")
        merged, merged_counts = merged[order2], merged_counts[order2]
        first2 = np.flatnonzero(np.r_[True, merged[1:] != merged[:-1]])
        self._keys = merged[first2]
        self._counts = np.add.reduceat(merged_counts, first2)
        occ: npt.NDArray[np.int64] = within + prior
        return occ


def content_keys(
    h1: npt.NDArray[np.uint64], h2: npt.NDArray[np.uint64], occurrence: npt.NDArray[np.int64]
) -> list[str]:
    """``"row:<32 hex>"`` keys, with ``"#k"`` for the k-th repetition.

    >>> content_keys(np.array([1], np.uint64), np.array([2], np.uint64), np.array([1]))
    ['row:00000000000000010000000000000002#1']
    """
    keys = ["row:" + x for x in _hex(h1, h2)]
    for i in np.flatnonzero(occurrence):
        keys[i] += f"#{int(occurrence[i])}"
    return keys
