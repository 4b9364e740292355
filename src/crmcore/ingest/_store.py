"""Storing a validated batch of transactions: external keys, idempotency, the storage columns.

The good rows of a batch get their external key (the ``external_ref`` with
the import's prefix, or a content key, see :mod:`crmcore.ingest._keys`);
the rows whose key is stored already, or repeated in the import, are
skipped; the others go to the repository in one call: ``add_validated``
for a repository with the bulk-load capability
(:class:`~crmcore.repositories.BulkTransactionLoader`, as crmcore's backends
have: plain columns in the storage encoding, see
:class:`~crmcore.repositories.ValidatedRows`) or, for a repository that has
only the protocol's ``add_log``, one ``TransactionLog`` per currency.

>>> _take(["a", "b", "c"], np.array([0, 2]))
['a', 'c']
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import compress
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import numpy as np
import numpy.typing as npt

from crmcore.ingest._keys import Occurrences, content_hashes, content_keys, transaction_ids
from crmcore.labels import factorize_labels
from crmcore.repositories._columnar import ValidatedRows
from crmcore.repositories.protocols import BulkTransactionLoader, UnitOfWork
from crmcore.tables import TransactionLog

if TYPE_CHECKING:
    from crmcore.ingest.transactions import TransactionColumns

__all__ = ["EXACT_FLOAT_E6", "KeyFilter", "Keyed", "keys_for", "store"]

X = TypeVar("X")


@attrs.define
class Keyed:
    """The good rows of a batch and their external keys, aligned."""

    rows: npt.NDArray[np.intp]  # batch indices of the good rows, in order
    keys: list[str]


def _take(values: Sequence[X], rows: npt.NDArray[np.intp]) -> list[X]:
    """``[values[i] for i in rows]``, at C speed; ``rows`` are sorted distinct indices."""
    if len(rows) == len(values):  # every row
        return list(values)
    return list(map(values.__getitem__, rows.tolist()))


EXACT_FLOAT_E6 = 2**33 * 10**6
"""Below this ``amount_e6`` (amounts under 8,589,934,592) the float64 of an amount tells every
two stored amounts apart (its spacing there is below 10**-6): a content key hashes the float,
as earlier releases did, so a re-run finds the keys they stored. From here on two amounts can
share a float (10000000000.000001 and ...000002 do): the key hashes the exact ``amount_e6``,
with one more column that keeps those keys apart from the float ones."""

_EXACT_TAG = np.uint64(0x65786163745F6536)  # "exact_e6"


def _content_hashes(
    checked: TransactionColumns, sub: npt.NDArray[np.intp], pick: Any
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """The 128-bit content hash of each row ``sub`` (see :data:`EXACT_FLOAT_E6`)."""
    texts = [
        pick(checked.customer_ids),
        pick(checked.currencies),
        pick(checked.products),
        pick(checked.categories),
        pick(checked.channels),
    ]
    micros, kinds, quantities = checked.micros[sub], checked.kinds[sub], checked.quantities[sub]
    h1, h2 = content_hashes(texts, [micros, checked.amounts[sub], kinds, quantities])
    e6 = checked.amounts_e6[sub]
    big = np.flatnonzero(e6 >= EXACT_FLOAT_E6)
    if len(big):
        tag = np.full(len(big), _EXACT_TAG, dtype=np.uint64)
        b1, b2 = content_hashes(
            [[col[i] for i in big.tolist()] for col in texts],
            [micros[big], e6[big], kinds[big], quantities[big], tag],
        )
        h1[big], h2[big] = b1, b2
    return h1, h2


def keys_for(checked: TransactionColumns, ref_prefix: str, occurrences: Occurrences) -> Keyed:
    """The external key of each good row: ``ref_prefix + external_ref``, or the content key
    (the float amount is hashed below :data:`EXACT_FLOAT_E6`, as in earlier releases, so the
    keys of a re-run stay the same; the exact amount from there on)."""
    rows = np.flatnonzero(checked.good)
    refs = _take(checked.external_refs, rows)
    keys: list[Any] = (
        [None if r is None else ref_prefix + str(r) for r in refs] if ref_prefix else refs
    )
    if None in keys:
        need = np.fromiter((k is None for k in keys), dtype=bool, count=len(keys))
        sub = rows[need]

        def pick(values: Sequence[Any]) -> list[Any]:
            return _take(values, sub)

        h1, h2 = _content_hashes(checked, sub, pick)
        derived = content_keys(h1, h2, occurrences.next(h1))
        for j, k in zip(np.flatnonzero(need).tolist(), derived, strict=True):
            keys[j] = k
    return Keyed(rows, keys)


def _objects(values: list[Any]) -> npt.NDArray[Any]:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


class KeyFilter:
    """Keys stored by this import, as 64-bit hashes, for imports into an empty table.

    When the table held no transaction at the start, a key can only be
    stored already if this import stored it: only keys whose hash was seen
    are looked up in the repository (exactly), the rest are new for sure.
    """

    def __init__(self) -> None:
        self.hashes = np.zeros(0, dtype=np.int64)

    @staticmethod
    def hash(keys: list[str]) -> npt.NDArray[np.int64]:
        return np.fromiter(map(hash, keys), dtype=np.int64, count=len(keys))

    def candidates(self, keys: list[str], h: npt.NDArray[np.int64]) -> list[str]:
        """The keys whose hash ``h`` was added (maybe stored: to be looked up)."""
        if not len(self.hashes):
            return []
        order = np.argsort(h)
        hs = h[order]  # sorted needles: each binary search starts where the last one ended
        pos = np.minimum(np.searchsorted(self.hashes, hs), len(self.hashes) - 1)
        if not (self.hashes[pos] == hs).any():
            return []
        hit = np.zeros(len(keys), dtype=bool)
        hit[order] = self.hashes[pos] == hs
        return list(compress(keys, hit.tolist()))

    def add(self, h: npt.NDArray[np.int64]) -> None:
        """Remember the hashes of stored keys."""
        # two sorted runs: the stable sort (timsort) merges them in one linear pass
        self.hashes = np.sort(np.concatenate([self.hashes, np.sort(h)]), kind="stable")


def _validated_rows(
    checked: TransactionColumns, sel: npt.NDArray[np.intp], keys: list[str]
) -> ValidatedRows:
    """The storage columns of the rows ``sel`` (good, new), whose external keys are ``keys``."""
    cols: dict[str, Sequence[Any]] = {
        "id": transaction_ids(keys),
        "customer_id": _take(checked.customer_ids, sel),
        "occurred_at": checked.micros[sel].tolist(),
        "amount_e6": checked.amounts_e6[sel].tolist(),
        "currency": _take(checked.currencies, sel),
        "kind": checked.kinds[sel].tolist(),
        "quantity": checked.quantities[sel].tolist(),
        "external_ref": keys,
    }
    for name, values in (
        ("product", checked.products),
        ("category", checked.categories),
        ("channel", checked.channels),
    ):
        if any(values):  # None or a non-empty string: all None → the column stays NULL
            cols[name] = _take(values, sel)
    return ValidatedRows(cols)


def _add_logs(
    uow: UnitOfWork, checked: TransactionColumns, sel: npt.NDArray[np.intp], keys: list[str]
) -> int:
    """Store the rows ``sel`` through ``add_log`` (a repository without ``add_validated``),
    one TransactionLog per currency."""
    ids = transaction_ids(keys)
    currencies = [checked.currencies[i] for i in sel]
    groups: dict[str | None, list[int]] = {}
    if len(set(currencies)) == 1:
        groups[currencies[0]] = list(range(len(sel)))
    else:
        for j, c in enumerate(currencies):
            groups.setdefault(c, []).append(j)
    stored = 0
    for cur, members in groups.items():
        part = np.asarray(members, dtype=np.intp)
        idx = sel[part]
        labels, codes = factorize_labels([checked.customer_ids[i] for i in idx], name="customer_id")
        log = TransactionLog(
            customer=codes,
            time=checked.micros[idx].view("datetime64[us]"),
            amount=checked.amounts[idx],
            kind=checked.kinds[idx],
            customer_ids=labels,
            quantity=checked.quantities[idx],
            currency=cur,
            ids=_objects([ids[j] for j in part]),
            external_refs=_objects([keys[j] for j in part]),
            products=_objects([checked.products[i] for i in idx]),
            categories=_objects([checked.categories[i] for i in idx]),
            channels=_objects([checked.channels[i] for i in idx]),
        )
        stored += uow.transactions.add_log(log)
    return stored


def store(
    uow: UnitOfWork, checked: TransactionColumns, keyed: Keyed, fresh: KeyFilter | None
) -> tuple[int, int]:
    """Store the good rows whose key is new; returns ``(stored, skipped)``."""
    rows, keys = keyed.rows, keyed.keys
    if not len(rows):
        return 0, 0
    first = dict.fromkeys(keys)
    keep: npt.NDArray[np.bool_] | None = None
    if len(first) != len(keys):  # repeated in this batch: the first one wins
        keep = np.ones(len(rows), dtype=bool)
        seen: set[str] = set()
        for j, k in enumerate(keys):
            if k in seen:
                keep[j] = False
            seen.add(k)
    unique = keys if keep is None else list(first)
    hashes = None if fresh is None else fresh.hash(unique)
    lookup = unique if hashes is None or fresh is None else fresh.candidates(unique, hashes)
    existing = uow.transactions.existing_external_refs(lookup) if lookup else set()
    if existing:
        if keep is None:
            keep = np.ones(len(rows), dtype=bool)
        keep &= np.fromiter((k not in existing for k in keys), dtype=bool, count=len(keys))
    sel = rows if keep is None else rows[keep]
    kept_keys = keys if keep is None else list(compress(keys, keep.tolist()))
    skipped = len(rows) - len(sel)
    if not len(sel):
        return 0, skipped
    if fresh is not None and hashes is not None:
        fresh.add(hashes if len(kept_keys) == len(unique) else fresh.hash(kept_keys))
    repo = uow.transactions
    if isinstance(repo, BulkTransactionLoader):
        stored = repo.add_validated(_validated_rows(checked, sel, kept_keys))
    else:
        stored = _add_logs(uow, checked, sel, kept_keys)
    return stored, skipped
