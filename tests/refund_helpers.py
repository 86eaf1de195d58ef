"""Shared helpers for the refund tests: ring up and pay a sale, get a manager's approval."""
from __future__ import annotations

import pyotp

from data import db as dbmod
from data.models import User
from station import authority, sale, tender
from station.authority import encrypt_secret
from station.tender import Payment


def sell(ctx, user, codes, payments=None, *, discount_bp: int = 0):
    """Ring up ``codes`` (``N*CODE`` works), give the ticket discount, pay with
    ``payments`` (``fn(start) -> [Payment]``; default: cash, exact); the SaleResult."""
    for c in codes:
        sale.scan(ctx, user, c)
    if discount_bp:
        sale.discount_ticket(ctx, user, discount_bp)
    st = tender.begin_tender(ctx, user)
    pay = payments(st) if payments else [Payment("cash", st.cash_due)]
    return tender.complete_sale(ctx, user, st.idem_key, pay)


def approve(ctx, requester, approver, pin: str, exc, reason: str = "test"):
    """A manager's approval at this terminal (PIN + a fresh TOTP code) for what
    ``exc`` (NeedsApproval) asked."""
    secret = pyotp.random_base32()
    with dbmod.write():
        User.update(totp_secret=encrypt_secret(ctx, secret), totp_last_step=None).where(
            User.id == approver.id).execute()
    return authority.approve(ctx, requester, approver.name, pin, pyotp.TOTP(secret).now(), exc.action,
                             amount=exc.amount, ref=exc.ref, reason=reason)


def grant(ctx, approver, pin: str, request_id: int):
    """A manager grants a waiting approval request from their own terminal (PIN +
    a fresh TOTP code)."""
    secret = pyotp.random_base32()
    with dbmod.write():
        User.update(totp_secret=encrypt_secret(ctx, secret), totp_last_step=None).where(
            User.id == approver.id).execute()
    return authority.grant_request(ctx, approver.name, pin, pyotp.TOTP(secret).now(), request_id)
