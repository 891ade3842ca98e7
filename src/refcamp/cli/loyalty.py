"""refcamp loyalty: programs, balances, ledgers."""

from __future__ import annotations

from typing import Annotated

import typer

from refcamp import render, service, talon
from refcamp.cli import guarded, workspace
from refcamp.cli.options import Json

app = typer.Typer(
    help="Loyalty programs, balances, ledgers and manual adjustments.", no_args_is_help=True
)

ProfileId = Annotated[str, typer.Argument(metavar="PROFILE", help="The customer's integration id.")]
Program = Annotated[
    str | None, typer.Option("--program", help="Only this loyalty program.", show_default=False)
]


@app.command("programs")
@guarded
def programs(ctx: typer.Context, as_json: Json = False) -> None:
    """List the loyalty programs the campaign files define."""
    catalog = workspace(ctx).catalog
    rows = list(catalog.programs.values())
    if as_json:
        render.print_json(
            [
                {
                    "id": p.id,
                    "name": p.name,
                    "defaultPending": p.pending,
                    "defaultValidity": p.validity,
                    "source": p.source,
                }
                for p in rows
            ]
        )
    else:
        render.table(
            "Loyalty programs",
            ["ID", "Name", "Pending", "Validity", "File"],
            [(p.id, p.name, p.pending, p.validity, p.source) for p in rows],
        )


@app.command("balance")
@guarded
def balance(
    ctx: typer.Context, profile_id: ProfileId, program: Program = None, as_json: Json = False
) -> None:
    """A customer's balances as of now: current, pending, expired, spent."""
    ws = workspace(ctx)
    balances = service.balances(ws, profile_id, program)
    names = ws.catalog.program_names
    if as_json:  # one program: getLoyaltyBalances' body; all: the customer's Loyalty
        if program is not None:
            render.print_json(talon.balance(next(iter(balances.values()))))
        else:
            render.print_json(talon.loyalty(balances, names, ws.talon_ids()))
        return
    if not balances:
        render.line(f"No loyalty programs in the campaigns, so {profile_id} has no balance.")
        return
    render.table(
        f"Balances of {profile_id}",
        ["Program", "Name", "Current", "Pending", "Expired", "Spent", "Negative"],
        [
            (p, names.get(p, p), b.current, b.pending, b.expired, b.spent, b.negative)
            for p, b in balances.items()
        ],
    )


@app.command("ledger")
@guarded
def ledger(
    ctx: typer.Context, profile_id: ProfileId, program: Program = None, as_json: Json = False
) -> None:
    """Every ledger entry of a customer, oldest first (with --json, newest first, as Talon.One
    lists transactions)."""
    ws = workspace(ctx)
    entries = service.ledger(ws, profile_id, program)
    if as_json:  # getLoyaltyProgramProfileTransactions' body: the newest first
        newest = list(reversed(entries))
        render.print_json(talon.transactions(newest, ws.talon_ids(), ws.catalog))
        return
    if not entries:
        render.line(f"No ledger entries for {profile_id}.")
        return
    rows = []
    for e in entries:
        sign = "+" if e.type == "addition" else "-"
        rows.append(
            (
                render.short_time(e.created),
                e.program_id,
                f"{sign}{e.amount}",
                e.name,
                e.session_id or "",
                render.short_time(e.start_date),
                render.short_time(e.expiry_date) or "never",
            )
        )
    render.table(
        f"Ledger of {profile_id}",
        ["Created", "Program", "Points", "Reason", "Session", "Starts", "Expires"],
        rows,
    )


Points = Annotated[int, typer.Option("--points", help="How many points (at least 1).")]
Reason = Annotated[str, typer.Option("--reason", help="Why: the ledger entry's name.")]
RequiredProgram = Annotated[str, typer.Option("--program", help="The loyalty program.")]


def _adjust(
    ctx: typer.Context,
    profile_id: str,
    program: str,
    points: int,
    reason: str,
    deduct: bool,
    as_json: bool,
) -> None:
    ws = workspace(ctx)
    entry, after = service.adjust_points(ws, profile_id, program, points, reason, deduct=deduct)
    if profile_id in ws.new_customers:  # a mistyped id would otherwise make a customer silently
        render.note(f"note: {profile_id} was not a customer yet: the profile is created")
    if as_json:  # the transaction, and the program's balances after it
        render.print_json(
            {**talon.transaction(entry, ws.talon_ids(), ws.catalog), **talon.balance(after)}
        )
        return
    sign = "-" if deduct else "+"
    render.line(
        f"{sign}{points} points for {profile_id} in {program} ({reason}); "
        f"now {after.current} current, {after.pending} pending"
    )


@app.command("add")
@guarded
def add(
    ctx: typer.Context,
    profile_id: ProfileId,
    program: RequiredProgram,
    points: Points,
    reason: Reason,
    as_json: Json = False,
) -> None:
    """Add points by hand (the program's pending and validity apply)."""
    _adjust(ctx, profile_id, program, points, reason, False, as_json)


@app.command("deduct")
@guarded
def deduct(
    ctx: typer.Context,
    profile_id: ProfileId,
    program: RequiredProgram,
    points: Points,
    reason: Reason,
    as_json: Json = False,
) -> None:
    """Deduct points by hand: the active points that expire soonest are spent first. A deduction
    larger than the current balance is refused (exit 1)."""
    _adjust(ctx, profile_id, program, points, reason, True, as_json)
