"""Talon.One's own JavaScript SDK (talon_one@5.0.1-rc, npm) against a real `refcamp serve`.

Each test writes a story, a list of steps for tests/sdk/story.js: IntegrationApi calls made as an
application makes them (request bodies built by the SDK's models), and refcamp commands run on
the same state file in between. One node process plays the story against one server, and the
test checks, collecting every failure before it reports them together:

- each call's HTTP status is the one Talon.One answers, per the Integration API's OpenAPI document
  the SDK is generated from (github.com/talon-one/talon_go api/openapi.yaml, v3.0.0): e.g.
  createCouponReservation 201, createReferralsForMultipleAdvocates 204 with `silent=yes`;
- each response body conforms to the model the SDK method declares, each error body to
  ErrorResponseWithStatus, and each request body the story sends to its SDK request model
  (`sdk_conformance.problems`, one batch per test);
- the SDK returned an instance of the declared model;
- the business outcome: balances, rejection reasons, rollbacks, dry runs, erasure, and that a
  request without the right key changes nothing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import Run, state_rows
from sdk_conformance import SDK_DIR, ensure_sdk, problems
from serving import Server, serving, state_file

pytestmark = pytest.mark.slow  # node and the Talon.One SDK against a real server

STORY = SDK_DIR / "story.js"
PROGRAM = "sample-wallet"
# Every responseContent value of a session update (the SDK's IntegrationRequest.ResponseContentEnum,
# all of which refcamp accepts).
EVERYTHING = [
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
]
EXTRAS = ("dryRun", "generated")  # refcamp's documented extras of IntegrationStateV2
MISSING: Any = object()  # what Results.body gives for a path the body does not have
DEFAULT: Any = object()

# A referral campaign that rewards one redemption in all (then CampaignLimitReached).
CAPPED = """
[campaign]
id = "capped-referral"
name = "CAPPED: one redemption in all"
state = "enabled"
features = ["referrals"]
priority = 5

[campaign.referrals]
pattern = "CAP-####"

[[campaign.limits]]
action = "redeemReferral"
limit = 1
per = "campaign"

[[rules]]
name = "Friend redeems a capped code"
when = [{ referral = "valid" }, { event = "talon_session_closed" }]

[[rules.then]]
effect = "add_loyalty_points"
program = "sample-wallet"
recipient = "advocate"
points = 10
reason = "Capped bonus"
"""

# A campaign with referral codes and no rule that checks them (ReferralPartOfNotTriggeredCampaign).
CODES_ONLY = """
[campaign]
id = "codes-only"
state = "enabled"
features = ["referrals"]
priority = 6
"""

# A campaign that rewards a custom event.
REVIEWS = """
[campaign]
id = "reviews"
name = "REVIEWS: 5 points per review"
state = "enabled"
features = ["loyalty"]
priority = 7

[[rules]]
name = "Points for a review"
when = [{ event = "review_posted" }]
then = [
  { effect = "add_loyalty_points", program = "sample-wallet", points = 5, reason = "Review bonus" },
]
"""


# --- the story and its checks --------------------------------------------------------------------


def ref(label: str, path: str = "") -> dict[str, str]:
    """A value of an earlier step's result: its response body (or stdout) at a JSON pointer."""
    return {"$ref": label, "path": path}


class Story:
    """The steps story.js plays, with the status Talon.One answers each call."""

    def __init__(self) -> None:
        self.steps: list[dict[str, Any]] = []
        self.statuses: dict[str, int] = {}
        self.why: dict[str, str] = {}

    def call(
        self, label: str, status: int, method: str, *args: Any, key: Any = DEFAULT, why: str = ""
    ) -> None:
        """An IntegrationApi call; `key` another API key (None: none) than the server's; `why`
        where Talon.One documents the status."""
        step: dict[str, Any] = {"label": label, "call": method, "args": list(args)}
        if key is not DEFAULT:
            step["key"] = key
        self.steps.append(step)
        self.statuses[label] = status
        self.why[label] = why

    def cli(self, label: str, *args: str) -> None:
        """A refcamp command (a process of its own) on the same state file, between two calls."""
        self.steps.append({"label": label, "run": [sys.executable, "-m", "refcamp", *args]})

    def play(self, server: Server) -> Results:
        done = subprocess.run(
            [shutil.which("node") or "node", str(STORY), str(server.port), server.key],
            input=json.dumps(self.steps),
            capture_output=True,
            text=True,
            cwd=SDK_DIR,
            timeout=300,
        )
        assert done.returncode == 0, f"story.js exited {done.returncode}:\n{done.stderr}"
        reports = json.loads(done.stdout)
        assert [r["label"] for r in reports] == [s["label"] for s in self.steps]
        return Results(self, {r["label"]: r for r in reports})


