"""Placeholder until this page is written (#12)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route


def routes(console: Any) -> list[Route]:
    return []
