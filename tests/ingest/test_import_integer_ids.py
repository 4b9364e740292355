"""Integer ids in a frame are imported as a CSV file holds them (their decimal text).

Found by an acceptance review: the shipped CDNOW sample (integer customer ids) went
through ``TransactionLog.from_frame`` but every row was rejected by
``import_transactions`` ("must be a non-empty string id"), so ``log.to_pandas()``
did not round-trip through the import.
"""

from __future__ import annotations

import io

import pandas as pd
import pytest

from crmcore.datasets import load_cdnow_sample
from crmcore.errors import ValidationError
from crmcore.ingest import import_transactions
from crmcore.repositories import MemoryUnitOfWork


def _stored(uow: MemoryUnitOfWork) -> list[tuple[str, str]]:
    with uow:
        log = uow.transactions.read_log()
    rows = zip(log.row_customer_ids.tolist(), log.time.astype(str).tolist(), strict=True)
    return sorted(rows)


def test_cdnow_sample_frame_imports_like_its_csv() -> None:
    log = load_cdnow_sample()
    frame = log.to_pandas()
    assert frame["customer_id"].dtype.kind == "i"  # the sample's ids are integers
    by_frame = MemoryUnitOfWork()
    r = import_transactions(by_frame, frame, currency="USD")
    assert (r.stored, len(r.errors)) == (len(frame), 0)
    by_csv = MemoryUnitOfWork()
    text = io.StringIO(frame.to_csv(index=False))
    r2 = import_transactions(by_csv, text, currency="USD")
    assert r2.stored == r.stored
    assert _stored(by_frame) == _stored(by_csv)


def test_integer_id_becomes_its_decimal_text_and_booleans_stay_refused() -> None:
    frame = pd.DataFrame(
        {"customer_id": [7, 10**18], "occurred_at": ["2024-01-05", "2024-01-06"], "amount": [1, 2]}
    )
    uow = MemoryUnitOfWork()
    r = import_transactions(uow, frame, currency="EUR")
    assert r.stored == 2
    with uow:
        ids = sorted(uow.transactions.read_log().customer_ids.tolist())
    assert ids == ["1000000000000000000", "7"]
    bad = pd.DataFrame({"customer_id": [True], "occurred_at": ["2024-01-05"], "amount": [1]})
    r3 = import_transactions(MemoryUnitOfWork(), bad, currency="EUR")
    assert r3.stored == 0 and r3.errors[0].column == "customer_id"


def test_a_crmcore_table_as_source_is_named_with_the_way_in() -> None:
    with pytest.raises(ValidationError, match=r"a TransactionLog \(.*to_pandas\(\)\)"):
        import_transactions(MemoryUnitOfWork(), load_cdnow_sample(), currency="USD")  # type: ignore[arg-type]
