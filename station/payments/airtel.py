"""Airtel Money collections (USSD push) through Airtel Africa's open API.

* token: ``POST /auth/oauth2/token`` JSON {client_id, client_secret, grant_type:
  client_credentials} -> {access_token, expires_in, token_type}; kept until shortly
  before it expires; a 401 drops it and the request goes once more.
* push: ``POST /merchant/v1/payments/`` (headers X-Country, X-Currency) with
  {reference, subscriber {country, currency, msisdn (no country code)},
  transaction {amount, country, currency, id}}. ``transaction.id`` is OUR
  reference: Airtel refuses a second request with the same id, and every later
  question names the payment by it.
* result: the callback {"transaction": {id, message, status_code TS | TF,
  airtel_money_id}} (with "hash" = base64 HMAC-SHA256 over the transaction object
  when callback authentication is on: ``airtel.callback_key``), or
  ``GET /standard/v1/payments/{id}`` -> data.transaction.status TS (paid), TF
  (failed), TIP / TA (still open).
* refund: ``POST /standard/v1/payments/refund`` {"transaction": {"airtel_money_id"}}
  (the whole payment).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

from station import money
from station.errors import InvalidInput
from station.payments.provider import (
    FAILED, PAID, PENDING, REFUNDED, Answer, BadSignature, Callback, Http, Malformed, NotSupported, Provider,
    ProviderError, Refused, Request, TokenCache, Uncertain, json_body,
)


def callback_hash(key: str, transaction: dict) -> str:
    body = json.dumps(transaction, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return base64.b64encode(hmac.new(key.encode(), body.encode(), hashlib.sha256).digest()).decode()


class Airtel(Provider):
    kind = "airtel"
    needs_phone = True
    can_refund = True
    label = "Airtel Money"

    def __init__(self, cfg, method: str):
        super().__init__(cfg, method)
        self.c = cfg.airtel
        self.http = Http(self.c.base_url, cfg.get("payments.http_timeout"), "Airtel Money")
        self.tokens = TokenCache(self._fetch_token)

    def _fetch_token(self):
        if not (self.c.client_id and self.c.client_secret):
            raise Refused("Airtel Money is not configured (airtel.client_id / client_secret): nothing was charged")
        r = self.http.request("POST", "/auth/oauth2/token", creates=False,
                              json={"client_id": self.c.client_id, "client_secret": self.c.client_secret,
                                    "grant_type": "client_credentials"})
        data = json_body(r.text)
        if r.status_code != 200 or not isinstance(data, dict) or not data.get("access_token"):
            raise Refused(f"Airtel Money refused our credentials (HTTP {r.status_code}): nothing was charged")
        try:
            ttl = float(data.get("expires_in", 180))
        except (TypeError, ValueError):
            ttl = 180.0
        return data["access_token"], ttl

    def _call(self, method: str, path: str, *, creates: bool, body: dict | None = None):
        for attempt in (1, 2):
            token = self.tokens.get()
            r = self.http.request(method, path, creates=creates, json=body,
                                  headers={"Authorization": f"Bearer {token}", "Accept": "*/*",
                                           "X-Country": self.c.country, "X-Currency": self.c.currency})
            if r.status_code == 401 and attempt == 1:
                self.tokens.drop(token)
                continue
            return r, json_body(r.text)
        return r, json_body(r.text)

    def _whole(self, amount: int) -> int:
        return amount // 10 ** self.minor_units

    def check_amount(self, amount: int) -> None:
        if amount % 10 ** self.minor_units:
            f = money.format_amount(amount, minor_units=self.minor_units)
            raise InvalidInput(f"Airtel Money takes whole shillings: {f} cannot be sent")

    @staticmethod
    def _status(data) -> dict:
        return (data or {}).get("status") or {} if isinstance(data, dict) else {}

    @staticmethod
    def _txn(data) -> dict:
        if not isinstance(data, dict):
            return {}
        d = data.get("data")
        t = d.get("transaction") if isinstance(d, dict) else None
        return t if isinstance(t, dict) else {}

    def start(self, req: Request) -> Answer:
        self.check_amount(req.amount)
        body = {
            "reference": (req.label or req.ref)[:64],
            "subscriber": {"country": self.c.country, "currency": self.c.currency, "msisdn": req.phone[3:]},
            "transaction": {"amount": self._whole(req.amount), "country": self.c.country,
                            "currency": self.c.currency, "id": req.ref},
        }
        r, data = self._call("POST", "/merchant/v1/payments/", creates=True, body=body)
        st = self._status(data)
        if not isinstance(data, dict):
            if r.status_code >= 500 or r.status_code == 200:
                raise Uncertain(f"Airtel Money's answer could not be read (HTTP {r.status_code}): "
                                "the prompt may still reach the customer")
            raise Refused(f"Airtel Money refused the request (HTTP {r.status_code})", str(r.status_code))
        if r.status_code == 200 and st.get("success") is True:
            return Answer(PENDING, provider_ref=req.ref, message="prompt sent to the customer's phone", body=r.text)
        if r.status_code == 200 and "success" not in st:
            raise Uncertain("Airtel Money's answer could not be read: the prompt may still reach the customer")
        raise Refused(f"Airtel Money refused the payment: {st.get('message') or f'HTTP {r.status_code}'}",
                      str(st.get("result_code") or r.status_code))

    def status(self, p) -> Answer:
        r, data = self._call("GET", f"/standard/v1/payments/{p.ref}", creates=False)
        t = self._txn(data)
        code = str(t.get("status") or "")
        if r.status_code != 200 or not code:
            raise ProviderError(f"Airtel Money could not tell the status (HTTP {r.status_code}"
                                f"{': ' + str(self._status(data).get('message')) if self._status(data) else ''})")
        if code == "TS":
            return Answer(PAID, provider_ref=p.ref, receipt=str(t.get("airtel_money_id") or "") or None,
                          paid_amount=p.amount, result_code=code, message="paid by Airtel Money", body=r.text)
        if code == "TF":
            return Answer(FAILED, provider_ref=p.ref, result_code=code,
                          message=f"Airtel Money: {t.get('message') or 'not paid'}", body=r.text)
        return Answer(PENDING, provider_ref=p.ref, result_code=code, message="waiting for the customer's phone",
                      body=r.text)

    def refund(self, p, amount: int, refund_ref: str) -> Answer:
        if amount != p.paid_amount:
            raise NotSupported("Airtel Money refunds a whole payment only: give a part back in cash")
        if not p.receipt:
            raise NotSupported("no Airtel Money transaction id is known for this payment: reconcile it first")
        r, data = self._call("POST", "/standard/v1/payments/refund", creates=True,
                             body={"transaction": {"airtel_money_id": p.receipt}})
        t = self._txn(data)
        if r.status_code == 200 and str(t.get("status", "")).upper() == "SUCCESS":
            return Answer(REFUNDED, provider_ref=str(t.get("airtel_money_id") or p.receipt),
                          message="refunded by Airtel Money", body=r.text)
        if not isinstance(data, dict):
            raise Uncertain(f"Airtel Money's answer to the refund could not be read (HTTP {r.status_code})")
        raise Refused(f"Airtel Money refused the refund: {self._status(data).get('message') or r.status_code}")

    def parse_callback(self, path: str, query: dict, headers: dict, body: bytes) -> Callback:
        data = json_body(body.decode("utf-8", "replace"))
        if not isinstance(data, dict) or not isinstance(data.get("transaction"), dict):
            raise Malformed("no transaction object")
        t = data["transaction"]
        ref, code = t.get("id"), t.get("status_code")
        if not isinstance(ref, str) or not ref or code not in ("TS", "TF"):
            raise Malformed("no transaction.id, or status_code is not TS / TF")
        signed = None
        if self.c.callback_key:
            given = data.get("hash")
            if not isinstance(given, str) or not hmac.compare_digest(given, callback_hash(self.c.callback_key, t)):
                raise BadSignature("the callback hash does not match")
            signed = True
        paid = code == "TS"
        return Callback("payment", PAID if paid else FAILED, provider_ref=ref, ref=ref,
                        receipt=str(t.get("airtel_money_id") or "") or None, result_code=code,
                        message="paid by Airtel Money" if paid else f"Airtel Money: {t.get('message') or 'not paid'}",
                        signature_ok=signed, reply={"status": "ok"})

    def close(self) -> None:
        self.http.close()
