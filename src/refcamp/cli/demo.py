"""refcamp demo: the seed tutorial's story, narrated, in a throwaway database."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

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
    with tempfile.TemporaryDirectory(prefix="refcamp-demo-") as scratch:
        ws = service.Workspace(outer.settings.but(db=Path(scratch) / "demo.db", campaigns=SAMPLES))
        try:
            story = _Story(ws, as_json)
            story.activate()
            code = story.register()
            story.close(code)
            rows = story.balances()
            if as_json:
                render.print_json({"steps": story.steps})
                return
            render.table(None, ["Customer", "Program", "Points"], rows)
            story.by_hand()
        finally:
            ws.close()


class _Story:
    """The demo's steps, each a real request; told to people, or kept for --json."""

    def __init__(self, ws: service.Workspace, as_json: bool) -> None:
        self.ws = ws
        self.as_json = as_json
        self.steps: list[dict[str, Any]] = []

    def say(self, text: str) -> None:
        if not self.as_json:
            render.line(text)

    def shown(self, response: service.Response) -> dict[str, Any]:
        return talon.integration_state(response, self.ws.catalog, self.ws.talon_ids())

    def activate(self) -> None:
        say = self.say
        say("refcamp demo — MEDIUM-REFERRAL: Generate and redeem a referral code")
        say("A customer who registers gets a referral code; when a friend closes a session")
        say("with it, the advocate gets 100 points and the friend 50. (Throwaway database.)")
        say("")
        say("1. Activate the campaign:  refcamp campaign activate medium-referral")
        _, before = service.set_campaign_state(self.ws, CAMPAIGN, "enabled")
        say(f"   {CAMPAIGN}: {before} -> enabled")
        say("")

    def register(self) -> str:
        self.say("2. A customer registers:  refcamp profile update NEWCUSTOMER")
        registered = service.update_profile(self.ws, "NEWCUSTOMER", ProfileInput())
        command = "refcamp profile update NEWCUSTOMER"
        self.steps.append({"command": command, "response": self.shown(registered)})
        code = registered.created_referrals[0].code
        if not self.as_json:
            render.effects_table(registered.effects)
            self.say(f"   NEWCUSTOMER is now an advocate with the referral code {code}.")
            self.say("")
        return code

    def close(self, code: str) -> None:
        command = f"refcamp session close --profile FRIEND1 --referral {code}"
        self.say(f"3. A friend closes a session with the code:  {command}")
        closed = service.update_session(
            self.ws, None, SessionInput(profile_id="FRIEND1", state="closed", referral_code=code)
        )
        self.steps.append({"command": command, "response": self.shown(closed)})
        if not self.as_json:
            render.effects_table(closed.effects)
            self.say("")

    def balances(self) -> list[tuple[str, str, Any]]:
        both = "refcamp loyalty balance NEWCUSTOMER; refcamp loyalty balance FRIEND1"
        self.say(f"4. Balances:  {both}")
        rows = []
        balances = {}
        for customer in ("NEWCUSTOMER", "FRIEND1"):
            for program, b in service.balances(self.ws, customer).items():
                rows.append((customer, program, b.current))
                balances[customer] = b.current
        self.steps.append({"command": "refcamp loyalty balance", "balances": balances})
        return rows

    def by_hand(self) -> None:
        say = self.say
        say("")
        say("Try it by hand (this uses your own state file; `refcamp db path` shows where):")
        say("  refcamp campaign activate medium-referral")
        say("  CODE=$(refcamp profile update NEWCUSTOMER -q)")
        say("  refcamp session close --profile FRIEND1 --referral $CODE")
        say("  refcamp loyalty balance NEWCUSTOMER")
        say("  refcamp campaign show medium-referral")
