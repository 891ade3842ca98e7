"""`refcamp serve` over real HTTP: the endpoints, authentication, Talon.One's error bodies, bad
input, and the same JSON through the three doors (HTTP, CLI, replay)."""

from __future__ import annotations

import json
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, open_state
from serving import KEY, STARTED, Server, refcamp, start, state_file

from refcamp.paths import SAMPLES

NOW = "2026-05-01T10:00:00Z"
SEED = {"REFCAMP_SEED": "7"}
SHOWN = ["customerProfile", "customerSession", "event", "ruleFailureReasons"]


@pytest.fixture
def server(run: Run, campaigns_dir: Path) -> Iterator[Server]:
    # Activated in-process: the served state file is the same, and a command's own process
    # would cost every test here about half a second.
    activated = run("campaign", "activate", "medium-referral")
    assert activated.exit_code == 0, activated
    running = start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def shared_servers(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Callable[[str], tuple[Server, dict[str, str]]]]:
    """One server per engine, on the seed campaigns (activated), for the tests whose requests are
    all refused: they write nothing, so they can share a state, and not wait for a server of
    their own to start and stop (about a second each on a busy 2-core machine)."""
    running: dict[str, tuple[Server, dict[str, str]]] = {}

    def get(engine: str) -> tuple[Server, dict[str, str]]:
        if engine not in running:
            root = tmp_path_factory.mktemp(f"shared-{engine}")
            campaigns = root / "campaigns"
            shutil.copytree(SAMPLES, campaigns)
            postgres = request.getfixturevalue("postgres") if engine == "postgresql" else None
            env = {
                "REFCAMP_DB": postgres.url() if postgres else str(root / "state.db"),
                "REFCAMP_CAMPAIGNS": str(campaigns),
                "HOME": str(root),
                "XDG_DATA_HOME": str(root / "data"),
            }
            code, _, err = refcamp("campaign", "activate", "medium-referral", env=env)
            assert code == 0, err
            running[engine] = (start(env=env), env)
        return running[engine]

    try:
        yield get
    finally:
        for server, _ in running.values():
            server.stop()


@pytest.fixture
def shared_server(
    shared_servers: Callable[[str], tuple[Server, dict[str, str]]],
    engine: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Server:
    """This module's server of the test's engine (see shared_servers), its state and campaigns
    the test's own (REFCAMP_DB, REFCAMP_CAMPAIGNS: what counts() and the commands read)."""
    server, env = shared_servers(engine)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return server


def counts() -> dict[str, int]:
    """How many rows the state file holds, per table that a request writes."""
    with closing(open_state(state_file())) as conn:
        tables = ("profiles", "sessions", "ledger", "referrals", "coupons", "events")
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}


def assert_error(reply: Any, status: int, *words: str) -> dict[str, Any]:
    """Talon.One's ErrorResponseWithStatus with this status, its message naming `words`."""
    assert reply.status == status, reply
    body = reply.body
    assert set(body) == {"message", "errors", "StatusCode"}, body
    assert body["StatusCode"] == status
    assert body["errors"] and {"title", "details", "source"} <= set(body["errors"][0])
    for word in words:
        assert word in body["message"], body
    return body


# --- the seed story over HTTP ------------------------------------------------------------------


@pytest.mark.both_engines
@pytest.mark.slow
def test_seed_story_over_http(server: Server) -> None:
    registered = server.request(
        "PUT", "/v2/customer_profiles/NEWCUSTOMER?runRuleEngine=true", {"attributes": {}}
    )
    assert registered.status == 200, registered
    code = registered.body["createdReferrals"][0]["code"]
    assert registered.body["createdReferrals"][0]["campaignId"] == 1
    assert "customerProfile" not in registered.body  # not asked for in responseContent

    closed = server.request(
        "PUT",
        "/v2/customer_sessions/S1",
        {
            "customerSession": {"profileId": "FRIEND1", "state": "closed", "referralCode": code},
            "responseContent": ["customerSession", "loyalty"],
        },
    )
    assert closed.status == 200, closed
    kinds = [(e["effectType"], e["props"].get("value")) for e in closed.body["effects"]]
    assert kinds == [("acceptReferral", code), ("addLoyaltyPoints", 100), ("addLoyaltyPoints", 50)]
    assert closed.body["customerSession"]["state"] == "closed"
    assert closed.body["loyalty"]["programs"]["1"]["ledger"]["currentBalance"] == 50

    for who, points in (("NEWCUSTOMER", 100), ("FRIEND1", 50)):
        for program in ("1", "sample-wallet"):  # Talon.One's integer id, or refcamp's
            reply = server.request("GET", f"/v1/loyalty_programs/{program}/profile/{who}/balances")
            assert reply.status == 200, reply
            assert reply.body["balance"]["activePoints"] == points

    again = server.request("GET", "/v2/customer_sessions/S1")
    assert again.status == 200
    assert again.body["customerSession"]["integrationId"] == "S1"
    assert again.body["effects"][0]["effectType"] == "acceptReferral"

    # The command line works on the same state file while the server runs.
    code_, out, err = refcamp("loyalty", "balance", "NEWCUSTOMER", "--program", "1", "--json")
    assert code_ == 0, err
    assert json.loads(out)["balance"]["activePoints"] == 100
    assert refcamp("db", "check")[0] == 0


