"""M-Pesa Express (STK push) through Safaricom's Daraja API.

* token: ``GET /oauth/v1/generate?grant_type=client_credentials`` with HTTP Basic
  (consumer key : secret) -> ``{"access_token", "expires_in"}``; kept until shortly
  before it expires; an answer "Invalid Access Token" (404.001.03) drops it and the
  request is sent once more with a fresh one (the refused request charged nothing).
* push: ``POST /mpesa/stkpush/v1/processrequest`` with BusinessShortCode, Password =
  base64(shortcode + passkey + timestamp), Timestamp (YYYYMMDDHHMMSS, Nairobi time),
  TransactionType (CustomerPayBillOnline | CustomerBuyGoodsOnline), Amount (whole
  shillings), PartyA, PartyB, PhoneNumber, CallBackURL, AccountReference,
  TransactionDesc -> MerchantRequestID, CheckoutRequestID, ResponseCode "0".
  The CallBackURL carries our reference (``?ref=``), so even a push whose answer
  was lost is matched when its callback comes.
* result: the callback ``Body.stkCallback`` (ResultCode 0 with CallbackMetadata
  Amount, MpesaReceiptNumber, TransactionDate, PhoneNumber; 1032 cancelled; 1037 no
  answer from the phone; others), or ``POST /mpesa/stkpushquery/v1/query`` when no
  callback comes (errorCode 500.001.1001 while the customer has not answered).
  The callback carries no signature: it is accepted only for a CheckoutRequestID
  we issued, with our amount, from an allowed network (the receiver checks).
* refund: a reversal (``POST /mpesa/reversal/v1/request``, CommandID
  TransactionReversal) of the whole payment; its result comes to ResultURL.
"""
from __future__ import annotations

import base64
import datetime as _dt
from decimal import Decimal, InvalidOperation

from station import money
from station.errors import InvalidInput
from station.payments.provider import (
    FAILED, PAID, PENDING, REFUNDED, REFUNDING, Answer, Callback, Http, Malformed, NotSupported,
    Provider, ProviderError, Refused, Request, TokenCache, Uncertain, json_body,
)

EAT = _dt.timezone(_dt.timedelta(hours=3), "EAT")   # Daraja timestamps are Nairobi time (no DST)
INVALID_TOKEN = ("404.001.03", "400.003.01")
STILL_PROCESSING = "500.001.1001"

#: ResultCode -> what the cashier reads
RESULTS = {
    1032: "the customer cancelled the M-Pesa prompt",
    1037: "no answer from the customer's phone (switched off, out of reach, or the prompt timed out)",
    1: "the customer's M-Pesa balance is too low",
    2001: "the customer entered a wrong M-Pesa PIN",
    1019: "the M-Pesa prompt expired before the customer answered",
    1001: "the customer has another M-Pesa payment under way: try again in a minute",
    1025: "M-Pesa could not send the prompt: try again",
    9999: "M-Pesa could not send the prompt: try again",
    17: "M-Pesa is busy: try again",
    26: "M-Pesa is busy: try again",
}


def timestamp(now: _dt.datetime | None = None) -> str:
    now = now or _dt.datetime.now(_dt.timezone.utc)
    return now.astimezone(EAT).strftime("%Y%m%d%H%M%S")


def password(shortcode: str, passkey: str, ts: str) -> str:
    return base64.b64encode(f"{shortcode}{passkey}{ts}".encode()).decode()


def result_message(code: int, desc: str = "") -> str:
    if code == 0:
        return "paid by M-Pesa"
    return RESULTS.get(code, f"M-Pesa: {desc or 'not paid'} (code {code})")