class Results:
    """What the story did, and every failure found in it (`verify` reports them together)."""

    def __init__(self, story: Story, reports: dict[str, dict[str, Any]]) -> None:
        self.story = story
        self.reports = reports
        self.failures: list[str] = []

    def body(self, label: str, pointer: str = "") -> Any:
        """A call's response body (a command's stdout) at a JSON pointer; MISSING if absent."""
        report = self.reports[label]
        at = report["body"] if "call" in report else report["stdout"]
        for raw in pointer.split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(at, dict) and part in at:
                at = at[part]
            elif isinstance(at, list) and part.isdigit() and int(part) < len(at):
                at = at[int(part)]
            else:
                return MISSING
        return at

    def items(self, label: str, pointer: str = "/effects") -> list[dict[str, Any]]:
        found = self.body(label, pointer)
        return [x for x in found if isinstance(x, dict)] if isinstance(found, list) else []

    def kinds(self, label: str) -> list[str]:
        return [e.get("effectType", "") for e in self.items(label)]

    def check(self, ok: bool, message: str, label: str | None = None) -> None:
        """Note a failure (with the step's answer) instead of stopping at the first."""
        if not ok:
            if label is not None:
                report = self.reports[label]
                shown = report["body"] if "call" in report else report["stdout"]
                message += f"\n    [{label}: {report.get('status')}] {_short(shown)}"
            self.failures.append(message)

    def equal(self, label: str, pointer: str, expected: Any, why: str = "") -> None:
        got = self.body(label, pointer)
        shown = "nothing" if got is MISSING else repr(got)
        because = f" ({why})" if why else ""
        self.check(
            got == expected, f"{label}{pointer}: expected {expected!r}, got {shown}{because}", label
        )

    def balance(self, label: str, expected: int, why: str = "") -> None:
        """A getLoyaltyBalances answer's active points."""
        self.equal(label, "/balance/activePoints", expected, why)

    def points(self, label: str, effect: str, program: int | None = None) -> dict[str, int]:
        """The points an answer's `effect` effects (addLoyaltyPoints, rollbackAddedLoyaltyPoints)
        give or take, by recipient; each must be in `program`."""
        got: dict[str, int] = {}
        for e in self.items(label):
            if e.get("effectType") == effect:
                props = e.get("props") or {}
                if program is not None:
                    self.check(
                        props.get("programId") == program,
                        f"{label}: {effect} in program {props.get('programId')}, not {program}",
                        label,
                    )
                who = props.get("recipientIntegrationId")
                got[who] = got.get(who, 0) + props.get("value", 0)
        return got

    def rewarded(self, label: str, program: int, expected: dict[str, int], why: str = "") -> None:
        got = self.points(label, "addLoyaltyPoints", program)
        because = f" ({why})" if why else ""
        self.check(
            got == expected, f"{label}: expected points {expected}, got {got}{because}", label
        )

    def rolled_back(self, label: str, expected: dict[str, int], why: str = "") -> None:
        """rollbackAddedLoyaltyPoints by recipient: those named in `expected` (none at all when
        `expected` is empty)."""
        got = self.points(label, "rollbackAddedLoyaltyPoints")
        shown = {who: got.get(who) for who in expected} if expected else got
        because = f" ({why})" if why else ""
        self.check(
            shown == expected, f"{label}: expected rollbacks {expected}, got {got}{because}", label
        )

    def accepted(self, label: str, effect: str, code: Any) -> None:
        """The first effect accepts `code` (acceptReferral, acceptCoupon)."""
        first = (self.items(label) or [{}])[0]
        got = (first.get("effectType"), (first.get("props") or {}).get("value"))
        self.check(
            got == (effect, code), f"{label}: expected {effect} of {code!r} first, got {got}", label
        )

    def rejected(self, label: str, effect: str, reason: str, code: Any = None) -> None:
        """The code got exactly one verdict, `effect` (rejectReferral, rejectCoupon) for
        `reason`, and the request earned nothing."""
        found = [e for e in self.items(label) if e.get("effectType") == effect]
        got = [(e.get("props") or {}).get("rejectionReason") for e in found]
        self.check(got == [reason], f"{label}: expected one {effect} {reason}, got {got}", label)
        if code is not None and found:
            value = (found[0].get("props") or {}).get("value")
            self.check(value == code, f"{label}: {effect} of {value!r}, not {code!r}", label)
        earned = set(self.kinds(label)) & {
            "acceptReferral",
            "acceptCoupon",
            "addLoyaltyPoints",
            "setDiscount",
        }
        self.check(not earned, f"{label}: a rejected code earns nothing, got {earned}", label)

    def verify(self) -> None:
        """Every status, SDK model and conformance check, with the checks made before."""
        items: list[dict[str, Any]] = []
        where: list[str] = []
        for label, report in self.reports.items():
            if "run" in report:
                command = " ".join(report["run"][2:])
                self.check(
                    report["code"] == 0,
                    f"{label}: `{command}` exited {report['code']}: {report['stderr'].strip()}",
                )
                continue
            call, status, expected = report["call"], report["status"], self.story.statuses[label]
            # The story's own requests must be valid ones of the SDK's request models.
            for arg, model in zip(report["sent"] or [], report["sentModels"], strict=False):
                if model is not None:
                    items.append({"model": model, "body": arg})
                    where.append(f"{label}: the request ({call}, {model})")
            if report["thrown"]:
                self.failures.append(f"{label}: {call} failed in the SDK: {report['thrown']}")
                continue
            why = f" ({self.story.why[label]})" if self.story.why[label] else ""
            self.check(
                status == expected,
                f"{label}: {call} answered {status}; Talon.One answers {expected}{why}",
                label,
            )
            if report["error"] is None and report["returns"] is not None and status != 204:
                self.check(
                    report["isInstance"] and report["model"] == report["returns"],
                    f"{label}: the SDK's {call} gave a {report['model']}, not a "
                    f"{report['returns']}",
                    label,
                )
            if report["body"] is None:
                self.check(status == 204, f"{label}: {call} answered {status} without a body")
                continue
            if report["error"] is not None:
                model, extras = "ErrorResponseWithStatus", ()
            elif report["returns"] is not None:
                model = report["returns"]
                extras = EXTRAS if model == "IntegrationStateV2" else ()
            else:
                self.check(False, f"{label}: {call} answered a body; Talon.One has none", label)
                continue
            items.append({"model": model, "body": report["body"], "extras": list(extras)})
            where.append(f"{label} ({call}, {model})")
        for place, found in zip(where, problems(items), strict=True):
            self.failures += [f"{place} does not conform: {problem}" for problem in found]
        assert not self.failures, f"{len(self.failures)} failures:\n- " + "\n- ".join(self.failures)


