"""refcamp serve: Talon.One's Integration API over HTTP on localhost."""

from __future__ import annotations

import asyncio
import secrets
import socket
from typing import Annotated, Any

import typer

from refcamp import paths
from refcamp.cli import guarded, output, workspace
from refcamp.errors import InputError
from refcamp.payloads import CONTROL
from refcamp.render import inert


@guarded
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option("--host", help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="The port; 0 takes a free one.", min=0, max=65535)
    ] = 7140,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar="REFCAMP_API_KEY",
            help="The key clients send (Authorization: ApiKey-v1 KEY); else one is made.",
            show_default=False,
        ),
    ] = None,
    body_timeout: Annotated[
        float,
        typer.Option(
            "--body-timeout",
            help=(
                "Seconds a request's body may take to arrive (then 408); also how long a "
                "connection may take to send a request's head (then it is closed)."
            ),
            min=0.1,
            max=3600,
        ),
    ] = 10.0,
) -> None:
    """Answer Talon.One's Integration API on HTTP: point an application or SDK at the printed
    URL. Ctrl-C or SIGTERM stops it after the requests in flight."""
    # Cold start: the HTTP door and uvicorn load only when serving (`refcamp --help` loads
    # this module for its one-line help).
    from refcamp import server

    ws, out = workspace(ctx), output(ctx)
    if api_key is not None and (not api_key.strip() or CONTROL.search(api_key)):
        raise InputError("--api-key: must be printable text, not empty")
    key = api_key or secrets.token_urlsafe(24)
    # Refuse campaigns that do not validate and a state file that is not refcamp's before
    # listening; the server's own thread then opens the state file for itself.
    catalog = ws.catalog
    _ = ws.conn
    ws.close()

    def say(text: str) -> None:  # the server's outages and broken campaign files, once each
        out.stderr.write("".join(inert(line) + "\n" for line in text.splitlines()))
        out.stderr.flush()

    door = server.Door(ws.settings, body_timeout, say=say, catalog=catalog)
    listener = _listen(host, port)
    bound = listener.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    out.write(
        f"refcamp serve: http://{shown}:{bound}  "
        f"(send the header  Authorization: ApiKey-v1 {key})\n"
        f"console: http://{shown}:{bound}/  (sign in with the same key)\n"
    )
    out.stdout.flush()
    try:
        app = server.create_app(door, key, debug=ws.settings.debug)
        _server(app, body_timeout).run(sockets=[listener])
    finally:
        door.close()
        listener.close()
    out.stderr.write(f"refcamp serve: stopped; {paths.named(ws.db_path)} closed\n")


def _listen(host: str, port: int) -> socket.socket:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise InputError(f"--host {host} --port {port}: {error.strerror or error}") from None


def _server(asgi: Any, head_seconds: float) -> Any:
    """uvicorn's server for the door, stopping on refcamp's terms, closing connections that do
    not send a request's head within `head_seconds`."""
    import uvicorn  # cold start: see serve

    config = uvicorn.Config(
        asgi,
        http=_protocol(head_seconds),
        log_level="warning",
        lifespan="off",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=30,
        server_header=False,
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            super().handle_exit(sig, frame)
            # uvicorn raises the signal again once stopped, which would end the process before
            # the state file is closed; refcamp stops on its own terms and exits 0.
            self._captured_signals.clear()

    return Server(config)


def _protocol(head_seconds: float) -> type[Any]:
    """uvicorn's HTTP/1.1 protocol (httptools), with a deadline for each request's head.

    uvicorn times a connection out only between requests (`timeout_keep_alive`), and any byte
    restarts that clock: a connection that never sends a byte, or sends a head one byte at a
    time, stays open for good, each holding a file descriptor. Here a request's head must be
    complete within `head_seconds` of the connection's start or of the previous answer, else
    the connection is closed without an answer. Once the head is in, the body has the body
    timeout (408, read_body) and the app's work has no deadline."""
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class Protocol(HttpToolsProtocol):
        head_due: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._expect_head()

        def on_headers_complete(self) -> None:
            self._head_arrived()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            next_is_in = bool(self.pipeline)  # a pipelined request's head arrived already
            super().on_response_complete()
            if not next_is_in and not self.transport.is_closing():
                self._expect_head()

        def connection_lost(self, exc: Exception | None) -> None:
            self._head_arrived()
            super().connection_lost(exc)

        def _expect_head(self) -> None:
            self._head_arrived()
            self.head_due = self.loop.call_later(head_seconds, self._head_late)

        def _head_arrived(self) -> None:
            if self.head_due is not None:
                self.head_due.cancel()
                self.head_due = None

        def _head_late(self) -> None:
            self.head_due = None
            if self.cycle is None or self.cycle.response_complete:  # no request in progress
                self.transport.close()

    return Protocol
