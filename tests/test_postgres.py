"""State in PostgreSQL: what only a database URL has — where it is shown without its password,
what is refused before anything is written (a schema that is not refcamp's, one from a newer
refcamp, a server that refuses the login), and `db copy` between a file and a database.

Everything else runs on both engines throughout the suite (conftest's `engine` parameter); these
tests pick their own places, so they run once (`stateless`: no engine parameter).
"""

from __future__ import annotations

import json
import os
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from conftest import Run, check_db, open_state, state_rows
from pg_cluster import Cluster

pytestmark = pytest.mark.stateless

CAMPAIGN = "medium-referral"
PROGRAM = "sample-wallet"


@pytest.fixture
def database(postgres: Cluster) -> str:
    """A fresh, empty schema of the test process's own PostgreSQL server."""
    return postgres.url()


def schema_of(url: str) -> str:
    return url.rsplit("%3D", 1)[1]


def one_error(result: Any, code: int = 2) -> str:
    """Exit `code` with exactly one `refcamp: error:` line and no traceback; the line."""
    assert result.exit_code == code, result
    assert result.stdout == "", result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("refcamp: error:"), result
    return lines[0]


def tables_in(postgres: Cluster, url: str) -> list[str]:
    with psycopg.connect(postgres.base()) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
            (schema_of(url),),
        ).fetchall()
    return [row[0] for row in rows]


def seed_story(run: Run, *db: str) -> str:
    """An advocate, a friend rewarded through the advocate's code; returns the code."""
    assert run(*db, "campaign", "activate", CAMPAIGN).exit_code == 0
    made = run(*db, "profile", "update", "ADV", "--json")
    assert made.exit_code == 0, made
    code = made.json["createdReferrals"][0]["code"]
    closed = run(*db, "session", "close", "S1", "--profile", "FRIEND", "--referral", code)
    assert closed.exit_code == 0, closed
    return str(code)


def balance(run: Run, db: str, profile: str) -> int:
    shown = run("--db", db, "loyalty", "balance", profile, "--json")
    assert shown.exit_code == 0, shown
    [program] = [p for p in shown.json["programs"].values() if p["name"] == PROGRAM]
    return int(program["ledger"]["currentBalance"])


# --- where the state is ---------------------------------------------------------------------------


def test_db_path_shows_the_url_without_its_password(run: Run, database: str) -> None:
    secret = database.replace("postgresql://refcamp@", "postgresql://refcamp:s3cret-pw@")
    shown = run("--db", secret, "db", "path")
    assert shown.exit_code == 0, shown
    assert shown.stdout.strip() == database
    assert "s3cret" not in shown.stdout
    as_json = run("--db", secret, "db", "path", "--json").json
    assert as_json == {"path": database, "exists": True}
    # The password still reaches the server (this test server trusts any), and REFCAMP_DB works
    # as --db does; nothing the commands print shows it.
    done = run("profile", "update", "P", env={"REFCAMP_DB": secret})
    assert done.exit_code == 0, done
    assert "s3cret" not in done.stdout + done.stderr
    checked = run("db", "check", env={"REFCAMP_DB": secret})
    assert checked.stdout.strip() == f"{database}: ok"


def test_the_first_command_makes_the_tables_and_records_the_migrations(
    run: Run, database: str, postgres: Cluster
) -> None:
    assert tables_in(postgres, database) == []
    assert run("--db", database, "profile", "update", "P").exit_code == 0
    assert {"profiles", "sessions", "ledger", "migrations", "requests"} <= set(
        tables_in(postgres, database)
    )
    with closing(open_state(database)) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM migrations ORDER BY number")]
    assert names[0] == "m001_initial" and len(names) >= 8


# --- refused before anything is written -----------------------------------------------------------


def test_a_schema_holding_someone_elses_tables_is_refused_and_untouched(
    run: Run, database: str, postgres: Cluster
) -> None:
    postgres.sql(f"CREATE TABLE {schema_of(database)}.recipes (name text)")
    postgres.sql(f"INSERT INTO {schema_of(database)}.recipes VALUES ('soup')")
    line = one_error(run("--db", database, "profile", "update", "P"))
    assert "holds tables, but not refcamp's" in line
    assert tables_in(postgres, database) == ["recipes"]
    assert "not refcamp's" in one_error(run("--db", database, "referral", "list"))


def test_a_schema_from_a_newer_refcamp_is_refused(
    run: Run, database: str, postgres: Cluster
) -> None:
    assert run("--db", database, "profile", "update", "P").exit_code == 0
    postgres.sql(
        f"INSERT INTO {schema_of(database)}.migrations (number, name, applied) "
        "VALUES (99, 'm099_future', '2030-01-01T00:00:00Z')"
    )
    line = one_error(run("--db", database, "profile", "update", "Q"))
    assert "newer refcamp (schema 99" in line


def test_a_server_that_refuses_the_login_is_one_clear_line(run: Run, postgres: Cluster) -> None:
    nobody = postgres.base().replace("postgresql://refcamp@", "postgresql://stranger:pw@")
    line = one_error(run("--db", nobody, "profile", "update", "P"))
    assert "stranger" in line and "pw@" not in line
    closed = f"postgresql://refcamp@127.0.0.1:{_closed_port()}/refcamp"
    line = one_error(run("--db", closed, "profile", "show", "P"))
    assert "database postgresql://refcamp@127.0.0.1" in line
    missing = postgres.base("no_such_database")
    assert "no_such_database" in one_error(run("--db", missing, "db", "check"))


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the probe goes