def _short(value: Any, limit: int = 600) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[:limit] + "..."


# --- set-up --------------------------------------------------------------------------------------


def cli_json(run: Run, *args: str) -> Any:
    """A refcamp command's --json output (the real CLI, in this process: quicker to start)."""
    result = run(*args, "--json")
    assert result.exit_code == 0, result
    return result.json


def campaign_ids(run: Run) -> dict[str, int]:
    """Talon.One's integer id of each campaign, by refcamp's id."""
    return {c["refcamp"]["id"]: c["id"] for c in cli_json(run, "campaign", "list")}


def program_id(run: Run, name: str = PROGRAM) -> int:
    """Talon.One's integer id of a loyalty program, as `loyalty balance --json` keys it."""
    cli_json(run, "profile", "update", "id-probe", "--no-rules")
    programs = cli_json(run, "loyalty", "balance", "id-probe")["programs"]
    return next(p["id"] for p in programs.values() if p["name"] == name)


def activate(run: Run, *campaigns: str) -> None:
    for campaign in campaigns:
        result = run("campaign", "activate", campaign)
        assert result.exit_code == 0, result


def play(story: Story) -> Results:
    """The story against a server of its own."""
    ensure_sdk()
    with serving() as server:
        return story.play(server)


def closing(profile: Any, code: Any = None, **session: Any) -> dict[str, Any]:
    """An IntegrationRequest that closes a session for `profile`, with a referral code."""
    body: dict[str, Any] = {"profileId": profile, "state": "closed", **session}
    if code is not None:
        body["referralCode"] = code
    return {"customerSession": body}


# --- the tests -----------------------------------------------------------------------------------


