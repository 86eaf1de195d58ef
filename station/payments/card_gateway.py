"""A generic card gateway (a PIN pad driven by a payment service) with signed callbacks.

The shape (what a gateway adapter must speak; most semi-integrated gateways are
one small mapping away from it):

* ``POST /v1/payments`` {reference, amount (minor units), currency, terminal},
  headers ``Authorization: Bearer <api_key>`` and ``Idempotency-Key: <reference>``
  (the same key twice is the same payment) -> {id, status: pending | approved |
  declined | cancelled, amount, auth_code, message}
* ``GET /v1/payments?reference=R`` -> the payment, or 404 when it never arrived
  (so a request whose answer was lost is settled by asking: found or not)
* ``POST /v1/payments/{id}/cancel`` -> cancelled, or 409 when it is already approved
* ``POST /v1/payments/{id}/refunds`` {amount, reference} (Idempotency-Key) ->
  {status: refunded}; part of a payment may be refunded
* callback ``POST <callback_url>/card/callback`` with the payment as JSON and
  ``X-Signature: t=<unix time>,v1=<hex HMAC-SHA256(webhook_secret, "<t>." + body)>``;
  refused when the signature does not check or ``t`` is older than
  ``card_gateway.tolerance_seconds`` (a replayed callback).
"""
from __future__ import annotations

import hashlib
import hmac
import time

from station.payments.provider import (
    FAILED, PAID, PENDING, REFUNDED, Answer, BadSignature, Callback, Http, Malformed, Provider, ProviderError,
    Refused, Request, Uncertain, json_body,
)

STATES = {"pending": PENDING, "approved": PAID, "declined": FAILED, "cancelled": FAILED}


def signature(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, t: int | None = None) -> str:
    t = int(time.time()) if t is None else t
    return f"t={t},v1={signature(secret, t, body)}"


class CardGateway(Provider):
    kind = "card_gateway"
    can_cancel = True
    can_refund = True
    partial_refund = True
    label = "card"

    def __init__(self, cfg, method: str):
        super().__init__(cfg, method)
        self.c = cfg.card_gateway
        self.currency = cfg.store.currency
        self.http = Http(self.c.base_url, cfg.get("payments.http_timeout"), "the card gateway")

    def _headers(self, key: str | None = None) -> dict:
        if not self.c.api_key:
            raise Refused("the card gateway is not configured (card_gateway.api_key): nothing was charged")
        h = {"Authorization": f"Bearer {self.c.api_key}"}
        if key:
            h["Idempotency-Key"] = key
        return h

    def _answer(self, r, data, ref: str | None = None) -> Answer:
        state = STATES.get(str(data.get("status")))
        if state is None:
            raise ProviderError(f"the card gateway answered status {data.get('status')!r}")
        msg = str(data.get("message") or {PAID: "approved", FAILED: f"card {data.get('status')}",
                                          PENDING: "present the card on the PIN pad"}[state])
        amount = data.get("amount")
        return Answer(state, provider_ref=str(data.get("id") or "") or ref, receipt=str(data.get("auth_code") or "") or None,
                      paid_amount=amount if state == PAID and isinstance(amount, int) else None,
                      result_code=str(data.get("status")), message=msg, body=r.text)

    def start(self, req: Request) -> Answer:
        r = self.http.request("POST", "/v1/payments", creates=True, headers=self._headers(req.ref),
                              json={"reference": req.ref, "amount": req.amount, "currency": req.currency or self.currency,
                                    "terminal": req.terminal})
        data = json_body(r.text)
        if r.status_code in (200, 201) and isinstance(data, dict):
            return self._answer(r, data)
        if not isinstance(data, dict) and (r.status_code >= 500 or r.status_code in (200, 201)):
            raise Uncertain(f"the card gateway's answer could not be read (HTTP {r.status_code})")
        msg = data.get("message") if isinstance(data, dict) else None
        raise Refused(f"the card gateway refused the payment: {msg or f'HTTP {r.status_code}'}", str(r.status_code))

    def status(self, p) -> Answer:
        r = self.http.request("GET", "/v1/payments", creates=False, headers=self._headers(),
                              params={"reference": p.ref})
        data = json_body(r.text)
        if r.status_code == 404:
            return Answer(FAILED, result_code="not_found", message="the card gateway never received this payment",
                          body=r.text)
        if r.status_code != 200 or not isinstance(data, dict):
            raise ProviderError(f"the card gateway could not tell the status (HTTP {r.status_code})")
        return self._answer(r, data)

    def cancel(self, p) -> Answer:
        if not p.provider_ref:
            return self.status(p)
        r = self.http.request("POST", f"/v1/payments/{p.provider_ref}/cancel", creates=False, headers=self._headers())
        data = json_body(r.text)
        if r.status_code in (200, 409) and isinstance(data, dict):
            return self._answer(r, data)
        raise ProviderError(f"the card gateway did not cancel (HTTP {r.status_code})")

    def refund(self, p, amount: int, refund_ref: str) -> Answer:
        r = self.http.request("POST", f"/v1/payments/{p.provider_ref}/refunds", creates=True,
                              headers=self._headers(refund_ref), json={"amount": amount, "reference": refund_ref})
        data = json_body(r.text)
        if r.status_code in (200, 201) and isinstance(data, dict) and data.get("status") == "refunded":
            return Answer(REFUNDED, provider_ref=str(data.get("id") or "") or None, message="refunded to the card",
                          body=r.text)
        if not isinstance(data, dict):
            raise Uncertain(f"the card gateway's answer to the refund could not be read (HTTP {r.status_code})")
        raise Refused(f"the card gateway refused the refund: {data.get('message') or r.status_code}")

    def parse_callback(self, path: str, query: dict, headers: dict, body: bytes) -> Callback:
        header = headers.get("x-signature", "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        t, given = parts.get("t", ""), parts.get("v1", "")
        if not self.c.webhook_secret:
            raise BadSignature("card_gateway.webhook_secret is not set: signed callbacks cannot be checked")
        if not t.isdigit() or not given:
            raise BadSignature("no X-Signature t=...,v1=... header")
        if not hmac.compare_digest(given, signature(self.c.webhook_secret, int(t), body)):
            raise BadSignature("the signature does not match the body")
        if abs(time.time() - int(t)) > self.c.tolerance_seconds:
            raise BadSignature(f"the signature is {int(time.time()) - int(t)} s old (a replayed callback?)")
        data = json_body(body.decode("utf-8", "replace"))
        if not isinstance(data, dict):
            raise Malformed("the body is not JSON")
        state = STATES.get(str(data.get("status")))
        ref = data.get("reference")
        if state not in (PAID, FAILED) or not isinstance(ref, str) or not ref:
            raise Malformed("no reference, or status is not approved / declined / cancelled")
        amount = data.get("amount")
        if state == PAID and (not isinstance(amount, int) or isinstance(amount, bool)):
            raise Malformed("an approval without an amount in minor units")
        return Callback("payment", state, provider_ref=str(data.get("id") or "") or None, ref=ref,
                        receipt=str(data.get("auth_code") or "") or None,
                        paid_amount=amount if state == PAID else None, result_code=str(data.get("status")),
                        message=str(data.get("message") or ("approved" if state == PAID else f"card {data.get('status')}")),
                        signature_ok=True, reply={"received": True})

    def close(self) -> None:
        self.http.close()
