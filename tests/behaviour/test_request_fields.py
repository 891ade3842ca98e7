"""Every field of a request model refcamp reads is used, refused with 400 naming it, or accepted
and ignored for a reason docs/talon-one-behaviour.md ("Request fields") gives; none is silently
dropped (talon_one@5.0.1-rc, dist/model/*.js)."""

from __future__ import annotations

import re
from typing import Any

from tests.serving import Server

MANY = "/v1/referrals_for_multiple_advocates?silent=no"


def referrals(served: Server, **fields: Any) -> Any:
    body = {"campaignId": "medium-referral", "advocateProfileIntegrationIds": ["ANN", "BOB"]}
    return served.request("POST", MANY, {**body, **fields})


def refused(reply: Any, field: str) -> None:
    assert reply.status == 400, reply
    assert field in reply.body["message"], reply.body
    pointer = "/" + re.sub(r"\[(\d+)\]", r"/\1", field).replace(".", "/")
    assert reply.body["errors"][0]["source"] == {"pointer": pointer}


def test_referral_pattern_and_valid_characters_make_the_codes(served: Server) -> None:
    """NewReferralsForMultipleAdvocates.referralPattern: "The pattern used to generate referrals.
    The character `#` is a placeholder"; validCharacters: the characters it is filled from."""
    reply = referrals(served, referralPattern="REF-###", validCharacters=["X", "Y"])
    assert reply.status == 201, reply
    codes = [r["code"] for r in reply.body["data"]]
    assert len(codes) == 2 and all(re.fullmatch(r"REF-[XY]{3}", c) for c in codes), codes
    # Either alone: the other from the campaign (medium-referral: ####-####, letters and digits).
    alone = referrals(served, validCharacters=["Z"], advocateProfileIntegrationIds=["CAT"])
    assert alone.body["data"][0]["code"] == "ZZZZ-ZZZZ"


def test_a_pattern_without_a_placeholder_is_400_naming_it(served: Server) -> None:
    refused(referrals(served, referralPattern="REF-1"), "referralPattern")
    refused(referrals(served, validCharacters=[]), "validCharacters")
    refused(referrals(served, validCharacters=["AB"]), "validCharacters[0]")
    # Two advocates cannot share the one code REF-X makes.
    refused(referrals(served, referralPattern="REF-#", validCharacters=["X"]), "referralPattern")
    # Nothing was created.
    assert served.request("GET", "/v1/customer_profiles/ANN/inventory?referrals=true").status == 404


def test_a_known_unsupported_field_is_400_naming_it(served: Server) -> None:
    session = {"profileId": "ANN", "evaluableCampaignIds": [1]}
    reply = served.request("PUT", "/v2/customer_sessions/S1", {"customerSession": session})
    refused(reply, "customerSession.evaluableCampaignIds")
    cards = {"profileId": "ANN", "loyaltyCards": ["card-1"]}
    reply = served.request("PUT", "/v2/customer_sessions/S1", {"customerSession": cards})
    refused(reply, "customerSession.loyaltyCards")
    event = {"profileId": "ANN", "type": "review_posted", "evaluableCampaignIds": [1]}
    refused(served.request("POST", "/v2/events", event), "evaluableCampaignIds")
    profile = {"attributes": {}, "evaluableCampaignIds": [1]}
    refused(served.request("PUT", "/v2/customer_profiles/ANN", profile), "evaluableCampaignIds")
    single = {"campaignId": "medium-referral", "advocateProfileIntegrationId": "ANN"}
    reply = served.request("POST", "/v1/referrals", {**single, "referralPattern": "R-###"})
    refused(reply, "referralPattern")
    audience = {"name": "vip", "integration": "mparticle", "integrationId": "a1"}
    refused(served.request("POST", "/v2/audiences", audience), "integration")
    assert served.request("GET", "/v2/customer_sessions/S1").status == 404


def test_an_empty_unsupported_field_and_an_ignored_one_are_accepted(served: Server) -> None:
    """An empty list asks for nothing; a cart item's returnedQuantity is Talon.One's own count."""
    item = {"sku": "mug", "quantity": 1, "price": 10, "returnedQuantity": 0}
    session = {
        "profileId": "ANN",
        "loyaltyCards": [],
        "evaluableCampaignIds": [],
        "cartItems": [item],
    }
    reply = served.request("PUT", "/v2/customer_sessions/S1", {"customerSession": session})
    assert reply.status == 200, reply
