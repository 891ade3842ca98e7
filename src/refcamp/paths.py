"""Where refcamp's files live: the state database and the campaign directory."""

from __future__ import annotations

import os
from pathlib import Path

SAMPLES = Path(__file__).parent / "samples"


def db_path(option: Path | None = None) -> Path:
    """--db, else REFCAMP_DB, else the user data directory's refcamp.db."""
    if option is not None:
        return option
    env = os.environ.get("REFCAMP_DB")
    if env:
        return Path(env)
    from platformdirs import user_data_path

    return user_data_path("refcamp", appauthor=False) / "refcamp.db"


def db_path_given(option: Path | None = None) -> bool:
    """Whether the state file was named (--db or REFCAMP_DB) rather than refcamp's default: a
    named one's folder must exist (a typo makes no folders); the default's is made."""
    return option is not None or bool(os.environ.get("REFCAMP_DB"))


def campaigns_dir(option: Path | None = None) -> Path:
    """--campaigns, else REFCAMP_CAMPAIGNS, else ./campaigns when it exists, else the samples."""
    if option is not None:
        return option
    env = os.environ.get("REFCAMP_CAMPAIGNS")
    if env:
        return Path(env)
    local = Path("campaigns")
    if local.is_dir():
        return local
    return SAMPLES
