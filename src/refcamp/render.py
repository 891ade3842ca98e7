"""Output: JSON for scripts (json.dumps, never through Rich), Rich tables for people, and notes
and errors on stderr. Rich is imported only when a table is drawn."""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from typing import Any

from refcamp.engine.effects import said
from refcamp.models import EVENTS, Effect, Rule

CLOSED = "talon_session_closed"


class Bar:
    """A progress bar on stderr's terminal, redrawn by the work's own ticks, ten times a second
    at most, never by a thread: a replay may fork a worker, and a fork must not copy a thread
    that is halfway through writing to the terminal."""

    def __init__(self, progress: Any, total: float | None) -> None:
        self._progress = progress
        self._task = progress.add_task("", total=total, rate="0")
        self._clock = time.monotonic
        self._started = self._drawn = self._clock()

    def update(self, completed: float, done: int | None, force: bool = False) -> None:
        """`completed` of the bar's total; `done` requests so far, for the rate shown (None: the
        work is over, drawn now with the rate as it was)."""
        now = self._clock()
        if not force and done is not None and now - self._drawn < 0.1:
            return
        self._drawn = now
        fields = {} if done is None else {"rate": f"{done / max(now - self._started, 1e-6):,.0f}"}
        self._progress.update(self._task, completed=completed, refresh=True, **fields)


class Output:
    """One run's output: results on stdout, notes, warnings and errors on stderr, and progress
    bars. The streams are the ones in place when the run starts (tests swap them between
    invocations); the Rich consoles are made only when a table or a bar needs one."""

    def __init__(self) -> None:
        self.stdout = sys.stdout
        self.stderr = sys.stderr
        self._consoles: dict[bool, Any] = {}
        self.said: set[tuple[str, ...]] = set()  # notes given once per run

    def console(self, stderr: bool = False) -> Any:
        if stderr not in self._consoles:
            from rich.console import Console

            file = self.stderr if stderr else self.stdout
            self._consoles[stderr] = Console(file=file, highlight=False, soft_wrap=False)
        return self._consoles[stderr]

    def write(self, text: str) -> None:
        self.stdout.write(text)

    def line(self, text: str = "") -> None:
        self.stdout.write(inert(text) + "\n")

    def json(self, data: Any) -> None:
        # allow_nan=False: NaN and Infinity are not JSON; a script must never be handed them.
        self.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, allow_nan=False) + "\n")

    def note(self, text: str) -> None:
        """A hint or progress line for people, on stderr."""
        self.stderr.write(inert(text) + "\n")

    def error(self, message: str, details: Sequence[str] = (), hint: str = "") -> None:
        """The error line, then its details (a campaign error's problems) one a line, indented;
        the text in them may come from users and files, so it is made inert."""
        text = "".join(f"\n  {inert(detail)}" for detail in details)
        self.stderr.write(f"refcamp: error: {inert(message)}{hint}{text}\n")

    @contextmanager
    def progress(
        self, label: str, total: float | None, count: str, shown: bool
    ) -> Iterator[Bar | None]:
        """A bar labelled `label` with `count` (a Rich column template, such as "day
        {task.completed:.0f}/{task.total:.0f}"; "" for "done/total"), the rate and the time left;
        None when not `shown` or stderr is not a terminal."""
        if not shown or not self.stderr.isatty():
            yield None
            return
        from rich import progress as rich

        counter = rich.TextColumn(count) if count else rich.MofNCompleteColumn()
        bar = rich.Progress(
            rich.TextColumn(label),
            rich.BarColumn(),
            counter,
            rich.TextColumn("{task.fields[rate]} requests/s"),
            rich.TimeRemainingColumn(),
            console=self.console(stderr=True),
            transient=True,
            auto_refresh=False,  # see Bar
        )
        with bar:
            yield Bar(bar, total)


_current: Output | None = None


def output() -> Output:
    """The run's Output (the CLI's root callback starts one per run with `start`)."""
    global _current
    if _current is None:
        _current = Output()
    return _current


def start() -> Output:
    """A new run's Output, on the streams in place now."""
    global _current
    _current = Output()
    return _current


def console(stderr: bool = False) -> Any:
    return output().console(stderr)


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
    output().json(data)


