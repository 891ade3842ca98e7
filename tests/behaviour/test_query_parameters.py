"""Every query parameter of the SDK's Integration API calls is honoured or refused by name, never
silently ignored (talon_one@5.0.1-rc, dist/api/IntegrationApi.js: each call's `queryParams`)."""

from __future__ import annotations

from refcamp import routes
from tests.serving import Server

SESSION = {"customerSession": {"profileId": "P", "state": "open"}}
REVIEW = {"profileId": "P", "type": "review_posted", "responseContent": ["event"]}


def test_every_sdk_query_parameter_is_one_the_endpoint_takes() -> None:
    """The table refcamp routes by names exactly the parameters the SDK sends (plus `now` on
    sessions, refcamp's own), so a parameter the SDK sends is never refused as unknown."""
    sdk = {
        "trackEventV2": {"silent", "dry"},
        "updateCustomerProfileV2": {"runRuleEngine", "dry"},
        "updateCustomerProfilesV2": {"silent"},
        "updateCustomerSessionV2": {"dry"},
        "returnCartItems": {"dry"},
        "createReferralsForMultipleAdvocates": {"silent"},
        "getCustomerInventory": {"profile", "referrals", "coupons", "loyalty", "giveaways"},
        "getLoyaltyBalances": {"endDate"},
        "getLoyaltyProgramProfileTransactions": {
            "subledgerId", "startDate", "endDate", "pageSize", "skip",
        },
    }  # fmt: skip
    for endpoint in routes.EMULATED:
        expected = sdk.get(endpoint.name, set())
        extra = {"now"} if endpoint is routes.SESSION else set()
        assert set(endpoint.query) == expected | extra, endpoint.name


def test_an_unknown_query_parameter_is_400_naming_it(served: Server) -> None:
    reply = served.request("PUT", "/v2/customer_sessions/S1?dryy=true", SESSION)
    assert reply.status == 400, reply
    assert "dryy" in reply.body["message"] and "updateCustomerSessionV2" in reply.body["message"]
    assert reply.body["errors"][0]["source"] == {"parameter": "dryy"}
    # nothing was saved
    assert served.request("GET", "/v2/customer_sessions/S1").status == 404


def test_track_event_is_silent_by_default(served: Server) -> None:
    """trackEventV2 `silent`: "`yes`: ... returning a 204 response. `no`: Returns a 200 response"
    (default `yes`). The event is tracked either way."""
    quiet = served.request("POST", "/v2/events", REVIEW)
    assert quiet.status == 204 and quiet.body is None
    loud = served.request("POST", "/v2/events?silent=no", REVIEW)
    assert loud.status == 200 and loud.body["event"]["type"] == "review_posted"
    also_quiet = served.request("POST", "/v2/events?silent=yes", REVIEW)
    assert also_quiet.status == 204


def test_transactions_without_filters_are_the_last_50_newest_first(served: Server) -> None:
    """getLoyaltyProgramProfileTransactions: "If no filters are applied, the last 50 loyalty
    transactions for the given integration ID are returned"."""
    from tests.serving import refcamp

    for points in range(1, 56):
        code, _, err = refcamp(
            "loyalty", "add", "P", "--program", "sample-wallet", "--points", str(points),
            "--reason", "r",
        )  # fmt: skip
        assert code == 0, err
    path = "/v1/loyalty_programs/1/profile/P/transactions"
    page = served.request("GET", path)
    assert [t["amount"] for t in page.body["data"]] == list(range(55, 5, -1))
    assert page.body["hasMore"] is True
    rest = served.request("GET", f"{path}?skip=50")
    assert [t["amount"] for t in rest.body["data"]] == [5, 4, 3, 2, 1]


def test_a_subledger_filter_is_refused_by_name(served: Server) -> None:
    path = "/v1/loyalty_programs/1/profile/P/transactions?subledgerId=shop"
    reply = served.request("GET", path)
    assert reply.status == 400 and "subledgerId" in reply.body["message"]
    assert reply.body["errors"][0]["source"] == {"parameter": "subledgerId"}
