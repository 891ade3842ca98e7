"""Campaign limits during one evaluation: what the state file counted so far (loaded by the
service, inside the request's transaction) plus what this request has already planned."""

from __future__ import annotations

from collections.abc import Mapping

from refcamp.models import Campaign, Limit

# (campaign id, action, per, subject): subject is "" per campaign, a profile id, or a code.
UsageKey = tuple[str, str, str, str]

REASONS = {
    "campaign": "CampaignLimitReached",
    "profile": "ProfileLimitReached",
    "code": "ReferralLimitReached",
}


class Budget:
    def __init__(self, usage: Mapping[UsageKey, int]) -> None:
        self.used = dict(usage)

    def _keys(
        self, campaign: Campaign, limit: Limit, profile_id: str | None, code: str | None
    ) -> UsageKey | None:
        subject = {"campaign": "", "profile": profile_id, "code": code}[limit.per]
        if subject is None:
            return None  # nothing to count per (e.g. no customer): the limit does not apply
        return (campaign.id, limit.action, limit.per, subject)

    def blocking(
        self,
        campaign: Campaign,
        action: str,
        amount: int,
        profile_id: str | None,
        code: str | None = None,
    ) -> tuple[Limit, int] | None:
        """The first limit that `amount` more of `action` would exceed, with its count so far."""
        for limit in campaign.limits_for(action):
            key = self._keys(campaign, limit, profile_id, code)
            if key is not None and self.used.get(key, 0) + amount > limit.limit:
                return limit, self.used.get(key, 0)
        return None

    def spend(
        self,
        campaign: Campaign,
        action: str,
        amount: int,
        profile_id: str | None,
        code: str | None = None,
    ) -> None:
        for limit in campaign.limits_for(action):
            key = self._keys(campaign, limit, profile_id, code)
            if key is not None:
                self.used[key] = self.used.get(key, 0) + amount


def reason(limit: Limit) -> str:
    return REASONS[limit.per]
