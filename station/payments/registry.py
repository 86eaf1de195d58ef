"""Tender method -> its provider, as configured (``[payments] methods``): one
provider object per process and method, created on first use."""
from __future__ import annotations

import threading

from station.payments.airtel import Airtel
from station.payments.card_gateway import CardGateway
from station.payments.mpesa import Mpesa
from station.payments.provider import Provider
from station.payments.simple import Cash, Manual


def kind_of(cfg, method: str) -> str:
    kinds = cfg.get("payments.methods")
    if method in kinds:
        return kinds[method]
    return "cash" if method == "cash" else "manual"


KINDS = {"cash": Cash, "manual": Manual, "mpesa": Mpesa, "airtel": Airtel, "card_gateway": CardGateway}


def _build(cfg, method: str) -> Provider:
    return KINDS[kind_of(cfg, method)](cfg, method)


_LOCK = threading.Lock()


def provider_for(ctx, method: str) -> Provider:
    """The provider of tender ``method`` here (one per process and method)."""
    with _LOCK:
        cache = ctx.extras.setdefault("payments.providers", {})
        p = cache.get(method)
        if p is None:
            p = cache[method] = _build(ctx.config, method)
        return p


def provider_of_kind(ctx, kind: str) -> Provider | None:
    """A provider of ``kind`` (for callbacks, which name the provider, not the method)."""
    for method, k in ctx.config.get("payments.methods").items():
        if k == kind:
            return provider_for(ctx, method)
    return None


WAITING_KINDS = ("mpesa", "airtel", "card_gateway")


def waits(cfg, method: str) -> bool:
    """Tender ``method`` finishes elsewhere (a pending payment, a countdown)."""
    return kind_of(cfg, method) in WAITING_KINDS


def waiting_methods(cfg) -> list[str]:
    """Tender methods whose payment finishes elsewhere (a pending payment)."""
    return [m for m in cfg.cash.tender_methods if waits(cfg, m)]


def close_all(ctx) -> None:
    for p in ctx.extras.pop("payments.providers", {}).values():
        p.close()
