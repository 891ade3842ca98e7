"""refcamp demo: the seed tutorial's story, narrated, in a throwaway database."""

from __future__ import annotations

import tempfile
from pathlib import Path

import typer

from refcamp import render, service, talon
from refcamp.cli import guarded, workspace
from refcamp.cli.options import Json
from refcamp.paths import SAMPLES
from refcamp.payloads import ProfileInput, SessionInput

CAMPAIGN = "medium-referral"


@guarded
def demo(ctx: typer.Context, as_json: Json = False) -> None:
    """Run the seed's referral story in a throwaway database (never yours), step by step."""
    outer = workspace(ctx)
    steps: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="refcamp-demo-") as scratch:
        ws = service.Workspace(Path(scratch) / "demo.db", SAMPLES, outer.now_option)
        try:

            def say(text: str) -> None:
                if not as_json:
                    render.line(text)

            say("refcamp demo — MEDIUM-REFERRAL: Generate and redeem a referral code")
            say("A customer who registers gets a referral code; when a friend closes a session")
            say("with it, the advocate gets 100 points and the friend 50. (Throwaway database.)")
            say("")
            say("1. Activate the campaign:  refcamp campaign activate medium-referral")
            _, before = service.set_campaign_state(ws, CAMPAIGN, "enabled")
            say(f"   {CAMPAIGN}: {before} -> enabled")
            say("")

            say("2. A customer registers:  refcamp profile update NEWCUSTOMER")
            registered = service.update_profile(ws, "NEWCUSTOMER", ProfileInput())
            steps.append(
                {
                    "command": "refcamp profile update NEWCUSTOMER",
                    "response": talon.integration_state(registered, ws.catalog, ws.talon_ids()),
                }
            )
            code = registered.created_referrals[0].code
            if not as_json:
                render.effects_table(registered.effects)
                say(f"   NEWCUSTOMER is now an advocate with the referral code {code}.")
                say("")

            say(
                f"3. A friend closes a session with the code:  "
                f"refcamp session close --profile FRIEND1 --referral {code}"
            )
            closed = service.update_session(
                ws, None, SessionInput(profile_id="FRIEND1", state="closed", referral_code=code)
            )
            steps.append(
                {
                    "command": f"refcamp session close --profile FRIEND1 --referral {code}",
                    "response": talon.integration_state(closed, ws.catalog, ws.talon_ids()),
                }
            )
            if not as_json:
                render.effects_table(closed.effects)
                say("")

            say(
                "4. Balances:  refcamp loyalty balance NEWCUSTOMER; refcamp loyalty balance FRIEND1"
            )
            rows = []
            balances = {}
            for customer in ("NEWCUSTOMER", "FRIEND1"):
                for program, b in service.balances(ws, customer).items():
                    rows.append((customer, program, b.current))
                    balances[customer] = b.current
            steps.append({"command": "refcamp loyalty balance", "balances": balances})
            if as_json:
                render.print_json({"steps": steps})
                return
            render.table(None, ["Customer", "Program", "Points"], rows)
            say("")
            say("Try it by hand (this uses your own state file; `refcamp db path` shows where):")
            say("  refcamp campaign activate medium-referral")
            say("  CODE=$(refcamp profile update NEWCUSTOMER -q)")
            say("  refcamp session close --profile FRIEND1 --referral $CODE")
            say("  refcamp loyalty balance NEWCUSTOMER")
            say("  refcamp campaign show medium-referral")
        finally:
            ws.close()
