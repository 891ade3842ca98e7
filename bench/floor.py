"""refcamp's floor for replaying the seed workload: the shared floor (../shared/bench/floor.py, a
hand-written Python + sqlite3 loop doing the least a correct engine must do per request) with only
what refcamp must really do for this workload and the shared floor leaves out, each marked
"REQUIRED (x)" below:

  (a) the seed campaign rewards a friend once per campaign (its `[[campaign.limits]]`
      redeemReferral, limit 1, per profile): a close counts the friend's redemptions in the
      campaign first (campaign_id stored on the redemption, indexed by (profile_id, campaign_id));
  (b) a session keeps its latest effects (getCustomerSession returns them, a cancel rolls back
      what they booked): one UPDATE of the session row with the response's effects;
  (c) the ledger is tamper-evident: each entry stores a sha256 chain hash over the previous
      entry's hash for the same (profile, program) and the entry's columns;
  (d) a generated referral code must not collide with an existing one: one keyed lookup first;
  (e) the rows are refcamp's, in refcamp's schema (made by its own migrations, so the two cannot
      drift apart): the columns Talon.One's models return (a ledger entry's campaign, rule,
      dates and reversal; a session's coupons, attributes, costs and identifiers; a
      redemption's kind and rule), the indexes that keep what refcamp's other requests ask of
      these rows a keyed search at any size (campaign-wide limits and budgets, rollbacks,
      reports), and the foreign keys and CHECKs with which the database itself refuses a
      broken row, whichever of refcamp's doors or processes writes it.

Everything else is the shared floor's work, unchanged. refcamp's rate divided by this rate,
measured in the same run, is the replay-efficiency ratio.

    python bench/floor.py DIR N     (writes DIR/floor-*.jsonl and DIR/floor.db; prints JSON)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

ALPHA = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
NOW = "2026-12-01T00:00:00Z"
RULE = "Friend redeems referral code"
CAMPAIGN_LIMIT = 1  # REQUIRED (a): the seed campaign's redeemReferral limit per profile
# REQUIRED (c): refcamp's chain_hash encoding (ASCII compact JSON of the previous hash and the
# entry's columns, in refcamp's order, sha256).
_chain_json = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def schema(db: str) -> None:
    """REQUIRED (e): an empty state file made by refcamp's own migrations (not timed), those of
    the refcamp the benchmark measures."""
    from refcamp.store.db import connect

    connect(Path(db)).close()


def code() -> str:
    b = os.urandom(8)
    s = "".join(ALPHA[x % 32] for x in b)
    return s[:4] + "-" + s[4:]


def run(directory: str | Path, n: int) -> dict[str, float]:
    """Replay N registrations then N closes into DIR/floor.db; requests/s of each and overall."""
    d = str(directory)
    db, regs, sess = f"{d}/floor.db", f"{d}/floor-regs.jsonl", f"{d}/floor-sess.jsonl"
    with open(regs, "w") as f:
        for i in range(n):
            line = {"path": f"/v2/customer_profiles/A{i}", "query": {"runRuleEngine": "true"}}
            f.write(json.dumps({**line, "body": {}}) + "\n")
    for s in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.remove(db + s)
    schema(db)  # REQUIRED (e)
    c = sqlite3.connect(db, isolation_level=None)
    c.execute("pragma journal_mode=wal")
    c.execute("pragma synchronous=normal")
    c.execute("pragma foreign_keys=on")  # REQUIRED (e)
    out = open(os.devnull, "w")  # noqa: SIM115 (the shared floor's sink; closed below)

    def register(pid: str, body: dict) -> dict:
        new = c.execute("select 1 from profiles where id=?", (pid,)).fetchone() is None
        c.execute(
            "insert into profiles(id, attributes, created, updated) values(?,?,?,?) "
            "on conflict(id) do update set updated=excluded.updated",
            (pid, json.dumps(body.get("attributes", {})), NOW, NOW),
        )
        effects = []
        if new:
            k = code()
            # REQUIRED (d): a new code must not collide with an existing one (the shared floor
            # would crash on the primary key); one keyed lookup, a fresh code on a collision.
            while c.execute("select 1 from referrals where code=?", (k,)).fetchone():
                k = code()
            c.execute(
                "insert into referrals(code, campaign_id, advocate_id, friend_id, usage_limit, "
                "usage_counter, start_date, expiry_date, attributes, session_id, created) "
                "values(?,?,?,?,?,?,?,?,?,?,?)",
                (k, "c", pid, None, 0, 0, None, None, "{}", None, NOW),  # REQUIRED (e)
            )
            effects.append({"effectType": "referralCreated", "props": {"value": k}})
        return {"effects": effects}

    def under_limit(pid: str, campaign: str) -> bool:
        # REQUIRED (a): the friend's earlier redemptions in the campaign (limit 1 per profile).
        used = c.execute(
            "select count(*) from redemptions where kind='referral' and campaign_id=? "
            "and rolled_back is null and profile_id=?",
            (campaign, pid),
        ).fetchone()[0]
        return used < CAMPAIGN_LIMIT

    def close(sid: str, body: dict) -> dict:
        cs = body["customerSession"]
        pid = cs["profileId"]
        k = cs.get("referralCode")
        c.execute(
            "insert into profiles(id, attributes, created, updated) values(?,?,?,?) "
            "on conflict(id) do nothing",
            (pid, "{}", NOW, NOW),
        )
        prev = c.execute("select state from sessions where id=?", (sid,)).fetchone()
        cart = json.dumps(cs.get("cartItems", []))
        c.execute(
            "insert into sessions(id, profile_id, state, cart_items, coupon_codes, referral_code, "
            "attributes, additional_costs, identifiers, created, updated) "
            "values(?,?,?,?,?,?,?,?,?,?,?) "
            "on conflict(id) do update set state=excluded.state, updated=excluded.updated",
            # REQUIRED (e): a session's coupons, attributes, costs and identifiers too
            (sid, pid, cs["state"], cart, "[]", k, "{}", "{}", "[]", NOW, NOW),
        )
        effects = []
        if k and (prev is None or prev[0] != "closed"):
            r = c.execute(
                "select advocate_id, usage_limit, usage_counter, campaign_id from referrals "
                "where code=?",
                (k,),
            ).fetchone()
            if r and r[0] != pid and (r[1] == 0 or r[2] < r[1]) and under_limit(pid, r[3]):
                c.execute("update referrals set usage_counter=usage_counter+1 where code=?", (k,))
                c.execute(
                    "insert into redemptions(kind, code, campaign_id, session_id, profile_id, "
                    "rule_index, rule_name, created) values(?,?,?,?,?,?,?,?)",
                    ("referral", k, r[3], sid, pid, 1, RULE, NOW),  # REQUIRED (e): kind, rule
                )
                for who, pts in ((r[0], 100), (pid, 50)):
                    # REQUIRED (e): an entry's campaign, rule, dates and reversal, in refcamp's
                    # column order (the order its chain hash covers them in)
                    row = (str(uuid.UUID(bytes=os.urandom(16))), "w", who, sid, r[3], 1, RULE)
                    row += ("addition", pts, "bonus", NOW, None, None, NOW)
                    # REQUIRED (c): chain to the previous entry of (profile, program).
                    previous = c.execute(
                        "select chain from ledger where profile_id=? and program_id=? "
                        "order by id desc limit 1",
                        (who, "w"),
                    ).fetchone()
                    text = _chain_json((previous[0] if previous else "", *row))
                    chain = hashlib.sha256(text.encode()).hexdigest()
                    c.execute(
                        "insert into ledger(transaction_uuid, program_id, profile_id, session_id, "
                        "campaign_id, rule_index, rule_name, type, amount, name, start_date, "
                        "expiry_date, reverses, created, chain) "
                        "values(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (*row, chain),
                    )
                effects += [
                    {"effectType": "acceptReferral"},
                    {"effectType": "addLoyaltyPoints"},
                    {"effectType": "addLoyaltyPoints"},
                ]
        # REQUIRED (b): the session keeps its latest effects (one UPDATE of its row).
        c.execute("update sessions set effects=? where id=?", (json.dumps(effects), sid))
        return {"effects": effects}

    def replay(path: str) -> tuple[int, float]:
        count = 0
        t = time.perf_counter()
        c.execute("begin immediate")
        with open(path) as f:
            for line in f:
                req = json.loads(line)
                p = req["path"]
                body = req.get("body") or {}
                c.execute("savepoint r")
                if p.startswith("/v2/customer_profiles/"):
                    resp = register(p.rsplit("/", 1)[1], body)
                else:
                    resp = close(p.rsplit("/", 1)[1], body)
                c.execute("release r")
                out.write(json.dumps(resp) + "\n")
                count += 1
                if count % 500 == 0:
                    c.execute("commit")
                    c.execute("begin immediate")
        c.execute("commit")
        return count, time.perf_counter() - t

    try:
        n1, t1 = replay(regs)
        with open(sess, "w") as f:
            for i, (k,) in enumerate(c.execute("select code from referrals order by rowid")):
                cs = {"profileId": f"F{i}", "state": "closed", "referralCode": k}
                cs["cartItems"] = [{"sku": "sku-1", "quantity": 1, "price": 100}]
                line = {"path": f"/v2/customer_sessions/R{i}", "body": {"customerSession": cs}}
                f.write(json.dumps(line) + "\n")
        n2, t2 = replay(sess)
    finally:
        c.close()
        out.close()
    return {"registrations": n1 / t1, "closes": n2 / t2, "overall": (n1 + n2) / (t1 + t2)}


def shared_floor() -> Path | None:
    """The shared floor, ../shared/bench/floor.py beside the main checkout (a worktree's
    ../shared is found through git's common directory), or REFCAMP_SHARED_FLOOR; None when
    absent (CI clones only this repository)."""
    if os.environ.get("REFCAMP_SHARED_FLOOR"):
        path = Path(os.environ["REFCAMP_SHARED_FLOOR"])
        return path if path.is_file() else None
    repo = Path(__file__).resolve().parent.parent
    roots = [repo]
    try:
        common = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        roots.append(Path(common).parent)
    except (OSError, subprocess.CalledProcessError):
        pass
    for root in roots:
        path = root.parent / "shared" / "bench" / "floor.py"
        if path.is_file():
            return path
    return None


def run_shared(path: Path, directory: str | Path, n: int) -> dict[str, float]:
    """The shared floor, unchanged, as a subprocess: its requests/s like `run`'s."""
    result = subprocess.run(
        [sys.executable, str(path), str(directory), str(n)],
        capture_output=True,
        text=True,
        check=True,
    )
    rates = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        "registrations": rates["registrations_per_s"],
        "closes": rates["closes_per_s"],
        "overall": rates["overall_per_s"],
    }


if __name__ == "__main__":
    rates = run(sys.argv[1], int(sys.argv[2]))
    print(
        json.dumps(
            {
                "registrations_per_s": round(rates["registrations"]),
                "closes_per_s": round(rates["closes"]),
                "overall_per_s": round(rates["overall"]),
            }
        )
    )
