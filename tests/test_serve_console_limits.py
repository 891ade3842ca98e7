"""What one client can cost `refcamp serve`, over real HTTP against a real server process:

- a console form (sign-in, sign-out, the campaign switch) over its cap is answered 413 as soon as
  the declared or received size passes the cap, and the server's memory stays where it was
  (measured as the process's peak resident set, VmHWM in /proc/PID/status), with or without a
  Content-Length, one client or several at once;
- a console form that does not arrive within the body timeout is answered 408;
- connections that never send a byte, or send a request's head a byte at a time, are closed;
- wrong keys on the login page are throttled per client address (429 with Retry-After, the
  right key from that address refused until the wait is over) while another address signs in
  at once and the Integration API's 401s stay as they were.
"""

from __future__ import annotations

import contextlib
import http.client
import math
import re
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from serving import KEY, Server, start

from refcamp.console.auth import Throttle, client_of

pytestmark = [pytest.mark.slow, pytest.mark.sqlite_only]  # the HTTP door, not the state's engine

MiB = 1 << 20
SENT = 200 * MiB  # what a client offers, at most, per request
GROWTH = 30 * MiB  # what the server's peak memory may grow by meanwhile
SWITCH = "/campaigns/medium-referral/state"


@pytest.fixture
def server(campaigns_dir: Path) -> Iterator[Server]:
    running = start(options=("--body-timeout", "1"))
    yield running
    running.stop()


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: str
    sent: int  # body bytes the client got to send


