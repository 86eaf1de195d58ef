"""A fake of the payment providers: real HTTP on 127.0.0.1, started and stopped
by the test, driven by the test to answer each way.

It speaks the public shapes the station uses: Daraja (OAuth token, STK push
processrequest, stkpushquery, reversal), Airtel Money (token, USSD push, status
enquiry, refund) and the generic card gateway. It checks what a real provider
checks (the bearer token and its expiry, the STK Password, the idempotency key)
and sends callbacks (real HTTP POSTs) to the receiver when the test says so.
"""
from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

SHORTCODE = "174379"
PASSKEY = "bfb279f9aa9bdbcf158e97dd71a467cd2e0c893059b10f78e6b72ada1ed2c919"
CONSUMER_KEY, CONSUMER_SECRET = "ck-test", "cs-test"
AIRTEL_ID, AIRTEL_SECRET = "airtel-id", "airtel-secret"
CARD_KEY, CARD_SECRET = "card-key", "card-webhook-secret"


def post_json(url: str, body, headers: dict | None = None, raw: bytes | None = None) -> tuple[int, str]:
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class FakeProviders:
    def __init__(self):
        self.lock = threading.Lock()
        self.token_ttl = 3599
        self.tokens: dict[str, float] = {}          # token -> expiry (monotonic)
        self.token_fetches = 0
        self.mode = "accept"                       # next push: accept | refuse | malformed | hang | drop
        self.hang_seconds = 3.0
        self.pushes: list[dict] = []               # STK processrequest bodies, in order
        self.queries: list[str] = []               # CheckoutRequestIDs asked
        self.query_answer: dict[str, object] = {}  # CheckoutRequestID -> "processing" | result code
        self.reversals: list[dict] = []
        self.airtel: dict[str, dict] = {}          # our ref -> {"status": TIP|TS|TF, "body": ...}
        self.airtel_refunds: list[dict] = []
        self.card: dict[str, dict] = {}            # our ref -> payment
        self.card_refunds: list[dict] = []
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.receiver_url = ""
        self.card_signing_secret = CARD_SECRET
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-providers", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # ------------------------------------------------------------ driving ---
    def revoke_tokens(self) -> None:
        """Every token issued so far expires now (a token expiring mid-sale)."""
        with self.lock:
            for t in self.tokens:
                self.tokens[t] = 0.0

    def last_push(self) -> dict:
        return self.pushes[-1]

    def checkout_of(self, ref: str) -> str:
        for p in self.pushes:
            if p["CallBackURL"].endswith("ref=" + ref):
                return p["_checkout"]
        raise KeyError(ref)

    def stk_body(self, checkout: str, code: int = 0, *, amount=None, receipt: str = "QKR3S0JA9H",
                 merchant: str | None = None) -> dict:
        push = next(p for p in self.pushes if p["_checkout"] == checkout)
        cb = {"MerchantRequestID": merchant or push["_merchant"], "CheckoutRequestID": checkout,
              "ResultCode": code, "ResultDesc": {0: "The service request is processed successfully.",
                                                 1032: "Request cancelled by user",
                                                 1037: "DS timeout user cannot be reached"}.get(code, "Failed")}
        if code == 0:
            cb["CallbackMetadata"] = {"Item": [
                {"Name": "Amount", "Value": float(push["Amount"] if amount is None else amount)},
                {"Name": "MpesaReceiptNumber", "Value": receipt},
                {"Name": "Balance"},
                {"Name": "TransactionDate", "Value": 20240511201419},
                {"Name": "PhoneNumber", "Value": int(push["PhoneNumber"])}]}
        return {"Body": {"stkCallback": cb}}

    def mpesa_callback(self, checkout: str, code: int = 0, *, raw: bytes | None = None, url: str | None = None,
                       **kw) -> tuple[int, str]:
        """POST the STK result to the CallBackURL of that push (real HTTP)."""
        push = next(p for p in self.pushes if p["_checkout"] == checkout)
        body = None if raw is not None else self.stk_body(checkout, code, **kw)
        return post_json(url or push["CallBackURL"], body, raw=raw)

    def airtel_callback(self, ref: str, status: str = "TS", *, key: str | None = None, hash_: str | None = None,
                        airtel_money_id: str = "MP240511.1234.A00001") -> tuple[int, str]:
        from station.payments.airtel import callback_hash
        t = {"id": ref, "message": "Paid" if status == "TS" else "Failed", "status_code": status,
             "airtel_money_id": airtel_money_id}
        body = {"transaction": t}
        if key or hash_:
            body["hash"] = hash_ or callback_hash(key, t)
        return post_json(self.receiver_url + "/airtel/callback", body)

    def card_callback(self, ref: str, status: str = "approved", *, amount: int | None = None,
                      secret: str | None = None, t: int | None = None, raw: bytes | None = None) -> tuple[int, str]:
        from station.payments.card_gateway import signature_header
        pay = self.card[ref]
        body = raw if raw is not None else json.dumps(
            {"id": pay["id"], "reference": ref, "status": status,
             "amount": pay["amount"] if amount is None else amount, "currency": pay["currency"],
             "auth_code": "A1B2C3" if status == "approved" else None, "message": status}).encode()
        if status in ("approved", "declined", "cancelled"):
            pay["status"] = status
        header = signature_header(secret or self.card_signing_secret, body, t)
        return post_json(self.receiver_url + "/card/callback", None, headers={"X-Signature": header}, raw=body)

    # ------------------------------------------------------------ serving ---
    def _token(self) -> str:
        with self.lock:
            self.token_fetches += 1
            t = f"tok{self.token_fetches}"
            self.tokens[t] = time.monotonic() + self.token_ttl
            return t

    def _valid(self, headers) -> bool:
        auth = headers.get("Authorization", "")
        tok = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        with self.lock:
            return tok in self.tokens and self.tokens[tok] > time.monotonic()

    def _handler(self):
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _send(self, code: int, body, raw: bytes | None = None):
                data = raw if raw is not None else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(n) if n else b""
                try:
                    return json.loads(raw) if raw else {}
                except ValueError:
                    return None

            def do_GET(self):
                u = urlparse(self.path)
                fake.requests.append(("GET", u.path))
                if u.path == "/oauth/v1/generate":
                    auth = self.headers.get("Authorization", "")
                    want = "Basic " + base64.b64encode(f"{CONSUMER_KEY}:{CONSUMER_SECRET}".encode()).decode()
                    if auth != want or parse_qs(u.query).get("grant_type") != ["client_credentials"]:
                        return self._send(400, {"errorCode": "400.008.01", "errorMessage": "Invalid Authentication"})
                    return self._send(200, {"access_token": fake._token(), "expires_in": str(fake.token_ttl)})
                if u.path.startswith("/standard/v1/payments/"):
                    if not fake._valid(self.headers):
                        return self._send(401, {"status": {"code": "401", "success": False}})
                    ref = u.path.rsplit("/", 1)[1]
                    p = fake.airtel.get(ref)
                    if p is None:
                        return self._send(404, {"status": {"code": "404", "message": "not found", "success": False}})
                    return self._send(200, {"data": {"transaction": {
                        "airtel_money_id": p.get("airtel_money_id"), "id": ref, "message": p["status"],
                        "status": p["status"]}}, "status": {"code": "200", "success": True}})
                if u.path == "/v1/payments":
                    if self.headers.get("Authorization") != f"Bearer {CARD_KEY}":
                        return self._send(401, {"message": "bad key"})
                    ref = parse_qs(u.query).get("reference", [""])[0]
                    p = fake.card.get(ref)
                    return self._send(200, p) if p else self._send(404, {"message": "no such payment"})
                self._send(404, {"error": "no route"})

            def do_POST(self):
                u = urlparse(self.path)
                fake.requests.append(("POST", u.path))
                body = self._body()
                if u.path == "/mpesa/stkpush/v1/processrequest":
                    return self._push(body)
                if u.path == "/mpesa/stkpushquery/v1/query":
                    return self._query(body)
                if u.path == "/mpesa/reversal/v1/request":
                    if not fake._valid(self.headers):
                        return self._send(404, {"errorCode": "404.001.03", "errorMessage": "Invalid Access Token"})
                    fake.reversals.append(body)
                    return self._send(200, {"OriginatorConversationID": "AG_1", "ConversationID": "AG_R1",
                                            "ResponseCode": "0", "ResponseDescription": "Accept the service request successfully."})
                if u.path == "/auth/oauth2/token":
                    if not body or body.get("client_id") != AIRTEL_ID or body.get("client_secret") != AIRTEL_SECRET:
                        return self._send(401, {"error": "invalid_client"})
                    return self._send(200, {"access_token": fake._token(), "expires_in": str(fake.token_ttl),
                                            "token_type": "bearer"})
                if u.path == "/merchant/v1/payments/":
                    return self._airtel_push(body)
                if u.path == "/standard/v1/payments/refund":
                    if not fake._valid(self.headers):
                        return self._send(401, {"status": {"code": "401", "success": False}})
                    fake.airtel_refunds.append(body)
                    amid = body["transaction"]["airtel_money_id"]
                    return self._send(200, {"data": {"transaction": {"airtel_money_id": amid, "status": "SUCCESS"}},
                                            "status": {"code": "200", "message": "SUCCESS", "success": True}})
                if u.path.startswith("/v1/payments"):
                    return self._card(u.path, body)
                self._send(404, {"error": "no route"})

            # -- Daraja -----------------------------------------------------------
            def _push(self, body):
                if not fake._valid(self.headers):
                    return self._send(404, {"requestId": "x", "errorCode": "404.001.03",
                                            "errorMessage": "Invalid Access Token"})
                ts = body.get("Timestamp", "")
                want = base64.b64encode(f"{SHORTCODE}{PASSKEY}{ts}".encode()).decode()
                if body.get("Password") != want or body.get("BusinessShortCode") != SHORTCODE:
                    return self._send(400, {"requestId": "x", "errorCode": "400.002.02",
                                            "errorMessage": "Bad Request - Invalid Password"})
                mode = fake.mode
                n = len(fake.pushes) + 1
                checkout, merchant = f"ws_CO_{n:06d}", f"29115-{n:06d}-1"
                body = dict(body, _checkout=checkout, _merchant=merchant)
                if mode == "refuse":
                    return self._send(500, {"requestId": "x", "errorCode": "500.001.1001",
                                            "errorMessage": "Unable to lock subscriber, a transaction is already in process for the current subscriber"})
                fake.pushes.append(body)     # from here on the customer gets a prompt
                if mode == "malformed":
                    return self._send(200, None, raw=b"{not json")
                if mode == "hang":
                    time.sleep(fake.hang_seconds)
                if mode == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                self._send(200, {"MerchantRequestID": merchant, "CheckoutRequestID": checkout, "ResponseCode": "0",
                                 "ResponseDescription": "Success. Request accepted for processing",
                                 "CustomerMessage": "Success. Request accepted for processing"})

            def _query(self, body):
                if not fake._valid(self.headers):
                    return self._send(404, {"requestId": "x", "errorCode": "404.001.03",
                                            "errorMessage": "Invalid Access Token"})
                checkout = body.get("CheckoutRequestID")
                fake.queries.append(checkout)
                ans = fake.query_answer.get(checkout, "processing")
                if ans == "processing":
                    return self._send(500, {"requestId": "x", "errorCode": "500.001.1001",
                                            "errorMessage": "The transaction is being processed"})
                push = next(p for p in fake.pushes if p["_checkout"] == checkout)
                return self._send(200, {"ResponseCode": "0", "ResponseDescription": "The service request has been accepted successsfully",
                                        "MerchantRequestID": push["_merchant"], "CheckoutRequestID": checkout,
                                        "ResultCode": str(ans), "ResultDesc": "done"})

            # -- Airtel -----------------------------------------------------------
            def _airtel_push(self, body):
                if not fake._valid(self.headers):
                    return self._send(401, {"status": {"code": "401", "success": False}})
                if self.headers.get("X-Country") != "KE" or self.headers.get("X-Currency") != "KES":
                    return self._send(400, {"status": {"code": "400", "message": "bad country", "success": False}})
                ref = body["transaction"]["id"]
                if ref in fake.airtel:
                    return self._send(200, {"status": {"code": "400", "message": "duplicate transaction id",
                                                       "result_code": "ESB000041", "success": False}})
                fake.airtel[ref] = {"status": "TIP", "body": body}
                self._send(200, {"data": {"transaction": {"id": ref, "status": "SUCCESS"}},
                                 "status": {"code": "200", "message": "SUCCESS", "result_code": "ESB000010",
                                            "success": True}})

            # -- card gateway ------------------------------------------------------
            def _card(self, path, body):
                if self.headers.get("Authorization") != f"Bearer {CARD_KEY}":
                    return self._send(401, {"message": "bad key"})
                parts = path.strip("/").split("/")
                if parts == ["v1", "payments"]:
                    key = self.headers.get("Idempotency-Key")
                    if key in fake.card:
                        return self._send(200, fake.card[key])
                    p = {"id": f"gw_{len(fake.card) + 1}", "reference": body["reference"], "status": "pending",
                         "amount": body["amount"], "currency": body["currency"], "auth_code": None,
                         "message": "present the card"}
                    fake.card[body["reference"]] = p
                    return self._send(201, p)
                pay = next((p for p in fake.card.values() if p["id"] == parts[2]), None)
                if pay is None:
                    return self._send(404, {"message": "no such payment"})
                if parts[3] == "cancel":
                    if pay["status"] == "approved":
                        return self._send(409, pay)
                    pay["status"] = "cancelled"
                    return self._send(200, pay)
                if parts[3] == "refunds":
                    fake.card_refunds.append(body)
                    return self._send(201, {"id": f"rf_{len(fake.card_refunds)}", "status": "refunded",
                                            "amount": body["amount"]})
                self._send(404, {"error": "no route"})

        return H
