"""The Integration API's endpoints, spelled once: method, path template, the SDK's name and the
query flags each takes. The HTTP door routes by this table, replay matches its lines' paths
against it, and a command names the request it stands for with it (the request log shows every
door's requests alike); a flag is read the same way by every door (`flag`)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import quote

from refcamp.errors import InputError


@dataclass(frozen=True)
class Endpoint:
    name: str  # the SDK's method (talon_one@5.0.1-rc, IntegrationApi)
    method: str
    path: str  # with {parameters}, as the SDK writes it
    flags: tuple[str, ...] = ()  # its boolean query parameters
    replayed: bool = False  # replay takes it (a line's path)
    # Its other query parameters (times, numbers); any parameter outside these and the flags is
    # refused by name, never ignored.
    others: tuple[str, ...] = ()
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Each {parameter} is one path segment; the path as a whole must match.
        regex = re.sub(r"\\\{[A-Za-z]+\\\}", "([^/]+)", re.escape(self.path))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))

    @property
    def query(self) -> tuple[str, ...]:
        """Every query parameter it takes, as the SDK sends them."""
        return self.flags + self.others

    def format(self, *ids: str) -> str:
        """The path for these ids, each percent-encoded as one segment."""
        names = re.findall(r"\{[A-Za-z]+\}", self.path)
        path = self.path
        for name, value in zip(names, ids, strict=True):
            path = path.replace(name, quote(value, safe=""), 1)
        return path


PROFILE = Endpoint(
    "updateCustomerProfileV2",
    "PUT",
    "/v2/customer_profiles/{integrationId}",
    ("runRuleEngine", "dry"),
    replayed=True,
)
PROFILES = Endpoint("updateCustomerProfilesV2", "PUT", "/v2/customer_profiles", ("silent",))
SESSION = Endpoint(
    "updateCustomerSessionV2",
    "PUT",
    "/v2/customer_sessions/{customerSessionId}",
    ("dry",),
    replayed=True,
    others=("now",),  # refcamp's own: the time the request is judged at (the SDK never sends it)
)
GET_SESSION = Endpoint("getCustomerSession", "GET", "/v2/customer_sessions/{customerSessionId}")
REOPEN = Endpoint(
    "reopenCustomerSession", "PUT", "/v2/customer_sessions/{customerSessionId}/reopen"
)
RETURN = Endpoint(
    "returnCartItems", "POST", "/v2/customer_sessions/{customerSessionId}/returns", ("dry",)
)
EVENT = Endpoint("trackEventV2", "POST", "/v2/events", ("silent", "dry"), replayed=True)
REFERRAL = Endpoint("createReferral", "POST", "/v1/referrals")
REFERRALS = Endpoint(
    "createReferralsForMultipleAdvocates",
    "POST",
    "/v1/referrals_for_multiple_advocates",
    ("silent",),
)
BALANCES = Endpoint(
    "getLoyaltyBalances",
    "GET",
    "/v1/loyalty_programs/{loyaltyProgramId}/profile/{integrationId}/balances",
    others=("endDate",),
)
TRANSACTIONS = Endpoint(
    "getLoyaltyProgramProfileTransactions",
    "GET",
    "/v1/loyalty_programs/{loyaltyProgramId}/profile/{integrationId}/transactions",
    others=("subledgerId", "startDate", "endDate", "pageSize", "skip"),
)
RESERVE = Endpoint("createCouponReservation", "POST", "/v1/coupon_reservations/{couponValue}")
UNRESERVE = Endpoint("deleteCouponReservation", "DELETE", "/v1/coupon_reservations/{couponValue}")
RESERVED = Endpoint(
    "getReservedCustomers", "GET", "/v1/coupon_reservations/customerprofiles/{couponValue}"
)
INVENTORY = Endpoint(
    "getCustomerInventory",
    "GET",
    "/v1/customer_profiles/{integrationId}/inventory",
    ("profile", "referrals", "coupons", "loyalty", "giveaways"),
)
ERASURE = Endpoint("deleteCustomerData", "DELETE", "/v1/customer_data/{integrationId}")
AUDIENCE = Endpoint("createAudienceV2", "POST", "/v2/audiences")
AUDIENCES = Endpoint("updateCustomerProfileAudiences", "POST", "/v2/customer_audiences")

# Every endpoint refcamp emulates, in the order the README's table lists them.
EMULATED: tuple[Endpoint, ...] = (
    PROFILE,
    PROFILES,
    SESSION,
    GET_SESSION,
    REOPEN,
    RETURN,
    EVENT,
    REFERRAL,
    REFERRALS,
    BALANCES,
    TRANSACTIONS,
    RESERVE,
    UNRESERVE,
    RESERVED,
    INVENTORY,
    ERASURE,
    AUDIENCE,
    AUDIENCES,
)

# The Integration API endpoints of `talon_one@5.0.1-rc` refcamp does not emulate: 501.
NOT_EMULATED: tuple[Endpoint, ...] = (
    Endpoint("syncCatalog", "PUT", "/v1/catalogs/{catalogId}/sync"),
    Endpoint(
        "getLoyaltyCardBalances",
        "GET",
        "/v1/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/balances",
    ),
    Endpoint(
        "getLoyaltyCardTransactions",
        "GET",
        "/v1/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/transactions",
    ),
    Endpoint(
        "linkLoyaltyCardToProfile",
        "POST",
        "/v2/loyalty_programs/{loyaltyProgramId}/cards/{loyaltyCardId}/link_profile",
    ),
    Endpoint(
        "updateAudienceCustomersAttributes", "PUT", "/v2/audience_customers/{audienceId}/attributes"
    ),
    Endpoint("updateAudienceV2", "PUT", "/v2/audiences/{audienceId}"),
    Endpoint("deleteAudienceV2", "DELETE", "/v2/audiences/{audienceId}"),
    Endpoint("deleteAudienceMembershipsV2", "DELETE", "/v2/audiences/{audienceId}/memberships"),
)

REPLAYED = tuple(e for e in EMULATED if e.replayed)


def flag(value: object, name: str) -> bool | None:
    """A boolean query parameter as every door reads it: true/false, or yes/no as Talon.One's
    `silent` takes (any case); None when absent or empty. Raises InputError naming it."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):  # a replay line's "query" object may hold a JSON boolean
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no"):
        return value.lower() in ("true", "yes")
    raise InputError(f"query.{name}: expected true or false, got {value!r}", name)
