"""Campaign templates for `refcamp campaign new`: valid, commented TOML in the style of
docs/campaigns.md, so its snippets can be pasted in.

Files are written atomically and never over an existing file: the text goes to a temporary file in
the same directory, is flushed to disk, and is then hard-linked to its name (which fails if the name
exists) before the temporary name is removed.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from refcamp.errors import ConflictError, InputError


def _value(value: Any) -> str:
    """A TOML value on one line: strings, numbers, arrays and inline tables."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON's escapes are TOML's; template texts are plain
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return "{ " + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + " }"


def _key_line(key: str, value: Any) -> list[str]:
    """`key = value`; a long array of inline tables gets one per line, as docs/campaigns.md
    writes `then`."""
    line = f"{key} = {_value(value)}"
    if len(line) <= WIDTH or not isinstance(value, list):
        return [line]
    return [f"{key} = ["] + [f"  {_value(v)}," for v in value] + ["]"]


def _table(header: str, table: dict[str, Any], comment: str = "") -> str:
    """One `[header]` or `[[header]]` table with its plain keys, a comment above it."""
    lines = [f"# {text}" for text in comment.splitlines()] + [header]
    for key, value in table.items():
        lines += _key_line(key, value)
    return "\n".join(lines)


WIDTH = 100  # the docs' line length


class Template(NamedTuple):
    """What a template puts in a new campaign file, besides its [campaign] id, name and state."""

    features: list[str]
    referrals: dict[str, Any] | None  # [campaign.referrals]
    coupons: dict[str, Any] | None  # [campaign.coupons]
    limits: list[tuple[dict[str, Any], str]]  # ([[campaign.limits]] table, comment)
    programs: list[tuple[dict[str, Any], str]]  # ([[loyalty_program]] table, comment)
    rules: list[tuple[str, dict[str, Any]]]  # (comment, [[rules]] table)


def _referral(program: str) -> Template:
    return Template(
        features=["referrals", "loyalty"],
        referrals={
            "pattern": "####-####",
            "characters": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
            "usage_limit": 0,
            "valid_for": "90D",
        },
        coupons=None,
        limits=[
            (
                {"action": "redeemReferral", "limit": 1, "per": "profile"},
                "A friend is rewarded once, whoever's code they bring.",
            )
        ],
        programs=[({"id": program, "name": "Referral wallet"}, "The points go here.")],
        rules=[
            (
                "A customer who registers gets a code to share (the advocate).",
                {
                    "name": "Generate a referral code",
                    "when": [{"event": "talon_profile_created"}],
                    "then": [{"effect": "create_referral_code"}],
                },
            ),
            (
                "A friend closing a session with the code rewards both.",
                {
                    "name": "Friend redeems referral code",
                    "when": [{"referral": "valid"}, {"event": "talon_session_closed"}],
                    "then": [
                        {
                            "effect": "add_loyalty_points",
                            "program": program,
                            "recipient": "advocate",
                            "points": 100,
                            "reason": "Referral bonus for the advocate",
                        },
                        {
                            "effect": "add_loyalty_points",
                            "program": program,
                            "recipient": "current",
                            "points": 50,
                            "reason": "Welcome bonus for the friend",
                        },
                    ],
                },
            ),
        ],
    )


def _coupon(program: str) -> Template:
    return Template(
        features=["coupons"],
        referrals=None,
        coupons={
            "pattern": "SAVE-######",
            "characters": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
            "usage_limit": 1,
            "valid_for": "30D",
        },
        limits=[
            (
                {"action": "setDiscount", "limit": 1000, "per": "campaign"},
                "A budget: at most 1000 in discounts over the whole campaign.",
            )
        ],
        programs=[],
        rules=[
            (
                "Every new customer gets a coupon.",
                {
                    "name": "Welcome coupon",
                    "when": [{"event": "talon_profile_created"}],
                    "then": [{"effect": "create_coupon"}],
                },
            ),
            (
                "The coupon takes 10% off carts of 50 or more.",
                {
                    "name": "10% off",
                    "when": [
                        {"coupon": "valid"},
                        {"attribute": "session.total", "op": ">=", "value": 50},
                    ],
                    "then": [{"effect": "set_discount", "name": "10% off", "percent": 10}],
                },
            ),
        ],
    )


