"""``crmcore`` commands end to end on a small SQLite database: help, exit statuses, output
files checked against the Python API they call, errors as one line on stderr."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from crmcore.anomaly import AlertTable, RuleSet, Threshold, detect
from crmcore.cli import EXIT_STATUSES, build_parser, main
from crmcore.datasets import load_cdnow_sample
from crmcore.repositories import SqlUnitOfWork
from crmcore.serialization import load_model, to_json
from crmcore.valuation import (
    BGNBDModel,
    fit_bgnbd,
    score_customers,
    summarize_transactions,
)

COMMANDS = ("import", "summary", "fit", "score", "rules", "report", "db", "demo")


def _write_transactions(path: Path, rows: int | None = None, *, bad: bool = True) -> int:
    """The CDNOW sample as a CSV file (first ``rows`` purchases), with two bad rows."""
    log = load_cdnow_sample()
    n = len(log) if rows is None else rows
    ids, times, amounts = log.row_customer_ids, log.time, log.amount
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["customer_id", "occurred_at", "amount", "currency"])
        for i in range(n):
            w.writerow([ids[i], str(times[i])[:10], f"{amounts[i]:.2f}", "USD"])
        if bad:
            w.writerow(["x", "not a date", "5", "USD"])
            w.writerow(["y", "1998-01-01", "-5", "USD"])
    return n


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An SQLite file holding the CDNOW sample's 6,919 purchases (imported by the CLI)."""
    folder = tmp_path_factory.mktemp("cli")
    source = folder / "tx.csv"
    _write_transactions(source)
    url = f"sqlite:///{folder / 'crm.db'}"
    assert main(["import", "transactions", str(source), "--db", url, "--no-progress"]) == 4
    return url


# -- help and parsing ------------------------------------------------------------------------


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: crmcore ")
    for command in COMMANDS:
        assert f"\n    {command} " in out
    assert "`" not in out
    for code in EXIT_STATUSES:
        assert f"\n  {code} " in out


@pytest.mark.parametrize(
    "argv",
    [
        ["import", "customers"],
        ["import", "transactions"],
        ["import", "service-cases"],
        ["summary"],
        ["fit"],
        ["score"],
        ["rules", "run"],
        ["report"],
        ["db", "check"],
        ["db", "upgrade"],
        ["demo"],
    ],
)
def test_every_command_has_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: crmcore {' '.join(argv)}")
    assert "`" not in out


def test_version_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("crmcore ")
    assert main(["nonsense"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert main(["fit", "bgnbd"]) == 2  # --db is required
    assert "--db" in capsys.readouterr().err
    assert main(["fit", "lifetimes", "--db", "x.db"]) == 2


def test_the_script_and_the_module_agree() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "crmcore", "--help"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("usage: crmcore ")
    assert build_parser().prog == "crmcore"


# -- commands ----------------------------------------------------------------------------------


def test_import_writes_the_reject_report_and_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "tx.csv"
    _write_transactions(source, 50)
    rejects = tmp_path / "rejects.csv"
    url = f"sqlite:///{tmp_path / 'a.db'}"
    argv = ["import", "transactions", str(source), "--db", url, "--rejects", str(rejects)]
    assert main(argv) == 4
    out = capsys.readouterr().out
    assert "52 rows read, 50 stored, 2 rejected" in out
    with rejects.open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["row"], r["line"], r["column"]) for r in rows] == [
        ("51", "52", "occurred_at"),
        ("52", "53", "amount"),
    ]
    assert rows[1]["reason"].startswith("must be >= 0")
    assert main(argv) == 4  # a re-run stores nothing twice
    assert "0 stored, 2 rejected, 50 skipped" in capsys.readouterr().out
    good = tmp_path / "good.csv"
    _write_transactions(good, 10, bad=False)
    assert main(["import", "transactions", str(good), "--db", url]) == 0


