"""Providers that settle at once: cash (counted into the drawer by the sale) and
``manual`` methods (card on a stand-alone terminal, voucher ...: the cashier types
the reference). They never write a pending row; refunds of them go through the
drawer or the returns, not through a provider."""
from __future__ import annotations

from station.payments.provider import PAID, Answer, Provider, Request


class Cash(Provider):
    kind = "cash"
    waits = False
    label = "cash"

    def start(self, req: Request) -> Answer:
        return Answer(PAID, paid_amount=req.amount, message="cash")


class Manual(Provider):
    kind = "manual"
    waits = False

    def __init__(self, cfg, method: str):
        super().__init__(cfg, method)
        self.label = method

    def start(self, req: Request) -> Answer:
        return Answer(PAID, paid_amount=req.amount, message=f"{self.method} (reference typed)")
