"""The one validating front of versioned JSON documents, over a backend's storage part.

:class:`Documents` implements :class:`~crmcore.repositories.DocumentRepository`
for every backend: it checks kinds, keys, versions and documents, dumps the
JSON text once (:func:`~crmcore.repositories._writes.dump_document`) and
writes every error message; a :class:`DocumentStore` (memory or SQL) only
stores and reads the texts.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     uow.documents.put("funnel", "b2b", {"stages": ["lead"]}, expected_version=None)
...     uow.documents.get("funnel", "b2b")
1
({'stages': ['lead']}, 1)
>>> with uow:
...     uow.documents.put("funnel", "b2b", [], expected_version=None)
...     uow.documents.put("funnel", "b2b", [], expected_version=None)
Traceback (most recent call last):
crmcore.errors.ConcurrencyError: document 'funnel'/'b2b' is at version 1, the write expected None; nothing was changed
"""

from __future__ import annotations

import builtins
import json
from typing import Any, Protocol

from crmcore.errors import ConcurrencyError, NotFoundError
from crmcore.model._storable import INT64_MAX
from crmcore.options import as_count
from crmcore.repositories._args import check_lookup
from crmcore.repositories._writes import check_document_key, check_expected_version, dump_document

__all__ = ["DocumentStore", "Documents"]


class DocumentStore(Protocol):
    """The storage part of a backend's documents: JSON texts by ``(kind, key, version)``
    (no checks: :class:`Documents` made them)."""

    def append(self, kind: str, key: str, text: str, expected: int | None) -> int | None:
        """Store ``text`` as version ``(expected or 0) + 1`` if the latest stored version is
        ``expected`` (None: no version). Returns the latest version before (the write
        happened when it equals ``expected``)."""
        ...

    def read(self, kind: str, key: str, version: int | None) -> tuple[str, int] | None:
        """The text and number of the given (None: the latest) version, or None."""
        ...

    def keys(self, kind: str) -> builtins.list[str]:
        """The keys stored for ``kind``, sorted by code point."""
        ...

    def remove(self, kind: str, key: str) -> bool:
        """Remove every version of a key; False when it has none."""
        ...


def _name(kind: str, key: str) -> str:
    return f"document {kind!r}/{key!r}"


class Documents:
    """Versioned JSON documents of configuration (:class:`~crmcore.repositories.DocumentRepository`),
    over a :class:`DocumentStore`."""

    __slots__ = ("_append", "_keys", "_read", "_remove", "store")

    def __init__(self, store: DocumentStore) -> None:
        self.store = store
        """The backend's storage part."""
        self._append = store.append
        self._read = store.read
        self._keys = store.keys
        self._remove = store.remove

    def put(self, kind: str, key: str, document: Any, *, expected_version: int | None) -> int:
        """Store a new version; ``expected_version`` is None for a new key. Returns the new version.

        A mismatch raises ConcurrencyError and changes nothing.
        """
        check_document_key(kind, key)
        expected = check_expected_version(expected_version)
        latest = self._append(kind, key, dump_document(document), expected)
        if latest != expected:
            raise ConcurrencyError(
                f"{_name(kind, key)} is at version {latest}, the write expected {expected}; "
                "nothing was changed"
            )
        return (latest or 0) + 1

    def get(self, kind: str, key: str, *, version: int | None = None) -> tuple[Any, int]:
        """``(document, version)``: the latest, or the given version. Missing → NotFoundError."""
        check_document_key(kind, key)
        if version is not None:
            version = as_count(version, name="version", low=1, high=INT64_MAX)
        found = self._read(kind, key, version)
        if found is None:
            what = "" if version is None else f" version {version}"
            raise NotFoundError(f"{_name(kind, key)}{what} not found")
        text, v = found
        return json.loads(text), v

    def keys(self, kind: str) -> builtins.list[str]:
        """The keys stored for ``kind``, sorted."""
        return self._keys(check_lookup(kind, "kind"))

    def delete(self, kind: str, key: str) -> None:
        """Remove every version of a key (NotFoundError when absent)."""
        check_document_key(kind, key)
        if not self._remove(kind, key):
            raise NotFoundError(f"{_name(kind, key)} not found")
