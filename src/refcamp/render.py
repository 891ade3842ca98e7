"""Output: JSON for scripts (json.dumps, never through Rich), Rich tables for people, and notes
and errors on stderr. Rich is imported only when a table is drawn."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence
from typing import Any

from refcamp.models import EVENTS, Effect

_consoles: dict[bool, Any] = {}


def console(stderr: bool = False) -> Any:
    if stderr not in _consoles:
        from rich.console import Console

        _consoles[stderr] = Console(stderr=stderr, highlight=False, soft_wrap=False)
    return _consoles[stderr]


def reset() -> None:
    """Forget the consoles (tests swap sys.stdout between invocations)."""
    _consoles.clear()


# Characters that act on a terminal or on how text reads instead of showing: Unicode's controls
# (C0 with ESC, DEL, C1 with CSI and OSC) and the invisible format characters that reorder or hide
# text (bidi embeddings, overrides and isolates, zero-width space, word joiner, BOM). The zero-width
# (non-)joiners are kept: scripts and emoji need them, and they move nothing.
ACTIVE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def inert(text: str) -> str:
    """Text as people may see it: every control or invisible format character shown as an escape
    (ESC as \\x1b, a newline as \\x0a, U+202E as \\u202e), so that text from a user, a payload or
    a state file can neither drive the terminal nor fake a line or reorder what is shown."""
    return text if ACTIVE.search(text) is None else ACTIVE.sub(_escape, text)


def print_json(data: Any) -> None:
    # allow_nan=False: NaN and Infinity are not JSON; a script must never be handed them.
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n")


def note(text: str) -> None:
    """A hint or progress line for people, on stderr."""
    sys.stderr.write(inert(text) + "\n")


def line(text: str = "") -> None:
    sys.stdout.write(inert(text) + "\n")


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    wide: str | None = None,
    keep: Sequence[str] = (),
) -> None:
    """A table on stdout; the `wide` column takes the room left, `keep` columns never wrap."""
    from rich.table import Table
    from rich.text import Text

    # Text objects, never str: Rich would read "[red]" or "[/x]" in user text as markup.
    grid = Table(
        title=None if title is None else Text(inert(title)),
        title_justify="left",
        show_lines=False,
        expand=wide is not None,
    )
    for column in columns:
        if column == wide:
            grid.add_column(column, overflow="fold", ratio=3)
        else:
            grid.add_column(
                column,
                overflow="fold",
                no_wrap=column in keep,
                ratio=None if column in keep or wide is None else 1,
            )
    for row in rows:
        grid.add_row(*(Text("" if cell is None else inert(str(cell))) for cell in row))
    console().print(grid)


def event_label(event: str) -> str:
    return EVENTS.get(event, event)


def effect_words(e: Effect) -> str:
    """An effect in words, for the effects table."""
    p = e.props
    kind = e.effect_type
    if kind == "referralCreated":
        return f"referral code {p.get('value')} created"
    if kind == "acceptReferral":
        return f"referral code {p.get('value')} accepted"
    if kind == "rejectReferral":
        reason, details = p.get("rejectionReason"), p.get("details")
        return f"referral code {p.get('value')} rejected: {reason} ({details})"
    if kind == "rollbackReferral":
        return f"use of referral code {p.get('value')} given back"
    if kind in ("addLoyaltyPoints", "rollbackAddedLoyaltyPoints", "rollbackDeductedLoyaltyPoints"):
        sign = "-" if kind == "rollbackAddedLoyaltyPoints" else "+"
        who, program = p.get("recipientIntegrationId"), p.get("programId")
        words = f"{sign}{p.get('value')} points for {who} in {program}"
        if p.get("name"):
            words += f" ({p['name']})"
        if kind == "addLoyaltyPoints" and p.get("transactionUUID") is None:
            words += ", not booked until the session closes"
        if p.get("startDate"):
            words += f", pending until {p['startDate']}"
        if p.get("expiryDate"):
            words += f", expire {p['expiryDate']}"
        return words
    if kind == "acceptCoupon":
        return f"coupon {p.get('value')} accepted"
    if kind == "rejectCoupon":
        reason, details = p.get("rejectionReason"), p.get("details")
        return f"coupon {p.get('value')} rejected: {reason} ({details})"
    if kind == "rollbackCoupon":
        return f"use of coupon {p.get('value')} given back"
    if kind == "couponCreated":
        return f"coupon {p.get('value')} created for {p.get('profileId')}"
    if kind == "reserveCoupon":
        new = "reserved" if p.get("isNewReservation") else "was already reserved"
        return f"coupon {p.get('couponValue')} {new} for {p.get('profileIntegrationId')}"
    if kind == "deductLoyaltyPoints":
        words = f"-{p.get('value')} points for {p.get('recipientIntegrationId')} in " + str(
            p.get("programId")
        )
        return words + (f" ({p['name']})" if p.get("name") else "")
    if kind == "setDiscount":
        where = "on matching items" if p.get("scope") == "cartItems" else "off the total"
        return f"discount {p.get('name')!r}: {p.get('value')} {where}"
    if kind == "rollbackDiscount":
        return f"discount {p.get('name')!r} of {p.get('value')} rolled back"
    if kind == "showNotification":
        return f"[{p.get('notificationType')}] {p.get('title')}: {p.get('body')}"
    if kind == "updateAttribute":
        return f"{p.get('path')} = {json.dumps(p.get('value'), ensure_ascii=False)}"
    if kind in ("addToAudience", "removeFromAudience"):
        verb = "joins" if kind == "addToAudience" else "leaves"
        return f"{p.get('profileIntegrationId')} {verb} audience {p.get('audienceName')!r}"
    if kind == "customEffect":
        return f"{p.get('name')} {json.dumps(p.get('payload'), ensure_ascii=False)}"
    return ", ".join(f"{k}={v}" for k, v in p.items())


def effects_table(effects: Sequence[Effect], title: str = "Effects") -> None:
    campaigns = {e.campaign_id for e in effects}
    if len(campaigns) == 1:  # the usual case: name the campaign once, leave room for details
        table(
            f"{title} of {campaigns.pop() or 'no campaign'}",
            ["Rule", "Effect", "Details"],
            [(e.rule_name, e.effect_type, effect_words(e)) for e in effects],
            wide="Details",
            keep=("Effect",),
        )
        return
    table(
        title,
        ["Campaign", "Rule", "Effect", "Details"],
        [(e.campaign_id, e.rule_name, e.effect_type, effect_words(e)) for e in effects],
        wide="Details",
        keep=("Campaign", "Effect"),
    )


def short_time(moment: Any) -> str:
    """A time for tables: minutes are enough for people; --json has the full value."""
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%d %H:%M")


def response(resp: Any, explain: bool = False) -> None:
    """A request's outcome for people: what happened, the effects, and why nothing happened."""
    for text in resp.notes:
        note(f"note: {text}")
    if "profile" in resp.generated:
        note(f"New customer {resp.generated['profile']} (no --profile given)")
    if "session" in resp.generated:
        note(f"New session {resp.generated['session']}")
    if resp.events:
        note("Event: " + ", ".join(f"{event_label(e)} ({e})" for e in resp.events))
    if resp.effects:
        effects_table(resp.effects)
    else:
        line("No effects.")
    evaluation = resp.evaluation
    for blocked in evaluation.blocked if evaluation else ():
        where = f"Rule '{blocked.rule_name}' ({blocked.campaign_id})"
        note(
            f"{where}: effect {blocked.effect_index + 1} ({blocked.effect_type}) blocked: "
            f"{blocked.reason} — {blocked.details}"
        )
    if evaluation is not None and not any(r.fired for r in evaluation.rules):
        if evaluation.not_running:
            reasons = "; ".join(
                f"{why} (refcamp campaign activate {cid})" if "is disabled" in why else why
                for cid, why in evaluation.not_running.items()
            )
            if resp.effects:  # code verdicts only: a code is checked even when no rule runs
                note(f"No campaign rule ran — {reasons}; only the codes were checked (above)")
            else:
                note(f"No running campaign reacted — {reasons}")
        elif not evaluation.rules:
            note("No campaign to run.")
    if explain and evaluation is not None:
        explanation(evaluation)
    elif evaluation is not None and not resp.effects:
        unfired = [r for r in evaluation.rules if not r.fired and r.failed_condition]
        for rule in unfired:
            failed = rule.failed_condition
            note(
                f"Rule '{rule.rule_name}' ({rule.campaign_id}) did not fire: {failed.words} "
                f"— saw {failed.check.seen}"
            )
    if resp.dry_run:
        note("Dry run: nothing was saved.")


