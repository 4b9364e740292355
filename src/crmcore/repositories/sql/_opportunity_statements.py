"""The prepared statements of the opportunity repository's hot paths (reads by id, a save).

Built once per repository from its namespace's tables (:mod:`._prepared`):
a save reads the stored opportunity and its last event in one statement
(the event whose number is the opportunity's version, in either event
table, by primary key), updates only the columns that change with the
version check, and inserts the events; a read by id and the event reads are
single statements too.

>>> from crmcore.repositories.sql import schema
>>> q = OpportunityStatements(schema.opportunities, schema.stage_changes, schema.field_changes)
>>> print(q.stored.statement)  # doctest: +NORMALIZE_WHITESPACE
SELECT opportunities.id, ..., opportunities.custom,
    stage_changes.at AS tail_stage_at, stage_changes.recorded_at AS tail_stage_recorded_at,
    field_changes.at AS tail_field_at, field_changes.recorded_at AS tail_field_recorded_at
FROM opportunities
    LEFT OUTER JOIN stage_changes ON stage_changes.opportunity_id = opportunities.id
        AND stage_changes.sequence = opportunities.version
    LEFT OUTER JOIN field_changes ON field_changes.opportunity_id = opportunities.id
        AND field_changes.sequence = opportunities.version
WHERE opportunities.id = :id
"""

from __future__ import annotations

import sqlalchemy as sa

from crmcore.repositories.sql._prepared import Prepared

__all__ = ["TAIL_COLUMNS", "OpportunityStatements"]

TAIL_COLUMNS = (
    "tail_stage_at",
    "tail_stage_recorded_at",
    "tail_field_at",
    "tail_field_recorded_at",
)
"""The labels of the last event's times that :attr:`OpportunityStatements.stored` adds."""


class OpportunityStatements:
    """The statements, for the tables ``table`` (opportunities), ``stages`` and ``changes``.

    Parameters: ``id`` (an opportunity id), ``request_id``; the update sets the
    columns given by key and checks ``w_id`` and ``w_version``.
    """

    def __init__(self, table: sa.Table, stages: sa.Table, changes: sa.Table) -> None:
        o, s, f = table.c, stages.c, changes.c
        oid: sa.BindParameter[str] = sa.bindparam("id")
        rid: sa.BindParameter[str] = sa.bindparam("request_id")
        self.by_id = Prepared(sa.select(table).where(o.id == oid))
        """The opportunity's row."""
        self.exists = Prepared(sa.select(o.id).where(o.id == oid))
        """Its id, if it is stored."""
        self.stored = Prepared(
            sa.select(
                table,
                s.at.label(TAIL_COLUMNS[0]),
                s.recorded_at.label(TAIL_COLUMNS[1]),
                f.at.label(TAIL_COLUMNS[2]),
                f.recorded_at.label(TAIL_COLUMNS[3]),
            )
            .select_from(
                table.outerjoin(
                    stages, (s.opportunity_id == o.id) & (s.sequence == o.version)
                ).outerjoin(changes, (f.opportunity_id == o.id) & (f.sequence == o.version))
            )
            .where(o.id == oid)
        )
        """Its row and the times of its last event (number = version): what a save checks."""
        self.stage_events = Prepared(
            sa.select(stages).where(s.opportunity_id == oid).order_by(s.sequence)
        )
        self.field_events = Prepared(
            sa.select(changes).where(f.opportunity_id == oid).order_by(f.sequence)
        )
        self.stage_events_of_request = Prepared(
            sa.select(stages)
            .where(s.opportunity_id == oid, s.request_id == rid)
            .order_by(s.sequence)
        )
        self.field_events_of_request = Prepared(
            sa.select(changes)
            .where(f.opportunity_id == oid, f.request_id == rid)
            .order_by(f.sequence)
        )
        self.request_used = Prepared(
            sa.union_all(
                sa.select(s.request_id).where(s.opportunity_id == oid, s.request_id == rid),
                sa.select(f.request_id).where(f.opportunity_id == oid, f.request_id == rid),
            )
        )
        """The request id, once per stored event that carries it."""
        self.insert = Prepared(sa.insert(table), keyed=True)
        self.insert_stage = Prepared(sa.insert(stages), keyed=True)
        self.insert_field = Prepared(sa.insert(changes), keyed=True)
        self.update = Prepared(
            sa.update(table).where(
                o.id == sa.bindparam("w_id"), o.version == sa.bindparam("w_version")
            ),
            keyed=True,
        )
        """``UPDATE ... SET <the given columns> WHERE id = :w_id AND version = :w_version``."""
