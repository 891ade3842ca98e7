"""Loading a campaign directory: TOML files -> a validated, frozen Catalog.

Every problem in every file is collected and raised at once (CampaignFileError), each naming its
file, rule and key; a request never runs on a directory that does not validate.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from refcamp.codes import space
from refcamp.engine.conditions import LoyaltyBalanceCondition, read_condition
from refcamp.engine.effects import program_problems, read_duration, read_effect
from refcamp.errors import CampaignFileError, InputError
from refcamp.models import (
    CAMPAIGN_STATES,
    LIMIT_ACTIONS,
    Campaign,
    Catalog,
    CodeSettings,
    Limit,
    LoyaltyProgram,
    Rule,
)
from refcamp.paths import read_regular
from refcamp.tables import Problem, TableReader, did_you_mean

ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
FEATURES = ("referrals", "loyalty", "coupons", "giveaways", "strikethrough")
TOP_LEVEL = ("campaign", "rules", "loyalty_program")
TALON_ID_MAX = 2**53 - 1  # the largest integer a JavaScript client reads exactly


def shown(path: Path) -> str:
    """A path as a user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
        return str(path)


def campaign_files(directory: Path) -> list[Path]:
    if directory.is_file():
        return [directory]
    if not directory.is_dir():
        try:
            directory.stat()
        except FileNotFoundError:
            kind = "file" if directory.suffix == ".toml" else "directory"  # as it was named
            raise InputError(f"campaign {kind} {shown(directory)} does not exist") from None
        except OSError as error:  # a symlink loop, a folder without permission
            raise InputError(f"campaign directory {shown(directory)}: {error.strerror}") from None
        raise InputError(f"campaigns: {shown(directory)} is neither a folder nor a campaign file")
    return sorted(directory.glob("*.toml"))


MAX_NESTING = 32  # levels of tables and arrays; the deepest sensible rule needs about a dozen


def read_toml(path: Path, problems: list[Problem]) -> dict[str, Any] | None:

    where = shown(path)
    try:
        text = read_regular(path).decode("utf-8")
    except UnicodeDecodeError as error:
        problems.append(Problem(where, f"not UTF-8 text (byte {error.start})"))
        return None
    except OSError as error:
        problems.append(Problem(where, f"cannot read: {error.strerror}"))
        return None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        problems.append(Problem(where, f"TOML syntax error: {error}{toml_hint(str(error))}"))
        return None
    except RecursionError:
        problems.append(Problem(where, f"nested deeper than {MAX_NESTING} levels"))
        return None
    found = value_problems(data)
    problems += [Problem(f"{where}: {place}", problem) for place, problem in found]
    return None if found else data


TOML_NAME = re.compile(r"\(((?:'[^']*',? ?)+)\)")  # tomllib's ('campaign', 'limits')


def toml_hint(message: str) -> str:
    """What to do about the TOML errors people make pasting docs/campaigns.md's snippets."""
    found = TOML_NAME.search(message)
    name = ".".join(re.findall(r"'([^']*)'", found.group(1))) if found else "the table"
    if message.startswith("Cannot mutate immutable namespace"):
        return (
            f"; {name} is written inline (`{name.rsplit('.', 1)[-1]} = [...]` or `= {{...}}`), "
            f"so it cannot be extended by a [{name}] or [[{name}]] header later: write it "
            f"as [[{name}]] tables (or one [{name}] table), as docs/campaigns.md does"
        )
    if message.startswith("Cannot declare") and "twice" in message:
        return (
            f"; {name} is already in the file (as a header or as `key = {{...}}`): "
            "add the keys to the one that is there"
        )
    return ""


