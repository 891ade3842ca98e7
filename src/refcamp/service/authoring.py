"""Authoring campaign files: checking them as a command would load them, and writing a new one
from a template. The doors call these and render what they return; problems are raised as
CampaignFileError (every problem, each naming its place). Of the service, it uses only the
workspace (its campaign directory)."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from refcamp.campaigns import ID, campaign_files, load, same_file, shown
from refcamp.errors import CampaignFileError, ConflictError, InputError
from refcamp.models import Catalog
from refcamp.paths import SAMPLES
from refcamp.service.workspace import Workspace
from refcamp.templates import TEMPLATES, write_new
from refcamp.templates import render as template_text

LOCAL = Path("campaigns")  # the folder a project's campaigns live in (see paths.campaigns_dir)


@dataclass(frozen=True)
class Checked:
    """Campaign files that validate: what was checked (`target`), the catalog they make, and,
    for a single file, the other files of its folder it was checked with."""

    target: Path
    catalog: Catalog
    single: bool
    neighbours: list[Path]

    def own_ids(self) -> tuple[list[str], list[str]]:
        """The campaigns and programs of the target itself (a file's own, or all)."""
        mine = shown(self.target) if self.single else None
        catalog = self.catalog
        campaigns = [c.id for c in catalog.campaigns if mine in (None, c.source)]
        programs = [p.id for p in catalog.programs.values() if mine in (None, p.source)]
        return campaigns, programs


def check_campaigns(ws: Workspace, path: Path | None) -> Checked:
    """Check a campaign file or directory (None: the campaign directory in use). A file is
    checked together with the other campaign files of its folder, as a command would load it
    (a program may be defined in another file; ids must be unique)."""
    target = path if path is not None else ws.campaigns_dir
    if path is not None and path.is_file():
        neighbours = [p for p in campaign_files(path.parent) if not same_file(p, path)]
        return Checked(target, load(path.parent, extra=path), True, neighbours)
    return Checked(target, load(target), False, [])


@dataclass(frozen=True)
class Written:
    """A new campaign file: where it is, the campaign directory in use after writing it, and
    the shipped samples copied beside it when it started ./campaigns."""

    campaign_id: str
    template: str
    path: Path
    campaign_directory: Path
    in_campaign_directory: bool
    copied: list[Path]
    takes_over: bool


def new_campaign(
    ws: Workspace, campaign_id: str, template: str, directory: Path | None = None
) -> Written:
    """Write a valid, commented campaign file from a template, never over an existing file, in
    `directory` (default: the campaign directory, or ./campaigns instead of the samples)."""
    if not ID.match(campaign_id):
        raise InputError(f"campaign id {campaign_id!r}: use lower-case letters, digits and dashes")
    if template not in TEMPLATES:
        raise InputError(
            f"--template: unknown template {template!r}; one of: {', '.join(TEMPLATES)}"
        )
    in_use = ws.campaigns_dir
    if directory is None:  # the campaign directory, or the folder of a campaign file in use
        directory = LOCAL if in_use == SAMPLES else in_use.parent if in_use.is_file() else in_use
    path = directory / f"{campaign_id}.toml"
    text = template_text(campaign_id, template)
    # Writing the first ./campaigns makes it the campaign directory in this folder, in place of
    # the shipped samples; their copies go with it, so their campaigns and codes keep working.
    takes_over = in_use == SAMPLES and not LOCAL.exists() and _same_place(directory, LOCAL)
    copied: list[Path] = []
    if takes_over:
        copied = sorted(SAMPLES.glob("*.toml"))
        if any(p.stem == campaign_id for p in copied):
            raise InputError(
                f"campaign id {campaign_id!r} is a shipped sample's; choose another id"
            )
        _new_local_directory(path, text, copied)
    else:
        _write_beside(path, text)
    now_in_use = LOCAL if takes_over else in_use
    used = _same_place(directory, now_in_use)
    return Written(campaign_id, template, path, now_in_use, used, copied, takes_over)


def _write_beside(path: Path, text: str) -> None:
    """Write the file, which must validate together with its neighbours (ids must stay
    unique)."""

    def check(temp: Path) -> None:
        try:
            load(path.parent, extra=temp)
        except CampaignFileError as error:
            raise CampaignFileError(
                [p.moved(shown(temp), str(path)) for p in error.problems]
            ) from None

    write_new(path, text, check=check)


def _same_place(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve()


def _new_local_directory(path: Path, text: str, samples: list[Path]) -> None:
    """Create the folder of `path` holding `text` and copies of `samples`, all or nothing: it is
    filled and validated under a temporary name, then renamed into place."""
    folder = path.parent
    try:
        temp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    except OSError as error:
        raise InputError(f"cannot create {folder}: {error.strerror}") from None
    try:
        for sample in samples:
            shutil.copyfile(sample, temp / sample.name)
        (temp / path.name).write_text(text, encoding="utf-8")
        try:
            load(temp)  # every problem at once; nothing is left behind
        except CampaignFileError as error:
            raise CampaignFileError(
                [p.moved(shown(temp), str(folder)) for p in error.problems]
            ) from None
        temp.chmod(0o777 & ~_umask())  # an ordinary folder, not mkdtemp's private 0700
        if folder.exists():
            raise ConflictError(f"{folder} already exists; run the command again")
        temp.rename(folder)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
