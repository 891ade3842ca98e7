"""What the command line's options hold: a --payload file or stdin (bounded), --attr K=V values
typed as a person means them, --item specs as cart items."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from refcamp.errors import InputError
from refcamp.json_text import LARGEST_NUMBER, TextError, check_text, json_bytes, strict_json
from refcamp.models import CartItem
from refcamp.payloads import check_depth, read_cart_item
from refcamp.tables import did_you_mean

MAX_PAYLOAD = 1 << 20  # bytes, as `serve` allows a request body: no request is larger


def read_json(source: str) -> Any:
    """The JSON document in a file, or on stdin when `source` is '-'; at most MAX_PAYLOAD bytes
    are read (`yes | refcamp ... --payload -` would otherwise fill the memory)."""
    if source == "-":
        data = sys.stdin.buffer.read(MAX_PAYLOAD + 1)
        name = "stdin"
    else:
        try:
            with Path(source).open("rb") as handle:  # a pipe (<(...)) is fine; /dev/zero ends
                data = handle.read(MAX_PAYLOAD + 1)
        except OSError as error:
            raise InputError(f"--payload {source}: {error.strerror}") from None
        name = source
    if len(data) > MAX_PAYLOAD:
        raise InputError(f"payload {name}: larger than {MAX_PAYLOAD >> 20} MiB")
    try:
        return json_bytes(data)
    except json.JSONDecodeError as error:
        raise InputError(
            f"payload {name}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"
        ) from None
    except ValueError as error:
        raise InputError(f"payload {name}: {error}") from None


INTEGER = re.compile(r"[-+]?[0-9]+")
DECIMAL = re.compile(r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?")


# What a KEY=VALUE value becomes a number from: exactly a JSON number. Anything else is text kept
# as typed, so a zip code (01067), a phone number (+49...), 1_000 or " 42 " is never changed.
JSON_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def typed_value(text: str) -> Any:
    """A command-line value as JSON would read it when it is a JSON number, true or false (one
    refcamp can keep exactly: within LARGEST_NUMBER), else the text as typed."""
    if text in ("true", "false"):
        return text == "true"
    if JSON_INTEGER.fullmatch(text):
        number: int | float = int(text)
    elif JSON_NUMBER.fullmatch(text):
        number = float(text)
    else:
        return text
    return number if abs(number) <= LARGEST_NUMBER else text  # 1e999 and long ids stay text


def read_attrs(specs: list[str], option: str = "--attr") -> dict[str, Any]:
    """K=V pairs (V a number only when it is exactly a JSON number) and K:=JSON pairs."""
    result: dict[str, Any] = {}
    for spec in specs:
        if ":=" in spec and spec.index(":=") < spec.index("=") + 1:
            key, raw = spec.split(":=", 1)
            try:
                value = strict_json(raw)
            except json.JSONDecodeError as error:
                raise InputError(f"{option} {spec}: invalid JSON: {error.msg}") from None
            except ValueError as error:
                raise InputError(f"{option} {spec}: {error}") from None
            check_depth(value, f"{option} {key}")
        elif "=" in spec:
            key, raw = spec.split("=", 1)
            value = typed_value(raw)
        else:
            raise InputError(f"{option} {spec!r}: expected KEY=VALUE or KEY:=JSON")
        if not key:
            raise InputError(f"{option} {spec!r}: the key is empty")
        try:
            check_text({key: value})
        except TextError as error:
            raise InputError(f"{option} {key}: {error.problem}") from None
        result[key] = value
    return result


ITEM_KEYS = ("sku", "name", "price", "quantity", "category", "weight")
ITEM_FORM = (
    "expected key=value pairs separated by commas, like sku=A1,price=10,quantity=2 "
    f"(keys: {', '.join(ITEM_KEYS)}; for a value holding a comma or '=', use --payload)"
)


def read_item(spec: str, position: int) -> CartItem:
    """--item sku=sku-00004,name=ProductC,price=100,quantity=1,category=Accessories

    Refused unless it is exactly that: a space or a semicolon between pairs would otherwise
    make one long sku, a key given twice would silently win and a missing price would be 0."""
    values: dict[str, str] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        if not sep or "=" in value or not key or key != key.strip():
            raise InputError(f"--item {spec!r}: {part!r} is not key=value; {ITEM_FORM}")
        key = key.lower()
        if key not in ITEM_KEYS:
            raise InputError(
                f"--item {spec!r}: unknown key {key!r}{did_you_mean(key, ITEM_KEYS)}; "
                f"keys: {', '.join(ITEM_KEYS)}"
            )
        if key in values:
            raise InputError(f"--item {spec!r}: {key} is given twice")
        values[key] = value
    body: dict[str, Any] = {"quantity": 1}
    for key, value in values.items():
        if key in ("price", "weight"):
            number = typed_value(value)
            if isinstance(number, str) and JSON_NUMBER.fullmatch(value):
                raise InputError(f"--item {spec!r}: {key} {value} is too large a number")
            if isinstance(number, bool) or not isinstance(number, int | float):
                raise InputError(f"--item {spec!r}: {key} must be a number, got {value!r}")
            body[key] = number
        elif key == "quantity":
            if not JSON_INTEGER.fullmatch(value):
                raise InputError(f"--item {spec!r}: quantity must be a whole number, got {value!r}")
            body[key] = int(value)
        else:
            body[key] = value
    if "sku" not in body:
        raise InputError(f"--item {spec!r}: sku is required")
    try:
        item = read_cart_item(body, "item", position, [])
    except InputError as error:
        raise InputError(f"--item {spec!r}: {str(error).removeprefix('item.')}") from None
    if "price" not in body:  # checked last, so a wrong quantity is named first
        raise InputError(f"--item {spec!r}: price is required (price=0 for a free item)")
    return item