def value_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Values no campaign can use, found before anything reads them: nesting so deep that reading
    the conditions would exhaust Python's stack, and nan or inf (TOML has them; no amount,
    percent or attribute value is one). Iterative, so the check itself cannot overflow. Returns
    (place, message) pairs."""
    problems = []
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack:
        value, place, depth = stack.pop()
        if depth > MAX_NESTING:
            short = place if len(place) <= 60 else place[:57] + "..."
            return [(short, f"nested deeper than {MAX_NESTING} levels")]
        if isinstance(value, float) and not math.isfinite(value):
            problems.append((place, f"{value} is not a number refcamp can use"))
        elif isinstance(value, dict):
            for key, child in value.items():
                stack.append((child, f"{place}.{key}" if place else key, depth + 1))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                stack.append((child, f"{place}[{index}]", depth + 1))
    return sorted(problems, key=lambda found: f"{found[0]}: {found[1]}")


def read_time(reader: TableReader, key: str) -> datetime | None:
    value = reader.get(key, datetime, None)
    if isinstance(value, datetime) and value.tzinfo is None:
        reader.problem(key, "needs a time zone, e.g. 2026-01-01T00:00:00Z")
        return None
    if isinstance(value, datetime):
        try:
            value.astimezone(UTC)  # 0001-01-01T00:30:00+01:00 is before the year 1 in UTC
        except OverflowError:
            reader.problem(key, f"{value.isoformat()} is outside the years 1 to 9999 in UTC")
            return None
    return value


def read_code_settings(
    table: Any, where: str, problems: list[Problem], default: CodeSettings | None = None
) -> CodeSettings:
    default = default or CodeSettings()
    if not isinstance(table, dict):
        problems.append(Problem(where, "expected a table"))
        return default

    reader = TableReader(table, where, problems)
    pattern = reader.text("pattern", default.pattern)
    characters = reader.text("characters", default.characters)
    usage_limit = reader.integer("usage_limit", default.usage_limit, minimum=0)
    valid_for = read_duration(reader, "valid_for", None, "unlimited")
    reader.done()
    if isinstance(pattern, str) and "#" not in pattern:
        reader.problem("pattern", f"{pattern!r} has no '#' to draw characters into")
    return CodeSettings(
        pattern if isinstance(pattern, str) else default.pattern,
        characters if isinstance(characters, str) and characters else default.characters,
        usage_limit if isinstance(usage_limit, int) else default.usage_limit,
        valid_for,
    )


# A check only the whole catalog can make (a program named by an effect) and where it is written.
Placed = list[tuple[Callable[[Catalog], list[tuple[str, str]]], str]]


def read_limits(raw: list[Any], where: str, problems: list[Problem]) -> tuple[Limit, ...]:
    limits = []
    for index, table in enumerate(raw or []):
        place = f"{where} {index + 1}"
        if not isinstance(table, dict):
            problems.append(Problem(place, "expected a table"))
            continue
        reader = TableReader(table, place, problems)
        action = reader.choice("action", LIMIT_ACTIONS)
        limit = reader.integer("limit", minimum=1)
        per = reader.choice("per", ("campaign", "profile", "code"), "campaign")
        reader.done()
        if action in LIMIT_ACTIONS and per and per not in LIMIT_ACTIONS[action]:
            reader.problem(
                "per",
                f"{action} cannot be limited per {per}; per one of: "
                f"{', '.join(LIMIT_ACTIONS[action])}",
            )
            continue
        if isinstance(action, str) and isinstance(limit, int) and isinstance(per, str):
            limits.append(Limit(action, limit, per))
    return tuple(limits)


def _program_check(program: str) -> Callable[[Catalog], list[tuple[str, str]]]:
    """A balance condition's program, checked once the whole catalog is read."""
    return lambda catalog: program_problems(program, catalog, "loyalty_balance")


def read_rules(raw: Any, where: str, problems: list[Problem], placed: Placed) -> tuple[Rule, ...]:
    """The rules of a file; each effect's catalog check is also added to `placed` with its place."""

    if not isinstance(raw, list):
        problems.append(Problem(f"{where}: rules", "expected an array of tables ([[rules]])"))
        return ()
    rules = []
    for index, table in enumerate(raw):
        place = f"{where}: rule {index + 1}"
        if not isinstance(table, dict):
            problems.append(Problem(place, "expected a table"))
            continue
        reader = TableReader(table, place, problems)
        name = reader.text("name")
        if isinstance(name, str):
            place = f"{place} {name!r}"
            reader.where = place
        when = reader.get("when", list, [])
        then = reader.get("then", list, [])
        reader.get("description", str, "")
        reader.done()
        if not then and isinstance(then, list):
            reader.problem("then", "a rule needs at least one effect")
        conditions = [
            read_condition(c, f"{place}: condition {i + 1}", problems)
            for i, c in enumerate(when or [])
        ]
        for i, top in enumerate(conditions):
            for condition in top.walk() if top is not None else ():
                if isinstance(condition, LoyaltyBalanceCondition):
                    placed.append(
                        (
                            lambda c, p=condition.program: program_problems(
                                p, c, "loyalty_balance"
                            ),
                            f"{place}: condition {i + 1}",
                        )
                    )
        effects = []
        for i, table in enumerate(then or []):
            spec = read_effect(table, f"{place}: effect {i + 1}", problems)
            if spec is not None:
                placed.append((spec.problems, f"{place}: effect {i + 1}"))
            elif isinstance(table, dict) and isinstance(table.get("program"), str):
                # The effect has other mistakes; its program is still checked, so that every
                # problem shows in one run instead of appearing after the others are fixed.
                program = table["program"]
                placed.append(
                    (lambda c, p=program: program_problems(p, c), f"{place}: effect {i + 1}")
                )
            effects.append(spec)
        rules.append(
            Rule(
                index,
                name or "",
                tuple(c for c in conditions if c is not None),
                tuple(e for e in effects if e is not None),
            )
        )
    return tuple(rules)