def _loyalty(program: str) -> Template:
    return Template(
        features=["loyalty"],
        referrals=None,
        coupons=None,
        limits=[],
        programs=[
            (
                {"id": program, "name": "Loyalty wallet", "pending": "7D", "validity": "1Y"},
                "Points become active after a week and expire after a year.",
            )
        ],
        rules=[
            (
                "One point per unit spent, on every closed session.",
                {
                    "name": "Points per purchase",
                    "when": [
                        {"event": "talon_session_closed"},
                        {"attribute": "session.total", "op": ">", "value": 0},
                    ],
                    "then": [
                        {
                            "effect": "add_loyalty_points",
                            "program": program,
                            "points_per": 1,
                            "of": "session.total",
                            "reason": "Points per purchase",
                        }
                    ],
                },
            ),
            (
                "Big spenders join an audience.",
                {
                    "name": "VIP",
                    "when": [
                        {"event": "talon_session_closed"},
                        {"attribute": "session.total", "op": ">=", "value": 500},
                    ],
                    "then": [{"effect": "add_to_audience", "audience": "vip"}],
                },
            ),
        ],
    )


TEMPLATES: dict[str, Callable[[str], Template]] = {
    "referral": _referral,
    "coupon": _coupon,
    "loyalty": _loyalty,
}


def render(campaign_id: str, template: str) -> str:
    """The text of a new campaign file."""
    if template not in TEMPLATES:
        raise InputError(
            f"--template: unknown template {template!r}; one of: {', '.join(TEMPLATES)}"
        )
    made = TEMPLATES[template](f"{campaign_id}-wallet")
    campaign = {
        "id": campaign_id,
        "name": f"{campaign_id}: {template} campaign",
        "state": "disabled",
        "features": made.features,
    }
    # Every table is written with a [header] or [[header]], never inline, in the order and
    # style of docs/campaigns.md: its snippets ([[campaign.limits]], [[loyalty_program]], ...)
    # can then be pasted into the file (TOML refuses to extend a table written inline).
    parts = [
        _table(
            "[campaign]",
            campaign,
            f"Campaign {campaign_id} ({template} template), made by `refcamp campaign new`.\n"
            "The format is in docs/campaigns.md; check edits with `refcamp campaign validate`.\n"
            f"It starts disabled: `refcamp campaign activate {campaign_id}`.",
        )
    ]
    if made.referrals:
        parts.append(
            _table(
                "[campaign.referrals]",
                made.referrals,
                "Codes this campaign creates: each # is drawn from the characters.",
            )
        )
    if made.coupons:
        parts.append(_table("[campaign.coupons]", made.coupons, "Coupons this campaign creates."))
    parts += [_table("[[campaign.limits]]", limit, note) for limit, note in made.limits]
    parts += [_table("[[loyalty_program]]", table, note) for table, note in made.programs]
    parts += [_table("[[rules]]", rule, note) for note, rule in made.rules]
    return "\n\n".join(parts) + "\n"


def write_new(path: Path, text: str, check: Callable[[Path], object] | None = None) -> None:
    """Write `text` to `path` atomically, refusing to replace an existing file; `check` sees the
    finished temporary file first and may raise to stop the write."""
    if path.exists():
        raise ConflictError(f"{path} already exists; refcamp will not overwrite it")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as error:
        raise InputError(f"cannot write {path}: {error.strerror}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(handle, 0o666 & ~umask)  # an ordinary file, not mkstemp's private 0600
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if check is not None:
            check(Path(temp))
        try:
            os.link(temp, path)
        except FileExistsError:
            raise ConflictError(f"{path} already exists; refcamp will not overwrite it") from None
    finally:
        os.unlink(temp)
