"""Code generation: referral codes, coupon codes and generated ids.

Codes come from os.urandom (as `secrets` draws them) unless a seed is set (REFCAMP_SEED, in the
settings), in which case a seeded generator makes them reproducible (for demos, docs and tests) and
the CLI says that they are predictable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from refcamp.errors import RefcampError

DEFAULT_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
ID_PATTERN = "##########"
ID_CHARACTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
MAX_DRAWS = 100  # a full code space must fail with a message, never loop

if TYPE_CHECKING:
    import random


class Codes:
    """Where a workspace's codes come from: the system's secure source, or a generator seeded
    with `seed` (settings.Settings.seed, or a simulation's own) that always gives the same codes
    in the same order. Each workspace has its own: a simulation beside the server (the console's
    forecast) neither makes the server's codes predictable nor disturbs its draws."""

    def __init__(self, seed: str | None = None) -> None:
        self.seed = seed
        self._generator: random.Random | None = None
        if seed is not None:
            import random

            self._generator = random.Random(seed)

    def draw(self, pattern: str, characters: str) -> str:
        count = pattern.count("#")
        if self._generator is None:
            chosen = iter(_secure(characters, count))
        else:  # one choice per "#", in order: a seed always gives the same codes
            chosen = iter([self._generator.choice(characters) for _ in range(count)])
        return "".join(next(chosen) if c == "#" else c for c in pattern)

    def generate(self, pattern: str, characters: str, taken: Callable[[str], bool]) -> str:
        """A code from the pattern that `taken` says is free; a collision draws again.

        Raises RefcampError when MAX_DRAWS draws all collide: the code space is (nearly)
        exhausted."""
        for _ in range(MAX_DRAWS):
            code = self.draw(pattern, characters)
            if not taken(code):
                return code
        raise RefcampError(
            f"could not find a free code for pattern {pattern!r} after {MAX_DRAWS} draws "
            f"({space(pattern, characters)} possible codes): use a longer pattern or more "
            "characters"
        )


def _secure(characters: str, count: int) -> list[str]:
    """`count` characters drawn uniformly from the system's secure source, os.urandom (what
    `secrets` uses, without the 2 ms its import costs every start), in one read: a read per
    character made code generation a quarter of a profile registration."""
    size = len(characters)
    width = max(1, ((size - 1).bit_length() + 7) // 8)  # bytes per draw
    span = 256**width
    bound = span - span % size  # draws from here up would favour the first characters: skipped
    chosen: list[str] = []
    while len(chosen) < count:
        data = os.urandom(width * (count + 4))
        if width == 1:
            draws: Iterable[int] = data  # bytes are already numbers
        else:
            draws = (int.from_bytes(data[i : i + width]) for i in range(0, len(data), width))
        chosen.extend(characters[d % size] for d in draws if d < bound)
    return chosen[:count]


def transaction_uuid() -> str:
    """A random (version 4) UUID as text, as str(uuid.uuid4()) makes it at less than half the
    cost: a replay makes one for every ledger entry."""
    h = os.urandom(16).hex()
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def space(pattern: str, characters: str) -> int:
    """How many distinct codes a pattern can make."""
    return len(set(characters)) ** pattern.count("#")
