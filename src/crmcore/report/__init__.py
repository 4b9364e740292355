"""The HTML report of a customer base: one self-contained page a manager can open.

:func:`build_report` reads a database (a URL, an SQLite file or any unit of
work) and builds six sections that mirror ``crmcore demo``: the customer
base and data quality; customer value (CLV, P(alive), top customers, CLV vs
CAC); segments and profitability; satisfaction and loyalty; pipeline and
forecast; alerts. Each section has its chart, its key tables and two
sentences computed from the data; a section whose data the database does not
hold says so. The page needs nothing but a browser: styles inline, charts as
PNG data URIs (drawn where the ``plot`` extra is installed), no script, no
network. From the command line: ``crmcore report --db URL -o report.html``.

>>> from crmcore.datasets import load_cdnow_sample
>>> from crmcore.repositories import MemoryUnitOfWork
>>> from crmcore.tables import TransactionLog
>>> cdnow = load_cdnow_sample()
>>> rows = slice(0, 900)  # the first 900 purchases: a small base
>>> log = TransactionLog.from_arrays(
...     customer_ids=cdnow.row_customer_ids[rows], timestamps=cdnow.time[rows],
...     amounts=cdnow.amount[rows], currency="USD", ids=[f"t{i}" for i in range(900)])
>>> uow = MemoryUnitOfWork()
>>> with uow:
...     _ = uow.transactions.add_log(log)
...     uow.commit()
>>> report = build_report(uow, title="CDNOW sample")
>>> [s.id for s in report.sections] == list(SECTION_IDS)
True
>>> report.html.startswith("<!DOCTYPE html>"), report.as_of
(True, '1998-06-27')
"""

from __future__ import annotations

from crmcore.report._build import SECTION_IDS, Report, build_report
from crmcore.report._charts import PLOT_NOTE
from crmcore.report._example import add_example_data
from crmcore.report._model import ReportChart, ReportSection, ReportTable

__all__ = [
    "PLOT_NOTE",
    "SECTION_IDS",
    "Report",
    "ReportChart",
    "ReportSection",
    "ReportTable",
    "add_example_data",
    "build_report",
]
