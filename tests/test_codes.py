"""Code generation: patterns, uniform secure draws, seeded reproducibility, transaction UUIDs."""

from __future__ import annotations

import re
import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refcamp import codes

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless


SECURE = codes.Codes()  # no seed: the system's secure source


@given(
    pattern=st.text(alphabet="#-AB", min_size=1, max_size=20).filter(lambda p: "#" in p),
    characters=st.text(min_size=1, max_size=300),
)
def test_a_code_keeps_the_pattern_and_draws_only_the_given_characters(
    pattern: str, characters: str
) -> None:
    code = SECURE.draw(pattern, characters)
    assert len(code) == len(pattern)
    for wanted, got in zip(pattern, code, strict=True):
        if wanted == "#":
            assert got in characters
        else:
            assert got == wanted


def test_secure_draws_are_uniform_over_the_characters() -> None:
    # 36 characters do not divide 256: a plain byte % 36 would favour the first four by 1/7.
    characters = codes.DEFAULT_CHARACTERS
    counts = Counter("".join(SECURE.draw("#" * 50, characters) for _ in range(2000)))
    expected = 100_000 / len(characters)
    assert set(counts) == set(characters)
    first, rest = characters[:4], characters[4:]
    favoured = sum(counts[c] for c in first) / 4
    others = sum(counts[c] for c in rest) / len(rest)
    # Skewed drawing would put the first four about 14% above the rest; chance, about 1.5%.
    assert abs(favoured / others - 1) < 0.06, (favoured, others)
    assert all(abs(n - expected) < 0.1 * expected for n in counts.values()), counts


def test_a_seed_gives_the_same_codes_every_time() -> None:
    seeded = codes.Codes("x")
    first = [seeded.draw("####-####", codes.DEFAULT_CHARACTERS) for _ in range(3)]
    again_seeded = codes.Codes("x")
    again = [again_seeded.draw("####-####", codes.DEFAULT_CHARACTERS) for _ in range(3)]
    assert first == again
    assert first[0] == "U4EY-32YK"  # the sequence a seed gives never changes between versions
    assert SECURE.draw("####-####", codes.DEFAULT_CHARACTERS) not in first


def test_each_source_draws_on_its_own() -> None:
    """A workspace's codes come from its own source: a seeded one beside (a simulation in the
    console's worker thread) neither seeds nor disturbs another."""
    server, simulation = codes.Codes("x"), codes.Codes("simulate-1")
    alone = [codes.Codes("x").draw("####", codes.DEFAULT_CHARACTERS) for _ in range(1)]
    simulation.draw("########", codes.DEFAULT_CHARACTERS)
    assert [server.draw("####", codes.DEFAULT_CHARACTERS)] == alone


def test_transaction_uuids_are_random_version_4_uuids() -> None:
    made = [codes.transaction_uuid() for _ in range(5000)]
    assert len(set(made)) == len(made)
    for text in made:
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", text
        )
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text
    # every variant digit and every hex digit elsewhere turns up
    assert {t[19] for t in made} == set("89ab")
    assert set("".join(t[:8] for t in made)) == set("0123456789abcdef")