def note(text: str) -> None:
    """A hint or progress line for people, on stderr."""
    output().note(text)


def line(text: str = "") -> None:
    output().line(text)


# Columns of words (and of dates, which may break between day and time), wrapped between words;
# every other column (codes, ids, amounts, states) is never wrapped, so a code is never split.
PROSE = frozenset(
    ("Name", "Details", "Rule", "Outcome", "Reason", "Condition", "Seen", "Needed", "Figure",
     "Value", "File", "Created", "Starts", "Expires")
)  # fmt: skip
# What a table too wide for the terminal leaves out first: what --json or `show` still has.
LEAST_USEFUL = (
    "File", "Created", "Starts", "Features", "Friend", "Session", "Validity", "Rules", "Expired",
    "Spent", "Category", "Needed",
)  # fmt: skip


def _narrowest(header: str, cells: list[str], prose: bool) -> int:
    """The narrowest a column can be without splitting a code, an id or a word: its widest cell,
    or in prose its longest word."""
    from rich.cells import cell_len

    if prose:
        words = [w for text in (header, *cells) for w in text.split()]
        return max((cell_len(w) for w in words), default=1)
    return max(cell_len(text) for text in (header, *cells))


def cell_text(value: Any) -> str:
    """A value as a table shows it: JSON's words for booleans, lists and objects (true, ["a"]),
    never Python's (True, ['a'])."""
    if value is None:
        return ""
    if isinstance(value, bool | list | tuple | dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _share(room: int, narrowest: list[int], natural: list[int]) -> list[int]:
    """Widths that fill `room`: every column at least its narrowest, the room left over shared
    in proportion to what each column would still use."""
    spare = room - sum(narrowest)
    wants = [n - m for n, m in zip(natural, narrowest, strict=True)]
    if sum(wants) <= spare:
        return natural
    widths = [m + spare * w // sum(wants) for m, w in zip(narrowest, wants, strict=True)]
    return widths


def _needed(widths: list[int], shown: list[int]) -> int:
    """The width of a table's shown columns: cells, their padding, and the borders between."""
    return sum(widths[i] + 3 for i in shown) + 1


def _fitting(columns: Sequence[str], narrowest: list[int], room: int) -> list[int]:
    """The columns shown: all, or all but the least useful until the rest fits `room`, with a
    note saying which are left out (once a run, not under every table)."""
    shown = list(range(len(columns)))
    left_out = []
    for name in LEAST_USEFUL:
        if _needed(narrowest, shown) <= room:
            break
        if name in columns and len(shown) > 2:
            shown.remove(columns.index(name))
            left_out.append(name)
    said = output().said
    if left_out and tuple(left_out) not in said:
        said.add(tuple(left_out))
        note(
            f"note: {', '.join(left_out)} left out to fit {room} columns "
            "(--json has every field; a wider terminal or COLUMNS shows them)"
        )
    return shown


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    wide: str | None = None,
    keep: Sequence[str] = (),
) -> None:
    """A table on stdout; the `wide` column takes the room left, `keep` columns never wrap.

    Only prose columns wrap, between words. When the rest does not fit the terminal (80 columns
    through a pipe), the least useful columns are left out, with a note saying which; a table that
    still does not fit is printed wider than the terminal rather than split a code."""
    from rich.cells import cell_len

    texts = [[inert(cell_text(cell)) for cell in row] for row in rows]
    if not texts:  # a table of headers alone reads as if something failed to show
        line(f"{title or 'Nothing to show'}: none.")
        return
    prose = [c == wide or (c in PROSE and c not in keep) for c in columns]
    cells = [[row[i] for row in texts] for i in range(len(columns))]
    narrowest = [_narrowest(c, cells[i], prose[i]) for i, c in enumerate(columns)]
    natural = [max(cell_len(t) for t in (c, *cells[i])) for i, c in enumerate(columns)]
    room = console().width
    shown = _fitting(columns, narrowest, room)

    def needed(widths: list[int]) -> int:
        return _needed(widths, shown)

    width = max(room, needed(narrowest))  # wider than the terminal only to keep words whole
    if needed(natural) > width:
        widths = _share(
            width - needed([0] * len(columns)),
            [narrowest[i] for i in shown],
            [natural[i] for i in shown],
        )
    else:
        widths = [natural[i] for i in shown]
        if wide in columns and columns.index(wide) in shown:  # it takes the room left
            widths[shown.index(columns.index(wide))] += width - needed(natural)
    if title is not None:  # a line of its own: a title naming an id is never wrapped either
        line(title)
    output().write(
        _draw(
            [columns[i] for i in shown],
            widths,
            ([row[i] for i in shown] for row in texts),
            [prose[i] for i in shown],
        )
    )


def _draw(
    headers: list[str], widths: list[int], rows: Iterable[list[str]], prose: list[bool]
) -> str:
    """The table as Rich draws one (a heavy head, a light body), at the widths given. Drawn
    here, not by Rich: the widths are decided above, and Rich takes half a minute for 10,000
    rows."""
    from rich.cells import cell_len

    def rule(left: str, fill: str, between: str, right: str) -> str:
        return left + between.join(fill * (w + 2) for w in widths) + right

    def lines(cells: list[str], border: str) -> list[str]:
        wrapped = [
            _wrap(text, w) if wraps else [text]
            for text, w, wraps in zip(cells, widths, prose, strict=True)
        ]
        drawn = []
        for n in range(max(len(parts) for parts in wrapped)):
            padded = []
            for parts, w in zip(wrapped, widths, strict=True):
                text = parts[n] if n < len(parts) else ""
                padded.append(f" {text}{' ' * (w - cell_len(text))} ")
            drawn.append(border + border.join(padded) + border)
        return drawn

    out = [rule("┏", "━", "┳", "┓"), *lines(headers, "┃"), rule("┡", "━", "╇", "┩")]
    for row in rows:
        out.extend(lines(row, "│"))
    out.append(rule("└", "─", "┴", "┘"))
    return "\n".join(out) + "\n"


def _wrap(text: str, width: int) -> list[str]:
    """Prose in lines of at most `width` cells, broken at spaces; a word too long for the line
    (there is none when the column is as wide as its longest word) is folded."""
    from rich.cells import cell_len

    if cell_len(text) <= width:
        return [text]
    done: list[str] = []
    current = ""
    for word in text.split(" "):
        joined = f"{current} {word}" if current else word
        if cell_len(joined) <= width:
            current = joined
            continue
        if current:
            done.append(current)
        current = word
        while cell_len(current) > width:
            cut = 1
            while cell_len(current[: cut + 1]) <= width:
                cut += 1
            done.append(current[:cut])
            current = current[cut:]
    done.append(current)
    return done


def event_label(event: str) -> str:
    return EVENTS.get(event, event)


def effect_words(e: Effect) -> str:
    """An effect in words, for the effects table."""
    return said(e)  # the words belong to the effect's kind (engine.kinds, engine.effects)


def tentative(e: Effect, evaluation: Any) -> bool:
    """Whether a code was rejected only because the session is not closed yet: Talon.One says
    ...RejectedByCondition, which reads as a failure, but the same code is accepted on close."""
    reason = e.props.get("rejectionReason")
    if evaluation is None or not (isinstance(reason, str) and reason.endswith("ByCondition")):
        return False
    for rule in evaluation.rules:
        if (rule.campaign_id, rule.rule_name) == (e.campaign_id, e.rule_name):
            failed = [c for c in rule.conditions if not c.check.passed]
            closing = [c for c in failed if getattr(c.condition, "event", None) == CLOSED]
            return bool(failed) and closing == failed
    return False


def words_of(e: Effect, evaluation: Any = None) -> str:
    if tentative(e, evaluation):
        what = "referral code" if e.effect_type == "rejectReferral" else "coupon"
        return (
            f"{what} {e.props.get('value')} is valid; it is redeemed when the session closes "
            f"(until then Talon.One says {e.props.get('rejectionReason')})"
        )
    return effect_words(e)


def effects_table(
    effects: Sequence[Effect], title: str = "Effects", evaluation: Any = None
) -> None:
    campaigns = {e.campaign_id for e in effects}
    if len(campaigns) == 1:  # the usual case: name the campaign once, leave room for details
        campaign = campaigns.pop()  # none for a code no running campaign checks
        table(
            f"{title} of {campaign}" if campaign else title,
            ["Rule", "Effect", "Details"],
            [(e.rule_name, e.effect_type, words_of(e, evaluation)) for e in effects],
            wide="Details",
            keep=("Effect",),
        )
        return
    table(
        title,
        ["Campaign", "Rule", "Effect", "Details"],
        [(e.campaign_id, e.rule_name, e.effect_type, words_of(e, evaluation)) for e in effects],
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
        # A built-in event by its name and type; a custom one's type is its name.
        labels = (e if event_label(e) == e else f"{event_label(e)} ({e})" for e in resp.events)
        note("Event: " + ", ".join(labels))
    if resp.effects:
        effects_table(resp.effects, evaluation=resp.evaluation)
    else:
        line("No effects.")
    evaluation = resp.evaluation
    for blocked in evaluation.blocked if evaluation else ():
        where = f"Rule '{blocked.rule_name}' ({blocked.campaign_id})"
        effect = f"effect {blocked.effect_index + 1} ({blocked.effect_type})"
        if blocked.reason == "EffectCouldNotBeApplied":
            note(
                f"{where}: {effect} could not be applied, so none of the rule's effects apply "
                f"({blocked.reason}) — {blocked.details}"
            )
        else:
            note(f"{where}: {effect} blocked: {blocked.reason} — {blocked.details}")
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
        if len(unfired) == 1:
            rule, failed = unfired[0], unfired[0].failed_condition
            note(
                f"Rule '{rule.rule_name}' ({rule.campaign_id}) did not fire: {failed.words} "
                f"— saw {failed.check.seen}"
            )
        elif unfired:  # one line, not one a rule: --explain has them all
            note(f"No rule fired ({len(unfired)} rules checked; --explain shows why each did not).")
    if resp.dry_run:
        note("Dry run: nothing was saved.")


def explanation(evaluation: Any) -> None:
    """Why each rule fired or not: a table per campaign, a row per condition, the rule and its
    outcome named on its first row (narrow enough for 80 columns without the Needed column, which
    the condition's words mostly say)."""
    by_campaign: dict[str, list[tuple[str, str, str, Any, Any, str]]] = {}
    for rule in evaluation.rules:
        rows = by_campaign.setdefault(rule.campaign_id, [])
        outcome = "fired" if rule.fired else "did not fire"
        if rule.failed_effect is not None:
            outcome = f"did not apply: effect {rule.failed_effect[0] + 1} could not be applied"
        if not rule.conditions:
            rows.append((rule.rule_name, outcome, "(no conditions)", "", "", ""))
        for n, c in enumerate(rule.conditions):
            named = n == 0
            rows.append(
                (
                    rule.rule_name if named else "",
                    outcome if named else "",
                    c.words,
                    c.check.seen,
                    c.check.needed,
                    "yes" if c.check.passed else "no",
                )
            )
    for campaign_id, rows in by_campaign.items():
        table(
            f"Why: {campaign_id}", ["Rule", "Outcome", "Condition", "Seen", "Needed", "Holds"], rows
        )
    for cid, why in evaluation.not_running.items():
        note(f"Campaign {cid} was not evaluated: {why}")


def stats(figures: dict[str, Any]) -> None:
    """One campaign's figures (refcamp campaign stats, refcamp simulate)."""
    rows = stat_rows(figures)
    table(f"{figures['name']} ({figures['campaignId']})", ["Figure", "Value"], rows)


def stat_rows(figures: dict[str, Any]) -> list[tuple[str, Any]]:
    """One campaign's figures as (label, value) rows: what `stats` prints (the console shows
    the same)."""
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
    return rows


def chart(title: str, points: list[tuple[str, int]], width: int = 40) -> None:
    """A horizontal bar per day, days without points included."""
    if not points:
        return
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


def rule_words(rule: Rule) -> str:
    """A rule read back in words (`campaign show`, the console)."""
    when = " and ".join(c.words() for c in rule.when) or "always"
    then = " and ".join(e.words() for e in rule.then)
    return f"When {when}, then {then}."
