"""A cache of validated campaign directories, so a command does not parse TOML at every start.

The cache is keyed by every campaign file's name and content, and by refcamp's own source files
(a new refcamp never reads an old refcamp's objects). Anything unexpected — no cache folder, a
stale or unreadable entry — means parsing the files as usual: the cache can make refcamp faster,
never wrong.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from refcamp.models import Catalog
from refcamp.paths import read_regular

PACKAGE = Path(__file__).parent
KEEP = 50  # entries: every edit of a campaign file makes a new one, so the oldest are removed
# The modules whose objects a cached catalog holds (the engine's condition and effect kinds, in
# whichever of its modules they live).
SOURCES = ("models.py", "campaigns.py", "tables.py", "engine")


def _key(directory: Path, files: list[Path]) -> str:
    # Campaign files by content (an edit within the clock's resolution keeps the mtime), refcamp's
    # own sources by size and time (they change only when refcamp does).
    digest = hashlib.sha256(str(directory.resolve()).encode())
    for path in files:
        digest.update(f"\0{path.name}\0".encode())
        digest.update(read_regular(path))
    for source in SOURCES:
        found = (PACKAGE / source).glob("*.py") if source == "engine" else [PACKAGE / source]
        for path in sorted(found):
            info = path.stat()
            digest.update(f"\0{path.name}:{info.st_size}:{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def load(directory: Path, cache: Path | None) -> Catalog:
    """The directory's Catalog, from the cache folder `cache` (settings.Settings.cache; None: no
    cache) when nothing changed since it was stored."""
    # The TOML parser and the validators are imported only when the cache misses.
    if cache is None:
        from refcamp import campaigns

        return campaigns.load(directory)
    try:
        if directory.is_file():
            files = [directory]
        elif directory.is_dir():
            files = sorted(directory.glob("*.toml"))
        else:
            raise FileNotFoundError(directory)
        key = _key(directory, files)
        entry = cache / f"campaigns-{key[:32]}.pickle"
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, to resolve()
        # Whatever cannot be read is reported by the loader, which names the file.
        from refcamp import campaigns

        return campaigns.load(directory)
    try:
        with entry.open("rb") as handle:
            cached = pickle.load(handle)
        if isinstance(cached, Catalog):
            return cached
    except Exception:  # a missing or unreadable entry only means a cache miss
        pass
    from refcamp import campaigns

    catalog = campaigns.load(directory)  # raises on invalid files: those are never cached
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=entry.parent, prefix=".campaigns-")
        with os.fdopen(handle, "wb") as out:
            pickle.dump(catalog, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temp, entry)
        _prune(entry.parent)
    except OSError:
        pass
    return catalog


def _prune(folder: Path) -> None:
    """Keep the KEEP newest entries (a stale one is only ever a cache miss)."""
    entries = []
    for path in folder.glob("campaigns-*.pickle"):
        try:
            entries.append((path.stat().st_mtime_ns, path))
        except OSError:  # another refcamp removed it a moment ago
            continue
    for _, path in sorted(entries, reverse=True)[KEEP:]:
        path.unlink(missing_ok=True)
