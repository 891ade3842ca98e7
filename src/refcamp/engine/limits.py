"""Campaign limits: the reason a limit gives when it stops something. The Budget that counts
them during one evaluation is in engine.types (every part of the engine uses it)."""

from __future__ import annotations

from refcamp.engine.types import Budget, UsageKey
from refcamp.models import Limit

__all__ = ["REASONS", "Budget", "UsageKey", "reason"]

REASONS = {
    "campaign": "CampaignLimitReached",
    "profile": "ProfileLimitReached",
    "code": "ReferralLimitReached",
}


def reason(limit: Limit) -> str:
    return REASONS[limit.per]
