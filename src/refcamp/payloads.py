"""Request bodies and command-line specs -> validated inputs, with errors that name the field.

Bodies are Talon.One's Integration API JSON. Real payloads vary in key case (the seed sends
"Category"), so known keys match case-insensitively; unknown keys are reported as notes, not errors,
because a recorded request may carry fields refcamp does not model.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from refcamp.clock import parse_time
from refcamp.errors import InputError
from refcamp.json_text import LARGEST_NUMBER, MAX_DEPTH, SURROGATE
from refcamp.models import SESSION_STATES, CartItem

MAX_ID = 1000
EVALUABLE = (
    "refcamp evaluates every running campaign; choosing campaigns for a dry run is not emulated"
)
MAX_TEXT = 1000
MAX_ITEMS = 1000

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

    def unsupported(self, name: str, reason: str) -> None:
        """A field of the request's model that refcamp does not emulate: refused by name when it
        asks for something (an empty value asks for nothing), never silently dropped."""
        value = self.raw(name)
        if value not in (UNSET, None, [], {}, ""):
            raise InputError.about(self.where(name), f"{reason}; leave it out")

    def ignored(self, name: str, reason: str) -> None:
        """A field of the request's model that changes nothing refcamp does: accepted, noted."""
        if self.raw(name) not in (UNSET, None):
            self.notes.append(f"ignored {self.where(name)}: {reason}")

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
    for name in ("returnedQuantity", "remainingQuantity"):
        fields.ignored(name, "Talon.One counts it from the session's returns, as refcamp does")
    for name in ("height", "width", "length"):
        fields.unsupported(name, "refcamp's rules read no item dimensions besides weight")
    fields.unsupported("catalogItemID", "refcamp has no cart item catalogs")
    fields.unsupported(
        "additionalCosts", "refcamp keeps additional costs per session, not per item"
    )
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
    session.unsupported("loyaltyCards", "refcamp has no loyalty cards")
    session.unsupported("evaluableCampaignIds", EVALUABLE)
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
    top.unsupported("evaluableCampaignIds", EVALUABLE)
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
    pattern: str | None = None  # referralPattern; None: the campaign's
    characters: str | None = None  # validCharacters; None: the campaign's


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
    pattern, characters = _code_settings(top) if many else (None, None)
    if not many:
        for name in ("referralPattern", "validCharacters"):
            top.unsupported(
                name, "a field of createReferralsForMultipleAdvocates, not of NewReferral"
            )
    top.finish()
    return ReferralInput(
        str(campaign),
        tuple(advocates),
        friend,
        limit,
        times["startDate"],
        times["expiryDate"],
        attributes,
        pattern,
        characters,
    )


def _code_settings(top: Fields) -> tuple[str | None, str | None]:
    """NewReferralsForMultipleAdvocates' `referralPattern` ("The character `#` is a placeholder")
    and `validCharacters`; either left out: the campaign's."""
    pattern = top.string("referralPattern", None, limit=100)
    if pattern is not None and "#" not in pattern:
        raise InputError.about("referralPattern", f"{pattern!r} has no #, a place for a character")
    if pattern is not None:
        check_id(pattern.replace("#", "A"), "referralPattern")
    listed = top.strings("validCharacters", None)
    if listed is None:
        return pattern, None
    if not listed:
        raise InputError.about("validCharacters", "at least one character")
    for index, value in enumerate(listed):
        if len(value) != 1 or value == "#" or not value.isprintable() or value.isspace():
            raise InputError.about(
                f"validCharacters[{index}]", f"expected one character other than #, got {value!r}"
            )
    return pattern, "".join(dict.fromkeys(listed))


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
    for field_name in ("integration", "integrationId"):
        top.unsupported(field_name, "refcamp has no audiences synced from a third party")
    if top.raw("sandbox") is True:
        raise InputError.about("sandbox", "refcamp has one live Application; leave it out")
    # description, createdIn, lastUpdate: kept by Talon.One for people; nothing reads them
    for field_name in ("description", "createdIn", "lastUpdate"):
        top.raw(field_name)
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


def read_event_body(body: Any, need_type: bool = True, need_profile: bool = True) -> EventInput:
    """POST /v2/events: {profileId, sessionId?, type, attributes, responseContent?}. The type and
    the profileId are required (trackEventV2: "`profileId` is required. An event is associated
    with a customer profile"), except where the command line gives them beside the payload (its
    `event track` without a customer tracks an anonymous event, a convenience of its own)."""
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
    top.unsupported("evaluableCampaignIds", EVALUABLE)
    top.finish()
    if need_type and not event_type:
        raise InputError("type: required", "type")
    if need_profile and not profile_id:
        raise InputError.about(
            "profileId",
            'required: trackEventV2 says "`profileId` is required. An event is associated with '
            "a customer profile\" (a guest's id will do)",
        )
    return EventInput(
        event_type, profile_id, session_id, attributes, response_content, tuple(notes)
    )
