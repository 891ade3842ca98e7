"""Request bodies and command-line specs -> validated inputs, with errors that name the field.

Bodies are Talon.One's Integration API JSON. Real payloads vary in key case (the seed sends
"Category"), so known keys match case-insensitively; unknown keys are reported as notes, not errors,
because a recorded request may carry fields refcamp does not model.
"""

from __future__ import annotations

import json
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from refcamp.clock import parse_time
from refcamp.errors import InputError
from refcamp.models import SESSION_STATES, CartItem
from refcamp.tables import did_you_mean

MAX_ID = 1000
MAX_TEXT = 1000
MAX_ITEMS = 1000
MAX_DEPTH = 20
LARGEST_NUMBER = 1e15  # beyond it a number is no amount refcamp can keep exactly

RESPONSE_CONTENT = (
    "customerSession",
    "customerProfile",
    "coupons",
    "triggeredCampaigns",
    "referral",
    "loyalty",
    "event",
    "awardedGiveaways",
    "ruleFailureReasons",
    "previousReturns",
)


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self) -> str:
        return "UNSET"  # pickled by name, so a replay worker's inputs keep the one UNSET


UNSET: Any = _Unset()  # a field the request did not mention: keep what is stored
CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")  # exactly Unicode's Cc (control) category
SURROGATE = re.compile("[\ud800-\udfff]")  # never valid alone: SQLite cannot store it as UTF-8
# Unicode's Cf (format) category but for the zero-width (non-)joiners, which scripts and emoji
# need: invisible characters that hide in an id (U+200B) or reverse how it reads (U+202E), so that
# two ids that look the same are different customers. (A test checks this against unicodedata.)
FORMAT = re.compile(
    "[\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd"
    "\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001"
    "\U000e0020-\U000e007f]"
)
# A character that shows: not white space (" ", U+3000, ...), not a joiner, not a blank filler.
VISIBLE = re.compile("[^\\s\u200c\u200d\u115f\u1160\u2800\u3164\uffa0]")


def check_id(value: Any, what: str) -> str:
    """An identifier: 1 to 1000 characters, at least one of them visible, no control or invisible
    format characters; any other Unicode is kept."""
    if not isinstance(value, str):
        raise InputError.about(what, f"expected a string, got {json.dumps(value)}")
    if not value or len(value) > MAX_ID:
        raise InputError.about(what, f"must be 1 to {MAX_ID} characters, got {len(value)}")
    if CONTROL.search(value):
        raise InputError.about(what, "must not contain control characters")
    if SURROGATE.search(value):
        raise InputError.about(what, "not valid Unicode (an unpaired surrogate)")
    invisible = FORMAT.search(value)
    if invisible:
        raise InputError.about(
            what, f"must not contain invisible format characters (U+{ord(invisible.group()):04X})"
        )
    if not VISIBLE.search(value):
        raise InputError.about(what, "has no visible character (only spaces or blanks)")
    return value