def read_program(table: Any, where: str, problems: list[Problem]) -> LoyaltyProgram | None:

    if not isinstance(table, dict):
        problems.append(Problem(where, "expected a table"))
        return None
    reader = TableReader(table, where, problems)
    program_id = reader.text("id")
    name = reader.text("name", program_id)
    pending = read_duration(reader, "pending", "immediate", "immediate")
    validity = read_duration(reader, "validity", "unlimited", "unlimited")
    talon_id = reader.integer("talon_id", None, minimum=1, maximum=TALON_ID_MAX)
    reader.done()
    if isinstance(program_id, str) and not ID.match(program_id):
        reader.problem("id", f"{program_id!r} must be lower-case letters, digits and dashes")
        return None
    if not isinstance(program_id, str):
        return None
    return LoyaltyProgram(
        program_id,
        name or program_id,
        where.split(":")[0],
        pending or "immediate",
        validity or "unlimited",
        talon_id,
    )


def read_campaign(
    data: dict[str, Any], path: Path, problems: list[Problem], placed: Placed
) -> Campaign | None:
    where = shown(path)
    table = data["campaign"]
    if not isinstance(table, dict):
        problems.append(Problem(f"{where}: campaign", "expected a table ([campaign])"))
        read_rules(data.get("rules", []), where, problems, placed)  # their mistakes too, now
        return None
    reader = TableReader(table, f"{where}: [campaign]", problems)
    campaign_id = reader.text("id")
    name = reader.text("name", campaign_id)
    state = reader.choice("state", CAMPAIGN_STATES, "disabled")
    features = reader.get("features", list, [])
    priority = reader.integer("priority", 0)
    talon_id = reader.integer("talon_id", None, minimum=1, maximum=TALON_ID_MAX)
    description = reader.get("description", str, "")
    start = read_time(reader, "start")
    end = read_time(reader, "end")
    referrals = read_code_settings(
        reader.get("referrals", dict, {}), f"{where}: [campaign.referrals]", problems
    )
    coupons = read_code_settings(
        reader.get("coupons", dict, {}),
        f"{where}: [campaign.coupons]",
        problems,
        CodeSettings(pattern="SAVE-######", usage_limit=1),
    )
    limits = read_limits(reader.get("limits", list, []), f"{where}: [[campaign.limits]]", problems)
    reader.done()
    _check_campaign(reader, campaign_id, features, start, end)
    rules = read_rules(data.get("rules", []), where, problems, placed)
    if not isinstance(campaign_id, str):
        return None
    # The ruleset id changes whenever the rules change, like a Talon.One ruleset version.
    digest = hashlib.sha256(
        json.dumps(data.get("rules", []), sort_keys=True, default=str).encode()
    ).hexdigest()[:8]
    return Campaign(
        id=campaign_id,
        name=name or campaign_id,
        state=state or "disabled",
        features=tuple(f for f in features or [] if isinstance(f, str)),
        rules=rules,
        source=where,
        ruleset_id=f"{campaign_id}@{digest}",
        priority=priority or 0,
        description=description or "",
        start=start,
        end=end,
        referrals=referrals,
        coupons=coupons,
        limits=limits,
        talon_id=talon_id,
    )


def _check_campaign(
    reader: TableReader,
    campaign_id: Any,
    features: Any,
    start: datetime | None,
    end: datetime | None,
) -> None:
    """What the [campaign] table's values must be beyond their types."""
    for feature in features or []:
        if feature not in FEATURES:
            hint = did_you_mean(str(feature), FEATURES)
            reader.problem(
                "features", f"unknown feature {feature!r}{hint}; one of: {', '.join(FEATURES)}"
            )
    if isinstance(campaign_id, str) and not ID.match(campaign_id):
        reader.problem("id", f"{campaign_id!r} must be lower-case letters, digits and dashes")
    if start and end and end <= start:
        reader.problem("end", "must be after start")


