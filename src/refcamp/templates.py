"""Campaign templates for `refcamp campaign new`: valid, commented TOML written with tomli-w.

Files are written atomically and never over an existing file: the text goes to a temporary file in
the same directory, is flushed to disk, and is then hard-linked to its name (which fails if the name
exists) before the temporary name is removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from refcamp.errors import ConflictError, InputError

TEMPLATES = ("referral", "coupon", "loyalty")


def _commented(doc: dict[str, Any], notes: list[tuple[str, str]]) -> str:
    """TOML for `doc`, with each comment put above the next line starting with its prefix."""
    import tomli_w

    pending = list(notes)
    out = []
    for line in tomli_w.dumps(doc).splitlines():
        if pending and line.startswith(pending[0][0]):
            out += [f"# {text}" for text in pending.pop(0)[1].splitlines()]
        out.append(line)
    return "\n".join(out) + "\n"


def render(campaign_id: str, template: str) -> str:
    """The text of a new campaign file."""
    if template not in TEMPLATES:
        raise InputError(
            f"--template: unknown template {template!r}; one of: {', '.join(TEMPLATES)}"
        )
    program = f"{campaign_id}-wallet"
    campaign: dict[str, Any] = {
        "id": campaign_id,
        "name": f"{campaign_id}: {template} campaign",
        "state": "disabled",
        "features": {
            "referral": ["referrals", "loyalty"],
            "coupon": ["coupons"],
            "loyalty": ["loyalty"],
        }[template],
    }
    doc: dict[str, Any] = {}
    notes: list[tuple[str, str]] = []
    if template == "referral":
        doc["loyalty_program"] = [{"id": program, "name": "Referral wallet"}]
        notes.append(("loyalty_program", "The points go to this program."))
        campaign["referrals"] = {
            "pattern": "####-####",
            "characters": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
            "usage_limit": 0,
            "valid_for": "90D",
        }
        campaign["limits"] = [{"action": "redeemReferral", "limit": 1, "per": "profile"}]
        rules = [
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
        ]
    elif template == "coupon":
        campaign["coupons"] = {
            "pattern": "SAVE-######",
            "characters": "ABCDEFGHJKLMNPQRSTUVWXYZ23456789",
            "usage_limit": 1,
            "valid_for": "30D",
        }
        campaign["limits"] = [{"action": "setDiscount", "limit": 1000, "per": "campaign"}]
        rules = [
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
        ]
    else:
        doc["loyalty_program"] = [
            {"id": program, "name": "Loyalty wallet", "pending": "7D", "validity": "1Y"}
        ]
        notes.append(
            ("loyalty_program", "Points become active after a week and expire after a year.")
        )
        rules = [
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
        ]
    doc["campaign"] = campaign
    doc["rules"] = [rule for _, rule in rules]
    notes.append(
        (
            "[campaign]",
            f"Campaign {campaign_id} ({template} template), made by `refcamp campaign new`.\n"
            "The format is in docs/campaigns.md; check edits with `refcamp campaign validate`.\n"
            f"It starts disabled: `refcamp campaign activate {campaign_id}`.",
        )
    )
    if "referrals" in campaign:
        notes.append(
            (
                "[campaign.referrals]",
                "Codes this campaign creates: each # is drawn from the characters.",
            )
        )
    if "coupons" in campaign:
        notes.append(("[campaign.coupons]", "Coupons this campaign creates."))
    notes += [("[[rules]]", comment) for comment, _ in rules]
    return _commented(doc, notes)


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
