"""Behaviour that Talon.One documents, driven over real HTTP against a real `refcamp serve` (the
catalogue, docs/talon-one-behaviour.md, names each test here beside its source)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.serving import Server, refcamp, start


@pytest.fixture
def served(campaigns_dir: Path) -> Iterator[Server]:
    """A server on this test's state with the seed's referral campaign active."""
    code, _, err = refcamp("campaign", "activate", "medium-referral")
    assert code == 0, err
    server = start()
    yield server
    server.stop()