@pytest.mark.both_engines
@pytest.mark.slow
def test_dry_run_changes_nothing(server: Server) -> None:
    before = counts()
    reply = server.request(
        "PUT", "/v2/customer_profiles/DRY?runRuleEngine=true&dry=true", {"attributes": {"a": 1}}
    )
    assert reply.status == 200
    assert reply.body["dryRun"] is True
    assert reply.body["createdReferrals"]  # what a real run would do
    assert counts() == before
    assert server.request("GET", "/v1/customer_profiles/DRY/inventory").status == 404


# --- authentication ----------------------------------------------------------------------------


def test_without_the_right_key_nothing_runs(shared_server: Server) -> None:
    before = counts()
    for header in (None, "ApiKey-v1 wrong", f"Bearer {KEY}", f"ApiKey-v2 {KEY}", KEY):
        reply = shared_server.request(
            "PUT",
            "/v2/customer_profiles/INTRUDER?runRuleEngine=true",
            {"attributes": {}},
            headers={"Authorization": header or ""},
        )
        assert_error(reply, 401, "API key")
    assert counts() == before


@pytest.mark.slow
def test_a_key_can_come_from_the_environment(campaigns_dir: Path) -> None:
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "refcamp", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**__import__("os").environ, "REFCAMP_API_KEY": "from-env"},
    )
    line = process.stdout.readline().decode() if process.stdout else ""
    server = Server(process, int(STARTED.search(line).group(1)), "from-env")  # type: ignore[union-attr]
    try:
        assert "Authorization: ApiKey-v1 from-env" in line
        console = process.stdout.readline().decode() if process.stdout else ""
        assert console.startswith(f"console: http://127.0.0.1:{server.port}/ "), console
        assert "sign in with the same key" in console
        assert server.request("GET", "/v2/customer_sessions/NONE").status == 404
    finally:
        server.stop()


