"""`refcamp serve` under real use (#23): each request judged at its own time however long it
waited, a database that stops and comes back, a disk that fills and frees, and a campaign file
half-saved while requests keep coming. Real servers, real HTTP, a real PostgreSQL server."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, open_state
from pg_cluster import Cluster
from serving import Reply, Server, refcamp, start, start_many, state_file
from test_replay_attack import fill, small_disk  # noqa: F401 (a fixture)

# Both engines in the default run: the clock race and the outage are about the state's engine.
pytestmark = [pytest.mark.slow, pytest.mark.both_engines]

EXPIRED = "OLD-2025"  # a coupon that expired on 2025-06-01
PAST = "2024-06-01T00:00:00Z"  # when it was valid


def checkout(code: str, profile: str, state: str = "closed") -> dict[str, Any]:
    item = {"name": "Boots", "sku": "B1", "price": 100, "quantity": 1}
    session = {"profileId": profile, "state": state, "couponCodes": [code], "cartItems": [item]}
    return {"customerSession": session}


def coupon_effects(reply: Reply) -> list[str]:
    assert reply.status == 200, reply
    kinds = ("acceptCoupon", "rejectCoupon")
    return [e["effectType"] for e in reply.body["effects"] if e["effectType"] in kinds]


@pytest.fixture
def expired_coupon(run: Run) -> str:
    valid = ("--starts", "2024-01-01T00:00:00Z", "--expires", "2025-06-01T00:00:00Z")
    for args in (
        ("campaign", "activate", "spring-coupons"),
        ("coupon", "create", "--campaign", "spring-coupons", "--code", EXPIRED, *valid),
    ):
        done = run(*args)
        assert done.exit_code == 0, done
    return EXPIRED


@contextmanager
def write_lock() -> Iterator[None]:
    """The state's write lock, held by this test (as a command or another server holds it)."""
    with closing(open_state(state_file())) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")