def memory(server: Server) -> dict[str, int]:
    """The server process's resident set now (VmRSS) and at its peak (VmHWM), in bytes."""
    found = {}
    with open(f"/proc/{server.process.pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0]) * 1024
    return found


def _read_answer(sock: socket.socket, data: bytes) -> tuple[int, dict[str, str], str]:
    """An HTTP answer's status, headers and body; `data` is what was read of it already."""
    while b"\r\n\r\n" not in data:
        part = sock.recv(65536)
        assert part, f"the connection closed before an answer: {data!r}"
        data += part
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.strip().lower(): v.strip() for k, _, v in (li.partition(":") for li in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        part = sock.recv(65536)
        if not part:
            break
        body += part
    return status, headers, body.decode("utf-8", "replace")


def post(
    server: Server,
    path: str,
    size: int,
    chunked: bool = False,
    cookie: str | None = None,
    source: str = "127.0.0.1",
) -> Answer:
    """POST a form of `size` bytes (`key=xxxx...`) to `path`, 1 MiB at a time, the way a browser
    would: it stops sending once an answer arrives (as a client of a server that closes would)."""
    sock = socket.create_connection(
        ("127.0.0.1", server.port), timeout=30, source_address=(source, 0)
    )
    with sock:
        head = [
            f"POST {path} HTTP/1.1",
            "Host: 127.0.0.1",
            "Content-Type: application/x-www-form-urlencoded",
        ]
        head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {size}")
        if cookie:
            head.append(f"Cookie: {cookie}")
        sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        piece = b"key=" + b"x" * (MiB - 4)
        sent, early = 0, b""
        try:
            while sent < size:
                readable, _, _ = select.select([sock], [], [], 0)
                if readable:
                    early = sock.recv(65536)
                    break
                part = piece[: min(MiB, size - sent)]
                sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n" if chunked else part)
                sent += len(part)
            else:
                if chunked:
                    sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered and closed: the answer is read below
        status, headers, body = _read_answer(sock, early)
        return Answer(status, headers, body, sent)


def sign_in(server: Server, key: str = KEY, source: str = "127.0.0.1") -> Answer:
    """POST /login with `key` from `source`."""
    conn = http.client.HTTPConnection(
        "127.0.0.1", server.port, timeout=30, source_address=(source, 0)
    )
    try:
        body = f"key={key}&next=/campaigns"
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        conn.request("POST", "/login", body=body, headers=headers)
        response = conn.getresponse()
        text = response.read().decode()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, text, len(body)
        )
    finally:
        conn.close()


def cookie_of(answer: Answer) -> str:
    assert answer.status == 303, answer
    return answer.headers["set-cookie"].split(";")[0]


# --- item 4: a form's size and time -------------------------------------------------------------


def test_big_console_forms_are_413_at_once_and_never_buffered(server: Server) -> None:
    cookie = cookie_of(sign_in(server))  # the switch reads its form only for the signed-in
    before = memory(server)
    answers = {
        (path, chunked): post(server, path, SENT, chunked=chunked, cookie=cookie)
        for path in ("/login", "/logout", SWITCH)
        for chunked in (False, True)
    }
    after = memory(server)
    grown = after["VmHWM"] - before["VmHWM"]
    print(f"\nVmRSS {before['VmRSS'] / MiB:.0f} -> {after['VmRSS'] / MiB:.0f} MiB, "
          f"peak {before['VmHWM'] / MiB:.0f} -> {after['VmHWM'] / MiB:.0f} MiB")  # fmt: skip
    for (path, chunked), answer in answers.items():
        assert answer.status == 413, (path, chunked, answer.status, answer.body[:300])
        assert "request body: larger than 65536 bytes" in answer.body
        assert "Traceback" not in answer.body
        # Answered as soon as the cap was passed, not after the 200 MiB (what the client got to
        # send first is what the sockets' buffers took, a few MiB).
        assert answer.sent <= SENT // 10, (path, chunked, answer.sent)
    assert grown < GROWTH, f"peak memory grew {grown / MiB:.0f} MiB"
    # The switch did not run and the server still answers; the session is still signed in.
    assert sign_in(server).status == 303


def test_big_forms_from_several_clients_at_once_leave_memory_bounded(server: Server) -> None:
    before = memory(server)
    answers: list[Answer] = []

    def one(chunked: bool) -> None:
        answers.append(post(server, "/login", SENT // 4, chunked=chunked))

    threads = [threading.Thread(target=one, args=(n % 2 == 0,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    after = memory(server)
    grown = after["VmHWM"] - before["VmHWM"]
    print(f"\n8 at once: peak {before['VmHWM'] / MiB:.0f} -> {after['VmHWM'] / MiB:.0f} MiB")
    assert [a.status for a in answers] == [413] * 8, [a.status for a in answers]
    assert grown < GROWTH, f"peak memory grew {grown / MiB:.0f} MiB"


def test_a_form_within_the_cap_still_works(server: Server) -> None:
    # The biggest form the console makes: the way back to a customer whose id has 1,000
    # characters (4 bytes each in UTF-8), percent-encoded in the URL and again in the form.
    target = "/customers?id=" + "%F0%9F%98%80" * 1000
    body = f"key={KEY}&next=" + target.replace("%", "%25")
    assert len(body) > 20_000
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        conn.request("POST", "/login", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status == 303
        assert response.getheader("location") == target
    finally:
        conn.close()


def test_a_slow_console_form_is_408_within_the_body_timeout(server: Server) -> None:
    cookie = cookie_of(sign_in(server))
    for path in ("/login", "/logout", SWITCH):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        with sock:
            started = time.monotonic()
            sock.sendall(
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n".encode()
                + b"Content-Type: application/x-www-form-urlencoded\r\n"
                + b"Content-Length: 100\r\n\r\nkey="
            )
            status, _, body = _read_answer(sock, b"")
            took = time.monotonic() - started
        assert status == 408, (path, status, body[:300])
        assert "request body: not received within 1 seconds" in body
        assert 0.9 < took < 5, (path, took)


def test_connections_that_send_no_request_are_closed(server: Server) -> None:
    idle = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(20)]
    # One sends a head a byte at a time (never done); one is answered, then does the same.
    trickle = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    again = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    again.sendall(b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert _read_answer(again, b"")[0] == 200
    started = time.monotonic()
    closed: dict[int, float] = {}
    head = b"GET /login HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 1000
    sockets = [*idle, trickle, again]
    sent = 0
    while len(closed) < len(sockets) and time.monotonic() - started < 10:
        for sock in (trickle, again):
            if sock.fileno() not in closed:
                with contextlib.suppress(OSError):  # closed already
                    sock.send(head[sent : sent + 1])
        sent += 1
        readable, _, _ = select.select(
            [s for s in sockets if s.fileno() not in closed], [], [], 0.2
        )
        for sock in readable:
            try:
                gone = sock.recv(1) == b""
            except ConnectionResetError:
                gone = True
            if gone:
                closed[sock.fileno()] = time.monotonic() - started
    for sock in sockets:
        sock.close()
    assert len(closed) == len(sockets), f"{len(sockets) - len(closed)} connections still open"
    assert max(closed.values()) < 4, closed  # the body timeout is 1 s here
    # Others are served as before.
    assert server.request("GET", "/v2/customer_sessions/NONE").status == 404


# --- item 5: guessing the key on the login page --------------------------------------------------


def test_wrong_keys_are_throttled_per_client_and_the_api_is_not(server: Server) -> None:
    free = Throttle.FREE
    for _ in range(free):
        answer = sign_in(server, "wrong")
        assert answer.status == 401 and "retry-after" not in answer.headers
    refused = sign_in(server, "wrong")
    assert refused.status == 429
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= Throttle.FIRST_WAIT, refused.headers
    assert re.search(
        r"Too many wrong keys from your address: try again in \d seconds", refused.body
    )
    assert "Traceback" not in refused.body
    # The right key from the same address waits too: waiting is no time to keep guessing.
    right_too = sign_in(server)
    assert right_too.status == 429 and "set-cookie" not in right_too.headers
    # Another address signs in at once.
    assert cookie_of(sign_in(server, source="127.0.0.2"))
    # The Integration API's 401s are as they were: not throttled, not slowed; the key works.
    started = time.monotonic()
    for _ in range(100):
        assert server.request("GET", "/v2/customer_sessions/NONE", key="wrong").status == 401
    assert time.monotonic() - started < 10
    assert server.request("GET", "/v2/customer_sessions/NONE").status == 404
    # Once the wait is over, a wrong key doubles it...
    time.sleep(wait + 0.1)
    assert sign_in(server, "wrong").status == 401
    doubled = sign_in(server, "wrong")
    longer = int(doubled.headers.get("retry-after", "0"))
    assert doubled.status == 429 and Throttle.FIRST_WAIT < longer <= 2 * Throttle.FIRST_WAIT
    # ... and after it, the right key signs in, which forgets the failures.
    time.sleep(longer + 0.1)
    assert cookie_of(sign_in(server))
    assert sign_in(server, "wrong").status == 401


@pytest.mark.stateless
def test_the_throttle_forgets_and_stays_bounded() -> None:
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    for _ in range(Throttle.FREE):
        throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == math.ceil(Throttle.FIRST_WAIT)
    assert throttle.wait("10.0.0.2") == 0
    for _ in range(40):  # the wait doubles up to its cap
        now[0] += throttle.wait("10.0.0.1")
        throttle.failed("10.0.0.1")
    assert throttle.wait("10.0.0.1") == Throttle.MAX_WAIT
    # A client with many addresses: at most MAX_CLIENTS are remembered.
    for n in range(3 * Throttle.MAX_CLIENTS):
        throttle.failed(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}")
    assert len(throttle.clients) == Throttle.MAX_CLIENTS
    # An hour after a client's last wrong key, it is forgotten.
    now[0] += Throttle.FORGET + Throttle.MAX_WAIT
    throttle.failed("10.9.9.9")
    assert list(throttle.clients) == ["10.9.9.9"]


@pytest.mark.stateless
def test_a_client_is_its_address_and_an_ipv6_one_its_64() -> None:
    from starlette.requests import Request

    def client(host: str) -> str:
        return client_of(Request({"type": "http", "client": (host, 5000), "headers": []}))

    assert client("127.0.0.2") == "127.0.0.2"
    assert client("::ffff:192.0.2.7") == "192.0.2.7"
    # One host holds a whole /64: its addresses are one client.
    assert client("2001:db8:1:2::1") == client("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert client("2001:db8:1:3::1") != client("2001:db8:1:2::1")
