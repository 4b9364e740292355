"""The recipes of docs/scale-out.md, run where their engine is: the SQL summary on
PostgreSQL (the server of this machine; skipped with the reason when unreachable, failed
under CRMCORE_REQUIRE_SERVERS=1) and on DuckDB, the Spark recipe with pyspark; each
compared with summarize_transactions on the CDNOW sample."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
sa = pytest.importorskip("sqlalchemy")

from crmcore.datasets import load_cdnow_sample  # noqa: E402
from crmcore.valuation import fit_bgnbd, summarize_transactions  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "docs" / "scale-out.md"
CAL, OBS = "1997-09-30", "1998-06-30"
PG_URL = os.environ.get(
    "CRMCORE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _block(lang: str, marker: str | None = None) -> str:
    blocks = re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    found = [b for b in blocks if marker is None or b.startswith(f"# {marker}")]
    assert len(found) == 1, f"docs/scale-out.md must hold one {lang} block {marker or ''}"
    return found[0]


def _rows() -> Any:
    f = load_cdnow_sample().to_pandas().rename(columns={"time": "occurred_at"})
    f["occurred_at"] = f["occurred_at"].dt.tz_convert("UTC").dt.tz_localize(None)
    return f[["customer_id", "occurred_at", "amount"]]


def _want() -> Any:
    return summarize_transactions(
        load_cdnow_sample(), time_unit="W", calibration_end=CAL, observation_end=OBS
    )


def _check(got: Any) -> None:
    want = _want()
    got = got.sort_values("customer_id", ignore_index=True)
    assert got["customer_id"].tolist() == want.customer_ids.tolist()
    for col in ("frequency", "recency", "T", "holdout_frequency"):
        np.testing.assert_array_equal(got[col].to_numpy(np.float64), getattr(want, col), col)
    for col in ("monetary_value", "holdout_monetary_value"):
        np.testing.assert_allclose(got[col].to_numpy(np.float64), getattr(want, col), rtol=1e-12)
    stats = got.groupby(["frequency", "recency", "T"]).size().rename("count").reset_index()
    m = fit_bgnbd(stats["frequency"], stats["recency"], stats["T"], weights=stats["count"])
    np.testing.assert_allclose(m.fit.estimates, fit_bgnbd(want).fit.estimates, rtol=1e-12)


def test_sql_summary_on_postgresql() -> None:
    try:
        engine = sa.create_engine(PG_URL)
        with engine.connect() as c:
            c.execute(sa.text("SELECT 1"))
    except Exception as e:  # any driver or network error means "not reachable"
        reason = f"PostgreSQL not reachable at {PG_URL}: {str(e).splitlines()[0]}"
        if os.environ.get("CRMCORE_REQUIRE_SERVERS") == "1":
            pytest.fail(reason + " (CRMCORE_REQUIRE_SERVERS=1)")
        pytest.skip(reason)
    schema = f"crmcore_recipe_{secrets.token_hex(4)}"
    try:
        with engine.begin() as c:
            c.exec_driver_sql(f"CREATE SCHEMA {schema}")
            c.exec_driver_sql(
                f"CREATE TABLE {schema}.transactions (customer_id bigint, "
                "occurred_at timestamp, amount double precision)"
            )
            rows = _rows()
            c.execute(
                sa.text(
                    f"INSERT INTO {schema}.transactions VALUES (:customer_id, :occurred_at, :amount)"
                ),
                [
                    {"customer_id": int(r.customer_id), "occurred_at": r.occurred_at.to_pydatetime(),
                     "amount": float(r.amount)}
                    for r in rows.itertuples()
                ],
            )  # fmt: skip
            c.exec_driver_sql(f"SET search_path TO {schema}")
            got = pd.DataFrame(
                c.execute(sa.text(_block("sql")), {"calibration_end": CAL, "observation_end": OBS})
                .mappings()
                .all()
            )
        _check(got)
    finally:
        with engine.begin() as c:
            c.exec_driver_sql(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        engine.dispose()


def test_sql_summary_on_duckdb() -> None:
    duckdb = pytest.importorskip(
        "duckdb", reason="duckdb is not installed: the SQL recipe runs on DuckDB where it is"
    )
    con = duckdb.connect()
    transactions = _rows()  # noqa: F841 (DuckDB reads the frame by its name)
    con.execute("CREATE TABLE transactions AS SELECT * FROM transactions")
    sql = re.sub(r":(calibration_end|observation_end)", r"$\1", _block("sql"))
    got = con.execute(sql, {"calibration_end": CAL, "observation_end": OBS}).df()
    _check(got)


def test_spark_recipe() -> None:
    pytest.importorskip(
        "pyspark", reason="pyspark is not installed: the Spark recipe runs where it is"
    )
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.master("local[2]").getOrCreate()
    try:
        rows = _rows().assign(customer_id=lambda f: f["customer_id"].astype(str))
        scope: dict[str, Any] = {"transactions": spark.createDataFrame(rows)}
        exec(_block("python", "spark-recipe"), scope)
        got = scope["summary"].toPandas()
        got["customer_id"] = got["customer_id"].astype(np.int64)
        _check(got)
    finally:
        spark.stop()
