"""The reject effect for a code (referral or coupon) that no fired rule accepted: one shape for
both, as Talon.One has rejectReferral and rejectCoupon with the same props."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from refcamp.engine.conditions import mentions
from refcamp.engine.types import RuleResult
from refcamp.models import Catalog, Effect


def rejection(
    catalog: Catalog,
    rules: Sequence[RuleResult],
    *,
    effect_type: str,
    code: str | None,
    campaign_id: str | None,
    reason: str | None,
    details: str,
    checks: type,
    by_condition: str,
    untriggered: tuple[str, str],
) -> Effect:
    """`reason` None means the code itself is fine: then the rule that checks it failed on another
    condition (`by_condition`, with conditionIndex), or no rule checks it (`untriggered`: reason
    and details)."""

    campaign = catalog.campaign(campaign_id) if campaign_id else None
    checking = [r for r in (campaign.rules if campaign else ()) if mentions(r, checks)]
    props: dict[str, Any] = {"value": code}
    if reason is None:
        indexes = {r.index for r in checking}
        failed = next(
            (
                r
                for r in rules
                if r.campaign_id == campaign_id and not r.fired and r.rule_index in indexes
            ),
            None,
        )
        if failed is not None and failed.failed_condition is not None:
            condition = failed.failed_condition
            reason = by_condition
            props["conditionIndex"] = condition.index
            details = f"rule '{failed.rule_name}': {condition.words} (saw {condition.check.seen})"
        elif failed is not None and failed.failed_effect is not None:
            # Every condition held, but an effect of the rule could not be applied.
            reason = "EffectCouldNotBeApplied"
            props["effectIndex"], why = failed.failed_effect
            details = f"rule '{failed.rule_name}': {why}"
        else:
            reason, details = untriggered
    props["rejectionReason"] = reason
    props["details"] = details
    rule = checking[0] if checking else None
    return Effect(
        campaign_id=campaign_id or "",
        ruleset_id=campaign.ruleset_id if campaign else "",
        rule_index=rule.index if rule else 0,
        rule_name=rule.name if rule else "",
        effect_type=effect_type,
        props=props,
    )
