"""Customer imports (errors per column, idempotency, id conflicts) and the CDNOW sample import."""

from __future__ import annotations

from datetime import date
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from crmcore.datasets import load_cdnow_sample
from crmcore.errors import ImportRejectedError
from crmcore.ingest import cdnow_customer_id, import_cdnow_sample, import_customers
from crmcore.repositories import MemoryUnitOfWork, SqlUnitOfWork


def test_customer_rows_become_profiles_and_bad_cells_name_their_column(tmp_path: Path) -> None:
    p = tmp_path / "people.csv"
    p.write_text(
        "crm_id,full_name,email,phone,birthday,tags,consent_contact,country,city,acquired_at\n"
        "k-1,Li Wei,li@example.com,+86 10 1234 5678,1990-05-17,vip;web,yes,CN,Beijing,2024-03-01T09:00:00+08:00\n"
        "k-2,,bad-email,123,1990-02-30,,maybe,China,,2024-13-01\n"
        "k-3,ACME,,,,,no,,,\n",
        encoding="utf-8",
    )
    uow = MemoryUnitOfWork()
    report = import_customers(
        uow, p, columns={"crm_id": "external_key", "full_name": "name"}, batch_size=2
    )
    assert (report.rows_read, report.stored, report.rejected) == (3, 2, 1)
    columns = [(e.row, e.line, e.column) for e in report.errors]
    assert columns == [
        (2, 3, "email"),
        (2, 3, "phone"),
        (2, 3, "birthday"),
        (2, 3, "consent_contact"),
        (2, 3, "country"),
        (2, 3, "full_name"),
        (2, 3, "acquired_at"),
    ]
    with uow:
        (li,) = [c for c in uow.customers.list() if c.external_key == "k-1"]
    assert (li.primary_email, li.birthday, li.tags, li.consent.contact) == (
        "li@example.com",
        date(1990, 5, 17),
        ("vip", "web"),
        True,
    )
    assert li.address is not None and li.address.city == "Beijing"
    assert li.acquired_at is not None and li.acquired_at.isoformat() == "2024-03-01T01:00:00+00:00"


def test_customers_are_idempotent_on_external_key_and_refuse_id_conflicts() -> None:
    uow = MemoryUnitOfWork()
    rows = [
        {"id": "c-1", "external_key": "a", "name": "Ada"},
        {"id": "c-2", "name": "Bob"},
        {"id": "c-3", "external_key": "a", "name": "Ada again"},  # same key: skipped
    ]
    first = import_customers(uow, rows)
    assert (first.stored, first.skipped) == (2, 1)
    again = import_customers(uow, [*rows, {"id": "c-1", "external_key": "z", "name": "Zed"}])
    assert (again.stored, again.skipped, again.rejected) == (0, 3, 1)
    assert "already stored" in again.errors[0].reason and again.errors[0].column == "id"
    with pytest.raises(ImportRejectedError):
        import_customers(uow, [{"external_key": "n", "name": ""}], all_or_nothing=True)
    with uow:
        assert uow.customers.count() == 2


def _file_totals() -> tuple[int, int, float, int]:
    """Rows, distinct sample ids, dollars and CDs, read from the shipped file with plain Python."""
    text = resources.files("crmcore.datasets").joinpath("CDNOW_sample.txt").read_text()
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    return (
        len(lines),
        len({ln[1] for ln in lines}),
        sum(float(ln[4]) for ln in lines),
        sum(int(ln[3]) for ln in lines),
    )


def test_cdnow_sample_into_sqlite_matches_the_published_counts(tmp_path: Path) -> None:
    """Fader, Hardie & Lee (2005): the 1/10th sample holds 2,357 customers and 6,919 purchases."""
    uow = SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'cdnow.db'}")
    report = import_cdnow_sample(uow)
    assert (report.rows_read, report.stored, report.rejected) == (6919, 6919, 0)
    n_rows, n_ids, dollars, cds = _file_totals()
    with uow:
        log = uow.transactions.read_log()
        assert uow.customers.count() == n_ids == 2357
        assert uow.customers.get(cdnow_customer_id(1)).external_key == "cdnow:1"
    assert len(log) == n_rows == 6919
    assert log.currency == "USD"
    assert log.amount.sum() == pytest.approx(dollars, abs=1e-6)
    assert int(log.quantity.sum()) == cds  # type: ignore[union-attr]
    # the same purchases as the dataset loader, row for row once sorted
    ref = load_cdnow_sample().sorted()
    got = log.sorted()
    assert np.array_equal(np.sort(ref.amount), np.sort(got.amount))
    assert np.array_equal(np.sort(ref.time), np.sort(got.time))
    rerun = import_cdnow_sample(uow)
    assert (rerun.stored, rerun.skipped) == (0, 6919)