def in_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """Start fn in a thread; the returned function waits for its result."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as error:  # handed to the waiter
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def result() -> Any:
        thread.join(60)
        assert not thread.is_alive(), "the request never finished"
        if "error" in box:
            raise box["error"]
        return box["value"]

    return result


# --- 1. each request on its own clock ------------------------------------------------------------


def test_a_request_waiting_for_the_lock_keeps_its_own_time(expired_coupon: str) -> None:
    """A checkout at the real time waits behind a command's write lock; meanwhile another client
    asks for 2024 (when the coupon was valid), and a refused request arrives. The checkout is
    still judged now: the coupon has expired. (Before: accepted and redeemed at 2024.)"""
    server = start()
    try:
        with write_lock():
            now_checkout = in_thread(
                lambda: server.request("PUT", "/v2/customer_sessions/NOW", checkout(EXPIRED, "A"))
            )
            time.sleep(0.4)  # it waits for the lock
            past = in_thread(
                lambda: server.request(
                    "PUT", f"/v2/customer_sessions/PAST?now={PAST}", checkout(EXPIRED, "B", "open")
                )
            )
            refused = in_thread(lambda: server.request("PUT", "/v2/customer_sessions/X", [1]))
            time.sleep(0.4)
        assert coupon_effects(now_checkout()) == ["rejectCoupon"]
        assert coupon_effects(past()) == ["acceptCoupon"]
        assert refused().status == 400
    finally:
        server.stop()
    with closing(open_state(state_file())) as conn:
        used = conn.execute(
            "SELECT usage_counter FROM coupons WHERE code = ?", (EXPIRED,)
        ).fetchone()
    assert used[0] == 0


def test_two_servers_with_clients_in_the_past_never_accept_an_expired_coupon(
    expired_coupon: str,
) -> None:
    """Two servers on one state; clients at the real time and clients asking for 2024 take turns
    on both. Every checkout at the real time rejects the expired coupon (before: 5 of 40 were
    accepted on SQLite, all of them on PostgreSQL)."""
    servers = start_many(2)
    got: list[list[str]] = []
    try:

        def client(number: int) -> None:
            for turn in range(10):
                server = servers[(number + turn) % 2]
                if number % 2:  # a test client in the past, on open sessions (nothing booked)
                    path = f"/v2/customer_sessions/P{number}-{turn}?now={PAST}"
                    server.request("PUT", path, checkout(EXPIRED, f"P{number}", "open"))
                else:
                    path = f"/v2/customer_sessions/N{number}-{turn}"
                    got.append(coupon_effects(server.request("PUT", path, checkout(EXPIRED, "N"))))

        waits = [in_thread(lambda n=n: client(n)) for n in range(8)]
        with write_lock():  # everyone queues behind a command for a moment
            time.sleep(0.5)
        for wait in waits:
            wait()
    finally:
        for server in servers:
            server.stop()
    assert len(got) == 40
    assert all(effects == ["rejectCoupon"] for effects in got), got


# --- 2. a database that stops and comes back -----------------------------------------------------


class Load:
    """Clients registering new customers on some servers until stopped; every answer kept."""

    def __init__(self, servers: list[Server], clients: int = 4) -> None:
        self.servers = servers
        self.answers: list[tuple[float, int, str, Reply]] = []
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)
        ]
        for thread in self.threads:
            thread.start()

    def _client(self, number: int) -> None:
        turn = 0
        while not self.stopping.is_set() and turn < 5000:
            server = self.servers[(number + turn) % len(self.servers)]
            profile = f"C{number}-{turn}"
            path = f"/v2/customer_profiles/{profile}?runRuleEngine=true"
            reply = server.request("PUT", path, {"attributes": {"n": turn}}, timeout=60)
            self.answers.append((time.monotonic(), reply.status, profile, reply))
            turn += 1
            time.sleep(0.01)

    def since(self, moment: float) -> list[tuple[float, int, str, Reply]]:
        return [a for a in self.answers if a[0] >= moment]

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(90)


def wait_until(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


def stored_profiles() -> set[str]:
    with closing(open_state(state_file())) as conn:
        return {row[0] for row in conn.execute("SELECT id FROM profiles")}


def assert_unavailable(reply: Reply) -> None:
    """503 in Talon.One's error body, with Retry-After."""
    assert reply.status == 503, reply
    assert set(reply.body) == {"message", "errors", "StatusCode"}, reply.body
    assert reply.body["StatusCode"] == 503
    assert int(reply.headers["retry-after"]) >= 1, reply.headers


def assert_outage_said_once(err: str) -> None:
    assert err.count("answering 503 until the database is back") == 1, err
    assert err.count("the database is back after") == 1, err
    assert "Traceback" not in err, err