@pytest.mark.slow
def test_without_a_key_one_is_made_and_printed(campaigns_dir: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "REFCAMP_API_KEY"}
    process = subprocess.Popen(
        [sys.executable, "-m", "refcamp", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    line = process.stdout.readline().decode() if process.stdout else ""
    key = line.rsplit("ApiKey-v1 ", 1)[1].strip().rstrip(")")
    server = Server(process, int(STARTED.search(line).group(1)), key)  # type: ignore[union-attr]
    try:
        assert len(key) >= 24
        assert server.request("GET", "/v2/customer_sessions/NONE").status == 404
        assert server.request("GET", "/v2/customer_sessions/NONE", key="x").status == 401
    finally:
        server.stop()


# --- paths and methods -------------------------------------------------------------------------


def test_unknown_path_wrong_method_and_endpoints_not_emulated(shared_server: Server) -> None:
    assert_error(shared_server.request("GET", "/v2/nothing"), 404, "/v2/nothing")
    assert_error(shared_server.request("DELETE", "/v2/events"), 405, "DELETE")
    body = assert_error(
        shared_server.request("PUT", "/v1/catalogs/4/sync", {}), 501, "does not emulate"
    )
    assert "/v1/catalogs/{catalogId}/sync" in body["message"]
    assert_error(
        shared_server.request("GET", "/v1/loyalty_programs/1/cards/C1/transactions"), 501, "cards"
    )


def test_unknown_things_are_404(shared_server: Server) -> None:
    assert_error(shared_server.request("GET", "/v2/customer_sessions/NOPE"), 404, "NOPE")
    assert_error(
        shared_server.request("GET", "/v1/loyalty_programs/99/profile/X/balances"), 404, "99"
    )
    assert_error(shared_server.request("GET", "/v1/customer_profiles/NOPE/inventory"), 404, "NOPE")
    assert_error(shared_server.request("DELETE", "/v1/customer_data/NOPE"), 404, "NOPE")
    assert_error(
        shared_server.request("POST", "/v1/coupon_reservations/NOPE", {"integrationIDs": ["A"]}),
        404,
        "NOPE",
    )


@pytest.mark.slow
def test_conflicts_are_409(server: Server) -> None:
    body = {"customerSession": {"profileId": "P", "state": "open"}}
    assert server.request("PUT", "/v2/customer_sessions/O1", body).status == 200
    assert_error(server.request("PUT", "/v2/customer_sessions/O1/reopen"), 409, "open")
    cancel = {"customerSession": {"state": "cancelled"}}
    assert server.request("PUT", "/v2/customer_sessions/O1", cancel).status == 200
    close = {"customerSession": {"state": "closed"}}
    assert_error(server.request("PUT", "/v2/customer_sessions/O1", close), 409, "cancelled")


# --- bad input ---------------------------------------------------------------------------------

# Every field of the session body with a value of the wrong type, and the pointer Talon.One's
# error names for it.
WRONG = [
    ({"customerSession": []}, "/customerSession"),
    ({"customerSession": {"profileId": 5}}, "/customerSession/profileId"),
    ({"customerSession": {"state": "shipped"}}, "/customerSession/state"),
    ({"customerSession": {"state": 1}}, "/customerSession/state"),
    ({"customerSession": {"cartItems": {}}}, "/customerSession/cartItems"),
    ({"customerSession": {"cartItems": [5]}}, "/customerSession/cartItems/0"),
    ({"customerSession": {"cartItems": [{"quantity": 1}]}}, "/customerSession/cartItems/0/sku"),
    (
        {"customerSession": {"cartItems": [{"sku": "a", "quantity": "2"}]}},
        "/customerSession/cartItems/0/quantity",
    ),
    (
        {"customerSession": {"cartItems": [{"sku": "a", "quantity": 1, "price": "abc"}]}},
        "/customerSession/cartItems/0/price",
    ),
    ({"customerSession": {"couponCodes": "SAVE"}}, "/customerSession/couponCodes"),
    ({"customerSession": {"couponCodes": [1]}}, "/customerSession/couponCodes/0"),
    ({"customerSession": {"referralCode": 7}}, "/customerSession/referralCode"),
    ({"customerSession": {"attributes": []}}, "/customerSession/attributes"),
    ({"customerSession": {"additionalCosts": []}}, "/customerSession/additionalCosts"),
    ({"customerSession": {"identifiers": "x"}}, "/customerSession/identifiers"),
    ({"customerSession": {}, "responseContent": ["everything"]}, "/responseContent/0"),
]


def test_wrong_types_are_400_with_a_pointer(shared_server: Server) -> None:
    before = counts()
    for body, where in WRONG:
        reply = shared_server.request("PUT", "/v2/customer_sessions/BAD", body)
        error = assert_error(reply, 400)
        assert error["errors"][0]["source"] == {"pointer": where}, (body, error)
    assert counts() == before


def test_invalid_json_is_400(shared_server: Server) -> None:
    before = counts()
    for raw in (b"{", b"[1,", b'{"customerSession": NaN}', b"\xff\xfe", b'{"a": 1}}'):
        reply = shared_server.request("PUT", "/v2/customer_sessions/BAD", raw=raw)
        assert_error(reply, 400, "body")
    assert counts() == before


def test_ids_with_control_characters_are_400(shared_server: Server) -> None:
    before = counts()
    for bad in ("A%00B", "A%0AB", "%7F", "A%1bB"):
        reply = shared_server.request("PUT", f"/v2/customer_profiles/{bad}?runRuleEngine=true", {})
        error = assert_error(reply, 400, "control")
        assert error["errors"][0]["source"] == {"parameter": "integrationId"}
    assert counts() == before


@pytest.mark.slow
def test_an_encoded_slash_in_an_id_never_reaches_another_endpoint(server: Server) -> None:
    code = server.request("PUT", "/v2/customer_profiles/ADV?runRuleEngine=true", {}).body[
        "createdReferrals"
    ][0]["code"]
    closed = {"customerSession": {"profileId": "F", "state": "closed", "referralCode": code}}
    assert server.request("PUT", "/v2/customer_sessions/S1", closed).status == 200
    before = counts()
    for path in ("/v2/customer_sessions/S1%2Freopen", "/v2/customer_sessions/S1%2freopen"):
        reply = server.request("PUT", path, {"customerSession": {"state": "closed"}})
        assert assert_error(reply, 400, "/")["errors"][0]["source"] == {"parameter": "path"}
    assert counts() == before
    balance = server.request("GET", "/v1/loyalty_programs/1/profile/ADV/balances")
    assert balance.body["balance"]["activePoints"] == 100


def test_bad_query_values_are_400_naming_the_parameter(shared_server: Server) -> None:
    reply = shared_server.request("PUT", "/v2/customer_profiles/A?runRuleEngine=maybe", {})
    assert assert_error(reply, 400)["errors"][0]["source"] == {"parameter": "runRuleEngine"}
    reply = shared_server.request("PUT", "/v2/customer_sessions/S?now=yesterday", {})
    assert assert_error(reply, 400)["errors"][0]["source"] == {"parameter": "now"}
    reply = shared_server.request("GET", "/v1/loyalty_programs/1/profile/A/transactions?pageSize=0")
    assert assert_error(reply, 400)["errors"][0]["source"] == {"parameter": "pageSize"}


def test_a_body_over_one_mebibyte_is_413(shared_server: Server) -> None:
    before = counts()
    big = json.dumps({"attributes": {"x": "y" * (1 << 20)}}).encode()
    assert_error(shared_server.request("PUT", "/v2/customer_profiles/BIG", raw=big), 413, "larger")
    # Without a Content-Length (chunked), the limit holds too.
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", shared_server.port, timeout=30)
    conn.putrequest("PUT", "/v2/customer_profiles/BIG")
    conn.putheader("Authorization", f"ApiKey-v1 {KEY}")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"y" * 65536
    try:
        head = b'{"attributes": {"x": "'
        conn.send(f"{len(head):x}\r\n".encode() + head + b"\r\n")
        for _ in range(20):
            conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server may answer and close before the whole body is sent
    response = conn.getresponse()
    assert response.status == 413
    conn.close()
    assert counts() == before
    assert shared_server.request("GET", "/v2/customer_sessions/NONE").status == 404  # still serving


@pytest.mark.slow
def test_a_slow_client_is_timed_out_and_others_are_served(campaigns_dir: Path) -> None:
    server = start(options=("--body-timeout", "1"))
    try:
        _slow_client(server)
    finally:
        server.stop()


def _slow_client(server: Server) -> None:
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    slow.sendall(
        b"PUT /v2/customer_profiles/SLOW HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: ApiKey-v1 {KEY}\r\n".encode()
        + b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    )
    started = time.monotonic()
    # Others are answered while the slow body is pending.
    assert server.request("GET", "/v2/customer_sessions/NONE").status == 404
    answer = b""
    while b"StatusCode" not in answer:
        part = slow.recv(65536)
        if not part:
            break
        answer += part
    slow.close()
    answer = answer.decode()
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "not received within 1 seconds" in answer
    assert time.monotonic() - started < 10
    assert counts()["profiles"] == 0


# --- the endpoints that have no command twin in the seed story ----------------------------------


@pytest.mark.slow
def test_referrals_over_the_api(server: Server) -> None:
    reply = server.request(
        "POST",
        "/v1/referrals",
        {"campaignId": 1, "advocateProfileIntegrationId": "ADV", "attributes": {"src": "api"}},
    )
    assert reply.status == 201, reply
    assert reply.body["advocateProfileIntegrationId"] == "ADV"
    assert reply.body["attributes"] == {"src": "api"}
    many = server.request(
        "POST",
        "/v1/referrals_for_multiple_advocates?silent=no",
        {"campaignId": 1, "usageLimit": 1, "advocateProfileIntegrationIds": ["A1", "A2", "A3"]},
    )
    assert many.status == 201, many
    assert many.body["totalResultSize"] == 3
    assert [r["advocateProfileIntegrationId"] for r in many.body["data"]] == ["A1", "A2", "A3"]
    assert all(r["usageLimit"] == 1 for r in many.body["data"])
    silent = server.request(
        "POST",
        "/v1/referrals_for_multiple_advocates",
        {"campaignId": 1, "advocateProfileIntegrationIds": ["A4"]},
    )
    assert (silent.status, silent.body) == (204, None)
    assert refcamp("referral", "list", "--advocate", "A4", "--json")[1].count('"code"') == 1
    bad = server.request(
        "POST", "/v1/referrals", {"campaignId": 99, "advocateProfileIntegrationId": "X"}
    )
    assert_error(bad, 404, "99")


@pytest.mark.slow
def test_transactions_page_through_the_ledger(server: Server) -> None:
    for points in range(1, 6):
        code, _, err = refcamp(
            "loyalty", "add", "P", "--program", "sample-wallet", "--points", str(points),
            "--reason", f"r{points}",
        )  # fmt: skip
        assert code == 0, err
    path = "/v1/loyalty_programs/1/profile/P/transactions"
    # The newest first: "If no filters are applied, the last 50 loyalty transactions ... are
    # returned" (getLoyaltyProgramProfileTransactions); skip pages back in time.
    first = server.request("GET", f"{path}?pageSize=2")
    assert first.body["hasMore"] is True
    assert [t["amount"] for t in first.body["data"]] == [5, 4]
    last = server.request("GET", f"{path}?pageSize=2&skip=4")
    assert last.body == {"hasMore": False, "data": last.body["data"]}
    assert [t["amount"] for t in last.body["data"]] == [1]
    for points in range(6, 61):  # 60 entries: without paging, the last 50
        assert refcamp("loyalty", "add", "P", "--program", "sample-wallet", "--points",
                       str(points), "--reason", "r")[0] == 0  # fmt: skip
    default = server.request("GET", path)
    assert [t["amount"] for t in default.body["data"]] == list(range(60, 10, -1))
    assert default.body["hasMore"] is True
    assert all(t["programId"] == 1 for t in first.body["data"])


@pytest.mark.slow
def test_reservations(server: Server) -> None:
    code, out, err = refcamp("campaign", "activate", "spring-coupons")
    assert code == 0, err
    code, out, err = refcamp("coupon", "create", "--campaign", "spring-coupons", "--json")
    assert code == 0, err
    value = json.loads(out)[0]["value"]
    reply = server.request("POST", f"/v1/coupon_reservations/{value}", {"integrationIDs": ["C1"]})
    assert reply.status == 201, reply
    assert "recipientIntegrationId" not in reply.body  # a soft reservation
    reserved = server.request("GET", f"/v1/coupon_reservations/customerprofiles/{value}")
    assert [p["integrationId"] for p in reserved.body["data"]] == ["C1"]
    other = server.request("POST", f"/v1/coupon_reservations/{value}", {"integrationIDs": ["C2"]})
    assert other.status == 201, other
    reserved = server.request("GET", f"/v1/coupon_reservations/customerprofiles/{value}")
    assert [p["integrationId"] for p in reserved.body["data"]] == ["C1", "C2"]
    both = {"integrationIDs": ["C1", "C2"]}
    gone = server.request("DELETE", f"/v1/coupon_reservations/{value}", both)
    assert gone.status == 204
    reserved = server.request("GET", f"/v1/coupon_reservations/customerprofiles/{value}")
    assert reserved.body == {"totalResultSize": 0, "data": []}


@pytest.mark.slow
def test_inventory_and_customer_data_deletion(server: Server) -> None:
    server.request(
        "PUT",
        "/v2/customer_profiles/INV?runRuleEngine=true",
        {"attributes": {"email": "a@example.com"}},
    )
    server.request(
        "PUT",
        "/v2/customer_sessions/INV-S",
        {"customerSession": {"profileId": "INV", "attributes": {"note": "gift"}}},
    )
    inventory = server.request(
        "GET", "/v1/customer_profiles/INV/inventory?profile=true&referrals=true&loyalty=true"
    )
    assert inventory.status == 200
    assert inventory.body["profile"]["attributes"] == {"email": "a@example.com"}
    assert len(inventory.body["referrals"]) == 1
    assert "coupons" not in inventory.body  # not asked for
    # trackEventV2: "`profileId` is required" (it was left out here: an anonymous event).
    event = {
        "profileId": "INV",
        "type": "clicked",
        "sessionId": "INV-S",
        "attributes": {"email": "a@example.com"},
    }
    assert server.request("POST", "/v2/events", event).status == 204  # silent=yes: the default
    assert server.request("DELETE", "/v1/customer_data/INV").status == 204
    with closing(open_state(state_file())) as conn:
        rows = conn.execute("SELECT attributes FROM events WHERE session_id = 'INV-S'")
        kept = [tuple(row) for row in rows]
    assert kept == [("{}",)]  # an event sent with the customer's session is theirs too
    after = server.request("GET", "/v1/customer_profiles/INV/inventory?profile=true&referrals=true")
    assert after.body["profile"]["attributes"] == {}
    assert after.body["referrals"][0]["code"] == inventory.body["referrals"][0]["code"]
    session = server.request("GET", "/v2/customer_sessions/INV-S")
    assert session.body["customerSession"]["attributes"] == {}


@pytest.mark.slow
def test_audiences_by_integer_id(server: Server) -> None:
    created = server.request("POST", "/v2/audiences", {"name": "vip"})
    assert created.status == 201, created
    number = created.body["id"]
    assert isinstance(number, int)
    reply = server.request(
        "PUT",
        "/v2/customer_profiles/AUD",
        {"audiencesChanges": {"adds": [number]}, "responseContent": ["customerProfile"]},
    )
    assert reply.status == 200, reply
    assert reply.body["customerProfile"]["audienceMemberships"] == [{"id": number, "name": "vip"}]
    changes = {"data": [{"action": "delete", "profileIntegrationId": "AUD", "audienceId": number}]}
    assert server.request("POST", "/v2/customer_audiences", changes).status == 204
    profile = server.request("GET", "/v1/customer_profiles/AUD/inventory?profile=true")
    assert profile.body["profile"]["audienceMemberships"] == []
    unknown = {"audiencesChanges": {"adds": [number + 100]}}
    assert_error(server.request("PUT", "/v2/customer_profiles/AUD", unknown), 404, "audience")


@pytest.mark.slow
def test_many_profiles_at_once(server: Server) -> None:
    body = {
        "customerProfiles": [{"integrationId": f"M{i}", "attributes": {"i": i}} for i in range(3)]
    }
    silent = server.request("PUT", "/v2/customer_profiles", body)
    assert silent.status == 204  # silent=yes is the default, as in Talon.One
    assert silent.body is None
    loud = server.request("PUT", "/v2/customer_profiles?silent=no", body)
    states = loud.body["integrationStates"]
    assert [s["customerProfile"]["integrationId"] for s in states] == ["M0", "M1", "M2"]
    # Rules do not run for this endpoint, as in Talon.One: no referral codes were made.
    assert refcamp("referral", "list", "--json")[1].strip() == "[]"
    bad = {"customerProfiles": [{"integrationId": "OK"}, {"attributes": {}}]}
    error = assert_error(server.request("PUT", "/v2/customer_profiles", bad), 400)
    assert error["errors"][0]["source"] == {"pointer": "/customerProfiles/1/integrationId"}


def test_a_return_sent_to_the_session_path_is_refused(shared_server: Server) -> None:
    body = {"return": {"returnedCartItems": [{"position": 0}]}}
    error = assert_error(
        shared_server.request("PUT", "/v2/customer_sessions/R1", body), 400, "/returns"
    )
    assert error["errors"][0]["source"] == {"pointer": "/return"}


@pytest.mark.slow
def test_reopen_and_returns(server: Server) -> None:
    code = server.request("PUT", "/v2/customer_profiles/ADV?runRuleEngine=true", {}).body[
        "createdReferrals"
    ][0]["code"]
    session = {
        "customerSession": {
            "profileId": "F",
            "state": "closed",
            "referralCode": code,
            "cartItems": [
                {"sku": "a", "quantity": 2, "price": 30},
                {"sku": "b", "quantity": 1, "price": 40},
            ],
        }
    }
    assert server.request("PUT", "/v2/customer_sessions/R1", session).status == 200
    returned = server.request(
        "POST",
        "/v2/customer_sessions/R1/returns",
        {
            "return": {"returnedCartItems": [{"position": 0, "quantity": 1}]},
            "responseContent": ["customerSession"],
        },
    )
    assert returned.status == 200, returned
    # the seed's points were earned by the referral, not by an item: nothing to roll back
    assert returned.body["effects"] == []
    assert returned.body["customerSession"]["state"] == "partially_returned"
    assert returned.body["return"]["returnedCartItems"] == [{"position": 0, "quantity": 1}]
    second = server.request(
        "POST",
        "/v2/customer_sessions/R1/returns",
        {
            "return": {"returnedCartItems": [{"position": 1}]},
            "responseContent": ["previousReturns", "awardedGiveaways"],
        },
    )
    assert second.status == 200, second
    assert [r["returnedCartItems"] for r in second.body["previousReturns"]] == [
        [{"position": 0, "quantity": 1}],
        [{"position": 1, "quantity": 1}],
    ]
    assert second.body["awardedGiveaways"] == []
    assert second.body["effects"] == []
    balance = "/v1/loyalty_programs/1/profile/ADV/balances"
    assert server.request("GET", balance).body["balance"]["activePoints"] == 100
    too_many = {"return": {"returnedCartItems": [{"position": 0, "quantity": 2}]}}
    error = server.request("POST", "/v2/customer_sessions/R1/returns", too_many)
    assert assert_error(error, 400)["errors"][0]["source"] == {
        "pointer": "/return/returnedCartItems/0/quantity"
    }
    rest = {"return": {"returnedCartItems": [{"position": 0}]}}  # the last of everything
    last = server.request("POST", "/v2/customer_sessions/R1/returns", rest)
    assert last.body["effects"] == []  # everything back, the session's own points stay
    assert server.request("GET", balance).body["balance"]["activePoints"] == 100
    reopened = server.request("PUT", "/v2/customer_sessions/R1/reopen")
    assert reopened.status == 200
    assert [e["effectType"] for e in reopened.body["effects"]] == ["rollbackReferral"]
    # active points stay at a reopen (reopenCustomerSession: "Any not pending loyalty points")
    assert server.request("GET", balance).body["balance"]["activePoints"] == 100
    shown = server.request("GET", "/v2/customer_sessions/R1").body["customerSession"]
    assert shown["state"] == "open"
    assert all("returnedQuantity" not in item for item in shown["cartItems"])
    assert refcamp("db", "check")[0] == 0


@pytest.mark.slow
def test_sigterm_says_it_stopped(campaigns_dir: Path) -> None:
    running = start()
    assert running.request("GET", "/v2/customer_sessions/NONE").status == 404
    code, err = running.stop()
    assert code == 0
    assert "stopped" in err and "closed" in err


def test_a_port_in_use_is_a_clear_error(shared_server: Server) -> None:
    code, _, err = refcamp("serve", "--port", str(shared_server.port))
    assert code == 2
    assert err.startswith("refcamp: error: --host 127.0.0.1 --port") and "Traceback" not in err


# --- one engine, three doors ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.stateless
def test_http_cli_and_replay_give_the_same_json(tmp_path: Path, campaigns_dir: Path) -> None:
    """The seed story's two requests through each door, each into a state file of its own, with
    the same seeded codes and clock: the same JSON."""
    import os

    def fresh(name: str) -> dict[str, str]:
        env = {**os.environ, **SEED, "REFCAMP_DB": str(tmp_path / f"{name}.db")}
        assert refcamp("--now", NOW, "campaign", "activate", "medium-referral", env=env)[0] == 0
        return env

    session = {
        "customerSession": {"profileId": "FRIEND1", "state": "closed", "referralCode": "CODE"},
        "responseContent": SHOWN,
    }
    profile = {"attributes": {}, "responseContent": SHOWN}

    env = fresh("cli")
    cli = []
    code, out, err = refcamp("--now", NOW, "profile", "update", "NEWCUSTOMER", "--json", env=env)
    assert code == 0, err
    cli.append(json.loads(out))
    referral = cli[0]["createdReferrals"][0]["code"]
    session["customerSession"]["referralCode"] = referral
    code, out, err = refcamp(
        "--now", NOW, "session", "close", "S1", "--profile", "FRIEND1", "--referral", referral,
        "--json", env=env,
    )  # fmt: skip
    assert code == 0, err
    cli.append(json.loads(out))

    env = fresh("http")
    server = start("--now", NOW, env=env)
    try:
        http = [
            server.request(
                "PUT", "/v2/customer_profiles/NEWCUSTOMER?runRuleEngine=true", profile
            ).body,
            server.request("PUT", "/v2/customer_sessions/S1", session).body,
        ]
    finally:
        server.stop()

    env = fresh("replay")
    lines = tmp_path / "traffic.jsonl"
    lines.write_text(
        json.dumps(
            {
                "path": "/v2/customer_profiles/NEWCUSTOMER",
                "query": {"runRuleEngine": "true"},
                "body": profile,
            }
        )
        + "\n"
        + json.dumps({"path": "/v2/customer_sessions/S1", "body": session})
        + "\n"
    )
    out_file = tmp_path / "out.jsonl"
    code, _, err = refcamp("--now", NOW, "replay", str(lines), "--out", str(out_file), env=env)
    assert code == 0, err
    replayed = [json.loads(line) for line in out_file.read_text().splitlines()]
    for record in replayed:
        del record["line"]

    # Transaction UUIDs are random whatever the seed: they only have to be UUIDs.
    for door in (cli, http, replayed):
        for response in door:
            for effect in response["effects"]:
                uuid = effect["props"].get("transactionUUID")
                if uuid is not None:
                    assert len(uuid) == 36 and uuid.count("-") == 4, uuid
                    effect["props"]["transactionUUID"] = "UUID"
    assert cli == http == replayed
    assert [e["effectType"] for e in http[1]["effects"]] == [
        "acceptReferral",
        "addLoyaltyPoints",
        "addLoyaltyPoints",
    ]


@pytest.mark.slow
def test_what_changes_while_serving_is_seen_at_the_next_request(campaigns_dir: Path) -> None:
    """A campaign switched on from the command line while the server runs is seen by the next
    request; a campaign file edited, within a second."""
    running = start()
    try:
        path = "/v2/customer_profiles/{}?runRuleEngine=true"
        assert running.request("PUT", path.format("EARLY"), {}).body["createdReferrals"] == []
        assert refcamp("campaign", "activate", "medium-referral")[0] == 0
        code = running.request("PUT", path.format("ADV"), {}).body["createdReferrals"][0]["code"]
        toml = campaigns_dir / "medium-referral.toml"
        toml.write_text(toml.read_text().replace("points = 100,", "points = 120,"))
        time.sleep(1.1)  # the server looks at the files once a second
        closed = running.request(
            "PUT",
            "/v2/customer_sessions/S1",
            {"customerSession": {"profileId": "F", "state": "closed", "referralCode": code}},
        )
        points = [e["props"]["value"] for e in closed.body["effects"][1:]]
        assert points == [120, 50]
        # A broken edit is not taken: the last campaigns that validated (120 points) still
        # answer, until the file validates again (100 points).
        toml.write_text(toml.read_text().replace("points = 120,", "points = -1,"))
        time.sleep(1.1)
        code = running.request("PUT", path.format("LATE"), {}).body["createdReferrals"][0]["code"]
        again = running.request(
            "PUT",
            "/v2/customer_sessions/S2",
            {"customerSession": {"profileId": "G", "state": "closed", "referralCode": code}},
        )
        assert [e["props"]["value"] for e in again.body["effects"][1:]] == [120, 50]
        toml.write_text(toml.read_text().replace("points = -1,", "points = 100,"))
        time.sleep(1.1)
        code = running.request("PUT", path.format("LAST"), {}).body["createdReferrals"][0]["code"]
        fixed = running.request(
            "PUT",
            "/v2/customer_sessions/S3",
            {"customerSession": {"profileId": "H", "state": "closed", "referralCode": code}},
        )
        assert [e["props"]["value"] for e in fixed.body["effects"][1:]] == [100, 50]
    finally:
        _, err = running.stop()
    assert err.count("does not validate") + err.count("invalid campaigns") == 1, err
    assert "validate again" in err and "Traceback" not in err, err


def test_an_unknown_audience_id_is_404_and_changes_nothing(shared_server: Server) -> None:
    before = counts()
    reply = shared_server.request(
        "PUT", "/v2/customer_profiles/NEW?runRuleEngine=true", {"audiencesChanges": {"adds": [3]}}
    )
    assert_error(reply, 404, "no audience with id 3")
    assert counts() == before


@pytest.mark.slow
@pytest.mark.stateless
def test_every_endpoint_with_a_command_answers_what_the_command_prints(
    tmp_path: Path, campaigns_dir: Path
) -> None:
    """Two state files built by the same commands; then each step once through its command on
    the first and once over HTTP on the second: the same JSON (codes and ids are seeded)."""
    import os

    def state(name: str) -> dict[str, str]:
        env = {**os.environ, **SEED, "REFCAMP_DB": str(tmp_path / f"{name}.db")}
        for args in (
            ("campaign", "activate", "medium-referral"),
            ("campaign", "activate", "spring-coupons"),
            ("profile", "update", "ADV"),
            ("coupon", "create", "--campaign", "spring-coupons", "--code", "SPRING-1"),
        ):
            code, _, err = refcamp("--now", NOW, *args, env=env)
            assert code == 0, err
        return env

    cli_env, http_env = state("cli"), state("http")
    referral = json.loads(refcamp("--now", NOW, "referral", "list", "--json", env=cli_env)[1])[0][
        "code"
    ]
    items = [{"sku": "a", "quantity": 2, "price": 30}, {"sku": "b", "quantity": 1, "price": 40}]
    close = {
        "customerSession": {
            "profileId": "F1", "state": "closed", "referralCode": referral, "cartItems": items,
        },
        "responseContent": SHOWN,
    }  # fmt: skip
    program = "/v1/loyalty_programs/1/profile/ADV"
    steps: list[tuple[list[str], str, str, Any]] = [
        (
            ["session", "close", "S1", "--profile", "F1", "--referral", referral,
             "--item", "sku=a,price=30,quantity=2", "--item", "sku=b,price=40"],
            "PUT", "/v2/customer_sessions/S1", close,
        ),
        (["session", "show", "S1"], "GET", "/v2/customer_sessions/S1", None),
        (
            ["event", "track", "review_posted", "--profile", "F1", "--attr", "stars=5"],
            "POST", "/v2/events?silent=no",
            {"type": "review_posted", "profileId": "F1", "attributes": {"stars": 5},
             "responseContent": SHOWN},
        ),
        (
            ["session", "return", "S1", "--item", "position=0,quantity=1"],
            "POST", "/v2/customer_sessions/S1/returns",
            {"return": {"returnedCartItems": [{"position": 0, "quantity": 1}]},
             "responseContent": SHOWN},
        ),
        (["session", "reopen", "S1"], "PUT", "/v2/customer_sessions/S1/reopen", None),
        (
            ["session", "cancel", "S1"],
            "PUT", "/v2/customer_sessions/S1",
            {"customerSession": {"state": "cancelled"}, "responseContent": SHOWN},
        ),
        (["loyalty", "balance", "ADV", "--program", "1"], "GET", f"{program}/balances", None),
        (["loyalty", "ledger", "ADV", "--program", "1"], "GET", f"{program}/transactions", None),
        (
            ["profile", "show", "F1"],
            "GET", "/v1/customer_profiles/F1/inventory?profile=true&referrals=true"
            "&coupons=true&loyalty=true", None,
        ),
        (
            ["referral", "create", "--campaign", "1", "--advocate", "ADV2"],
            "POST", "/v1/referrals", {"campaignId": 1, "advocateProfileIntegrationId": "ADV2"},
        ),
        (
            ["coupon", "reserve", "SPRING-1", "--profile", "F1"],
            "POST", "/v1/coupon_reservations/SPRING-1", {"integrationIDs": ["F1"]},
        ),
    ]  # fmt: skip
    server = start("--now", NOW, env=http_env)
    try:
        for args, method, path, body in steps:
            code, out, err = refcamp("--now", NOW, *args, "--json", env=cli_env)
            assert code == 0, (args, err)
            printed = json.loads(out)
            printed.pop("isNewReservation", None)  # the command's one extra, documented
            answered = server.request(method, path, body)
            assert answered.status in (200, 201), (path, answered)
            for door in (printed, answered.body):  # random whatever the seed
                for effect in door.get("effects", []):
                    if "transactionUUID" in effect["props"]:
                        effect["props"]["transactionUUID"] = "UUID"
            assert printed == answered.body, (args, path)
        assert refcamp("profile", "delete", "F1", env=cli_env)[0] == 0
        assert server.request("DELETE", "/v1/customer_data/F1").status == 204
        inventory = "/v1/customer_profiles/F1/inventory?profile=true"
        shown = json.loads(refcamp("profile", "show", "F1", "--json", env=cli_env)[1])
        assert shown["profile"] == server.request("GET", inventory).body["profile"]
    finally:
        server.stop()
