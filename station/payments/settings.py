"""The settings of the payment providers: sections of the one config file.

Credentials are ``secret`` settings: read from the config file or, better, the
environment (``STATION_MPESA_CONSUMER_SECRET`` ...); ``station config show``
prints them as ``***``; they are never written to the database.

This module is plain data (``station.config`` merges it into its SCHEMA and
calls :func:`validate`); it imports nothing of the station.
"""
from __future__ import annotations

import ipaddress
from typing import Any

PROVIDER_KINDS = ("cash", "manual", "mpesa", "airtel", "card_gateway")

SCHEMA: dict[str, dict[str, tuple[str, Any, str]]] = {
    "payments": {
        "methods": ("dict[str]", {}, "tender method -> provider: cash, manual, mpesa, airtel or card_gateway "
                    "(methods not named: cash -> cash, others -> manual, a reference typed by the cashier)"),
        "callback_url": ("str", "", "public base URL the providers call back (the 'station payments serve' "
                         "service, e.g. https://pay.example.com)"),
        "listen": ("str", "127.0.0.1:8480", "address:port 'station payments serve' binds to"),
        "allow_networks": ("list[str]", [], "source networks allowed to call back (CIDR; empty: any)"),
        "wait_seconds": ("int", 120, "how long a till shows the countdown for one payment"),
        "query_after_seconds": ("int", 15, "ask the provider's status API when no callback came after this"),
        "query_every_seconds": ("int", 10, "then ask again this often"),
        "poll_ms": ("int", 300, "how often a waiting till reads its payment from the store"),
        "http_timeout": ("int", 15, "seconds before a provider that does not answer is given up"),
        "reconcile_after_minutes": ("int", 10, "reconcile asks the provider about payments open longer than this"),
    },
    "mpesa": {
        "base_url": ("str", "https://sandbox.safaricom.co.ke", "Daraja base URL (sandbox or https://api.safaricom.co.ke)"),
        "consumer_key": ("secret", "", "Daraja app consumer key (better: STATION_MPESA_CONSUMER_KEY)"),
        "consumer_secret": ("secret", "", "Daraja app consumer secret (better: STATION_MPESA_CONSUMER_SECRET)"),
        "shortcode": ("str", "", "BusinessShortCode (paybill, or the store number of a till)"),
        "passkey": ("secret", "", "Lipa na M-Pesa Online passkey (better: STATION_MPESA_PASSKEY)"),
        "transaction_type": ("str", "CustomerPayBillOnline", "CustomerPayBillOnline or CustomerBuyGoodsOnline"),
        "party_b": ("str", "", "PartyB: the till number for Buy Goods (empty: the shortcode)"),
        "account_reference": ("str", "", "AccountReference shown to the customer (empty: the ticket number)"),
        "description": ("str", "Payment", "TransactionDesc (13 characters at most)"),
        "max_amount": ("int", 250000, "largest amount of one STK push, in whole shillings"),
        "initiator": ("str", "", "initiator name for reversals (refunds)"),
        "security_credential": ("secret", "", "encrypted initiator password for reversals "
                                "(better: STATION_MPESA_SECURITY_CREDENTIAL)"),
    },
    "airtel": {
        "base_url": ("str", "https://openapiuat.airtel.africa", "Airtel Money open API base URL"),
        "client_id": ("secret", "", "client id (better: STATION_AIRTEL_CLIENT_ID)"),
        "client_secret": ("secret", "", "client secret (better: STATION_AIRTEL_CLIENT_SECRET)"),
        "country": ("str", "KE", "X-Country"),
        "currency": ("str", "KES", "X-Currency"),
        "callback_key": ("secret", "", "key of the callback hash (empty: callbacks carry no hash)"),
    },
    "card_gateway": {
        "base_url": ("str", "", "card gateway base URL"),
        "api_key": ("secret", "", "API key (better: STATION_CARD_GATEWAY_API_KEY)"),
        "webhook_secret": ("secret", "", "HMAC-SHA256 key of the signed callbacks "
                           "(better: STATION_CARD_GATEWAY_WEBHOOK_SECRET)"),
        "tolerance_seconds": ("int", 300, "a signed callback older than this is refused (replay)"),
    },
}


#: the allowed range of every number above (checked with the rest of the config)
RANGES: dict[str, tuple[int, int]] = {
    "payments.wait_seconds": (10, 3600),
    "payments.query_after_seconds": (1, 3600),
    "payments.query_every_seconds": (1, 3600),
    "payments.poll_ms": (20, 60_000),
    "payments.http_timeout": (1, 120),
    "payments.reconcile_after_minutes": (1, 7 * 24 * 60),
    "mpesa.max_amount": (1, 10 ** 9),
    "card_gateway.tolerance_seconds": (10, 3600),
}

def validate(values: dict, where: str) -> list[str]:
    """Problems with the payment settings (each one sentence), for ConfigError."""
    out = []
    p = values["payments"]
    for method, kind in p["methods"].items():
        if kind not in PROVIDER_KINDS:
            out.append(f"key payments.methods{where}: provider {kind!r} of method {method!r} is not one of "
                       f"{', '.join(PROVIDER_KINDS)}")
        if method == "cash" and kind != "cash":
            out.append(f"key payments.methods{where}: cash is always paid in cash")
        if method not in values["cash"]["tender_methods"]:
            out.append(f"key payments.methods{where}: {method!r} is not in cash.tender_methods")
    for net in p["allow_networks"]:
        try:
            ipaddress.ip_network(net, strict=False)
        except ValueError:
            out.append(f"key payments.allow_networks{where}: {net!r} is not a network (e.g. 196.201.214.0/24)")
    host, _, port = p["listen"].rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        out.append(f"key payments.listen{where} must be address:port, e.g. 0.0.0.0:8480")
    for k in ("wait_seconds", "query_after_seconds", "query_every_seconds", "poll_ms", "http_timeout"):
        if p[k] < 1:
            out.append(f"key payments.{k}{where} must be at least 1")
    if values["mpesa"]["transaction_type"] not in ("CustomerPayBillOnline", "CustomerBuyGoodsOnline"):
        out.append(f"key mpesa.transaction_type{where} must be CustomerPayBillOnline or CustomerBuyGoodsOnline")
    if len(values["mpesa"]["description"]) > 13:
        out.append(f"key mpesa.description{where} is 13 characters at most")
    if len(values["mpesa"]["account_reference"]) > 12:
        out.append(f"key mpesa.account_reference{where} is 12 characters at most")
    return out