def _show(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 40 else text[:37] + "..."


@lru_cache(maxsize=256)  # field names are a small fixed set
def _lower(name: str) -> str:
    return name.lower()


class Fields:
    """One JSON object's fields, matched case-insensitively; `path` names it in errors."""

    def __init__(self, obj: Any, path: str, notes: list[str]) -> None:
        if not isinstance(obj, dict):
            raise InputError(f"{path or 'request body'}: expected an object, got {_show(obj)}")
        self.path = path
        self.notes = notes
        self.by_lower: dict[str, tuple[str, Any]] = {}
        for key, value in obj.items():
            lower = key.lower()
            if lower in self.by_lower:  # "state": "open", "State": "closed": which one is meant?
                first = self.by_lower[lower][0]
                raise InputError(f"{self.where(key)}: given twice, as {first!r} and as {key!r}")
            self.by_lower[lower] = (key, value)
        self.used: set[str] = set()

    def has(self, name: str) -> bool:
        return name.lower() in self.by_lower

    def raw(self, name: str) -> Any:
        lower = _lower(name)
        self.used.add(lower)
        entry = self.by_lower.get(lower)
        return UNSET if entry is None else entry[1]

    def where(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def string(self, name: str, default: Any = UNSET, limit: int = MAX_TEXT) -> Any:
        value = self.raw(name)
        if value is UNSET or value is None:
            return default
        if not isinstance(value, str):
            raise InputError(f"{self.where(name)}: expected a string, got {_show(value)}")
        if len(value) > limit:
            raise InputError(f"{self.where(name)}: longer than {limit} characters")
        return value

    def number(self, name: str, default: Any = UNSET) -> Any:
        value = self.raw(name)
        if value is UNSET or value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{self.where(name)}: expected a number, got {_show(value)}")
        if not (isinstance(value, int) or math.isfinite(value)) or abs(value) > LARGEST_NUMBER:
            raise InputError(f"{self.where(name)}: {_show(value)} is too large a number")
        return value

    def obj(self, name: str, default: Any = UNSET, container: bool = False) -> Any:
        """An object; its nesting is limited unless it is a `container` of checked fields."""
        value = self.raw(name)
        if value is UNSET or value is None:
            return default
        if not isinstance(value, dict):
            raise InputError(f"{self.where(name)}: expected an object, got {_show(value)}")
        if not container:
            check_depth(value, self.where(name))
        return value

    def array(self, name: str, default: Any = UNSET) -> Any:
        value = self.raw(name)
        if value is UNSET or value is None:
            return default
        if not isinstance(value, list):
            raise InputError(f"{self.where(name)}: expected a list, got {_show(value)}")
        return value

    def strings(self, name: str, default: Any = UNSET) -> Any:
        values = self.array(name, default)
        if values is default:
            return default
        for index, value in enumerate(values):
            if not isinstance(value, str):
                raise InputError(
                    f"{self.where(name)}[{index}]: expected a string, got {_show(value)}"
                )
        return tuple(values)

    def finish(self) -> None:
        for lower, (key, _) in self.by_lower.items():
            if lower not in self.used:
                self.notes.append(f"ignored unknown field {self.where(key)}")


def check_depth(value: Any, path: str, depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise InputError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for child in value.values():
            check_depth(child, path, depth + 1)
    elif isinstance(value, list):
        for child in value:
            check_depth(child, path, depth + 1)


def read_cart_item(obj: Any, path: str, position: int, notes: list[str]) -> CartItem:
    fields = Fields(obj, path, notes)
    sku = fields.string("sku")
    if sku is UNSET:
        raise InputError(f"{path}.sku: required")
    quantity = fields.raw("quantity")
    if quantity is UNSET:
        raise InputError(f"{path}.quantity: required")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InputError(f"{path}.quantity: expected a whole number, got {_show(quantity)}")
    if quantity < 1:
        raise InputError(f"{path}.quantity: must be at least 1, got {quantity}")
    if quantity > LARGEST_NUMBER:
        raise InputError(f"{path}.quantity: {_show(quantity)} is too large a number")
    price = fields.number("price", 0.0)
    if price < 0:
        raise InputError(f"{path}.price: must not be negative, got {price}")
    item = CartItem(
        sku=sku,
        quantity=quantity,
        name=fields.string("name", ""),
        price=price,
        category=fields.string("category", ""),
        weight=fields.number("weight", 0.0),
        position=position,
        attributes=fields.obj("attributes", {}),
    )
    fields.raw("position")  # set by refcamp, as by Talon.One
    fields.finish()
    return item


@dataclass(frozen=True)
class SessionInput:
    """A session update as asked; UNSET fields keep what the stored session has."""

    profile_id: Any = UNSET  # str, None (anonymous) or UNSET
    state: Any = UNSET
    cart_items: Any = UNSET  # tuple[CartItem, ...]
    coupon_codes: Any = UNSET
    referral_code: Any = UNSET  # str, None (remove) or UNSET
    attributes: Mapping[str, Any] = field(default_factory=dict)  # merged into the stored ones
    additional_costs: Any = UNSET
    identifiers: Any = UNSET
    response_content: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def read_response_content(fields: Fields) -> tuple[str, ...]:
    values = fields.strings("responseContent", ())
    for index, value in enumerate(values):
        if value not in RESPONSE_CONTENT:
            raise InputError(
                f"{fields.where('responseContent')}[{index}]: unknown value {value!r}; one of: "
                f"{', '.join(RESPONSE_CONTENT)}"
            )
    return values


def read_session_body(body: Any) -> SessionInput:
    """A NewCustomerSessionV2 request body (IntegrationRequest), every field checked and named by
    its JSON path when wrong; fields refcamp does not emulate are accepted with a note."""
    notes: list[str] = []
    top = Fields(body, "", notes)
    session = Fields(top.obj("customerSession", {}, container=True), "customerSession", notes)
    response_content = read_response_content(top)
    top.finish()
    # Read in this order, so of several wrong fields the first is named, as before.
    profile_id = _optional_id(session, "profileId")
    state = session.string("state")
    if state == "partially_returned":
        raise InputError.about(
            "customerSession.state",
            "partially_returned is reached only by returning items (POST "
            "/v2/customer_sessions/ID/returns), never set",
        )
    if state is not UNSET and state not in SESSION_STATES:
        raise InputError(
            f"customerSession.state: unknown state {state!r}; one of: {', '.join(SESSION_STATES)}"
        )
    cart_items = _cart_items(session, notes)
    coupon_codes = session.strings("couponCodes")
    if coupon_codes is not UNSET:
        for i, code in enumerate(coupon_codes):
            check_id(code, f"customerSession.couponCodes[{i}]")
    referral_code = _optional_id(session, "referralCode")
    costs = _additional_costs(session, notes)
    result = SessionInput(
        profile_id=profile_id,
        state=state,
        cart_items=cart_items,
        coupon_codes=coupon_codes,
        referral_code=referral_code,
        attributes=session.obj("attributes", {}),
        additional_costs=costs,
        identifiers=session.strings("identifiers"),
        response_content=response_content,
    )
    session.raw("loyaltyCards")  # accepted; refcamp has no loyalty cards
    session.finish()
    return replace(result, notes=tuple(notes))


def _optional_id(session: Fields, key: str) -> Any:
    """An id the session may leave out (UNSET), clear (None: an empty string or null, which
    Talon.One takes as no customer or no code) or give."""
    value = session.raw(key)
    if value is UNSET:
        return UNSET
    if value == "" or value is None:
        return None
    return check_id(value, f"customerSession.{key}")


def _cart_items(session: Fields, notes: list[str]) -> Any:
    items = session.array("cartItems")
    if items is UNSET:
        return UNSET
    if len(items) > MAX_ITEMS:
        raise InputError(f"customerSession.cartItems: more than {MAX_ITEMS} items")
    return tuple(
        read_cart_item(item, f"customerSession.cartItems[{i}]", i, notes)
        for i, item in enumerate(items)
    )


def _additional_costs(session: Fields, notes: list[str]) -> Any:
    costs = session.obj("additionalCosts")
    if costs is UNSET:
        return UNSET
    parsed = {}
    for name, cost in costs.items():
        where = f"customerSession.additionalCosts.{name}"
        cost_fields = Fields(cost, where, notes)
        price = cost_fields.number("price")
        if price is UNSET:
            raise InputError(f"{where}.price: required")
        if price < 0:  # as an item's price: a negative cost would be a hidden discount
            raise InputError(f"{where}.price: must not be negative, got {price}")
        cost_fields.finish()
        parsed[name] = price
    return parsed


@dataclass(frozen=True)
class ProfileInput:
    attributes: Mapping[str, Any] = field(default_factory=dict)
    audiences_add: tuple[str | int, ...] = ()  # names, or Talon.One's integer ids
    audiences_remove: tuple[str | int, ...] = ()
    response_content: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def read_profile_body(body: Any, path: str = "") -> ProfileInput:
    notes: list[str] = []
    top = Fields(body, path, notes)
    attributes = top.obj("attributes", {})
    where = top.where("audiencesChanges")
    changes = Fields(top.obj("audiencesChanges", {}, container=True), where, notes)
    adds = _audiences(changes, "adds")
    deletes = _audiences(changes, "deletes")
    changes.finish()
    response_content = read_response_content(top)
    if not path:
        top.finish()
    return ProfileInput(attributes, adds, deletes, response_content, tuple(notes))


def _audiences(fields: Fields, name: str) -> tuple[str | int, ...]:
    """Audiences by name (refcamp's) or by Talon.One's integer id."""
    values = fields.array(name, ())
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise InputError(
                f"{fields.where(name)}[{index}]: expected an audience id or name, "
                f"got {_show(value)}"
            )
        if isinstance(value, str):
            check_id(value, f"{fields.where(name)}[{index}]")
    return tuple(values)


def read_profiles_body(body: Any) -> list[tuple[str, ProfileInput]]:
    """PUT /v2/customer_profiles: {customerProfiles: [{integrationId, attributes}, ...]}."""
    notes: list[str] = []
    top = Fields(body, "", notes)
    items = top.array("customerProfiles", [])
    if len(items) > MAX_ITEMS:
        raise InputError(f"customerProfiles: at most {MAX_ITEMS} profiles, got {len(items)}")
    out = []
    for index, item in enumerate(items):
        where = f"customerProfiles[{index}]"
        fields = Fields(item, where, notes)
        profile_id = fields.string("integrationId", None)
        if profile_id is None:
            raise InputError(f"{where}.integrationId: required")
        check_id(profile_id, f"{where}.integrationId")
        out.append((profile_id, read_profile_body(item, where)))
        fields.raw("attributes")  # read by read_profile_body from the same object
        fields.raw("audiencesChanges")
        fields.raw("responseContent")
        fields.finish()
    top.finish()
    return out


class ReferralInput(NamedTuple):  # named tuples: a dataclass costs every start a millisecond
    campaign_id: str
    advocates: tuple[str, ...]
    friend: str | None
    usage_limit: int | None
    starts: datetime | None
    expires: datetime | None
    attributes: Mapping[str, Any]


def read_referral_body(body: Any, many: bool = False) -> ReferralInput:
    """POST /v1/referrals (NewReferral) or /v1/referrals_for_multiple_advocates."""

    notes: list[str] = []
    top = Fields(body, "", notes)
    campaign = top.raw("campaignId")
    if campaign is UNSET or isinstance(campaign, bool) or not isinstance(campaign, int | str):
        raise InputError("campaignId: required, a campaign's id")
    if many:
        advocates = top.strings("advocateProfileIntegrationIds", ())
        if not advocates:
            raise InputError("advocateProfileIntegrationIds: required, at least one")
        if len(advocates) > MAX_ITEMS:
            raise InputError(f"advocateProfileIntegrationIds: at most {MAX_ITEMS}")
        names = [f"advocateProfileIntegrationIds[{i}]" for i in range(len(advocates))]
    else:
        advocate = top.string("advocateProfileIntegrationId", None)
        if advocate is None:
            raise InputError("advocateProfileIntegrationId: required")
        advocates, names = (advocate,), ["advocateProfileIntegrationId"]
    for value, name in zip(advocates, names, strict=True):
        check_id(value, name)
    friend = None if many else top.string("friendProfileIntegrationId", None)
    if friend is not None:
        check_id(friend, "friendProfileIntegrationId")
        if friend == advocates[0]:
            raise InputError(
                "friendProfileIntegrationId: is the advocate; a friend is someone else"
            )
    limit = top.number("usageLimit", None)
    if limit is not None and (not isinstance(limit, int) or limit < 0):
        raise InputError(f"usageLimit: expected a whole number of at least 0, got {_show(limit)}")
    times = {}
    for name in ("startDate", "expiryDate"):
        text = top.string(name, None)
        times[name] = parse_time(text, name) if text is not None else None
    attributes = top.obj("attributes", {})
    for ignored in ("validCharacters", "referralPattern"):
        top.raw(ignored)  # the campaign's code settings decide the codes
    top.finish()
    return ReferralInput(
        str(campaign),
        tuple(advocates),
        friend,
        limit,
        times["startDate"],
        times["expiryDate"],
        attributes,
    )


class ReturnInput(NamedTuple):
    items: tuple[tuple[int, int | None], ...]  # (cart item position, quantity or None: all left)
    response_content: tuple[str, ...] = ()


def read_return_body(body: Any) -> ReturnInput:
    """ReturnIntegrationRequest: {return: {returnedCartItems: [{position, quantity?}]}}."""
    notes: list[str] = []
    top = Fields(body, "", notes)
    returned = Fields(top.obj("return", None, container=True), "return", notes)
    items = returned.array("returnedCartItems", [])
    if not items:
        raise InputError("return.returnedCartItems: required, at least one item")
    if len(items) > MAX_ITEMS:
        raise InputError(f"return.returnedCartItems: at most {MAX_ITEMS} items")
    out = []
    for index, item in enumerate(items):
        fields = Fields(item, f"return.returnedCartItems[{index}]", notes)
        position = fields.number("position", None)
        quantity = fields.number("quantity", None)
        for name, value in (("position", position), ("quantity", quantity)):
            if value is not None and (not isinstance(value, int) or value < 0):
                raise InputError(f"{fields.where(name)}: expected a whole number, got {value}")
        if position is None:
            raise InputError(f"{fields.where('position')}: required")
        fields.finish()
        out.append((position, quantity))
    returned.finish()
    response_content = read_response_content(top)
    top.finish()
    return ReturnInput(tuple(out), response_content)


def read_returned_item(spec: str) -> tuple[int, int | None]:
    """--item position=P[,quantity=Q]"""
    found: dict[str, int] = {}
    for part in spec.split(","):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or key not in ("position", "quantity") or key in found:
            raise InputError(f"--item {spec!r}: expected position=P[,quantity=Q]")
        if not (value.isascii() and value.isdigit()):
            raise InputError(f"--item {spec!r}: {key} must be a whole number")
        found[key] = int(value)
    if "position" not in found:
        raise InputError(f"--item {spec!r}: position=P is required")
    return found["position"], found.get("quantity")


def read_reservation_body(body: Any) -> tuple[str, ...]:
    """CouponReservations: {integrationIDs: [...]}."""
    top = Fields(body, "", [])
    customers = top.strings("integrationIDs", None)
    if not customers:
        raise InputError("integrationIDs: required, at least one customer")
    if len(customers) > MAX_ITEMS:
        raise InputError(f"integrationIDs: at most {MAX_ITEMS}")
    for index, value in enumerate(customers):
        check_id(value, f"integrationIDs[{index}]")
    return tuple(customers)


def read_audience_body(body: Any) -> str:
    """NewAudience: {name, ...}; refcamp keeps the name."""
    top = Fields(body, "", [])
    name = top.string("name", None)
    if name is None:
        raise InputError("name: required")
    return check_id(name, "name")


def read_audience_changes(body: Any) -> list[tuple[str, str, int]]:
    """CustomerProfileAudienceRequest: {data: [{action: add|delete, profileIntegrationId,
    audienceId}]}."""
    top = Fields(body, "", [])
    items = top.array("data", [])
    if len(items) > MAX_ITEMS:
        raise InputError(f"data: at most {MAX_ITEMS} changes")
    out = []
    for index, item in enumerate(items):
        fields = Fields(item, f"data[{index}]", [])
        action = fields.string("action", None)
        if action not in ("add", "delete"):
            raise InputError(f"data[{index}].action: expected add or delete, got {_show(action)}")
        profile_id = fields.string("profileIntegrationId", None)
        check_id(profile_id, f"data[{index}].profileIntegrationId")
        audience = fields.number("audienceId", None)
        if not isinstance(audience, int) or audience < 1:
            raise InputError(f"data[{index}].audienceId: expected an audience's id")
        fields.finish()
        out.append((action, profile_id, audience))
    return out


@dataclass(frozen=True)
class EventInput:
    type: str | None = None
    profile_id: str | None = None
    session_id: str | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    response_content: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def read_event_body(body: Any, need_type: bool = True) -> EventInput:
    """POST /v2/events: {profileId, sessionId?, type, attributes, responseContent?}. The type is
    required (`need_type`), except where the command line gives it beside the payload."""
    notes: list[str] = []
    top = Fields(body, "", notes)
    event_type = top.string("type", None, limit=255)
    profile_id = top.string("profileId", None)
    session_id = top.string("sessionId", None)
    if profile_id is not None:
        check_id(profile_id, "profileId")
    if session_id is not None:
        check_id(session_id, "sessionId")
    attributes = top.obj("attributes", {})
    response_content = read_response_content(top)
    top.finish()
    if need_type and not event_type:
        raise InputError("type: required", "type")
    return EventInput(
        event_type, profile_id, session_id, attributes, response_content, tuple(notes)
    )


# --- the command line ----------------------------------------------------------------------------


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