def test_import_customers_with_renamed_columns(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "customers.csv"
    source.write_text("key,full name\nk-1,Ada\nk-2,\n")
    url = f"sqlite:///{tmp_path / 'c.db'}"
    argv = ["import", "customers", str(source), "--db", url]
    argv += ["--column", "key=external_key", "--column", "full name=name"]
    assert main([*argv, "--rejects", str(tmp_path / "r.json")]) == 4
    assert "2 rows read, 1 stored, 1 rejected" in capsys.readouterr().out
    report = json.loads((tmp_path / "r.json").read_text())
    assert report[0]["column"] == "full name" and report[0]["line"] == 3
    with SqlUnitOfWork.from_url(url) as uow:
        assert uow.customers.count() == 1


def test_summary(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--db", db]) == 0
    out = capsys.readouterr().out
    assert "customers                 2,357" in out
    assert "revenue                   244,091.94 USD" in out


def test_fit_writes_the_model_the_api_fits(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "bg.json"
    assert main(["fit", "bgnbd", "--db", db, "-o", str(target)]) == 0
    assert "BG/NBD: log-likelihood" in capsys.readouterr().out
    model = load_model(target.read_text())
    assert isinstance(model, BGNBDModel) and model.time_unit == "W"
    with SqlUnitOfWork.from_url(db) as uow:
        log = uow.transactions.read_log()
    expected = fit_bgnbd(summarize_transactions(log, time_unit="W"))
    assert model.fit is not None and expected.fit is not None
    np.testing.assert_allclose(model.fit.estimates, expected.fit.estimates, rtol=1e-9)
    assert main(["fit", "gamma-gamma", "--db", db]) == 0  # JSON on stdout
    assert json.loads(capsys.readouterr().out)["type"] == "gamma_gamma"


def test_score_rows_are_the_customers_the_api_scores(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fit", "pareto-nbd", "--db", db, "-o", str(tmp_path / "p.json")]) == 0
    assert main(["fit", "gamma-gamma", "--db", db, "-o", str(tmp_path / "g.json")]) == 0
    out = tmp_path / "scores.csv"
    argv = ["score", "--db", db, "--model", str(tmp_path / "p.json"), "-o", str(out)]
    argv += ["--spend-model", str(tmp_path / "g.json"), "--horizon", "26", "--margin", "0.3"]
    assert main(argv) == 0
    assert "2,357 customers scored" in capsys.readouterr().out
    with out.open() as f:
        rows = list(csv.DictReader(f))
    model = load_model((tmp_path / "p.json").read_text())
    spend = load_model((tmp_path / "g.json").read_text())
    with SqlUnitOfWork.from_url(db) as uow:
        summary = summarize_transactions(uow.transactions.read_log(), time_unit="W")
    api = score_customers(model, summary, horizon=26, spend_model=spend, margin=0.3)
    assert [r["customer_id"] for r in rows] == api.customer_ids.tolist()
    for column in ("p_alive", "expected_purchases", "clv"):
        got = np.array([float(r[column]) for r in rows])
        np.testing.assert_array_equal(got, getattr(api, column))  # floats written exactly


def test_score_to_parquet_and_without_pyarrow(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    assert main(["fit", "bgnbd", "--db", db, "-o", str(tmp_path / "bg.json")]) == 0
    target = tmp_path / "s.parquet"
    argv = ["score", "--db", db, "--model", str(tmp_path / "bg.json"), "-o", str(target)]
    assert main(argv) == 0
    table = pq.read_table(target)
    assert table.column_names == ["customer_id", "p_alive", "expected_purchases"]
    assert table.num_rows == 2357
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if the extra were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    other = tmp_path / "t.parquet"
    assert main([*argv[:-1], str(other)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("crmcore: error: ") and "crmcore[arrow]" in err
    assert err.count("\n") == 1
    assert not other.exists()


def test_rules_run_writes_the_alerts_of_the_batch_engine(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = RuleSet(name="shop", rules=[Threshold(name="big-order", at_least=300)])
    (tmp_path / "rules.json").write_text(to_json(rules))
    target = tmp_path / "alerts.csv"
    argv = ["rules", "run", str(tmp_path / "rules.json"), "--db", db, "-o", str(target)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    with SqlUnitOfWork.from_url(db) as uow:
        log = uow.transactions.read_log()
    alerts = detect(log, rules).alerts()
    assert f"big-order  {len(alerts)}" in out
    with target.open() as f:
        rows = list(csv.DictReader(f))
    assert [r["id"] for r in rows] == [a.id for a in alerts]
    assert rows[0]["occurred_at"].endswith("T00:00:00Z")
    assert list(rows[0]) == list(AlertTable(tuple(alerts)).to_pandas().columns)


def test_report_writes_one_page(db: str, tmp_path: Path) -> None:
    pytest.importorskip("crmcore.report")
    target = tmp_path / "report.html"
    assert main(["report", "--db", db, "-o", str(target)]) == 0
    assert target.read_text().startswith("<!DOCTYPE html>")


# -- errors and progress -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["import", "transactions", "missing.csv"], "missing.csv"),
        (["score", "--model", "missing.json", "-o", "s.csv"], "'--model' cannot be read"),
        (["score", "--model", "{model}", "-o", "s.xlsx"], "must end in .csv, .parquet or .json"),
        (["rules", "run", "{model}"], "cannot read RuleSet"),
        (["report", "-o", "report.pdf"], "'-o' must name an .html file"),
    ],
)
def test_an_error_is_one_line_on_stderr(
    argv: list[str],
    message: str,
    db: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "model.json").write_text(
        to_json(fit_bgnbd([1, 0, 2], [3, 0, 5], [6, 7, 8], time_unit="W"))
    )
    argv = [a.replace("{model}", str(tmp_path / "model.json")) for a in argv]
    assert main([*argv, "--db", db]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("crmcore: error: ") and message in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err


def test_an_empty_database_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for command in (["summary"], ["fit", "bgnbd"], ["report", "-o", "r.html"]):
        assert main([*command, "--db", str(tmp_path / "none.db")]) == 1
        assert "no database file at" in capsys.readouterr().err
        assert not (tmp_path / "none.db").exists()  # not created by a command that reads
    with SqlUnitOfWork.from_url(f"sqlite:///{tmp_path / 'empty.db'}") as uow:
        uow.commit()
    assert main(["summary", "--db", str(tmp_path / "empty.db")]) == 1
    assert "holds no transactions: import some first" in capsys.readouterr().err


def test_progress_on_stderr_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "tx.csv"
    _write_transactions(source, 300, bad=False)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    argv = ["import", "transactions", str(source), "--db", url, "--batch-size", "100"]
    assert main([*argv, "--progress"]) == 0
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == "import transactions: 0 of 300 (0%)"
    assert lines[-1] == "import transactions: 300 of 300 (100%)"
    assert "import transactions" not in captured.out
    assert main(argv) == 0  # stderr is not a terminal here: no progress
    assert capsys.readouterr().err == ""


def test_verbose_shows_crmcore_log_messages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "tx.csv"
    _write_transactions(source, 5)
    url = f"sqlite:///{tmp_path / 'v.db'}"
    assert main(["import", "transactions", str(source), "--db", url, "-v"]) == 4
    err = capsys.readouterr().err
    assert "crmcore: INFO: crmcore.repositories: creating crmcore's tables" in err
    assert "crmcore: WARNING: crmcore.ingest: " in err and "2 of 7 rows rejected" in err
    assert main(["summary", "--db", url]) == 0  # the handler is gone after the command
    assert capsys.readouterr().err == ""


def test_progress_on_a_terminal_is_one_line_rewritten() -> None:
    import io

    from crmcore._cli._common import StderrProgress
    from crmcore.progress import stage

    screen = io.StringIO()
    with stage(StderrProgress(screen, tty=True), "import transactions", total=3) as tick:
        tick.advance(3)
    with stage(StderrProgress(screen, tty=True), "fit BG/NBD") as tick:
        tick.advance(2)
    shown = screen.getvalue().split("\r\x1b[K")  # each update rewrites the line
    assert shown[:3] == [
        "",
        "import transactions: 0 of 3 (0%)",
        "import transactions: 3 of 3 (100%)\n",
    ]
    assert shown[3] == "fit BG/NBD: 0" and shown[-1] == "fit BG/NBD: 2 of 2 (100%)\n"
    assert screen.getvalue().count("\n") == 2  # a stage ends its line once


def test_csv_cells_of_every_column_kind() -> None:
    import io

    import attrs

    from crmcore._cli._common import write_csv
    from crmcore._frames import Columns, Tabular

    @attrs.frozen
    class Kinds(Tabular):
        def _columns(self) -> Columns:
            return {
                "id": np.array(["a", None], dtype=object),
                "x": np.array([0.1 + 0.2, np.nan]),
                "n": np.ma.masked_array(np.array([3, 0]), mask=[False, True]),
                "flag": np.array([True, False]),
                "at": np.array(["2024-01-01T10:00:00.25", "NaT"], dtype="datetime64[us]"),
                "day": np.array(["2024-01-01", "2024-02-29"], dtype="datetime64[D]"),
            }

    stream = io.StringIO()
    assert write_csv(Kinds(), stream) == 2
    assert stream.getvalue().splitlines() == [
        "id,x,n,flag,at,day",
        "a,0.30000000000000004,3,true,2024-01-01T10:00:00.250000Z,2024-01-01",
        ",,,false,,2024-02-29",
    ]


def test_fit_shows_its_progress(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fit", "bgnbd", "--db", db, "-o", str(tmp_path / "m.json"), "--progress"]) == 0
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "fit BG/NBD: 0"
    assert lines[-1].startswith("fit BG/NBD: ") and lines[-1].endswith("(100%)")


def test_db_check_and_upgrade_take_an_sqlite_path_like_db(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``crmcore db check crm.db`` names the file as ``--db crm.db`` does (an acceptance review
    found it refused as "not a database URL")."""
    path = tmp_path / "crm.db"
    assert main(["db", "check", str(path)]) == 3  # no file yet: an upgrade is due
    assert not path.exists()  # checking created nothing
    assert main(["db", "upgrade", str(path)]) == 0
    assert main(["db", "check", str(path)]) == 0
    assert "up to date" in capsys.readouterr().out


def test_import_service_cases(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "cases.csv"
    source.write_text(
        "case,customer_id,channel,opened_at,category,owner_id,resolved_at,satisfaction\n"
        "sc-1,c-1,email,2025-01-02T09:00:00Z,billing,rep-1,2025-01-03T10:00:00Z,4\n"
        "sc-2,c-1,pigeon,2025-01-05T09:00:00Z,billing,rep-1,,\n"
        "sc-3,c-2,phone,2025-02-01T09:00:00Z,returns,rep-2,,5\n"
    )
    url = f"sqlite:///{tmp_path / 's.db'}"
    argv = ["import", "service-cases", str(source), "--db", url, "--column", "case=id"]
    assert main([*argv, "--rejects", str(tmp_path / "r.csv")]) == 4
    assert "3 rows read, 1 stored, 2 rejected" in capsys.readouterr().out
    with (tmp_path / "r.csv").open() as f:
        rejected = {(r["row"], r["column"]) for r in csv.DictReader(f)}
    assert rejected == {("2", "channel"), ("3", "satisfaction")}
    with SqlUnitOfWork.from_url(url) as uow:
        assert [c.id for c in uow.service_cases.list()] == ["sc-1"]
    assert main(argv) == 4  # a re-run stores nothing twice
    assert "0 stored, 2 rejected, 1 skipped" in capsys.readouterr().out