def explanation(evaluation: Any) -> None:
    rows = []
    for rule in evaluation.rules:
        for c in rule.conditions:
            rows.append(
                (
                    rule.campaign_id,
                    rule.rule_name,
                    "fired" if rule.fired else "did not fire",
                    c.words,
                    c.check.seen,
                    c.check.needed,
                    "yes" if c.check.passed else "no",
                )
            )
        if not rule.conditions:
            rows.append((rule.campaign_id, rule.rule_name, "fired", "(no conditions)", "", "", ""))
    table("Why", ["Campaign", "Rule", "Outcome", "Condition", "Seen", "Needed", "Holds"], rows)
    for cid, why in evaluation.not_running.items():
        note(f"Campaign {cid} was not evaluated: {why}")


def stats(figures: dict[str, Any]) -> None:
    """One campaign's figures (refcamp campaign stats, refcamp simulate)."""
    rows: list[tuple[str, Any]] = [
        ("referral codes created", figures["referralCodes"]),
        ("coupons created", figures["coupons"]),
    ]
    for label, key in (("referrals", "referrals"), ("coupons", "couponRedemptions")):
        part = figures[key]
        if part["accepted"] or part["rejected"]:
            rows.append((f"{label} accepted", part["accepted"]))
            rows.append((f"{label} rolled back", part["rolledBack"]))
            for reason, count in part["rejected"].items():
                rows.append((f"{label} rejected: {reason}", count))
    for program, points in figures["points"].items():
        rows.append((f"points issued ({program})", points["issued"]))
        rows.append((f"points rolled back ({program})", points["rolledBack"]))
        if points["deducted"]:
            rows.append((f"points deducted ({program})", points["deducted"]))
        rows.append((f"points outstanding ({program})", points["net"]))
    discount = figures["discount"]
    if discount["given"]:
        rows.append(("discount given", f"{discount['given']:.2f}"))
        rows.append(("discount rolled back", f"{discount['rolledBack']:.2f}"))
    rows.append(("customers acquired by referral", figures["acquiredCustomers"]))
    rows.append(
        (f"cost (points at {figures['pointValue']:g} each + discounts)", f"{figures['cost']:.2f}")
    )
    per = figures["costPerAcquiredCustomer"]
    rows.append(("cost per acquired customer", "n/a" if per is None else f"{per:.2f}"))
    table(f"{figures['name']} ({figures['campaignId']})", ["Figure", "Value"], rows)


def chart(title: str, points: list[tuple[str, int]], width: int = 40) -> None:
    """A horizontal bar per day, days without points included."""
    if not points:
        return
    from datetime import date, timedelta

    by_day = dict(points)
    first, last = date.fromisoformat(points[0][0]), date.fromisoformat(points[-1][0])
    points = [
        (
            (first + timedelta(days=n)).isoformat(),
            by_day.get((first + timedelta(days=n)).isoformat(), 0),
        )
        for n in range((last - first).days + 1)
    ]
    top = max(value for _, value in points) or 1
    line(title)
    for label, value in points:
        bar = "█" * round(value / top * width)
        line(f"  {label}  {bar} {value}")
