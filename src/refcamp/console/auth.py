"""Who may use the console: whoever knows the server's API key. It is typed once on the login
page and sent in a POST body (never a URL); the answer is a cookie for the browser session
(HttpOnly, SameSite=Strict) holding a token derived from the key, not the key itself. The login
page's script also keeps the key in the browser's session storage, and the live feed sends it as
the Integration API's header. A form that changes something (the campaign switch, signing out)
carries a CSRF token. Restarting the server signs everyone out.

Wrong keys on the login page are throttled per client address (Throttle): a few are free, then
each one more doubles the wait before the next try, and while a client waits every try of its
own is refused unread (429), the right key included, so waiting is not a way to keep guessing.
Other addresses sign in as before. The Integration API's 401s are not throttled (server.Gate:
one constant-time comparison, nothing remembered)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request

COOKIE = "refcamp_console"


class Keys:
    """The tokens the console derives from the server's API key."""

    def __init__(self, key: str) -> None:
        self.key = key
        # A new server signs everyone out: its tokens also derive from a number drawn at start.
        started = secrets.token_bytes(16)
        self.session = self._derive(b"refcamp console session " + started)
        self.csrf = self._derive(b"refcamp console csrf " + started)

    def _derive(self, purpose: bytes) -> str:
        return hmac.new(self.key.encode(), purpose, hashlib.sha256).hexdigest()

    def is_key(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.key.encode())

    def signed_in(self, request: Request) -> bool:
        """The session cookie, or the API key in the Integration API's header."""
        cookie = request.cookies.get(COOKIE, "")
        if cookie and hmac.compare_digest(cookie.encode(), self.session.encode()):
            return True
        header = request.headers.get("authorization", "")
        return hmac.compare_digest(header.encode(), f"ApiKey-v1 {self.key}".encode())

    def form_is_ours(self, request: Request, token: str) -> bool:
        """A POST from the console's own page: its CSRF token, and no other site's Origin."""
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
            return False
        return hmac.compare_digest(token.encode(), self.csrf.encode())


@dataclass
class _Failures:
    count: int  # wrong keys since the client's last sign-in (or since it was forgotten)
    until: float  # no try before this moment (the clock's seconds)
    last: float  # when the last wrong key came


class Throttle:
    """Failed console sign-ins per client: FREE wrong keys, then a wait of FIRST_WAIT seconds
    that doubles with each further wrong key, up to MAX_WAIT. A client's failures are forgotten
    when it signs in, or FORGET seconds after its last one. At most MAX_CLIENTS clients are
    remembered, the longest quiet forgotten first: a client with many addresses cannot grow it
    (each address of its own starts with FREE tries, so the throttle slows one address, not a
    botnet; the key `serve` makes is 192 random bits)."""

    FREE = 5
    FIRST_WAIT = 2.0  # seconds
    MAX_WAIT = 600.0
    FORGET = 3600.0
    MAX_CLIENTS = 10_000

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.clients: OrderedDict[str, _Failures] = OrderedDict()  # longest quiet first

    def wait(self, client: str) -> int:
        """Whole seconds `client` must wait before its next try (0: it may try now)."""
        failures = self.clients.get(client)
        if failures is None:
            return 0
        return max(0, math.ceil(failures.until - self.clock()))

    def failed(self, client: str) -> None:
        """`client` gave a wrong key."""
        now = self.clock()
        self._forget_old(now)
        failures = self.clients.pop(client, None) or _Failures(0, now, now)
        failures.count += 1
        failures.last = now
        if failures.count >= self.FREE:
            wait = self.FIRST_WAIT * 2 ** min(failures.count - self.FREE, 30)
            failures.until = now + min(wait, self.MAX_WAIT)
        self.clients[client] = failures  # now the most recent
        while len(self.clients) > self.MAX_CLIENTS:
            self.clients.popitem(last=False)

    def signed_in(self, client: str) -> None:
        """`client` gave the right key: its failures are forgotten."""
        self.clients.pop(client, None)

    def _forget_old(self, now: float) -> None:
        while self.clients:
            oldest = next(iter(self.clients.values()))
            if now - oldest.last < self.FORGET or oldest.until > now:
                break
            self.clients.popitem(last=False)


def client_of(request: Request) -> str:
    """Who a request comes from, for the throttle: its address; an IPv6 address as its /64 (one
    host usually holds a whole /64, so its single addresses would be free for the taking)."""
    host = request.client.host if request.client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an IP address (a Unix socket, a test client): taken as it is
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)