def test_seed_story_and_every_referral_rejection(campaigns_dir: Path, run: Run) -> None:
    (campaigns_dir / "capped-referral.toml").write_text(CAPPED)
    (campaigns_dir / "codes-only.toml").write_text(CODES_ONLY)
    activate(run, "medium-referral")
    ids, program = campaign_ids(run), program_id(run)
    medium = ids["medium-referral"]
    code = ref("advocate", "/createdReferrals/0/code")

    def new_code(label: str, campaign: int = medium, **fields: Any) -> None:
        body = {"campaignId": campaign, "advocateProfileIntegrationId": "advocate", **fields}
        story.call(label, 201, "createReferral", body)

    def close(label: str, profile: str, with_code: Any, **request: Any) -> None:
        story.call(
            label,
            200,
            "updateCustomerSessionV2",
            f"s-{label}",
            {**closing(profile, with_code), **request},
        )

    story = Story()
    # The seed: a registration makes the advocate's code; a friend's closed session redeems it.
    story.call(
        "advocate",
        200,
        "updateCustomerProfileV2",
        "advocate",
        {"attributes": {"name": "Ann"}, "responseContent": ["customerProfile"]},
        {"runRuleEngine": True},
    )
    cart = [{"sku": "sku-1", "name": "Mug", "quantity": 2, "price": 15, "category": "Kitchen"}]
    story.call(
        "friend-closes",
        200,
        "updateCustomerSessionV2",
        "friend-session",
        {**closing("friend", code, cartItems=cart), "responseContent": EVERYTHING},
    )
    story.call("advocate-balance", 200, "getLoyaltyBalances", program, "advocate")
    story.call(
        "friend-balance",
        200,
        "getLoyaltyBalances",
        program,
        "friend",
        {"endDate": "2100-01-01T00:00:00Z"},
    )

    # Every reason refcamp gives for a referral code it rejects.
    close("not-found", "stranger", "NOPE-0000")
    close("same-as-advocate", "advocate", code)
    close("anonymous", "", code, responseContent=["customerSession"])
    new_code("for-invited", friendProfileIntegrationId="invited")
    close("uninvited", "uninvited", ref("for-invited", "/code"))
    close("invited", "invited", ref("for-invited", "/code"))
    new_code("future-code", startDate="2100-01-01T00:00:00Z", expiryDate="2100-02-01T00:00:00Z")
    close("too-early", "early", ref("future-code", "/code"))
    new_code("past-code", startDate="2020-01-01T00:00:00Z", expiryDate="2021-01-01T00:00:00Z")
    close("too-late", "late", ref("past-code", "/code"))
    new_code("single-use-code", usageLimit=1)
    close("first-use", "first-user", ref("single-use-code", "/code"))
    close("second-use", "second-user", ref("single-use-code", "/code"))
    new_code("another-code", advocateProfileIntegrationId="another-advocate")
    close("friend-again", "friend", ref("another-code", "/code"))  # one reward per friend
    new_code("capped-code", ids["capped-referral"])
    close("capped-first", "capped-1", ref("capped-code", "/code"))
    close("capped-second", "capped-2", ref("capped-code", "/code"))
    new_code("untriggered-code", ids["codes-only"])
    close("untriggered", "codes-only-user", ref("untriggered-code", "/code"))
    story.call(
        "still-open",
        200,
        "updateCustomerSessionV2",
        "s-still-open",
        {"customerSession": {"profileId": "browser", "referralCode": code}},
    )
    story.cli("deactivate", "campaign", "deactivate", "medium-referral")
    close("not-running", "paused", code)
    story.cli("reactivate", "campaign", "activate", "medium-referral")
    close("running-again", "paused", code)
    story.call("advocate-total", 200, "getLoyaltyBalances", program, "advocate")

    r = play(story)

    made = r.body("advocate", "/createdReferrals/0/code")
    r.equal("advocate", "/effects/0/effectType", "referralCreated")
    r.equal("advocate", "/effects/0/props/value", made)
    r.equal("advocate", "/createdReferrals/0/advocateProfileIntegrationId", "advocate")
    r.equal("advocate", "/createdReferrals/0/campaignId", medium)
    r.equal("advocate", "/customerProfile/integrationId", "advocate")
    r.equal("advocate", "/customerProfile/attributes", {"name": "Ann"})
    r.accepted("friend-closes", "acceptReferral", made)
    r.rewarded("friend-closes", program, {"advocate": 100, "friend": 50})
    r.equal("friend-closes", "/customerSession/integrationId", "friend-session")
    r.equal("friend-closes", "/customerSession/state", "closed")
    r.equal("friend-closes", "/customerSession/referralCode", made)
    r.equal("friend-closes", "/customerSession/total", 30)
    r.equal("friend-closes", "/customerProfile/integrationId", "friend")
    r.equal("friend-closes", "/referral/code", made)
    r.equal("friend-closes", "/referral/usageCounter", 1)
    r.equal("friend-closes", f"/loyalty/programs/{program}/ledger/currentBalance", 50)
    r.equal("friend-closes", "/triggeredCampaigns/0/id", medium)
    r.equal("friend-closes", "/coupons", [])
    r.check(
        isinstance(r.body("friend-closes", "/ruleFailureReasons"), list),
        "friend-closes: ruleFailureReasons asked for, not given",
        "friend-closes",
    )
    r.balance("advocate-balance", 100)
    r.balance("friend-balance", 50)

    reject = "rejectReferral"
    r.rejected("not-found", reject, "ReferralNotFound", "NOPE-0000")
    r.rejected("same-as-advocate", reject, "ReferralRecipientIdSameAsAdvocate", made)
    r.rejected("anonymous", reject, "ReferralRecipientDoesNotMatch", made)
    r.equal("anonymous", "/customerSession/profileId", "")
    r.equal("for-invited", "/friendProfileIntegrationId", "invited")
    invited = r.body("for-invited", "/code")
    r.rejected("uninvited", reject, "ReferralRecipientDoesNotMatch", invited)
    r.rewarded("invited", program, {"advocate": 100, "invited": 50}, "the code's own friend")
    r.check(
        str(r.body("future-code", "/startDate")).startswith("2100-01-01T00:00:00"),
        "future-code: the startDate sent is the startDate kept",
        "future-code",
    )
    r.rejected("too-early", reject, "ReferralStartDateInFuture", r.body("future-code", "/code"))
    r.rejected("too-late", reject, "ReferralExpired", r.body("past-code", "/code"))
    r.equal("single-use-code", "/usageLimit", 1)
    r.accepted("first-use", "acceptReferral", r.body("single-use-code", "/code"))
    r.rejected("second-use", reject, "ReferralLimitReached", r.body("single-use-code", "/code"))
    r.rejected("friend-again", reject, "ProfileLimitReached", r.body("another-code", "/code"))
    r.rewarded("capped-first", program, {"advocate": 10})
    r.rejected("capped-second", reject, "CampaignLimitReached", r.body("capped-code", "/code"))
    untriggered = r.body("untriggered-code", "/code")
    r.rejected("untriggered", reject, "ReferralPartOfNotTriggeredCampaign", untriggered)
    r.rejected("still-open", reject, "ReferralRejectedByCondition", made)
    r.equal("still-open", "/effects/0/props/conditionIndex", 1, "the session is not closing")
    r.rejected("not-running", reject, "ReferralPartOfNotRunningCampaign", made)
    r.rewarded("running-again", program, {"advocate": 100, "paused": 50}, "activated again")
    # friend, invited, first-user and paused each brought the advocate 100; the capped code 10.
    r.balance("advocate-total", 410)
    r.verify()


