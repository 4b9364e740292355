"""The contract's tests of an opportunity's event stream: what every backend refuses and keeps.

An opportunity changes only through its events (stage changes and field
changes numbered together); ``add`` and ``save`` refuse streams that break
the funnel's record (numbering, moves from the current stage, time order,
creation first, effective times in the future, a change of state without its
event), stamp when each event was recorded, and ``read_history`` /
``read_changes`` answer as of any date and as known at any date. Part of
:class:`crmcore.testing.contract.RepositoryContract`; the rules themselves
are those of :mod:`crmcore.repositories._events`.

>>> from crmcore.repositories import MemoryUnitOfWork
>>> class Check(HistoryContract):
...     def make_uow(self):
...         return MemoryUnitOfWork()
>>> Check().test_a_gap_in_the_numbering_is_refused()
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from contextlib import suppress
from datetime import UTC, date, datetime, timedelta
from typing import Any

import attrs

from crmcore.errors import ConcurrencyError, DuplicateError, ValidationError
from crmcore.model import FieldChange, Money, Opportunity, StageChange
from crmcore.repositories.protocols import UnitOfWork
from crmcore.tables import FieldHistory
from crmcore.testing._contract_base import ContractBase, event, opportunity, raises, ts

__all__ = ["HistoryContract"]


def _change(
    opp: str, seq: int, field: str, old: Any, new: Any, at: datetime, **kw: Any
) -> FieldChange:
    return FieldChange(
        opportunity_id=opp, sequence=seq, field=field, old=old, new=new, at=at, by="rep-1", **kw
    )


def _moved(o: Opportunity, stage: str, at: datetime, **kw: Any) -> Opportunity:
    return attrs.evolve(o, stage=stage, stage_entered_at=at, **kw)


class HistoryContract(ContractBase):
    """Tests of the opportunities' event streams (see the module docstring)."""

    def _created(self) -> tuple[UnitOfWork, Opportunity]:
        uow = self.make_uow()
        o = opportunity(1)  # created 2024-01-01 in "lead", EUR 1200.50
        with uow:
            stored = uow.opportunities.add(o, event("o-1", 0, None, "lead", ts(2024)))
            uow.commit()
        return uow, stored

    def _unchanged(self, uow: UnitOfWork, o: Opportunity) -> None:
        with uow:
            assert uow.opportunities.get(o.id) == o
            assert len(uow.opportunities.events(o.id)) == o.version + 1

    def _refused(
        self, save: Sequence[StageChange | FieldChange], saved: Opportunity, *errors: type
    ) -> None:
        """On a fresh store holding ``opportunity(1)``: the save raises, nothing changes."""
        uow, o = self._created()
        with uow:
            with raises(*(errors or (ValidationError,))):
                uow.opportunities.save(saved, save)
            uow.commit()
        self._unchanged(uow, o)

    # -- creation first ------------------------------------------------------------------------
    def test_add_without_an_event_stores_the_creation_event(self) -> None:
        uow = self.make_uow()
        o = opportunity(1)
        with uow:
            uow.opportunities.add(o)
            uow.commit()
        with uow:
            (e,) = uow.opportunities.events("o-1")
        assert isinstance(e, StageChange)
        assert (e.sequence, e.from_stage, e.to_stage, e.at, e.by) == (
            0,
            None,
            "lead",
            ts(2024),
            "rep-1",
        )
        assert (e.customer_id, e.owner_id, e.funnel, e.amount) == ("c-1", "rep-1", "b2b", o.amount)
        assert e.recorded_at is not None

    def test_a_creation_event_that_does_not_create_is_refused(self) -> None:
        o = opportunity(1)
        for bad in (
            event("o-1", 1, None, "lead", ts(2024)),  # not number 0
            event("o-1", 0, "lead", "qualified", ts(2024)),  # a move, not a creation
            event("o-1", 0, None, "won", ts(2024)),  # into another stage than the deal's
            event("o-1", 0, None, "lead", ts(2019)),  # five years before the deal was created
        ):
            uow = self.make_uow()
            with uow:
                with raises(ValidationError):
                    uow.opportunities.add(o, bad)
                assert uow.opportunities.find("o-1") is None

    def test_a_new_opportunity_in_a_later_state_is_refused(self) -> None:
        with self.make_uow() as uow, raises(ValidationError):
            uow.opportunities.add(opportunity(1, stage="won", closed_at=ts(2024, 5)))

    def test_only_event_0_creates(self) -> None:
        o = opportunity(1)
        self._refused([event("o-1", 1, None, "lead", ts(2024, 2))], o)

    # -- numbering -----------------------------------------------------------------------------
    def test_a_gap_in_the_numbering_is_refused(self) -> None:
        o = opportunity(1)
        self._refused(
            [event("o-1", 7, "lead", "qualified", ts(2024, 2))],
            _moved(o, "qualified", ts(2024, 2)),
        )

    def test_an_event_number_already_stored_is_a_duplicate(self) -> None:
        o = opportunity(1)
        self._refused(
            [event("o-1", 0, "lead", "qualified", ts(2024, 2))],
            _moved(o, "qualified", ts(2024, 2)),
            DuplicateError,
        )

    def test_the_version_is_the_number_of_the_last_event(self) -> None:
        uow, o = self._created()
        with uow:
            a = uow.opportunities.save(
                _moved(o, "qualified", ts(2024, 2)),
                [event("o-1", 1, "lead", "qualified", ts(2024, 2))],
            )
            assert a.version == 1
            edited = attrs.evolve(a, amount=Money("10", "EUR"), owner_id="rep-2")
            b = uow.opportunities.save(
                edited,
                [
                    _change("o-1", 2, "amount", o.amount, Money("10", "EUR"), ts(2024, 3)),
                    _change("o-1", 3, "owner_id", "rep-1", "rep-2", ts(2024, 3)),
                ],
            )
            assert b.version == 3
            uow.commit()
        with uow:
            assert uow.opportunities.get("o-1") == b
            assert [e.sequence for e in uow.opportunities.events("o-1")] == [0, 1, 2, 3]

    def test_a_save_without_events_is_refused(self) -> None:
        o = opportunity(1)
        self._refused([], o)

    def test_a_stale_save_changes_nothing_whatever_its_events(self) -> None:
        uow, o = self._created()
        with uow:
            uow.opportunities.save(
                _moved(o, "qualified", ts(2024, 2)),
                [event("o-1", 1, "lead", "qualified", ts(2024, 2))],
            )
            uow.commit()
        with uow:
            with raises(ConcurrencyError):
                uow.opportunities.save(
                    _moved(o, "lost", ts(2024, 3), closed_at=ts(2024, 3)),
                    [event("o-1", 1, "lead", "lost", ts(2024, 3))],
                )
            assert uow.opportunities.get("o-1").stage == "qualified"

    def test_two_blocks_saving_one_version_only_one_lands(self) -> None:
        uow, _ = self._created()
        both_read = threading.Barrier(2, timeout=30)
        # a database that locks the row makes the second writer wait inside save():
        # then this barrier times out and the first writer commits on its own
        both_wrote = threading.Barrier(2, timeout=1.0)
        outcomes: list[str] = []

        def writer(to: str) -> None:
            peer = self.clone_uow(uow)
            try:
                with peer:
                    seen = peer.opportunities.get("o-1")
                    both_read.wait()
                    closed = ts(2024, 2) if to == "lost" else None
                    peer.opportunities.save(
                        _moved(seen, to, ts(2024, 2), closed_at=closed),
                        [event("o-1", 1, "lead", to, ts(2024, 2))],
                    )
                    with suppress(threading.BrokenBarrierError):
                        both_wrote.wait()
                    peer.commit()
                outcomes.append(to)
            except (ConcurrencyError, DuplicateError):
                outcomes.append("refused")

        threads = [threading.Thread(target=writer, args=(s,)) for s in ("qualified", "lost")]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert outcomes.count("refused") == 1, outcomes
        landed = next(x for x in outcomes if x != "refused")
        with uow:
            assert uow.opportunities.get("o-1").stage == landed
            assert [e.sequence for e in uow.opportunities.events("o-1")] == [0, 1]

    # -- moves from the current stage, in time order, not in the future -------------------------
    def test_a_move_from_another_stage_is_refused(self) -> None:
        o = opportunity(1)
        self._refused(
            [event("o-1", 1, "proposal", "won", ts(2024, 2))],
            _moved(o, "won", ts(2024, 2), closed_at=ts(2024, 2)),
        )

    def test_a_move_dated_before_the_previous_event_is_refused(self) -> None:
        o = opportunity(1)
        self._refused(
            [event("o-1", 1, "lead", "qualified", ts(2019))],  # five years before creation
            _moved(o, "qualified", ts(2024)),
        )

    def test_a_move_dated_in_the_far_future_is_refused(self) -> None:
        o = opportunity(1)
        far = datetime(2205, 1, 1, tzinfo=UTC)
        self._refused([event("o-1", 1, "lead", "qualified", far)], _moved(o, "qualified", far))

    def test_a_move_dated_now_is_stored(self) -> None:
        uow, o = self._created()
        now = datetime.now(UTC)
        with uow:
            uow.opportunities.save(
                _moved(o, "qualified", now), [event("o-1", 1, "lead", "qualified", now)]
            )
            uow.commit()
        with uow:
            assert uow.opportunities.get("o-1").stage_entered_at == now

    def test_a_failed_event_stores_none_of_its_save(self) -> None:
        o = opportunity(1)
        self._refused(
            [
                event("o-1", 1, "lead", "qualified", ts(2024, 2)),
                event("o-1", 2, "qualified", "won", ts(2024, 1, 15)),  # back in time
            ],
            _moved(o, "won", ts(2024, 1, 15), closed_at=ts(2024, 1, 15)),
        )

    # -- state only through events -------------------------------------------------------------
    def test_a_change_of_stage_without_its_event_is_refused(self) -> None:
        o = opportunity(1)
        self._refused(
            [_change("o-1", 1, "product", None, "crm", ts(2024, 2))],
            _moved(o, "won", ts(2024, 2), product="crm", closed_at=ts(2024, 2)),
        )

    def test_a_stage_that_differs_from_its_last_event_is_refused(self) -> None:
        o = opportunity(1)
        self._refused(
            [event("o-1", 1, "lead", "qualified", ts(2024, 2))], _moved(o, "won", ts(2024, 2))
        )

    def test_a_change_of_amount_or_owner_without_its_event_is_refused(self) -> None:
        o = opportunity(1)
        for changed in ({"amount": Money("2401", "EUR")}, {"owner_id": "rep-9"}):
            self._refused(
                [event("o-1", 1, "lead", "qualified", ts(2024, 2))],
                _moved(o, "qualified", ts(2024, 2), **changed),
            )

    def test_a_field_change_from_a_value_it_does_not_hold_is_refused(self) -> None:
        o = opportunity(1)
        self._refused(
            [_change("o-1", 1, "owner_id", "rep-7", "rep-2", ts(2024, 2))],
            attrs.evolve(o, owner_id="rep-2"),
        )

    def test_what_is_fixed_at_creation_cannot_change(self) -> None:
        o = opportunity(1)
        self._refused(
            [_change("o-1", 1, "owner_id", "rep-1", "rep-2", ts(2024, 2))],
            attrs.evolve(o, owner_id="rep-2", customer_id="c-9"),
        )

    def test_a_move_snapshot_that_contradicts_the_deal_is_refused(self) -> None:
        o = opportunity(1)
        moved = attrs.evolve(
            event("o-1", 1, "lead", "qualified", ts(2024, 2)), amount=Money("1", "EUR")
        )
        self._refused([moved], _moved(o, "qualified", ts(2024, 2)))

    def test_field_changes_round_trip_and_moves_carry_the_new_values(self) -> None:
        uow, o = self._created()
        custom = {"seats": 40, "tier": "gold", "ratio": 0.5, "vip": True}
        edits = [
            _change("o-1", 1, "amount", o.amount, Money("2401.25", "EUR"), ts(2024, 2)),
            _change("o-1", 2, "owner_id", "rep-1", "rep-2", ts(2024, 2), reason="territory"),
            _change("o-1", 3, "expected_close", None, date(2024, 9, 30), ts(2024, 2)),
            _change("o-1", 4, "probability", None, 0.35, ts(2024, 2)),
            _change("o-1", 5, "forecast_category", None, "commit", ts(2024, 2)),
            *[
                _change("o-1", 6 + i, f"custom.{k}", None, v, ts(2024, 2))
                for i, (k, v) in enumerate(sorted(custom.items()))
            ],
        ]
        edited = attrs.evolve(
            o,
            amount=Money("2401.25", "EUR"),
            owner_id="rep-2",
            expected_close=date(2024, 9, 30),
            probability=0.35,
            forecast_category="commit",
            custom=custom,
        )
        with uow:
            saved = uow.opportunities.save(edited, edits)
            moved = _moved(saved, "qualified", ts(2024, 3))
            last = uow.opportunities.save(
                moved, [event("o-1", 10, "lead", "qualified", ts(2024, 3))]
            )
            uow.commit()
        with uow:
            assert uow.opportunities.get("o-1") == last
            stored = uow.opportunities.events("o-1")
            assert [attrs.evolve(e, recorded_at=None) for e in stored[1:10]] == edits
            move = stored[10]
            assert isinstance(move, StageChange)
            assert (move.owner_id, move.amount, move.probability, move.forecast_category) == (
                "rep-2",
                Money("2401.25", "EUR"),
                0.35,
                "commit",
            )
            assert uow.opportunities.history("o-1") == [stored[0], move]

    def test_a_custom_field_set_to_none_is_removed(self) -> None:
        uow, o = self._created()
        with uow:
            a = uow.opportunities.save(
                attrs.evolve(o, custom={"seats": 3}),
                [_change("o-1", 1, "custom.seats", None, 3, ts(2024, 2))],
            )
            b = uow.opportunities.save(
                attrs.evolve(a, custom={}),
                [_change("o-1", 2, "custom.seats", 3, None, ts(2024, 3))],
            )
            uow.commit()
        with uow:
            assert dict(uow.opportunities.get("o-1").custom) == {} == dict(b.custom)

    # -- recording time --------------------------------------------------------------------------
    def test_each_event_is_stamped_when_it_is_recorded(self) -> None:
        before = datetime.now(UTC) - timedelta(seconds=1)
        uow, o = self._created()
        with uow:
            uow.opportunities.save(
                _moved(o, "qualified", ts(2024, 2)),
                [event("o-1", 1, "lead", "qualified", ts(2024, 2))],
            )
            uow.commit()
        after = datetime.now(UTC) + timedelta(seconds=1)
        with uow:
            stamps = [e.recorded_at for e in uow.opportunities.events("o-1")]
        assert all(s is not None and before <= s <= after for s in stamps), stamps
        assert stamps == sorted(stamps)  # type: ignore[type-var]  # all set (checked above)

    def test_each_move_keeps_its_funnel_version(self) -> None:
        """A stage change stores the funnel version it was made under (None: not known)."""
        uow = self.make_uow()
        o = opportunity(1)
        created = attrs.evolve(event("o-1", 0, None, "lead", ts(2024)), funnel_version=1)
        moved = attrs.evolve(event("o-1", 1, "lead", "qualified", ts(2024, 2)), funnel_version=2)
        with uow:
            o = uow.opportunities.add(o, created)
            o = uow.opportunities.save(_moved(o, "qualified", ts(2024, 2)), [moved])
            uow.opportunities.save(
                _moved(o, "proposal", ts(2024, 3)),
                [event("o-1", 2, "qualified", "proposal", ts(2024, 3))],
            )
            uow.commit()
        with uow:
            got = [e.funnel_version for e in uow.opportunities.history("o-1")]
            h = uow.opportunities.read_history()
            late = uow.opportunities.read_history(start=ts(2024, 2))
        assert got == [1, 2, None], got
        # the columns: 0 where the version is not known (stored before schema 4)
        assert h.funnel_version is not None and h.funnel_version.tolist() == [1, 2, 0]
        assert late.funnel_version is not None and late.funnel_version.tolist() == [2, 0]

    def test_a_recording_time_other_than_now_is_refused(self) -> None:
        o = opportunity(1)
        backdated = attrs.evolve(
            event("o-1", 1, "lead", "qualified", ts(2024, 2)), recorded_at=ts(2024, 2)
        )
        self._refused([backdated], _moved(o, "qualified", ts(2024, 2)))

    def test_what_was_recorded_after_known_at_is_invisible(self) -> None:
        uow, o = self._created()
        time.sleep(0.002)
        with uow:
            uow.opportunities.save(
                _moved(o, "lost", ts(2024), closed_at=ts(2024)),
                [event("o-1", 1, "lead", "lost", ts(2024))],
            )
            uow.commit()
        with uow:
            first, second = uow.opportunities.events("o-1")
            assert first.recorded_at is not None and second.recorded_at is not None
            known = first.recorded_at
            h = uow.opportunities.read_history(known_at=known)
            want = 1 if second.recorded_at > known else 2
            assert len(h) == want
            assert len(uow.opportunities.read_history(known_at=second.recorded_at)) == 2
            assert len(uow.opportunities.read_history(known_at=known - timedelta(days=1))) == 0

    # -- columns: who, why, when recorded; owner at the time --------------------------------------
    def test_read_history_has_who_why_and_the_owner_at_the_time(self) -> None:
        uow, o = self._created()
        with uow:
            a = uow.opportunities.save(
                _moved(o, "qualified", ts(2024, 2)),
                [attrs.evolve(event("o-1", 1, "lead", "qualified", ts(2024, 2)), reason="fit")],
            )
            b = uow.opportunities.save(
                attrs.evolve(a, owner_id="rep-2"),
                [_change("o-1", 2, "owner_id", "rep-1", "rep-2", ts(2024, 3))],
            )
            uow.opportunities.save(
                _moved(b, "lost", ts(2024, 4), closed_at=ts(2024, 4), lost_reason="price"),
                [
                    StageChange(
                        opportunity_id="o-1", sequence=3, from_stage="qualified", to_stage="lost",
                        at=ts(2024, 4), by="rep-2", reason="price",
                    )
                ],
            )  # fmt: skip
            uow.commit()
        with uow:
            h = uow.opportunities.read_history()
            assert h.by is not None and h.by_ids is not None
            assert h.reason is not None and h.reason_labels is not None
            assert h.by_ids[h.by].tolist() == ["rep-1", "rep-1", "rep-2"]
            reasons = [None if c < 0 else str(h.reason_labels[c]) for c in h.reason.tolist()]
            assert reasons == [None, "fit", "price"]
            assert h.owner_ids[h.owner].tolist() == ["rep-1", "rep-1", "rep-2"]
            assert h.sequence.tolist() == [0, 1, 3]
            assert h.recorded_at is not None and h.probability is not None
            assert len(uow.opportunities.read_history(owner_id="rep-1")) == 2
            assert len(uow.opportunities.read_history(owner_id="rep-2")) == 1

    def test_read_changes_filters_fields_dates_and_funnel(self) -> None:
        uow, o = self._created()
        with uow:
            a = uow.opportunities.save(
                attrs.evolve(o, owner_id="rep-2"),
                [_change("o-1", 1, "owner_id", "rep-1", "rep-2", ts(2024, 2))],
            )
            uow.opportunities.save(
                attrs.evolve(a, amount=None),
                [_change("o-1", 2, "amount", o.amount, None, ts(2024, 3))],
            )
            uow.commit()
        with uow:
            got = uow.opportunities.read_changes()
            assert [(c.sequence, c.field, c.new, c.old, c.by, c.at) for c in got.to_changes()] == [
                (1, "owner_id", "rep-2", "rep-1", "rep-1", ts(2024, 2)),
                (2, "amount", None, o.amount, "rep-1", ts(2024, 3)),
            ]
            stored = [e for e in uow.opportunities.events("o-1") if isinstance(e, FieldChange)]
            assert got.to_changes() == stored  # with their recording times

            def seqs(h: FieldHistory) -> list[int]:
                return h.sequence.tolist()  # type: ignore[no-any-return]  # an int64 column

            assert seqs(uow.opportunities.read_changes(fields=["amount"])) == [2]
            assert seqs(uow.opportunities.read_changes(end=ts(2024, 3))) == [1]
            assert seqs(uow.opportunities.read_changes(funnel="other")) == []
            assert seqs(uow.opportunities.read_changes(funnel="b2b")) == [1, 2]
            assert seqs(uow.opportunities.read_changes(known_at=ts(2020))) == []

    # -- a client's request id ---------------------------------------------------------------------
    def test_a_request_id_is_kept_and_not_used_again(self) -> None:
        uow, o = self._created()
        with uow:
            a = uow.opportunities.save(
                _moved(o, "qualified", ts(2024, 2)),
                [
                    attrs.evolve(
                        event("o-1", 1, "lead", "qualified", ts(2024, 2)), request_id="req-1"
                    )
                ],
            )
            uow.commit()
        with uow:
            (done,) = uow.opportunities.events("o-1", request_id="req-1")
            assert (done.sequence, done.request_id) == (1, "req-1")
            assert uow.opportunities.events("o-1", request_id="req-2") == []
            with raises(DuplicateError):
                uow.opportunities.save(
                    attrs.evolve(a, owner_id="rep-2"),
                    [
                        _change(
                            "o-1", 2, "owner_id", "rep-1", "rep-2", ts(2024, 3), request_id="req-1"
                        )
                    ],
                )
            assert uow.opportunities.get("o-1") == a
