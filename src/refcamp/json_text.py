"""Reading JSON text as refcamp accepts it, from any door: strict (no NaN or Infinity, no number
Python would read loosely), and never keeping text that is not valid Unicode (an unpaired
surrogate, bytes that are not UTF-8); each problem names the field it is in."""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_DEPTH = 20
LARGEST_NUMBER = 1e15  # beyond it a number is no amount refcamp can keep exactly
SURROGATE = re.compile("[\ud800-\udfff]")  # never valid alone: SQLite cannot store it as UTF-8


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or abs(value) > LARGEST_NUMBER:
        raise ValueError(f"{text} is too large a number")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > 16 or abs(int(text)) > LARGEST_NUMBER:
        raise ValueError(f"{text[:20]}{'...' if len(text) > 20 else ''} is too large a number")
    return int(text)


Place = tuple[str | int, ...]  # where a value sits in a JSON document: keys and indexes


def field_name(place: Place) -> str:
    """A place as errors name fields: `customerSession.cartItems[0].price`."""
    text = ""
    for part in place:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "request body"


def json_pointer(place: Place) -> str:
    """A place as a JSON pointer (RFC 6901): `/customerSession/cartItems/0/price`."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in place)


class TextError(ValueError):
    """Text in a JSON document that is not Unicode (a lone surrogate, escaped as \\udcff) or
    whose bytes were not UTF-8, with the place of the value (or of the object whose key it is)."""

    def __init__(self, place: Place, problem: str) -> None:
        super().__init__(f"{field_name(place)}: {problem}" if place else problem)
        self.place = place
        self.problem = problem


UNPAIRED = "not valid Unicode (an unpaired surrogate)"
NOT_UTF8 = "not UTF-8"


def _text_place(value: Any, place: Place = ()) -> tuple[Place, bool] | None:
    """Where the first text holding a lone surrogate is, and whether it is a key."""
    if isinstance(value, str):
        return (place, False) if SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, child in value.items():
            if SURROGATE.search(key):
                return place, True
            found = _text_place(child, (*place, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found = _text_place(child, (*place, index))
            if found is not None:
                return found
    return None


def check_text(value: Any, where: str | None = None, problem: str = UNPAIRED) -> None:
    """Refuse lone surrogates anywhere in a JSON value (they cannot be stored as UTF-8): a
    TextError naming the field, under `where` when given."""
    found = _text_place(value)
    if found is None:
        return
    place, key = found
    if where is not None:
        place = (where, *place)
    raise TextError(place, f"a key is {problem}" if key else problem)


def strict_json(text: str) -> Any:
    """json.loads without Python's extensions (NaN, Infinity), which would make our own JSON
    output invalid; numbers refcamp cannot keep and text that is not Unicode are refused (a
    TextError naming the field), and absurd nesting is a clear error instead of a
    RecursionError."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    if "\\ud" in text or "\\uD" in text:  # only escapes can make a lone surrogate
        check_text(value)
    return value


def json_bytes(raw: bytes) -> Any:
    """A JSON document sent as bytes (an HTTP body, a payload, a replay line): as strict_json
    reads it, and bytes that are not UTF-8 refused naming the field whose text holds them (a
    TextError) rather than the whole document, or decoded with replacement characters."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        # Each byte that is not UTF-8 becomes a lone surrogate (U+DC80-U+DCFF), which the JSON
        # reader keeps in its string, so the string's place can be said.
        try:
            value = json.loads(raw.decode("utf-8", "surrogateescape"))
        except (ValueError, RecursionError):
            raise TextError((), f"{NOT_UTF8} (byte {error.start})") from None
        check_text(value, problem=f"{NOT_UTF8} (byte {error.start} of the document)")
        raise TextError((), f"{NOT_UTF8} (byte {error.start})") from None
    return strict_json(text)


# Numbers as people type them on a command line: ASCII digits, an optional sign, a decimal point,
# an exponent. Python's int() and float() also take " 10", "1_000", Arabic-Indic and full-width
# digits (any Unicode Nd), "nan" and "inf"; none of those is a number here.
