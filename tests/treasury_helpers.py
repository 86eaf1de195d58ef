"""Shared set-up of the treasury tests: people with TOTP, funded funds, codes."""
from __future__ import annotations

import itertools

import pyotp

from data.models import User
from station import totp_enrol
from station.treasury import funds, payments

SECRETS = {"theo": "KRSXG5CTMVRXEZLUKRSXG5CTMVRXEZLU", "mia": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
           "ada": "MFRGGZDFMZTWQ2LKMFRGGZDFMZTWQ2LK"}
#: a fixed instant per code asked for, one TOTP step (30 s) apart: never a replay
_steps = itertools.count(0)
T0 = 1_900_000_000


def enrol(ctx) -> None:
    for name, secret in SECRETS.items():
        totp_enrol.enrol_known_secret(ctx, name, secret)


def code(name: str) -> tuple[str, float]:
    """A fresh (code, now) pair for ``name``: each one step later than the last."""
    t = T0 + 30 * next(_steps)
    return pyotp.TOTP(SECRETS[name]).at(t), t


def user(name: str) -> User:
    return User.get(User.name == name)


def fund_up(ctx, name: str, amount: int, by: str = "ada") -> None:
    funds.opening_balance(ctx, user(by), name, amount)


def paid(ctx, requester: str, executor: str, approver: str, fund: str, amount: int, payee: str = "Acme") -> int:
    """A requisition requested, approved and executed; returns its id."""
    rid = payments.request(ctx, user(requester), fund, amount, payee, "supplies")
    payments.approve(ctx, user(approver), rid)
    c, t = code(executor)
    payments.execute(ctx, user(executor), rid, c, key=payments.new_key(), now=t)
    return rid