def test_postgresql_stopped_and_started_under_load(
    engine: str, postgres: Cluster, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two servers under load; PostgreSQL stops at once (immediate) and starts again 3 s later:
    503 with Retry-After while it is down (never 500), 200 again by itself once it is back, every
    acknowledged request stored, db check clean. Each server says the outage and the recovery
    once. (Before: 500 "the connection is closed" for good, until serve was restarted.)"""
    if engine != "postgresql":
        pytest.skip("a PostgreSQL server that stops and starts")
    # The test cluster commits asynchronously for speed, so a crash could lose what it
    # acknowledged; here commits wait for the WAL, as a real server's do.
    monkeypatch.setenv("REFCAMP_DB", state_file() + "%20-csynchronous_commit%3Don")
    assert run("campaign", "activate", "medium-referral").exit_code == 0
    servers = start_many(2)
    load = Load(servers)
    try:
        wait_until(lambda: sum(a[1] == 200 for a in load.answers) >= 20, 30, "load running")
        postgres.halt()
        stopped = time.monotonic()
        wait_until(lambda: any(a[1] == 503 for a in load.since(stopped)), 30, "503 answered")
        time.sleep(3)
        postgres.resume()
        back = time.monotonic()
        wait_until(
            lambda: sum(a[1] == 200 for a in load.since(back)) >= 10,
            60,
            "200 again after PostgreSQL came back",
        )
    finally:
        load.stop()
        said = [server.stop()[1] for server in servers]
    statuses = {a[1] for a in load.answers}
    assert statuses <= {200, 503}, statuses
    for _, status, _, reply in load.answers:
        if status == 503:
            assert_unavailable(reply)
    acknowledged = {profile for _, status, profile, _ in load.answers if status == 200}
    assert acknowledged <= stored_profiles()
    for err in said:
        assert_outage_said_once(err)
    check = run("db", "check")
    assert check.exit_code == 0, check


@pytest.mark.sqlite_only  # a SQLite state file on a file system that fills up
def test_a_disk_that_fills_and_frees_is_503_then_200(
    run: Run,
    small_disk: Path,  # noqa: F811 (the fixture imported above)
) -> None:
    db = str(small_disk / "state.db")
    assert run("--db", db, "campaign", "activate", "medium-referral").exit_code == 0
    server = start("--db", db)
    try:
        assert server.request("PUT", "/v2/customer_profiles/BEFORE", {}).status == 200
        filler = fill(small_disk)
        answers = []
        for n in range(20):  # enough to need new pages
            big = {"attributes": {"text": "x" * 20_000}}
            answers.append(server.request("PUT", f"/v2/customer_profiles/FULL{n}", big))
        full = [a for a in answers if a.status != 200]
        assert full, "the disk never filled"
        for reply in full:
            assert_unavailable(reply)
        filler.unlink()
        after = server.request("PUT", "/v2/customer_profiles/AFTER", {"attributes": {}})
        assert after.status == 200, after
    finally:
        _, err = server.stop()
    assert_outage_said_once(err)
    check = run("--db", db, "db", "check")
    assert check.exit_code == 0, check


# --- 3. a half-saved campaign file ---------------------------------------------------------------


def test_a_broken_campaign_file_under_load_keeps_the_last_good_campaigns(
    run: Run, campaigns_dir: Path
) -> None:
    """An editor half-saves a campaign file while clients register and read: every request still
    answers 200 with the campaigns that validated last, the console shows a banner naming the
    file, stderr says it once; the fixed file is taken as before."""
    assert run("campaign", "activate", "medium-referral").exit_code == 0
    server = start()
    load = Load([server], clients=3)
    broken = campaigns_dir / "broken.toml"
    try:
        wait_until(lambda: len(load.answers) >= 10, 30, "load running")
        broken.write_text("[campaign\n")
        time.sleep(2.5)  # the server looks at the files once a second
        during = time.monotonic()
        inventory = server.request("GET", "/v1/customer_profiles/C0-0/inventory")
        assert inventory.status == 200, inventory
        page = server_page(server, "/campaigns")
        assert "do not validate" in page and "broken.toml" in page, page[:2000]
        wait_until(lambda: len(load.since(during)) >= 10, 30, "load during the broken file")
        broken.write_text(
            (campaigns_dir / "spring-coupons.toml")
            .read_text()
            .replace('id = "spring-coupons"', 'id = "second-coupons"')
        )
        time.sleep(2.5)
        campaigns = refcamp("campaign", "list", "--json")
        assert campaigns[0] == 0, campaigns
        page = server_page(server, "/campaigns")
        assert "second-coupons" in page and "do not validate" not in page
    finally:
        load.stop()
        _, err = server.stop()
    assert {a[1] for a in load.answers} == {200}, {a[1] for a in load.answers}
    assert err.count("broken.toml") == 1, err
    assert "validate again" in err and "Traceback" not in err, err


def server_page(server: Server, path: str) -> str:
    """A console page as its HTML (signed in with the API key's header, as the live feed is)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path, headers={"Authorization": f"ApiKey-v1 {server.key}"})
        response = conn.getresponse()
        text = response.read().decode()
        assert response.status == 200, (response.status, text[:500])
        return text
    finally:
        conn.close()