def test_a_forecast_writes_nothing_to_a_database(
    run: Run, database: str, postgres: Cluster
) -> None:
    forecast = run("--db", database, "simulate", "--campaign", CAMPAIGN, "--customers", "20",
                   "--days", "3", "--seed", "1", "--json")  # fmt: skip
    assert forecast.exit_code == 0, forecast
    assert tables_in(postgres, database) == []  # not even refcamp's tables
    seed_story(run, "--db", database)
    before = state_rows(database)
    again = run("--db", database, "simulate", "--campaign", CAMPAIGN, "--customers", "20",
                "--days", "3", "--seed", "1", "--json")  # fmt: skip
    assert again.exit_code == 0, again
    assert state_rows(database) == before


# --- db copy --------------------------------------------------------------------------------------


def test_db_copy_moves_a_laptop_state_into_postgresql_and_back(
    run: Run, tmp_path: Path, database: str
) -> None:
    laptop = str(tmp_path / "laptop.db")
    code = seed_story(run, "--db", laptop)
    shown = run("--db", laptop, "profile", "show", "ADV", "--json").json

    copied = run("db", "copy", laptop, database, "--json")
    assert copied.exit_code == 0, copied
    report = copied.json
    assert report["ok"] is True and report["problems"] == []
    assert report["rows"]["profiles"] == 2 and report["rows"]["ledger"] == 2
    assert report["from"] == laptop and report["to"] == database

    # Same customers, same integer ids, same balances; the shared state goes on from there.
    assert run("--db", database, "profile", "show", "ADV", "--json").json == shown
    assert (balance(run, database, "ADV"), balance(run, database, "FRIEND")) == (100, 50)
    again = run("--db", database, "session", "close", "S2", "--profile", "F2", "--referral", code)
    assert again.exit_code == 0, again
    assert balance(run, database, "ADV") == 200
    made = run("--db", database, "profile", "update", "NEW", "--json").json
    assert made["customerProfile"]["id"] == 4  # ids go on after the copied ones (ADV, FRIEND, F2)
    check_db(run, "--db", database)

    back = str(tmp_path / "snapshot.db")
    returned = run("db", "copy", database, back)
    assert returned.exit_code == 0, returned
    assert "db check: both ok" in returned.stdout
    assert balance(run, back, "ADV") == 200
    assert state_rows(back).keys() == state_rows(database).keys()
    for table in ("profiles", "sessions", "referrals", "redemptions", "ledger"):
        assert len(state_rows(back)[table]) == len(state_rows(database)[table]), table
    check_db(run, "--db", back)


def test_db_copy_never_writes_over_a_state(run: Run, tmp_path: Path, database: str) -> None:
    laptop = str(tmp_path / "laptop.db")
    seed_story(run, "--db", laptop)
    assert run("db", "copy", laptop, database).exit_code == 0
    before = state_rows(database)
    line = one_error(run("db", "copy", laptop, database))
    assert "already holds a state" in line
    assert state_rows(database) == before
    line = one_error(run("db", "copy", database, laptop))
    assert "already holds a state" in line
    assert "both FROM and TO" in one_error(run("db", "copy", laptop, laptop))


def test_db_copy_refuses_a_damaged_source_and_leaves_no_file(
    run: Run, tmp_path: Path, database: str
) -> None:
    seed_story(run, "--db", database)
    with closing(open_state(database)) as conn:
        conn.execute("UPDATE referrals SET usage_counter = usage_counter + 5")
    target = tmp_path / "copy.db"
    line = one_error(run("db", "copy", database, str(target)))
    assert "is not sound" in line and "usage counter" in line and "nothing copied" in line
    assert not target.exists()
    missing = tmp_path / "missing.db"
    assert one_error(run("db", "copy", str(missing), database), code=1).startswith(
        "refcamp: error: no state file"
    )


def test_replay_and_requests_through_every_door_share_one_database(
    run: Run, database: str, tmp_path: Path
) -> None:
    """Two workspaces on one database (a replay, then commands) see each other's writes."""
    code = seed_story(run, "--db", database)
    log = tmp_path / "log.jsonl"
    lines = [
        {"path": f"/v2/customer_sessions/R{i}",
         "body": {"customerSession": {"profileId": f"RF{i}", "state": "closed",
                                      "referralCode": code}}}
        for i in range(5)
    ]  # fmt: skip
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    replayed = run("--db", database, "replay", str(log), "--json")
    assert replayed.exit_code == 0, replayed
    assert replayed.json["applied"] == 5
    assert balance(run, database, "ADV") == 600
    again = run("--db", database, "replay", str(log), "--json").json
    assert (again["applied"], again["skipped"]) == (0, 5)  # exactly once, resumed from the database
    check_db(run, "--db", database)


def test_the_environment_names_no_password_in_errors(run: Run, postgres: Cluster) -> None:
    url = postgres.base("no_such_database").replace("refcamp@", "refcamp:hunter2@")
    line = one_error(run("profile", "update", "P", env={"REFCAMP_DB": url}))
    assert "hunter2" not in line
    assert os.environ["REFCAMP_DB"] != url  # the test's own state is left alone


def test_a_simulation_goes_into_a_new_file_only(run: Run, database: str, tmp_path: Path) -> None:
    """--into is a new SQLite file; a URL there is refused before simulating (it once wrote a
    file named after the URL), and `db copy` puts the file into a database."""
    line = one_error(run("simulate", "--campaign", CAMPAIGN, "--customers", "5", "--days", "1",
                         "--into", database))  # fmt: skip
    assert "db copy" in line
    assert not Path("postgresql:").exists()
    kept = str(tmp_path / "sim.db")
    done = run("simulate", "--campaign", CAMPAIGN, "--customers", "5", "--days", "1",
               "--seed", "3", "--into", kept)  # fmt: skip
    assert done.exit_code == 0, done
    assert run("db", "copy", kept, database).exit_code == 0
    check_db(run, "--db", database)
