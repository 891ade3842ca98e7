"""The cache of validated campaign directories: a hit skips the parser, and the cache can make
refcamp faster, never wrong."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from refcamp import campaigns, catalog_cache
from refcamp.errors import CampaignFileError
from refcamp.paths import SAMPLES

# stateless: no test here touches the state (their PostgreSQL leg was the SQLite one again)
pytestmark = pytest.mark.stateless


@pytest.fixture
def directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    target = tmp_path / "campaigns"
    shutil.copytree(SAMPLES, target)
    return target


def cache_folder() -> Path:
    """The cache folder a command's settings name (XDG_CACHE_HOME/refcamp)."""
    return Path(os.environ["XDG_CACHE_HOME"]) / "refcamp"


def load(directory: Path) -> Any:
    return catalog_cache.load(directory, cache_folder())


def summary(catalog: Any) -> Any:
    """What a catalog says (its conditions and effects compare by identity)."""
    campaigns_ = [(c.id, c.name, c.state, c.ruleset_id, c.limits) for c in catalog.campaigns]
    return campaigns_, sorted(catalog.programs)


def entries() -> list[Path]:
    return sorted(cache_folder().glob("campaigns-*.pickle"))


def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(directory: Path) -> None:
        raise AssertionError("the campaign files were parsed")

    monkeypatch.setattr(campaigns, "load", refuse)


def test_a_second_load_comes_from_the_cache(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load(directory)
    assert len(entries()) == 1
    with monkeypatch.context() as patched:
        no_parsing(patched)
        again = load(directory)
    assert summary(again) == summary(first)
    assert again.campaigns[0].rules[1].then[0].points == 100
    assert [c.id for c in again.campaigns] == ["medium-referral", "spring-coupons"]


def test_an_edit_that_keeps_size_and_time_is_still_seen(directory: Path) -> None:
    path = directory / "medium-referral.toml"
    load(directory)
    stat = path.stat()
    text = path.read_text()
    assert 'name = "MEDIUM-REFERRAL' in text
    path.write_text(text.replace('name = "MEDIUM-REFERRAL', 'name = "MEDIUM-REFERRAX', 1))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size
    edited = load(directory)
    assert edited.campaign("medium-referral").name.startswith("MEDIUM-REFERRAX")
    assert len(entries()) == 2


def test_a_broken_entry_is_a_miss(directory: Path) -> None:
    first = load(directory)
    [entry] = entries()
    for junk in (b"", b"not a pickle", b"\x80\x05N."):  # the last is a pickled None
        entry.write_bytes(junk)
        assert summary(load(directory)) == summary(first)


def test_invalid_files_are_never_cached(directory: Path) -> None:
    (directory / "broken.toml").write_text('[campaign]\nid = "x"\nname = \n')
    for _ in range(2):
        with pytest.raises(CampaignFileError):
            load(directory)
    assert entries() == []


def test_an_unwritable_cache_only_means_parsing(
    directory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    loaded = load(directory)
    assert [c.id for c in loaded.campaigns] == ["medium-referral", "spring-coupons"]


def test_only_the_newest_entries_are_kept(directory: Path) -> None:
    folder = cache_folder()
    folder.mkdir(parents=True)
    for i in range(catalog_cache.KEEP + 10):
        old = folder / f"campaigns-{i:032x}.pickle"
        old.write_bytes(b"stale")
        os.utime(old, ns=(10**18 + i, 10**18 + i))  # 2001, in order
    load(directory)
    kept = entries()
    assert len(kept) == catalog_cache.KEEP
    assert folder / f"campaigns-{catalog_cache.KEEP + 9:032x}.pickle" in kept
    assert folder / f"campaigns-{0:032x}.pickle" not in kept
    assert any(p.read_bytes() != b"stale" for p in kept)  # the new entry is among them
