"""Kenyan mobile numbers as a cashier types them -> the MSISDN providers want.

Accepted: 0712 345 678, 0112345678, 712345678, 254712345678, +254 712 345 678,
00254712345678, +254 (0)712 345678; spaces, dashes, dots and brackets are ignored.
The result is 12 digits, ``2547XXXXXXXX`` or ``2541XXXXXXXX``. Anything else is one
InvalidInput sentence saying what is wrong.
"""
from __future__ import annotations

import re

from station.errors import InvalidInput

_SEPARATORS = re.compile(r"[\s\-.()/]")
EXAMPLE = "e.g. 0712 345 678"


def normalise(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput(f"type the customer's phone number ({EXAMPLE})")
    raw = text.strip()
    s = _SEPARATORS.sub("", raw)
    if s.startswith("+"):
        s = "00" + s[1:]
    if not s.isdigit():
        raise InvalidInput(f"'{raw}' is not a phone number: digits only ({EXAMPLE})")
    if s.startswith("00"):
        if not s.startswith("00254"):
            raise InvalidInput(f"'{raw}' is not a Kenyan number: mobile money here takes +254 numbers")
        s = s[2:]
    if s.startswith("2540"):          # +254 (0)712 ...
        s = "254" + s[4:]
    if s.startswith("254"):
        national = s[3:]
    elif s.startswith("0"):
        national = s[1:]
    else:
        national = s
    if len(national) != 9:
        short = len(national) < 9
        raise InvalidInput(f"'{raw}' is too {'short' if short else 'long'} for a Kenyan mobile number "
                           f"(10 digits: {EXAMPLE})")
    if national[0] not in "71":
        raise InvalidInput(f"'{raw}' is not a mobile number: Kenyan mobile numbers start 07 or 01")
    return "254" + national


def national(msisdn: str) -> str:
    """2547XXXXXXXX -> 7XXXXXXXX (Airtel wants the number without the country code)."""
    return msisdn[3:] if msisdn.startswith("254") else msisdn


def display(msisdn: str) -> str:
    """2547XXXXXXXX -> 0712 345 678, as the cashier reads it back."""
    if len(msisdn) == 12 and msisdn.startswith("254"):
        n = "0" + msisdn[3:]
        return f"{n[:4]} {n[4:7]} {n[7:]}"
    return msisdn


def masked(msisdn: str) -> str:
    """For lists and logs: 0712 *** 678."""
    d = display(msisdn)
    return d[:4] + " *** " + d[-3:] if len(d) == 12 else d
