"""Reading TOML tables key by key, collecting every problem instead of stopping at the first.

Each problem is one line that names its place ("campaigns/x.toml: rule 2 'Big carts': when[1]:
unknown key 'valu' (did you mean value?)"), so a campaign file's mistakes are all reported at once.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from typing import Any

MISSING: Any = object()
LARGEST = 10**12  # no count or amount in refcamp is larger; SQLite integers stop at 2**63


def did_you_mean(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]}?)" if close else ""


def unknown_hint(word: str, options: Iterable[str]) -> str:
    """What to add to "no such name": the close one if there is one, else the names known (never
    both: "(did you mean x?) (known: x)" says one thing twice)."""
    options = list(options)
    return did_you_mean(word, options) or f" (known: {', '.join(options) or 'none'})"


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def kind_name(kind: type) -> str:
    """How a problem names the type a key wants."""
    if kind.__name__ == "datetime":  # the usual mistake is quoting it
        return "a TOML date-time, unquoted (e.g. 2026-03-01T06:00:00Z)"
    return type_name(kind())


class Problem(str):
    """A mistake in a campaign file. It reads as its sentence, "WHERE: MESSAGE", so it prints and
    compares as text; it keeps its parts, so `campaign validate --json` can give them apart.
    `where` is the file, then the table, rule, condition or effect and key, as the reader went
    in; `file` is set once the loader knows which of its files that is."""

    where: str
    message: str
    file: str

    def __new__(cls, where: str, message: str) -> Problem:
        self = super().__new__(cls, f"{where}: {message}")
        self.where, self.message, self.file = where, message, ""
        return self

    def __reduce__(self) -> tuple[Any, ...]:  # str's own would call __new__ with the text alone
        return (Problem, (self.where, self.message), {"file": self.file})

    def moved(self, old: str, new: str) -> Problem:
        """The same problem said of the file's final place (it was checked under a temporary
        name)."""
        problem = Problem(self.where.replace(old, new), self.message.replace(old, new))
        problem.file = self.file.replace(old, new)
        return problem

    def parts(self) -> dict[str, Any]:
        """{file, rule, place, message, text}: `place` is where within the file ("" for the file
        as a whole) and `rule` the rule's number when the problem is in one."""
        place = self.where
        if self.file and place.startswith(self.file):
            place = place[len(self.file) :].removeprefix(": ")
        rule = RULE.match(place)
        return {
            "file": self.file,
            "rule": int(rule.group(1)) if rule else None,
            "place": place,
            "message": self.message,
            "text": str(self),
        }


RULE = re.compile(r"rule (\d+)\b")


class TableReader:
    """Reads the keys of one table; `done()` reports the keys nobody asked for."""

    def __init__(self, table: dict[str, Any], where: str, problems: list[Problem]) -> None:
        self.table = table
        self.where = where
        self.problems = problems
        self.known: set[str] = set()

    def problem(self, key: str | None, message: str) -> None:
        place = f"{self.where}: {key}" if key else self.where
        self.problems.append(Problem(place, message))

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = MISSING) -> Any:
        """The value of `key` if it has the type asked for; otherwise a problem and `default`."""
        self.known.add(key)
        if key not in self.table:
            if default is MISSING:
                self.problem(None, f"missing key '{key}'")
                return None
            return default
        value = self.table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        # TOML booleans are ints to Python; a boolean is never accepted as a number.
        if isinstance(value, bool) and bool not in kinds:
            ok = False
        else:
            ok = isinstance(value, kinds) or (float in kinds and isinstance(value, int))
        if not ok:
            wanted = " or ".join(kind_name(k) for k in kinds if k is not type(None))
            self.problem(key, f"expected {wanted}, got {type_name(value)} {value!r}")
            return None if default is MISSING else default
        return value

    def text(self, key: str, default: Any = MISSING) -> Any:
        value = self.get(key, str, default)
        if isinstance(value, str) and key in self.table and not value.strip():
            self.problem(key, "must not be empty")
        return value

    def choice(self, key: str, options: Iterable[str], default: Any = MISSING) -> Any:
        options = list(options)
        value = self.get(key, str, default)
        if key in self.table and isinstance(value, str) and value not in options:
            self.problem(
                key,
                f"unknown value {value!r}{did_you_mean(value, options)}; "
                f"one of: {', '.join(options)}",
            )
            return None
        return value

    def integer(
        self,
        key: str,
        default: Any = MISSING,
        minimum: int | None = None,
        maximum: int = LARGEST,
    ) -> Any:
        value = self.get(key, int, default)
        if key in self.table and isinstance(value, int):
            if minimum is not None and value < minimum:
                self.problem(key, f"must be at least {minimum}, got {value}")
            elif value > maximum:
                self.problem(key, f"must be at most {maximum}, got {value}")
        return value

    def done(self) -> None:
        for key in self.table:
            if key not in self.known:
                self.problem(None, f"unknown key '{key}'{did_you_mean(key, self.known)}")
