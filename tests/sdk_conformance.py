"""Check refcamp's JSON bodies against Talon.One's JavaScript SDK, talon_one@5.0.1-rc (npm).

A body conforms when the SDK reads it whole: its `Model.constructFromObject(body)` runs without
throwing, and nothing in the body is dropped, missing or of the wrong kind. The generated SDK
models have no validateJSON, so tests/sdk/conformance.js reads the facts from the SDK's own model
sources (node_modules/talon_one/dist/model/*.js) and walks the body against them:

- required fields are the model constructor's parameters (`function Effect(campaignId, ...)`);
  a required field that is absent or null is reported (a null optional field is accepted, as the
  SDK passes it through);
- field types are the `convertToType(data['x'], 'Number' | 'String' | 'Date' | 'Boolean' |
  Object | [T] | {'String': T})` and `Model.constructFromObject` lines: strings, booleans,
  numbers, JSON objects, arrays, maps and nested models must be what the SDK expects (the SDK
  would otherwise coerce them: String(5), Boolean("false") is true, parseFloat("x") is NaN);
- dates must be RFC 3339 date-time strings that Date.parse reads;
- enum values must be in the model's `XEnum` object of the field's `@member` type;
- a key the model does not declare is reported as lost (constructFromObject drops it), unless it
  is a top-level key the caller lists in `extras`;
- Effect.props is a bare Object in the SDK: it is checked against `<EffectType>EffectProps`
  (addLoyaltyPoints -> AddLoyaltyPointsEffectProps), which must exist.

What the JS cannot tell comes from Talon.One's OpenAPI document (see conformance.js): which
Number fields are integers, and that the rejectionReason of rejectCoupon / rejectReferral props
takes the values of CouponRejectionReason / ReferralRejectionReason.ReasonEnum.

Problems are strings led by a JSON pointer: `/effects/0/campaignId: expected integer, got string
"x"`. One node process checks a whole batch: pass every body of a test to one `problems` call.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

SDK_DIR = Path(__file__).resolve().parent / "sdk"
SDK_VERSION = "5.0.1-rc"
_SCRIPT = SDK_DIR / "conformance.js"
_INSTALLED = SDK_DIR / "node_modules" / "talon_one" / "package.json"


def _installed() -> bool:
    try:
        return json.loads(_INSTALLED.read_text())["version"] == SDK_VERSION
    except (OSError, ValueError, KeyError):
        return False


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(
            f"`{name}` is not on PATH: the Talon.One SDK conformance checks need Node.js 18+ "
            "with npm (https://nodejs.org)"
        )
    return found


def ensure_sdk() -> Path:
    """Install tests/sdk/node_modules with `npm ci` unless the SDK is already there; return it.

    A file lock keeps parallel test workers from installing at the same time. npm runs with the
    account's own home, so its user config and cache apply even under a test's temporary HOME.
    """
    if _installed():
        return SDK_DIR
    npm = _tool("npm")
    _tool("node")
    key = hashlib.sha256(str(SDK_DIR).encode()).hexdigest()[:16]
    lock_path = Path(tempfile.gettempdir()) / f"refcamp-sdk-{key}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed():
            env = {**os.environ, "HOME": pwd.getpwuid(os.getuid()).pw_dir}
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=SDK_DIR,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            if done.returncode != 0 or not _installed():
                raise RuntimeError(f"`npm ci` in {SDK_DIR} failed:\n{done.stderr[-4000:]}")
    return SDK_DIR


Item = tuple[str, Any] | tuple[str, Any, Iterable[str]] | dict[str, Any]


def _item(item: Item) -> dict[str, Any]:
    if isinstance(item, dict):
        return item
    model, body, *rest = item
    return {"model": model, "body": body, "extras": list(rest[0]) if rest else []}


def problems(items: Sequence[Item]) -> list[list[str]]:
    """Check (model, body[, extras]) tuples or {"model", "body", "extras"?} dicts in one node run.

    Returns one list of problem strings per item, in order; an empty list means it conforms.
    """
    if not items:
        return []
    ensure_sdk()
    done = subprocess.run(
        [_tool("node"), str(_SCRIPT)],
        input=json.dumps([_item(item) for item in items]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode == 2:
        raise ValueError(done.stderr.strip())
    if done.returncode != 0:
        raise RuntimeError(f"conformance.js exited {done.returncode}:\n{done.stderr}")
    found: list[list[str]] = json.loads(done.stdout)
    if len(found) != len(items):
        raise RuntimeError(f"conformance.js answered {len(found)} items for {len(items)}")
    return found


def assert_conforms(model: str, body: Any, extras: Iterable[str] = ()) -> None:
    """Fail with every problem found when `body` is not a conforming SDK `model`."""
    (found,) = problems([(model, body, extras)])
    if found:
        listing = "\n  ".join(found)
        raise AssertionError(
            f"{model} body does not conform to talon_one@{SDK_VERSION}:\n  {listing}"
        )
