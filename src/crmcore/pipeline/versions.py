"""Funnel versions: a redesigned funnel keeps its history readable and reportable.

A funnel that changes shape (a stage split in two, two stages merged, a
stage renamed) gets a new :attr:`~crmcore.pipeline.Funnel.version` that takes
effect at its ``valid_from``, with ``derived_from`` naming, for each new
stage that replaces old ones, the previous stage it comes from.
:class:`FunnelVersions` is the chain of versions of one funnel; it reads a
stage history written under any of them in the terms of any one of them:

* **old history in new terms** -- each old stage becomes the first new stage
  derived from it (a deal that entered "proposal" entered the proposal
  phase, whose first step is now "draft"); nothing is invented about the
  new stages (no old deal reached "sent");
* **new history in old terms** -- each new stage becomes the stage it comes
  from (both halves of a split stage become the old stage).

Which version an event was written in: the version it was recorded under
(``StageHistory.funnel_version``, stored with every stage event since schema
4), or given per row (``versions=``); for an event with no recorded version
(0: stored before schema 4), it is read from the event's time -- the newest
version valid at that time that has the event's stages (so a deal still
moving under the old stage names after the switch, before it was migrated,
reads correctly).

>>> from datetime import datetime, timezone
>>> from crmcore.tables import StageHistory
>>> v1 = Funnel.linear("f", {"lead": 0.1, "proposal": 0.4})
>>> v2 = Funnel.linear("f", {"lead": 0.1, "draft": 0.3, "sent": 0.5}, version=2,
...                    valid_from=datetime(2025, 3, 1, tzinfo=timezone.utc),
...                    derived_from={"draft": "proposal", "sent": "proposal"})
>>> fv = FunnelVersions((v1, v2))
>>> h = StageHistory.from_arrays(
...     opportunity_ids=["old", "old", "old", "new", "new", "new"], sequence=[0, 1, 2, 0, 1, 2],
...     from_stage=[None, "lead", "proposal", None, "lead", "draft"],
...     to_stage=["lead", "proposal", "won", "lead", "draft", "sent"],
...     at=["2025-01-02", "2025-01-09", "2025-02-01", "2025-03-02", "2025-03-05", "2025-03-09"])
>>> fv.translate(h).stages[fv.translate(h).to_stage].tolist()
['lead', 'draft', 'won', 'lead', 'draft', 'sent']
>>> old = fv.translate(h, to=1)
>>> old.stages[old.to_stage].tolist()
['lead', 'proposal', 'won', 'lead', 'proposal', 'proposal']
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs
import numpy as np
import numpy.typing as npt

from crmcore._messages import show
from crmcore.arrays import IntArray
from crmcore.errors import ConfigurationError, NotFoundError, ValidationError
from crmcore.options import as_count, expect_instance
from crmcore.pipeline.funnel import Funnel
from crmcore.tables import StageHistory
from crmcore.timestamps import as_instant

__all__ = ["FUNNEL_KIND", "FunnelVersions", "funnel_versions"]

FUNNEL_KIND = "funnel"
"""The document kind funnel definitions are stored under (key: the funnel's name)."""


def _to_versions(value: object) -> tuple[Funnel, ...]:
    if isinstance(value, Funnel):
        return (value,)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError(f"'versions' must be a sequence of Funnel versions: {show(value)}")
    out = tuple(value)
    for i, f in enumerate(out):
        if not isinstance(f, Funnel):
            raise ValidationError(f"'versions[{i}]' must be a Funnel: {show(f)}")
    return tuple(sorted(out, key=lambda f: f.version))


@attrs.frozen
class FunnelVersions:
    """The versions 1, 2, ..., n of one funnel, each checked as the successor of the one before.

    >>> FunnelVersions(())
    Traceback (most recent call last):
    crmcore.errors.ValidationError: 'versions' must hold version 1 of a funnel: ()
    """

    versions: tuple[Funnel, ...] = attrs.field(converter=_to_versions)

    def __attrs_post_init__(self) -> None:
        if not self.versions or self.versions[0].version != 1:
            raise ValidationError(
                f"'versions' must hold version 1 of a funnel: "
                f"{tuple(f.version for f in self.versions)}"
            )
        for before, after in zip(self.versions, self.versions[1:], strict=False):
            after.check_successor_of(before)

    @property
    def latest(self) -> Funnel:
        """The newest version.

        >>> from crmcore.pipeline.presets import B2B
        >>> FunnelVersions((B2B,)).latest is B2B
        True
        """
        return self.versions[-1]

    def get(self, version: int) -> Funnel:
        """Version number ``version``.

        >>> from crmcore.pipeline.presets import B2B
        >>> FunnelVersions((B2B,)).get(2)
        Traceback (most recent call last):
        crmcore.errors.ValidationError: 'version' must be a stored version of funnel 'b2b' (1 to 1): 2; store a new version with save_funnel(uow, funnel, expected_version=1)
        """
        v = as_count(version, name="version", low=1)
        if v > len(self.versions):
            n = len(self.versions)
            raise ValidationError(
                f"'version' must be a stored version of funnel {self.latest.name!r} (1 to {n}): "
                f"{version!r}; store a new version with save_funnel(uow, funnel, "
                f"expected_version={n})"
            )
        return self.versions[v - 1]

    def version_at(self, at: npt.ArrayLike) -> IntArray:
        """The version valid at each time of ``at`` (``datetime64``; version 1 before any switch).

        >>> from crmcore.pipeline.presets import B2B
        >>> FunnelVersions((B2B,)).version_at(np.array(["2025-01-01"], dtype="M8[us]")).tolist()
        [1]
        """
        t = np.asarray(at).astype("M8[us]")
        starts = np.array(
            [as_instant(f.valid_from, name="valid_from") for f in self.versions[1:]],
            dtype="M8[us]",
        )
        out: IntArray = (np.searchsorted(starts, t, side="right") + 1).astype(np.int64)
        return out

    def at(self, when: datetime | np.datetime64 | str) -> Funnel:
        """The version valid at ``when``.

        >>> from crmcore.pipeline.presets import B2B
        >>> FunnelVersions((B2B,)).at("2025-01-01").version
        1
        """
        t = as_instant(when, name="when")
        return self.get(int(self.version_at(np.array([t]))[0]))

    def stage_map(self, source: int, target: int) -> dict[str, str]:
        """Each stage name of version ``source`` -> the stage of version ``target`` it reads as.

        >>> from crmcore.pipeline.presets import B2B
        >>> FunnelVersions((B2B,)).stage_map(1, 1)["lead"]
        'lead'
        """
        src, dst = self.get(source).version, self.get(target).version
        names = {n: n for n in self.get(src).stage_names}
        step = 1 if dst > src else -1
        for v in range(src, dst, step):
            if step == 1:
                hop = self.get(v + 1).from_previous(self.get(v))
            else:
                hop = self.get(v).to_previous(self.get(v - 1))
            names = {k: hop[n] for k, n in names.items()}
        return names

    def translate(
        self,
        history: StageHistory,
        *,
        to: int | None = None,
        versions: npt.ArrayLike | None = None,
    ) -> StageHistory:
        """``history`` (written under any versions) with its stages read in version ``to``'s
        terms (default: the latest); the rows are unchanged otherwise.

        ``versions`` gives each row's funnel version; without it a row is read in
        the version recorded with it (``history.funnel_version``, when not 0), else
        in the newest version valid at its time that has its stages. A merge
        of two stages can leave a move from a stage to itself: metrics read
        it as staying in that stage.
        """
        expect_instance(history, StageHistory, name="history")
        target = self.get(to if to is not None else self.latest.version)
        labels = [str(s) for s in history.stages.tolist()]
        n = len(history)
        known = np.array(
            [[name in f._by_name for name in labels] + [True] for f in self.versions], dtype=bool
        )  # [version - 1, label code (-1: none)] -> the version has the stage
        if versions is None:
            row_v = self._inferred(history, known)
            recorded = history.funnel_version
            if recorded is not None and (recorded > 0).any():
                kept = self._checked(
                    recorded, known, history, name="funnel_version", unknown_ok=True
                )
                row_v = np.where(recorded > 0, kept, row_v)
        else:
            row_v = np.asarray(versions)
            if row_v.dtype.kind not in "iu" or row_v.shape != (n,):
                raise ValidationError(
                    f"'versions' must hold one funnel version per history row ({n}): "
                    f"{show(versions)}"
                )
            row_v = self._checked(row_v, known, history, name="versions", unknown_ok=False)
        if (row_v == 0).any():
            i = int(np.argmax(row_v == 0))
            code = int(history.opportunity[i])
            raise ValidationError(
                f"event {int(history.sequence[i])} of opportunity "
                f"{str(history.opportunity_ids[code])!r} at {history.at[i]} moves "
                f"{_label(labels, history.from_stage[i])!r} -> {labels[history.to_stage[i]]!r}, "
                f"stages that no version of funnel {self.latest.name!r} valid then has"
            )
        new_names = list(target.stage_names)
        to_code = np.empty(n, dtype=np.int64)
        from_code = np.empty(n, dtype=np.int64)
        for f in self.versions:
            rows = np.flatnonzero(row_v == f.version)
            if not len(rows):
                continue
            mapping = self.stage_map(f.version, target.version)
            lut = np.array(
                [new_names.index(mapping[s]) if s in mapping else -1 for s in labels] + [-1],
                dtype=np.int64,
            )
            to_code[rows] = lut[history.to_stage[rows]]
            from_code[rows] = lut[history.from_stage[rows]]
        return attrs.evolve(
            history,
            to_stage=to_code,
            from_stage=from_code,
            stages=np.array(new_names, dtype=object),
        )

    def _inferred(self, history: StageHistory, known: npt.NDArray[np.bool_]) -> IntArray:
        """Each row's version read from its time: the newest valid then that has its stages."""
        upto = self.version_at(history.at)
        row_v = np.zeros(len(history), dtype=np.int64)
        for f in reversed(self.versions):
            ok = (
                (row_v == 0)
                & (upto >= f.version)
                & known[f.version - 1][history.to_stage]
                & known[f.version - 1][history.from_stage]
            )
            row_v[ok] = f.version
        return row_v

    def _checked(
        self,
        given: npt.NDArray[Any],
        known: npt.NDArray[np.bool_],
        history: StageHistory,
        *,
        name: str,
        unknown_ok: bool,
    ) -> IntArray:
        """Given versions, range-checked (0 allowed as "unknown" when ``unknown_ok``); a row
        whose stages its version does not have becomes 0 (reported by the caller)."""
        row_v = given.astype(np.int64)
        low = 0 if unknown_ok else 1
        bad = (row_v < low) | (row_v > len(self.versions))
        if bad.any():
            i = int(np.argmax(bad))
            raise ValidationError(
                f"{name!r} must be in [{low}, {len(self.versions)}] (the versions of funnel "
                f"{self.latest.name!r}): {int(row_v[i])} at row {i}"
            )
        for f in self.versions:
            mine = row_v == f.version
            ok = known[f.version - 1][history.to_stage] & known[f.version - 1][history.from_stage]
            row_v[mine & ~ok] = 0
        return row_v


def _label(labels: list[str], code: Any) -> str | None:
    return None if int(code) < 0 else labels[int(code)]


def funnel_versions(uow: Any, name: str) -> FunnelVersions:
    """Every stored version of funnel ``name`` (documents of kind ``"funnel"``), as a chain.

    Each stored revision holds one funnel; the newest revision of each funnel
    version counts (a revision that changes only a description keeps the
    version number).

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> from crmcore.pipeline.presets import B2B
    >>> from crmcore.serialization import to_dict
    >>> uow = MemoryUnitOfWork()
    >>> with uow:
    ...     uow.documents.put("funnel", "b2b", to_dict(B2B), expected_version=None)
    ...     funnel_versions(uow, "b2b").latest == B2B
    1
    True
    """
    from crmcore.repositories._writes import check_document_key
    from crmcore.repositories.protocols import expect_unit_of_work
    from crmcore.serialization import from_dict

    uow = expect_unit_of_work(uow)
    check_document_key(FUNNEL_KIND, name, names=("kind", "name"))
    _, last = uow.documents.get(FUNNEL_KIND, name)
    by_version: dict[int, Funnel] = {}
    for revision in range(1, last + 1):
        try:
            doc, _ = uow.documents.get(FUNNEL_KIND, name, version=revision)
        except NotFoundError:  # pragma: no cover (stores keep every revision)
            continue
        f = from_dict(Funnel, doc)
        by_version[f.version] = f
    try:
        return FunnelVersions(tuple(by_version.values()))
    except ConfigurationError as e:
        raise ValidationError(f"the stored versions of funnel {name!r} do not chain: {e}") from e


def check_new_revision(uow: Any, funnel: Funnel) -> None:
    """Refuse storing ``funnel`` unless the stored versions with it still chain (see
    :class:`FunnelVersions`): version ``n`` needs version ``n - 1`` stored, and a new revision of
    an older version must still be followed by the stored next one.

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> from crmcore.pipeline.presets import B2B
    >>> from datetime import datetime, timezone
    >>> v2 = attrs.evolve(B2B, version=2, valid_from=datetime(2025, 1, 1, tzinfo=timezone.utc))
    >>> with MemoryUnitOfWork() as uow:
    ...     check_new_revision(uow, v2)
    Traceback (most recent call last):
    crmcore.errors.ValidationError: funnel 'b2b' version 2 cannot be stored before version 1
    """
    expect_instance(funnel, Funnel, name="funnel")
    try:
        stored = {f.version: f for f in funnel_versions(uow, funnel.name).versions}
    except NotFoundError:
        stored = {}
    top = max(stored, default=0)
    if funnel.version > top + 1:
        raise ValidationError(
            f"funnel {funnel.name!r} version {funnel.version} cannot be stored before version "
            f"{top + 1}"
        )
    stored[funnel.version] = funnel
    FunnelVersions(tuple(stored.values()))


def in_version(uow: Any, funnel: Funnel, history: StageHistory) -> StageHistory:
    """``history`` of the stored funnel ``funnel.name`` read in ``funnel``'s version (unchanged
    when the funnel has one stored version, or none).

    >>> from crmcore.repositories import MemoryUnitOfWork
    >>> from crmcore.pipeline.presets import B2B
    >>> h = StageHistory.from_arrays(opportunity_ids=["a"], sequence=[0], from_stage=[None],
    ...                              to_stage=["lead"], at=["2025-01-01"])
    >>> with MemoryUnitOfWork() as uow:
    ...     in_version(uow, B2B, h) is h
    True
    """
    expect_instance(funnel, Funnel, name="funnel")
    try:
        chain = funnel_versions(uow, funnel.name)
    except NotFoundError:
        return history
    if len(chain.versions) == 1 and funnel.version == 1:
        return history
    return chain.translate(history, to=funnel.version)
