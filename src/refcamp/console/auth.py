"""Who may use the console: whoever knows the server's API key. It is typed once on the login
page and sent in a POST body (never a URL); the answer is a cookie for the browser session
(HttpOnly, SameSite=Strict) holding a token derived from the key, not the key itself. The login
page's script also keeps the key in the browser's session storage, and the live feed sends it as
the Integration API's header. A form that changes something (the campaign switch, signing out)
carries a CSRF token. Restarting the server signs everyone out."""

from __future__ import annotations

import hashlib
import hmac
import secrets

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
