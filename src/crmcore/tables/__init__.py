"""The bridge between the object world and the array world: columnar tables.

A :class:`TransactionLog` holds customers' transactions as numpy columns
(customer index, UTC timestamp, amount, kind); a :class:`StageHistory`
holds opportunities' stage changes, a :class:`FieldHistory` their edits. Both are built straight from a
repository query, a CSV file, or a pandas / polars / Arrow frame, without
one Python object per row.

>>> import numpy as np
>>> log = TransactionLog.from_arrays(
...     customer_ids=["a", "b", "a"],
...     timestamps=np.array(["1997-01-01", "1997-01-02", "1997-02-01"], dtype="datetime64[us]"),
...     amounts=[10.0, 5.0, 7.5],
... )
>>> len(log), log.n_customers, log.customer_ids.tolist()
(3, 2, ['a', 'b'])
"""

from __future__ import annotations

from crmcore.tables.field_history import FieldHistory
from crmcore.tables.stage_history import StageHistory
from crmcore.tables.transactions import TransactionLog

__all__ = ["FieldHistory", "StageHistory", "TransactionLog"]
