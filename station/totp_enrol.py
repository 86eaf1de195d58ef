"""TOTP enrolment: a new secret, its provisioning URI and QR code, and saving it
(encrypted with the key file) only once the first code from the authenticator
checks out.

``station user totp NAME`` (station/cli/authority.py) is the interactive front;
:func:`enrol_known_secret` is the hook the demo store and tests use.
"""
from __future__ import annotations

import io
import time

import pyotp

from data import db as dbmod
from data.models import User
from station import auth, authority, journal
from station.errors import AuthFailed, InvalidInput, NotFound

ISSUER = "Station"

#: the demo store's managers share this well-known secret (demo only!)
DEMO_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def new_secret() -> str:
    return pyotp.random_base32()


def validate_secret(secret: str) -> str:
    s = (secret or "").strip().replace(" ", "").upper()
    try:
        if len(s) < 16:
            raise ValueError
        pyotp.TOTP(s).now()
    except Exception:  # binascii.Error, ValueError
        raise InvalidInput("a TOTP secret is at least 16 base32 characters (A-Z, 2-7)") from None
    return s


def provisioning_uri(ctx, name: str, secret: str) -> str:
    issuer = (ctx.config.store.name.strip() if ctx is not None else "") or ISSUER
    return pyotp.TOTP(secret, interval=authority.TOTP_INTERVAL).provisioning_uri(name=name, issuer_name=issuer)


def qr_text(uri: str) -> str:
    """The QR code of ``uri`` drawn with half-block characters (two modules per
    character cell, so it fits a normal terminal), with its quiet zone."""
    import qrcode
    qr = qrcode.QRCode(border=2, error_correction=qrcode.constants.ERROR_CORRECT_L)
    qr.add_data(uri)
    qr.make(fit=True)
    m = qr.get_matrix()  # True = dark module, border included
    if len(m) % 2:
        m = m + [[False] * len(m[0])]
    # dark modules drawn as spaces on a light background would need colours; draw
    # light as blocks instead (works on dark terminals, the common case) and dark as space
    chars = {(False, False): "\u2588", (False, True): "\u2580", (True, False): "\u2584", (True, True): " "}
    lines = []
    for y in range(0, len(m), 2):
        lines.append("".join(chars[(m[y][x], m[y + 1][x])] for x in range(len(m[0]))))
    return "\n".join(lines)


def qr_ascii(uri: str) -> str:
    """Plain-ASCII fallback (two characters per module), for terminals without
    block glyphs: '##' dark, '  ' light."""
    import qrcode
    qr = qrcode.QRCode(border=2)
    qr.add_data(uri)
    qr.make(fit=True)
    out = io.StringIO()
    for row in qr.get_matrix():
        out.write("".join("##" if c else "  " for c in row) + "\n")
    return out.getvalue()


def _user(name: str) -> User:
    u = User.get_or_none(User.name == (name or "").strip())
    if u is None:
        raise NotFound(f"no user named {name}")
    return u


def check_first_code(secret: str, code: str, *, now: float | None = None) -> int:
    """The time step the first code belongs to (current step or one either
    side); AuthFailed if it does not match. Nothing is stored."""
    code = (code or "").strip()
    if not (code.isdigit() and len(code) == 6):
        raise AuthFailed("a TOTP code is 6 digits")
    totp = pyotp.TOTP(secret, interval=authority.TOTP_INTERVAL)
    t = time.time() if now is None else now
    for delta in (0, -1, 1):
        s = int(t // authority.TOTP_INTERVAL) + delta
        if totp.verify(code, for_time=s * authority.TOTP_INTERVAL, valid_window=0):
            return s
    raise AuthFailed("that code does not match the new secret: check the phone's clock and try again")


def save_secret(ctx, actor, name: str, secret: str, *, first_step: int | None = None) -> User:
    """Store ``secret`` for ``name`` encrypted with the key file; the first
    code's step counts as used (it cannot be replayed for an approval)."""
    auth.require_role_action(actor, "user.manage")
    secret = validate_secret(secret)
    token = authority.encrypt_secret(ctx, secret)
    with dbmod.write():
        u = dbmod.locked(User.select().where(User.name == (name or "").strip())).get_or_none()
        if u is None:
            raise NotFound(f"no user named {name}")
        User.update(totp_secret=token, totp_last_step=first_step).where(User.id == u.id).execute()
        journal.append("user.totp_enrolled", terminal=ctx.terminal,
                       user=actor.name if actor is not None else "cli", ref=u.name)
    return User.get_by_id(u.id)


def enrol(ctx, actor, name: str, secret: str, code: str, *, now: float | None = None) -> User:
    """Check the first code against ``secret`` then save it (nothing is saved
    when the code is wrong)."""
    _user(name)
    secret = validate_secret(secret)
    step = check_first_code(secret, code, now=now)
    return save_secret(ctx, actor, name, secret, first_step=step)


def enrol_known_secret(ctx, name: str, secret: str = DEMO_SECRET) -> User:
    """Demo/test hook: give ``name`` a known secret without the first-code step."""
    return save_secret(ctx, None, name, secret)