def _read_programs(
    data: dict[str, Any], where: str, problems: list[Problem], programs: dict[str, LoyaltyProgram]
) -> None:
    """A file's [[loyalty_program]] tables, added to `programs` (ids are unique across files)."""
    raw_programs = data.get("loyalty_program", [])
    if not isinstance(raw_programs, list):
        wanted = "expected an array of tables ([[loyalty_program]])"
        problems.append(Problem(f"{where}: loyalty_program", wanted))
        return
    for index, table in enumerate(raw_programs):
        program = read_program(table, f"{where}: loyalty program {index + 1}", problems)
        if program is None:
            continue
        if program.id in programs:
            problems.append(
                Problem(
                    f"{where}: loyalty program {index + 1}: id",
                    f"duplicate id {program.id!r}, also in {programs[program.id].source}",
                )
            )
            continue
        programs[program.id] = program


def load(directory: Path, extra: Path | None = None) -> Catalog:
    """Read and validate every campaign file of a directory (or a single file), plus `extra`
    (a file about to join the directory, or one of its files) when given."""
    problems: list[Problem] = []
    campaigns: list[Campaign] = []
    programs: dict[str, LoyaltyProgram] = {}
    placed: Placed = []
    paths = campaign_files(directory) if directory.exists() or extra is None else []
    if extra is not None:  # once, even when it is already one of the directory's files
        paths = [p for p in paths if not same_file(p, extra)] + [extra]
    for path in paths:
        data = read_toml(path, problems)
        if data is None:
            continue
        where = shown(path)
        for key in data:
            if key not in TOP_LEVEL:
                problems.append(
                    Problem(
                        where,
                        f"unknown key '{key}'{did_you_mean(key, TOP_LEVEL)}; "
                        f"a campaign file holds {', '.join(TOP_LEVEL)}",
                    )
                )
        _read_programs(data, where, problems, programs)
        if "campaign" in data:
            campaign = read_campaign(data, path, problems, placed)
            twin = next((c for c in campaigns if campaign and c.id == campaign.id), None)
            if twin is not None and campaign is not None:
                problems.append(
                    Problem(
                        f"{where}: [campaign]: id",
                        f"duplicate id {campaign.id!r}, also in {twin.source}",
                    )
                )
            elif campaign is not None:
                campaigns.append(campaign)
        elif "rules" in data:
            problems.append(Problem(where, "rules need a [campaign] table in the same file"))
            read_rules(data["rules"], where, problems, placed)  # their mistakes too, now
    catalog = Catalog(str(directory), tuple(campaigns), programs)
    problems += _shared_talon_ids(catalog)
    for check, place in placed:
        for key, message in check(catalog):
            problems.append(Problem(f"{place}: {key}", message))
    if problems:
        files = sorted({shown(path) for path in paths}, key=len, reverse=True)
        for problem in problems:  # the longest file name that starts its place is its file
            problem.file = next((f for f in files if problem.where.startswith(f)), "")
        raise CampaignFileError(problems)
    return replace(catalog, warnings=tuple(code_space_warnings(catalog)))


def same_file(a: Path, b: Path) -> bool:
    try:
        return a.samefile(b)
    except OSError:
        return False


def _shared_talon_ids(catalog: Catalog) -> list[Problem]:
    """Two campaigns (or two programs) cannot share a Talon.One integer id."""
    problems: list[Problem] = []
    for kind, things in (("campaign", catalog.campaigns), ("program", catalog.programs.values())):
        seen: dict[int, str] = {}
        for thing in things:
            if thing.talon_id is None:
                continue
            if thing.talon_id in seen:
                problems.append(
                    Problem(
                        f"{thing.source}: {kind} {thing.id!r}: talon_id",
                        f"{thing.talon_id} is already the id of {kind} {seen[thing.talon_id]!r}",
                    )
                )
            seen[thing.talon_id] = thing.id
    return problems


SMALL_SPACE = 1_000_000


def code_space_warnings(catalog: Catalog) -> list[str]:
    """Patterns that can make fewer than a million codes: they fill up, and codes get guessable."""

    warnings = []
    for campaign in catalog.campaigns:
        for label, settings in (("referrals", campaign.referrals), ("coupons", campaign.coupons)):
            size = space(settings.pattern, settings.characters)
            if size < SMALL_SPACE:
                warnings.append(
                    f"{campaign.source}: [campaign.{label}]: pattern {settings.pattern!r} with "
                    f"{len(set(settings.characters))} characters makes only {size:,} codes "
                    f"(fewer than {SMALL_SPACE:,}): codes can run out and are easy to guess"
                )
    return warnings