def test_coupons_cancel_reopen_returns_sessions_and_dry_runs(campaigns_dir: Path, run: Run) -> None:
    activate(run, "medium-referral", "spring-coupons")
    program = program_id(run)
    code = ref("advocate", "/createdReferrals/0/code")
    coupon = ref("coupon", "/0/value")
    cart = [
        {"sku": "sku-1", "name": "Mug", "quantity": 1, "price": 30, "category": "Kitchen"},
        {"sku": "sku-2", "name": "Strap", "quantity": 1, "price": 10, "category": "Accessories"},
    ]
    basket = [*cart, {**cart[0], "sku": "sku-3"}]  # 70

    def balance(label: str, profile: str = "advocate") -> None:
        story.call(label, 200, "getLoyaltyBalances", program, profile)

    story = Story()
    # A coupon made by the CLI: reserved (softly, for two customers), unreserved for one,
    # redeemed once, refused the second time.
    story.cli("coupon", "coupon", "create", "--campaign", "spring-coupons", "--json")
    story.call(
        "reserve",
        201,
        "createCouponReservation",
        coupon,
        {"integrationIDs": ["shopper", "window-shopper"]},
        why="OpenAPI: 201 Created, a Coupon",
    )
    story.call("reserved", 200, "getReservedCustomers", coupon)
    story.call("unreserve", 204, "deleteCouponReservation", coupon, {"integrationIDs": ["shopper"]})
    story.call("reserved-after", 200, "getReservedCustomers", coupon)
    for label, profile in (("redeem", "shopper"), ("redeem-again", "other-shopper")):
        story.call(
            label,
            200,
            "updateCustomerSessionV2",
            f"{label}-session",
            {
                "customerSession": {
                    "profileId": profile,
                    "state": "closed",
                    "couponCodes": [coupon],
                    "cartItems": basket,
                },
                "responseContent": ["coupons", "customerSession"],
            },
        )
    # Cancelling a closed session rolls back what it booked.
    story.call("advocate", 200, "updateCustomerProfileV2", "advocate", {}, {"runRuleEngine": True})
    story.call(
        "friend-closes",
        200,
        "updateCustomerSessionV2",
        "friend-session",
        closing("friend", code, cartItems=cart),
    )
    balance("before-cancel")
    story.call(
        "cancel",
        200,
        "updateCustomerSessionV2",
        "friend-session",
        {"customerSession": {"state": "cancelled"}, "responseContent": ["customerSession"]},
    )
    balance("after-cancel")
    balance("friend-after-cancel", "friend")
    story.call("cancelled", 200, "getCustomerSession", "friend-session")
    # Talon.One's OpenAPI gives no status for closing a cancelled session; refcamp's README: 409.
    story.call(
        "close-cancelled",
        409,
        "updateCustomerSessionV2",
        "friend-session",
        {"customerSession": {"state": "closed"}},
    )
    # Reopening a closed session rolls back too; closing it again books anew.
    story.call(
        "second-friend-closes",
        200,
        "updateCustomerSessionV2",
        "second-session",
        closing("second-friend", code, cartItems=cart),
    )
    story.call("reopen", 200, "reopenCustomerSession", "second-session")
    story.call("reopened", 200, "getCustomerSession", "second-session")
    balance("after-reopen")
    story.call(
        "close-again",
        200,
        "updateCustomerSessionV2",
        "second-session",
        {"customerSession": {"state": "closed"}, "responseContent": ["customerSession"]},
    )
    balance("after-close-again")
    # A return rolls back the returned share of the cart's value.
    story.call(
        "dry-return",
        200,
        "returnCartItems",
        "second-session",
        {"return": {"returnedCartItems": [{"position": 1}]}},
        {"dry": True},
    )
    balance("after-dry-return")
    story.call(
        "return",
        200,
        "returnCartItems",
        "second-session",
        {
            "return": {"returnedCartItems": [{"position": 0, "quantity": 1}]},
            "responseContent": ["customerSession", "customerProfile", "loyalty"],
        },
    )
    story.call("returned", 200, "getCustomerSession", "second-session")
    balance("after-return")
    # Dry runs answer what would happen and change nothing.
    story.call(
        "dry-close",
        200,
        "updateCustomerSessionV2",
        "dry-session",
        {**closing("dry-friend", code, cartItems=cart), "responseContent": ["loyalty"]},
        {"dry": True},
    )
    story.call("dry-session", 404, "getCustomerSession", "dry-session")
    story.call("dry-friend", 404, "getLoyaltyBalances", program, "dry-friend")
    balance("after-dry-close")
    story.call(
        "dry-register",
        200,
        "updateCustomerProfileV2",
        "dry-newcomer",
        {"attributes": {"name": "Dee"}},
        {"runRuleEngine": True, "dry": True},
    )
    story.call("dry-newcomer", 404, "getCustomerInventory", "dry-newcomer", {"profile": True})
    story.call(
        "dry-cancel",
        200,
        "updateCustomerSessionV2",
        "second-session",
        {"customerSession": {"state": "cancelled"}},
        {"dry": True},
    )
    story.call("after-dry-cancel", 200, "getCustomerSession", "second-session")
    balance("advocate-after-dry-cancel")

    r = play(story)

    value = r.body("coupon", "/0/value")
    r.equal("reserve", "/value", value)
    # A soft reservation leaves the coupon without a recipient (createCouponReservation: "Any
    # customer can use a reserved coupon code"); getReservedCustomers lists every customer.
    r.equal("reserve", "/recipientIntegrationId", MISSING)
    r.equal("reserved", "/totalResultSize", 2)
    r.equal("reserved", "/data/0/integrationId", "shopper")
    r.equal("reserved", "/data/1/integrationId", "window-shopper")
    r.equal("reserved-after", "/totalResultSize", 1)
    r.equal("reserved-after", "/data/0/integrationId", "window-shopper")
    r.accepted("redeem", "acceptCoupon", value)
    r.equal("redeem", "/effects/1/effectType", "setDiscount")
    r.equal("redeem", "/effects/1/props/value", 7, "10% of 70")
    r.equal("redeem", "/coupons/0/value", value)
    r.equal("redeem", "/customerSession/couponCodes", [value])
    r.rejected("redeem-again", "rejectCoupon", "CouponLimitReached", value)
    r.equal("redeem-again", "/coupons/0/usageCounter", 1)

    r.balance("before-cancel", 100)
    r.rolled_back("cancel", {"advocate": 100, "friend": 50})
    r.check("rollbackReferral" in r.kinds("cancel"), "cancel: no rollbackReferral", "cancel")
    r.equal("cancel", "/customerSession/state", "cancelled")
    r.balance("after-cancel", 0)
    r.balance("friend-after-cancel", 0)
    r.equal("cancelled", "/customerSession/state", "cancelled")
    r.equal("cancelled", "/effects/0/effectType", "rollbackAddedLoyaltyPoints", "its last update")
    r.equal("close-cancelled", "/StatusCode", 409)

    r.rewarded("second-friend-closes", program, {"advocate": 100, "second-friend": 50})
    # reopenCustomerSession: what the close did is rolled back "except ... any not pending loyalty
    # points": the referral's use goes, the active 100 and 50 stay, and closing again awards no
    # point twice.
    r.rolled_back("reopen", {})
    r.check("rollbackReferral" in r.kinds("reopen"), "reopen: no rollbackReferral", "reopen")
    r.equal("reopened", "/customerSession/state", "open")
    r.balance("after-reopen", 100)
    r.rewarded("close-again", program, {}, "the points that stayed are not awarded again")
    r.check("acceptReferral" in r.kinds("close-again"), "close-again: no acceptReferral", "")
    r.equal("close-again", "/customerSession/state", "closed")
    r.balance("after-close-again", 100)

    # returnCartItems rolls back "any effects associated with these cart items": the referral's
    # points belong to the session, not to an item, so a return rolls none of them back.
    r.rolled_back("dry-return", {}, "no item earned the referral's points")
    r.equal("dry-return", "/dryRun", True)
    r.balance("after-dry-return", 100, "a dry return keeps nothing")
    r.rolled_back("return", {}, "no item earned the referral's points")
    r.equal("return", "/return/returnedCartItems", [{"position": 0, "quantity": 1}])
    r.equal("return", "/return/sessionIntegrationId", "second-session")
    r.equal("return", "/customerSession/state", "partially_returned")
    r.equal("return", "/customerProfile/integrationId", "second-friend")
    friend_left = 50 - (r.points("return", "rollbackAddedLoyaltyPoints").get("second-friend") or 0)
    r.equal("return", f"/loyalty/programs/{program}/ledger/currentBalance", friend_left)
    r.equal("returned", "/customerSession/state", "partially_returned")
    r.equal("returned", "/customerSession/cartItems/0/returnedQuantity", 1)
    r.equal("returned", "/customerSession/cartItems/0/remainingQuantity", 0)
    r.equal("returned", "/customerSession/cartItems/1/returnedQuantity", MISSING, "dry: not kept")
    r.balance("after-return", 100)

    r.rewarded("dry-close", program, {"advocate": 100, "dry-friend": 50}, "what a close would do")
    r.equal("dry-close", "/dryRun", True)
    r.equal("dry-close", f"/loyalty/programs/{program}/ledger/currentBalance", 50)
    r.balance("after-dry-close", 100)
    r.equal("dry-register", "/createdReferrals/0/advocateProfileIntegrationId", "dry-newcomer")
    r.equal("dry-register", "/dryRun", True)
    r.check(
        "rollbackAddedLoyaltyPoints" in r.kinds("dry-cancel"), "dry-cancel: rollbacks", "dry-cancel"
    )
    r.equal("after-dry-cancel", "/customerSession/state", "partially_returned")
    r.balance("advocate-after-dry-cancel", 100)
    r.verify()


