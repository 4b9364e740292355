"""Reading a stored funnel history back from SQLite: for metrics, and one rep's moves years ago.

Stores a seeded synthetic pipeline of N opportunities (default 100,000, over
seven years, six reps; about 3.1 stage changes each) in a temporary SQLite
file, with 10% of the deals reassigned and re-priced afterwards (field-change
events), then times, in one run:

1. ``load_history(uow, B2B)``: the whole history as a FunnelHistory for the
   metrics, lost reasons, amount and owner as of now (the columnar path:
   one indexed read from the raw driver cursor, reasons from the events);
   against the path of crmcore before issue 14 (the stage history read with
   the SQLAlchemy rows, then every lost deal built as an object to read its
   reason), run on the same file;
2. "all stage changes of rep X three years ago" through
   ``uow.opportunities.read_history(owner_id=..., start=..., end=...)`` (with
   who and why, inside an open unit of work), against the same indexed query
   written by hand with the stdlib ``sqlite3`` driver on an open connection
   (rows fetched as tuples): once with the same columns, once with only the
   id, sequence, stages, time, amount, who and why.

Wall and CPU time are both printed: SQLite runs in this process, so on a shared
machine the CPU time is the figure that does not depend on the other jobs.

Each timing is the best of ``--repeat`` runs (default 5; the first run of
each also warms the page cache). Run:
``.venv/bin/python benchmarks/bench_pipeline_history.py [--size N] [--repeat K]``
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from crmcore.pipeline import B2B, FunnelHistory, load_history, lost_reasons, synthetic_pipeline
from crmcore.pipeline.funnel import StageKind
from crmcore.repositories import SqlUnitOfWork
from crmcore.repositories.sql import schema
from crmcore.tables import StageHistory

START = "2019-12-01"
DAYS = 7 * 365
REP = "rep-3"
WINDOW = (datetime(2023, 1, 1, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC))


def best(fn: Callable[[], Any], repeat: int) -> tuple[Any, float, float]:
    """The result of ``fn`` and its best wall and CPU times over ``repeat`` runs.

    SQLite runs in this process, so the CPU time counts all the work and does not
    count the time the process waited for a core: on a shared machine it is the
    figure to compare; the wall time is what a user waits on this machine now.
    """
    out, walls, cpus = None, [], []
    for _ in range(repeat):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return out, min(walls), min(cpus)


def store(path: Path, n: int) -> tuple[int, int]:
    """Write the synthetic pipeline into a fresh crmcore SQLite file; (stage changes, edits)."""
    p = synthetic_pipeline(B2B, n_opportunities=n, seed=14, start=START, days=DAYS)
    h = p.history
    order = np.lexsort((h.sequence, h.opportunity))
    uow = SqlUnitOfWork.from_url(path)
    with uow:  # creates the schema
        pass
    uow.close()
    ids = h.opportunity_ids[h.opportunity][order].tolist()
    seq = h.sequence[order].tolist()
    frm = [None if c < 0 else h.stages[c] for c in h.from_stage[order].tolist()]
    to = h.stages[h.to_stage][order].tolist()
    at = h.at[order].astype(np.int64).tolist()
    amount = (np.nan_to_num(h.amount[order]) * 1e6).astype(np.int64).tolist()
    owner = h.owner_ids[h.owner][order].tolist()
    product = [None if c < 0 else h.products[c] for c in h.product[order].tolist()]
    codes, labels = p.reasons
    reason = [None if c < 0 else labels[c] for c in codes[order].tolist()]
    prob = {s.name: s.probability for s in B2B.stages}
    kinds = {s.name: s.kind for s in B2B.stages}
    # opportunity_id, sequence, from_stage, to_stage, at, amount_e6, currency, probability,
    # customer_id, owner_id, funnel, product, recorded_at, reason
    rows = [
        (i, q, f, t, a, m, "EUR", prob[t], "c-" + i, o, "b2b", pr, a, r)
        for i, q, f, t, a, m, o, pr, r in zip(
            ids, seq, frm, to, at, amount, owner, product, reason, strict=True
        )
    ]
    first: dict[str, int] = {}
    last: dict[str, tuple[Any, ...]] = {}
    for r in rows:
        first.setdefault(r[0], r[4])
        last[r[0]] = r
    rng = np.random.default_rng(5)
    edited = set(rng.choice(len(last), size=len(last) // 10, replace=False).tolist())
    opps, edits = [], []
    for k, (oid, r) in enumerate(sorted(last.items())):
        owner_now, amount_now, version = r[9], r[5], r[1]
        closed = None if kinds[r[3]] is StageKind.OPEN else r[4]
        if k in edited:  # reassigned and doubled a day after its last move
            t = r[4] + 86_400_000_000
            edits.append((oid, version + 1, "owner_id", f'"{owner_now}"', '"rep-9"', t, t, "mgr"))
            old = '{"amount": "%s", "currency": "EUR"}' % (amount_now / 1e6)
            new = '{"amount": "%s", "currency": "EUR"}' % (2 * amount_now / 1e6)
            edits.append((oid, version + 2, "amount", old, new, t, t, "mgr"))
            owner_now, amount_now, version = "rep-9", 2 * amount_now, version + 2
        lost = r[13] if kinds[r[3]] is StageKind.LOST else None
        opps.append(
            (oid, "c-" + oid, owner_now, "b2b", r[3], first[oid], amount_now, "EUR", prob[r[3]],
             r[11], lost, r[4], closed, "new", version)
        )  # fmt: skip
    with sqlite3.connect(path) as con:
        con.executemany(
            "INSERT INTO opportunities (id, customer_id, owner_id, funnel, stage, created_at, "
            "amount_e6, currency, probability, product, lost_reason, stage_entered_at, "
            "closed_at, kind, version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            opps,
        )
        con.executemany(
            'INSERT INTO stage_changes (opportunity_id, sequence, from_stage, to_stage, "at", '
            "amount_e6, currency, probability, customer_id, owner_id, funnel, product, "
            'recorded_at, reason, "by") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)',
            [(*r, r[9]) for r in rows],
        )
        con.executemany(
            'INSERT INTO field_changes (opportunity_id, sequence, field, old, new, "at", '
            'recorded_at, "by") VALUES (?,?,?,?,?,?,?,?)',
            edits,
        )
        con.execute("ANALYZE")
    return len(rows), len(edits)


def load_before(uow: SqlUnitOfWork) -> FunnelHistory:
    """What load_history did before issue 14: the stage history through SQLAlchemy rows
    (joined with the opportunities for owner and product), then each lost deal as an object
    for its reason, placed on its last event."""
    e, o = schema.stage_changes.c, schema.opportunities.c
    q = (
        sa.select(
            e.opportunity_id,
            e.sequence,
            e.from_stage,
            e.to_stage,
            e.at,
            e.amount_e6,
            sa.func.coalesce(e.owner_id, o.owner_id),
            sa.func.coalesce(e.product, o.product),
        )
        .select_from(schema.stage_changes.join(schema.opportunities, e.opportunity_id == o.id))
        .where(sa.func.coalesce(e.funnel, o.funnel) == "b2b")
        .order_by(e.opportunity_id, e.sequence)
    )
    with uow:
        rows = uow._conn().execute(q).all()
        cols = list(zip(*rows, strict=True))
        hist = StageHistory.from_arrays(
            opportunity_ids=np.array(cols[0], dtype=str),
            sequence=np.array(cols[1], dtype=np.int64),
            from_stage=list(cols[2]),
            to_stage=np.array(cols[3], dtype=str),
            at=np.array(cols[4], dtype=np.int64).view("datetime64[us]"),
            amount=np.array([np.nan if a is None else a / 1e6 for a in cols[5]]),
            owner_ids=np.array(cols[6], dtype=str),
            products=list(cols[7]),
        )
        col: list[str | None] = [None] * len(hist)
        ids = hist.opportunity_ids
        ends = np.flatnonzero(np.append(hist.opportunity[1:] != hist.opportunity[:-1], True))
        last_of = dict(zip(hist.opportunity[ends].tolist(), ends.tolist(), strict=True))
        for opp in uow.opportunities.list(funnel="b2b", stage="lost"):
            code = int(np.searchsorted(ids, opp.id))
            col[last_of[code]] = opp.lost_reason
    return FunnelHistory.build(hist, B2B, reasons=col)


HAND_SQL = {
    "same 15 columns": (
        'SELECT opportunity_id, sequence, from_stage, to_stage, "at", amount_e6, owner_id, '
        'product, probability, "by", reason, recorded_at, forecast_category, currency, '
        "funnel_version FROM stage_changes "
        'WHERE owner_id = ? AND "at" >= ? AND "at" < ? ORDER BY opportunity_id, sequence'
    ),
    "8 columns only": (
        'SELECT opportunity_id, sequence, from_stage, to_stage, "at", amount_e6, "by", reason '
        'FROM stage_changes WHERE owner_id = ? AND "at" >= ? AND "at" < ? '
        "ORDER BY opportunity_id, sequence"
    ),
}
"""The rep's stage changes in the window, by hand with the stdlib driver (the index on
``(owner_id, at)``): the columns read_history returns, and only id, sequence, stages, time,
amount, who and why."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="crmcore-bench-") as tmp:
        path = Path(tmp) / "pipeline.db"
        t0 = time.perf_counter()
        n_rows, n_edits = store(path, args.size)
        print(
            f"Stored {args.size:,} opportunities: {n_rows:,} stage changes and {n_edits:,} field "
            f"changes (synthetic, seeded) in {time.perf_counter() - t0:.1f} s; SQLite file"
        )
        uow = SqlUnitOfWork.from_url(path)
        try:

            def now() -> FunnelHistory:
                with uow:
                    return load_history(uow, B2B)

            fh, t_new, c_new = best(now, args.repeat)
            old, t_old, c_old = best(lambda: load_before(uow), max(1, min(args.repeat, 2)))
            lr_new, lr_old = lost_reasons(fh), lost_reasons(old)
            same = dict(zip(lr_new.reasons, lr_new.count.tolist(), strict=True)) == dict(
                zip(lr_old.reasons, lr_old.count.tolist(), strict=True)
            )
            reassigned = int(np.count_nonzero(fh.owner_ids[fh.owner] == "rep-9"))
            print(
                f"1. History for metrics ({fh.n_opportunities:,} deals, {len(fh.ev_opp):,} events)"
            )
            print(
                f"   load_history (columnar, as of now)      {t_new:6.3f} s wall {c_new:6.3f} s CPU"
                f"   target < 2 s: {'met' if t_new < 2 else 'NOT met'} (wall), "
                f"{'met' if c_new < 2 else 'NOT met'} (CPU)"
            )
            print(
                f"   before issue 14 (lost deals as objects) {t_old:6.3f} s wall {c_old:6.3f} s CPU"
                f"   load_history is {t_old / t_new:4.1f}x faster (wall), {c_old / c_new:4.1f}x (CPU)"
            )
            print(
                f"   same lost reasons: {same}; reassigned deals under their new owner: "
                f"{reassigned:,}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
            )
            lo, hi = (
                int(np.datetime64(w.replace(tzinfo=None), "us").astype(np.int64)) for w in WINDOW
            )
            with uow:  # reads inside an open unit of work, as an application makes them
                h, w_ours, c_ours = best(
                    lambda: uow.opportunities.read_history(
                        owner_id=REP, start=WINDOW[0], end=WINDOW[1]
                    ),
                    args.repeat * 4,
                )
            assert h.by is not None and h.reason is not None
            print(f"2. All stage changes of {REP} in 2023 ({len(h):,} rows, with who and why)")
            print(
                f"   read_history(owner_id, start, end)     {w_ours * 1e3:6.2f} ms wall "
                f"{c_ours * 1e3:6.2f} ms CPU"
            )
            con = sqlite3.connect(path)  # one open connection, as a script would hold
            try:
                for label, sql in HAND_SQL.items():
                    rows, w_hand, c_hand = best(
                        lambda sql=sql: con.execute(sql, (REP, lo, hi)).fetchall(),
                        args.repeat * 4,
                    )
                    assert len(rows) == len(h), (len(rows), len(h))
                    print(
                        f"   by hand, sqlite3, {label:<20} {w_hand * 1e3:6.2f} ms wall "
                        f"{c_hand * 1e3:6.2f} ms CPU   ratio {w_ours / w_hand:4.2f}x wall, "
                        f"{c_ours / c_hand:4.2f}x CPU (target <= 2x)"
                    )
            finally:
                con.close()
        finally:
            uow.close()


if __name__ == "__main__":
    main()
