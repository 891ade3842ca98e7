#!/usr/bin/env bash
# The seed tutorial's story in plain shell: a customer registers and gets a referral code, a friend
# closes a session with it, the advocate gets 100 points and the friend 50.
# Uses $REFCAMP_DB if set (point it at a scratch file to keep your own state clean).
set -euo pipefail

refcamp campaign activate medium-referral

# The advocate registers; -q prints only the created referral code.
CODE=$(refcamp profile update NEWCUSTOMER -q)
if [ -z "$CODE" ]; then
    # refcamp said why on stderr (NEWCUSTOMER was registered before: a code comes only once).
    echo "No referral code for NEWCUSTOMER, so the story stops here; point REFCAMP_DB at a fresh" \
        "file to tell it again." >&2
    exit 1
fi
echo "NEWCUSTOMER's referral code: $CODE"

# A friend places an order carrying the code.
refcamp session close --profile FRIEND1 --referral "$CODE"

refcamp loyalty balance NEWCUSTOMER
refcamp loyalty balance FRIEND1
