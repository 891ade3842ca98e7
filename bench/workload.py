"""Synthetic Integration API traffic for benchmarks and tests: the seed's workload.

`seed_workload(n)` is JSON Lines: n profile registrations (each creates a referral code with the
sample campaign active), then n closed sessions, each a new friend bringing one of the codes. The
codes are not known in advance, so the sessions carry codes drawn from a seeded generator that the
replaying process will also draw: set REFCAMP_SEED to the same value when replaying.
"""

from __future__ import annotations

import json


def registrations(n: int, prefix: str = "ADV") -> list[str]:
    return [
        json.dumps(
            {
                "path": f"/v2/customer_profiles/{prefix}{i}",
                "query": {"runRuleEngine": "true"},
                "body": {"attributes": {}},
            }
        )
        for i in range(n)
    ]


def closes(codes: list[str], prefix: str = "FRIEND") -> list[str]:
    return [
        json.dumps(
            {
                "path": f"/v2/customer_sessions/{prefix}-S{i}",
                "body": {
                    "customerSession": {
                        "profileId": f"{prefix}{i}",
                        "state": "closed",
                        "referralCode": code,
                        "cartItems": [{"sku": "sku-00004", "quantity": 1, "price": 100}],
                    }
                },
            }
        )
        for i, code in enumerate(codes)
    ]