def test_events_referrals_transactions_inventory_profiles_audiences_erasure(
    campaigns_dir: Path, run: Run
) -> None:
    (campaigns_dir / "reviews.toml").write_text(REVIEWS)
    activate(run, "medium-referral")
    ids, program = campaign_ids(run), program_id(run)
    medium = ids["medium-referral"]
    code = ref("advocate", "/createdReferrals/0/code")
    audience = ref("audience", "/id")
    everything = {"profile": True, "referrals": True, "coupons": True, "loyalty": True}

    story = Story()
    story.call(
        "advocate",
        200,
        "updateCustomerProfileV2",
        "advocate",
        {"attributes": {"name": "Ann", "email": "ann@example.com"}},
        {"runRuleEngine": True},
    )
    story.call(
        "friend-closes", 200, "updateCustomerSessionV2", "friend-session", closing("friend", code)
    )
    # Custom events: one that earns points, the same as a dry run, one without a profileId.
    review = {"profileId": "advocate", "type": "review_posted", "attributes": {"stars": 5}}
    # silent=no: Talon.One's default (yes) answers 204 without a body ("silent-event" below).
    story.call(
        "event",
        200,
        "trackEventV2",
        {**review, "responseContent": ["event", "customerProfile", "loyalty"]},
        {"silent": "no"},
    )
    story.call(
        "dry-event",
        200,
        "trackEventV2",
        {**review, "responseContent": ["event"]},
        {"dry": True, "silent": "no"},
    )
    story.call(
        "silent-event", 204, "trackEventV2", {**review, "responseContent": ["event"]}, {"dry": True}
    )
    story.call("after-events", 200, "getLoyaltyBalances", program, "advocate")
    story.call(
        "anonymous-event",
        400,
        "trackEventV2",
        {"type": "page_viewed", "attributes": {"path": "/home"}, "responseContent": ["event"]},
        {"silent": "no"},
        why='trackEventV2: "`profileId` is required"',
    )
    # Referral codes made through the API.
    story.call(
        "referral",
        201,
        "createReferral",
        {
            "campaignId": medium,
            "advocateProfileIntegrationId": "advocate",
            "usageLimit": 5,
            "expiryDate": "2100-01-01T00:00:00Z",
            "attributes": {"channel": "email"},
        },
    )
    many = {"campaignId": medium, "usageLimit": 0}
    story.call(
        "many-referrals",
        201,
        "createReferralsForMultipleAdvocates",
        {**many, "advocateProfileIntegrationIds": ["adv-a", "adv-b"]},
        {"silent": "no"},
    )
    story.call(
        "many-referrals-silent",
        204,
        "createReferralsForMultipleAdvocates",
        {**many, "advocateProfileIntegrationIds": ["adv-c"], "usageLimit": 2},
        why="silent defaults to yes: 204 No Content, a response the OpenAPI lists",
    )
    story.call("adv-c", 200, "getCustomerInventory", "adv-c", {"referrals": True})
    # The advocate's ledger page by page: 100 for the friend, then 5 for the review.
    for label, page in (("page-1", {"skip": 0}), ("page-2", {"skip": 1})):
        story.call(
            label,
            200,
            "getLoyaltyProgramProfileTransactions",
            program,
            "advocate",
            {"pageSize": 1, **page},
        )
    story.call(
        "all-transactions",
        200,
        "getLoyaltyProgramProfileTransactions",
        program,
        "advocate",
        {"startDate": "2000-01-01T00:00:00Z", "endDate": "2100-01-01T00:00:00Z"},
    )
    story.call("inventory", 200, "getCustomerInventory", "advocate", everything)
    # Many profiles at once; audiences by their integer id.
    story.call(
        "profiles",
        200,
        "updateCustomerProfilesV2",
        {
            "customerProfiles": [
                {"integrationId": "bulk-1", "attributes": {"tier": "gold"}},
                {"integrationId": "bulk-2", "attributes": {"tier": "silver"}},
            ]
        },
        {"silent": "no"},
    )
    story.call(
        "profiles-silent",
        204,
        "updateCustomerProfilesV2",
        {"customerProfiles": [{"integrationId": "bulk-3", "attributes": {"tier": "bronze"}}]},
        why="silent defaults to yes, documented as 'returning a 204 response'",
    )
    story.call("bulk-3", 200, "getCustomerInventory", "bulk-3", {"profile": True})
    story.call("audience", 201, "createAudienceV2", {"name": "VIP customers"})
    story.call(
        "join",
        204,
        "updateCustomerProfileAudiences",
        {"data": [{"action": "add", "profileIntegrationId": "bulk-1", "audienceId": audience}]},
    )
    story.call("bulk-1", 200, "getCustomerInventory", "bulk-1", {"profile": True})
    for label, profile, changes in (
        ("adds", "bulk-2", {"adds": [audience], "deletes": []}),
        ("deletes", "bulk-1", {"adds": [], "deletes": [audience]}),
    ):
        story.call(
            label,
            200,
            "updateCustomerProfileV2",
            profile,
            {"audiencesChanges": changes, "responseContent": ["customerProfile"]},
        )
    # Erasure: the attributes go, the points and codes stay.
    story.call("erase", 204, "deleteCustomerData", "advocate")
    story.call("erased", 200, "getCustomerInventory", "advocate", everything)
    story.call("erase-unknown", 404, "deleteCustomerData", "nobody")

    r = play(story)

    r.rewarded("event", program, {"advocate": 5})
    r.equal("event", "/event/type", "review_posted")
    r.equal("event", "/event/profileId", "advocate")
    r.equal("event", "/event/attributes", {"stars": 5})
    r.equal("event", "/customerProfile/integrationId", "advocate")
    r.equal("event", f"/loyalty/programs/{program}/ledger/currentBalance", 105)
    r.rewarded("dry-event", program, {"advocate": 5}, "what the event would earn")
    r.equal("dry-event", "/dryRun", True)
    r.balance("after-events", 105, "100 + 5; the dry run kept nothing")
    # An event without a profileId is refused by name (it was tracked as anonymous).
    r.equal("anonymous-event", "/StatusCode", 400)
    r.equal("anonymous-event", "/errors/0/source/pointer", "/profileId")

    r.equal("referral", "/campaignId", medium)
    r.equal("referral", "/advocateProfileIntegrationId", "advocate")
    r.equal("referral", "/usageLimit", 5)
    r.equal("referral", "/attributes", {"channel": "email"})
    r.check(
        str(r.body("referral", "/expiryDate")).startswith("2100-01-01T00:00:00"),
        "referral: the expiryDate sent is the one kept",
        "referral",
    )
    r.equal("many-referrals", "/totalResultSize", 2)
    advocates = [x.get("advocateProfileIntegrationId") for x in r.items("many-referrals", "/data")]
    r.check(advocates == ["adv-a", "adv-b"], "many-referrals: a code each", "many-referrals")
    r.equal("adv-c", "/referrals/0/advocateProfileIntegrationId", "adv-c", "silent creates too")
    r.equal("adv-c", "/referrals/0/usageLimit", 2)

    # The newest first ("the last 50 loyalty transactions"): the review's 5, then the referral's.
    r.equal("page-1", "/hasMore", True)
    r.equal("page-1", "/data/0/amount", 5)
    r.equal("page-1", "/data/0/name", "Review bonus")
    r.equal("page-2", "/hasMore", False)
    r.equal("page-2", "/data/0/amount", 100)
    r.equal("page-2", "/data/0/type", "addition")
    r.equal("page-2", "/data/0/customerSessionId", "friend-session")
    amounts = sorted(x.get("amount") for x in r.items("all-transactions", "/data"))
    r.check(amounts == [5, 100], f"all-transactions: {amounts}", "all-transactions")

    made = r.body("advocate", "/createdReferrals/0/code")
    r.equal("inventory", "/profile/integrationId", "advocate")
    r.equal("inventory", "/profile/attributes", {"name": "Ann", "email": "ann@example.com"})
    r.equal("inventory", f"/loyalty/programs/{program}/ledger/currentBalance", 105)
    codes = {x.get("code"): x.get("referredCustomers") for x in r.items("inventory", "/referrals")}
    r.check(
        codes == {made: ["friend"], r.body("referral", "/code"): []},
        "inventory: the advocate's two codes, the first with the friend it brought",
        "inventory",
    )
    r.equal("inventory", "/coupons", [])

    profiles = [s.get("customerProfile") or {} for s in r.items("profiles", "/integrationStates")]
    r.check(
        [(p.get("integrationId"), p.get("attributes")) for p in profiles]
        == [("bulk-1", {"tier": "gold"}), ("bulk-2", {"tier": "silver"})],
        "profiles: silent=no answers each profile",
        "profiles",
    )
    r.equal("bulk-3", "/profile/attributes", {"tier": "bronze"}, "silent=yes saves too")
    vip = [{"id": r.body("audience", "/id"), "name": "VIP customers"}]
    r.equal("audience", "/name", "VIP customers")
    r.equal("bulk-1", "/profile/audienceMemberships", vip)
    r.equal("adds", "/customerProfile/audienceMemberships", vip)
    r.equal("deletes", "/customerProfile/audienceMemberships", [])

    r.equal("erased", "/profile/integrationId", "advocate")
    r.equal("erased", "/profile/attributes", {})
    r.equal("erased", f"/loyalty/programs/{program}/ledger/currentBalance", 105)
    r.check(
        [x.get("attributes") for x in r.items("erased", "/referrals")] == [{}, {}],
        "erased: the codes stay, their attributes ({'channel': 'email'}) go",
        "erased",
    )
    r.verify()