class Mpesa(Provider):
    kind = "mpesa"
    needs_phone = True
    label = "M-Pesa"

    def __init__(self, cfg, method: str):
        super().__init__(cfg, method)
        self.c = cfg.mpesa
        self.callback_url = cfg.get("payments.callback_url").rstrip("/")
        self.http = Http(self.c.base_url, cfg.get("payments.http_timeout"), "M-Pesa")
        self.tokens = TokenCache(self._fetch_token)
        self.can_refund = bool(self.c.initiator and self.c.security_credential)

    # -- plumbing -------------------------------------------------------------------
    def _fetch_token(self):
        if not (self.c.consumer_key and self.c.consumer_secret):
            raise Refused("M-Pesa is not configured (mpesa.consumer_key / consumer_secret): nothing was charged")
        r = self.http.request("GET", "/oauth/v1/generate", creates=False,
                              params={"grant_type": "client_credentials"},
                              auth=(self.c.consumer_key, self.c.consumer_secret))
        data = json_body(r.text)
        if r.status_code != 200 or not isinstance(data, dict) or not data.get("access_token"):
            raise Refused(f"M-Pesa refused our credentials (HTTP {r.status_code}): nothing was charged")
        try:
            ttl = float(data.get("expires_in", 3599))
        except (TypeError, ValueError):
            ttl = 3599.0
        return data["access_token"], ttl

    def _post(self, path: str, body: dict, *, creates: bool):
        for attempt in (1, 2):
            token = self.tokens.get()
            r = self.http.request("POST", path, creates=creates, json=body,
                                  headers={"Authorization": f"Bearer {token}"})
            data = json_body(r.text)
            code = str(data.get("errorCode", "")) if isinstance(data, dict) else ""
            if (r.status_code == 401 or code in INVALID_TOKEN) and attempt == 1:
                self.tokens.drop(token)          # expired or revoked: the request was refused
                continue
            return r, data
        return r, data

    def _whole(self, amount: int) -> int:
        return amount // 10 ** self.minor_units

    def _minor(self, value) -> int:
        try:
            d = Decimal(str(value)) * 10 ** self.minor_units
        except (InvalidOperation, ValueError):
            raise Malformed(f"Amount {value!r} is not a number") from None
        if d != d.to_integral_value() or d <= 0:
            raise Malformed(f"Amount {value!r} is not an amount")
        return int(d)

    def _fmt(self, amount: int) -> str:
        return money.format_amount(amount, minor_units=self.minor_units)

    def check_amount(self, amount: int) -> None:
        unit = 10 ** self.minor_units
        if amount % unit:
            raise InvalidInput(f"M-Pesa takes whole shillings: {self._fmt(amount)} cannot be sent "
                               f"(send {self._fmt(amount - amount % unit)} and take the rest another way)")
        if self._whole(amount) > self.c.max_amount:
            raise InvalidInput(f"{self._fmt(amount)} is more than one M-Pesa payment may be "
                               f"({self._fmt(self.c.max_amount * unit)}): split it")

    def _secret(self, ts: str) -> str:
        if not (self.c.shortcode and self.c.passkey):
            raise Refused("M-Pesa is not configured (mpesa.shortcode / passkey): nothing was charged")
        return password(self.c.shortcode, self.c.passkey, ts)

    def _callback(self, path: str, ref: str) -> str:
        if not self.callback_url:
            raise Refused("payments.callback_url is not set: M-Pesa needs an address to answer to; "
                          "nothing was charged")
        return f"{self.callback_url}{path}?ref={ref}"

    @staticmethod
    def _refusal(r, data, what: str) -> Refused:
        if isinstance(data, dict) and data.get("errorMessage"):
            return Refused(f"M-Pesa refused {what}: {data['errorMessage']}", str(data.get("errorCode", "")))
        if isinstance(data, dict) and data.get("ResponseDescription"):
            return Refused(f"M-Pesa refused {what}: {data['ResponseDescription']}", str(data.get("ResponseCode")))
        return Refused(f"M-Pesa refused {what} (HTTP {r.status_code})", str(r.status_code))

    # -- the interface ---------------------------------------------------------------
    def start(self, req: Request) -> Answer:
        self.check_amount(req.amount)
        ts = timestamp()
        body = {
            "BusinessShortCode": self.c.shortcode,
            "Password": self._secret(ts),
            "Timestamp": ts,
            "TransactionType": self.c.transaction_type,
            "Amount": self._whole(req.amount),
            "PartyA": req.phone,
            "PartyB": self.c.party_b or self.c.shortcode,
            "PhoneNumber": req.phone,
            "CallBackURL": self._callback("/mpesa/callback", req.ref),
            "AccountReference": (self.c.account_reference or req.label or req.ref)[:12],
            "TransactionDesc": self.c.description[:13],
        }
        r, data = self._post("/mpesa/stkpush/v1/processrequest", body, creates=True)
        if not isinstance(data, dict):
            if r.status_code >= 500 or r.status_code == 200:
                raise Uncertain(f"M-Pesa's answer could not be read (HTTP {r.status_code}): "
                                "the prompt may still reach the customer")
            raise Refused(f"M-Pesa refused the request (HTTP {r.status_code})", str(r.status_code))
        if r.status_code == 200 and str(data.get("ResponseCode")) == "0" and data.get("CheckoutRequestID"):
            return Answer(PENDING, provider_ref=str(data["CheckoutRequestID"]),
                          merchant_ref=str(data.get("MerchantRequestID") or "") or None,
                          message=str(data.get("CustomerMessage") or "prompt sent to the customer's phone"),
                          body=r.text)
        if r.status_code == 200 and "ResponseCode" not in data:
            raise Uncertain("M-Pesa's answer could not be read: the prompt may still reach the customer")
        raise self._refusal(r, data, "the payment")

    def status(self, p) -> Answer:
        if not p.provider_ref:
            raise Uncertain("M-Pesa has not told us the number of this request: waiting for its callback")
        ts = timestamp()
        body = {"BusinessShortCode": self.c.shortcode, "Password": self._secret(ts), "Timestamp": ts,
                "CheckoutRequestID": p.provider_ref}
        r, data = self._post("/mpesa/stkpushquery/v1/query", body, creates=False)
        if not isinstance(data, dict):
            raise ProviderError(f"M-Pesa's status answer could not be read (HTTP {r.status_code})")
        if str(data.get("errorCode", "")) == STILL_PROCESSING:
            return Answer(PENDING, provider_ref=p.provider_ref, result_code=STILL_PROCESSING,
                          message="waiting for the customer's phone", body=r.text)
        if r.status_code == 200 and "ResultCode" in data:
            try:
                code = int(str(data["ResultCode"]))
            except ValueError:
                raise ProviderError(f"M-Pesa's status answer has ResultCode {data['ResultCode']!r}") from None
            return Answer(PAID if code == 0 else FAILED, provider_ref=p.provider_ref,
                          merchant_ref=str(data.get("MerchantRequestID") or "") or None,
                          paid_amount=p.amount if code == 0 else None, result_code=str(code),
                          message=result_message(code, str(data.get("ResultDesc", ""))), body=r.text)
        raise self._refusal(r, data, "the status query")

    def refund(self, p, amount: int, refund_ref: str) -> Answer:
        if not self.can_refund:
            raise NotSupported("M-Pesa reversals are not configured (mpesa.initiator, mpesa.security_credential)")
        if amount != p.paid_amount:
            raise NotSupported("M-Pesa reverses a whole payment only: give a part back in cash")
        if not p.receipt:
            raise NotSupported("no M-Pesa receipt number is known for this payment: reconcile it first")
        body = {
            "Initiator": self.c.initiator,
            "SecurityCredential": self.c.security_credential,
            "CommandID": "TransactionReversal",
            "TransactionID": p.receipt,
            "Amount": self._whole(amount),
            "ReceiverParty": self.c.shortcode,
            "RecieverIdentifierType": "11",
            "ResultURL": self._callback("/mpesa/reversal/result", p.ref),
            "QueueTimeOutURL": self._callback("/mpesa/reversal/timeout", p.ref),
            "Remarks": "refund",
            "Occasion": refund_ref[:100],
        }
        r, data = self._post("/mpesa/reversal/v1/request", body, creates=True)
        if r.status_code == 200 and isinstance(data, dict) and str(data.get("ResponseCode")) == "0":
            return Answer(REFUNDING, provider_ref=str(data.get("ConversationID") or "") or None,
                          message="M-Pesa is reversing the payment", body=r.text)
        if not isinstance(data, dict):
            raise Uncertain(f"M-Pesa's answer to the reversal could not be read (HTTP {r.status_code})")
        raise self._refusal(r, data, "the reversal")

    def parse_callback(self, path: str, query: dict, headers: dict, body: bytes) -> Callback:
        data = json_body(body.decode("utf-8", "replace"))
        if not isinstance(data, dict):
            raise Malformed("the body is not JSON")
        reply = {"ResultCode": 0, "ResultDesc": "Accepted"}
        ref = query.get("ref") or None
        if path.endswith("/reversal/result") or path.endswith("/reversal/timeout"):
            res = data.get("Result")
            if path.endswith("/timeout"):
                return Callback("refund", FAILED, ref=ref, message="the M-Pesa reversal timed out in its queue",
                                reply=reply)
            if not isinstance(res, dict) or "ResultCode" not in res:
                raise Malformed("no Result.ResultCode")
            code = _int(res["ResultCode"], "ResultCode")
            return Callback("refund", REFUNDED if code == 0 else FAILED, ref=ref,
                            provider_ref=str(res.get("ConversationID") or "") or None, result_code=str(code),
                            message=("reversed by M-Pesa" if code == 0
                                     else f"M-Pesa did not reverse it: {res.get('ResultDesc', '')} (code {code})"),
                            reply=reply)
        cb = (data.get("Body") or {}).get("stkCallback") if isinstance(data.get("Body"), dict) else None
        if not isinstance(cb, dict):
            raise Malformed("no Body.stkCallback")
        checkout = cb.get("CheckoutRequestID")
        if not isinstance(checkout, str) or not checkout or "ResultCode" not in cb:
            raise Malformed("no CheckoutRequestID or ResultCode")
        code = _int(cb["ResultCode"], "ResultCode")
        out = Callback("payment", PAID if code == 0 else FAILED, provider_ref=checkout, ref=ref,
                       merchant_ref=str(cb.get("MerchantRequestID") or "") or None, result_code=str(code),
                       message=result_message(code, str(cb.get("ResultDesc", ""))), reply=reply)
        if code == 0:
            items = (cb.get("CallbackMetadata") or {}).get("Item") if isinstance(cb.get("CallbackMetadata"), dict) else None
            if not isinstance(items, list):
                raise Malformed("a success without CallbackMetadata.Item")
            meta = {i.get("Name"): i.get("Value") for i in items if isinstance(i, dict)}
            if "Amount" not in meta or not meta.get("MpesaReceiptNumber"):
                raise Malformed("a success without Amount or MpesaReceiptNumber")
            out.paid_amount = self._minor(meta["Amount"])
            out.receipt = str(meta["MpesaReceiptNumber"])[:64]
        return out

    def close(self) -> None:
        self.http.close()


def _int(v, name: str) -> int:
    try:
        return int(str(v))
    except ValueError:
        raise Malformed(f"{name} {v!r} is not a number") from None