def test_wrong_or_missing_key_is_401_and_changes_nothing(campaigns_dir: Path, run: Run) -> None:
    activate(run, "medium-referral", "spring-coupons")
    program = program_id(run)
    registered = cli_json(run, "profile", "update", "advocate", "--attr", "name=Ann")
    code = registered["createdReferrals"][0]["code"]
    coupon = cli_json(run, "coupon", "create", "--campaign", "spring-coupons")[0]["value"]
    medium = campaign_ids(run)["medium-referral"]

    story = Story()
    for name, key in (("no-key", None), ("wrong-key", "not-the-key")):
        for label, *call in (
            (
                "register",
                "updateCustomerProfileV2",
                "intruder",
                {"attributes": {"name": "Eve"}},
                {"runRuleEngine": True},
            ),
            ("close", "updateCustomerSessionV2", "intruder-session", closing("intruder", code)),
            ("event", "trackEventV2", {"profileId": "advocate", "type": "review_posted"}),
            (
                "referral",
                "createReferral",
                {"campaignId": medium, "advocateProfileIntegrationId": "intruder"},
            ),
            ("reserve", "createCouponReservation", coupon, {"integrationIDs": ["intruder"]}),
            ("erase", "deleteCustomerData", "advocate"),
            ("balance", "getLoyaltyBalances", program, "advocate"),
            ("session", "getCustomerSession", "intruder-session"),
            (
                "profiles",
                "updateCustomerProfilesV2",
                {"customerProfiles": [{"integrationId": "x"}]},
            ),
            ("audience", "createAudienceV2", {"name": "spies"}),
        ):
            story.call(f"{name}-{label}", 401, *call, key=key)

    ensure_sdk()
    with serving() as server:
        before = state_rows(state_file())
        r = story.play(server)
        after = state_rows(state_file())

    for label in r.reports:
        r.equal(label, "/StatusCode", 401)
        r.check(r.reports[label]["error"] is not None, f"{label}: the SDK accepted a 401")
    r.check(after == before, "a request without the right key changed the state file")
    r.check(run("profile", "show", "intruder").exit_code == 1, "the intruder's profile exists")
    shown = cli_json(run, "profile", "show", "advocate")
    r.check(shown["profile"]["attributes"] == {"name": "Ann"}, f"advocate erased: {shown}")
    ledger = shown["loyalty"]["programs"][str(program)]["ledger"]
    r.check(ledger["currentBalance"] == 0, f"advocate rewarded: {ledger}")
    r.check([x["code"] for x in shown["referrals"]] == [code], f"codes: {shown['referrals']}")
    r.check(shown["referrals"][0]["usageCounter"] == 0, f"code used: {shown['referrals']}")
    reserved = cli_json(run, "coupon", "show", coupon)
    r.check("intruder" not in json.dumps(reserved), f"coupon reserved: {reserved}")
    r.verify()
