"""The provider interface, and the registry: tender method -> provider.

A provider turns our request into the provider's API and its answers back into
an :class:`Answer`:

* ``start(req)``      -> pending | paid | failed (``waits``: the answer comes later)
* ``status(p)``       -> the same, asked again (``p`` is the stored ProviderPayment)
* ``cancel(p)``       where the provider allows (``can_cancel``)
* ``refund(p, amount, refund_ref)`` where it allows (``can_refund``) -> refunded | refunding
* ``parse_callback(...)`` -> :class:`Callback` (for the receiver), or raises
  :class:`Malformed` / :class:`BadSignature`

Errors say what is known about the request: :class:`Unreachable` - it never left
(safe to send again); :class:`Uncertain` - it may have arrived (wait for the
callback, ask the status: never send another); :class:`Refused` - the provider
said no (nothing charged).

Cash, card with a typed reference and the other typed methods are providers too
(``simple``): they settle at once and never write a pending row. ``registry``
maps a tender method to its provider.
"""
from __future__ import annotations

import json
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field

from station.errors import StationError

#: answer states
PENDING, PAID, FAILED, REFUNDED, REFUNDING = "pending", "paid", "failed", "refunded", "refunding"


class ProviderError(StationError):
    """The provider could not be asked or said no; ``str(e)`` is for the cashier."""


class Unreachable(ProviderError):
    """The request never reached the provider: nothing was charged; it may be sent again."""


class Uncertain(ProviderError):
    """The request may have reached the provider: wait for its answer, never send another."""


class Refused(ProviderError):
    """The provider refused the request: nothing was charged."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


class NotSupported(ProviderError):
    pass


class Malformed(Exception):
    """A callback we cannot read (bad JSON, missing fields)."""


class BadSignature(Exception):
    """A callback whose signature does not check."""


@dataclass
class Request:
    ref: str                 # our idempotency reference
    method: str
    amount: int              # minor units
    currency: str
    phone: str = ""          # MSISDN (mobile money)
    label: str = ""          # short text for the customer (ticket number)
    terminal: str = ""


@dataclass
class Answer:
    state: str                       # pending | paid | failed | refunded | refunding
    provider_ref: str | None = None
    merchant_ref: str | None = None
    receipt: str | None = None
    paid_amount: int | None = None   # minor units
    result_code: str | None = None
    message: str = ""
    body: str = ""                   # the provider's answer as received, for the log


@dataclass
class Callback:
    kind: str                        # payment | refund
    state: str                       # paid | failed | refunded (refund kind)
    provider_ref: str | None = None
    ref: str | None = None           # our reference, where the callback carries it
    merchant_ref: str | None = None
    receipt: str | None = None
    paid_amount: int | None = None   # minor units; None: the provider does not say
    result_code: str | None = None
    message: str = ""
    signature_ok: bool | None = None   # None: the provider signs nothing
    reply: dict = field(default_factory=dict)   # the body the provider expects back


class Provider(ABC):
    kind = ""
    waits = True          # the outcome comes later (a pending row, a countdown)
    can_cancel = False
    can_refund = False
    partial_refund = False
    needs_phone = False
    label = ""            # what the cashier reads ("M-Pesa")

    def __init__(self, cfg, method: str):
        self.cfg = cfg
        self.method = method
        self.minor_units = cfg.store.minor_units

    @abstractmethod
    def start(self, req: Request) -> Answer: ...

    def status(self, p) -> Answer:
        raise NotSupported(f"{self.label} cannot be asked for the status of a payment")

    def cancel(self, p) -> Answer:
        raise NotSupported(f"{self.label} payments cannot be cancelled from the till")

    def refund(self, p, amount: int, refund_ref: str) -> Answer:
        raise NotSupported(f"{self.label} payments cannot be refunded through the provider")

    def parse_callback(self, path: str, query: dict, headers: dict, body: bytes) -> Callback:
        raise Malformed(f"{self.label} sends no callbacks")

    def check_amount(self, amount: int) -> None:
        """Raise InvalidInput when this provider cannot take ``amount``."""

    def close(self) -> None:
        pass


# ------------------------------------------------------------------ HTTP ---

def json_body(text: str):
    try:
        return json.loads(text)
    except ValueError:
        return None


class Http:
    """One HTTP client per provider (connections kept), errors mapped to what is
    known about the request. ``creates=True``: a request that may have arrived
    (sent, then no answer) is :class:`Uncertain`; a status query is Unreachable."""

    def __init__(self, base_url: str, timeout: float, label: str):
        import httpx
        self.httpx = httpx
        self.base_url = base_url.rstrip("/")
        self.label = label
        self.client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))

    def request(self, method: str, path: str, *, creates: bool, **kw):
        httpx = self.httpx
        if not self.base_url:
            raise Unreachable(f"{self.label} is not configured (no base URL)")
        try:
            return self.client.request(method, self.base_url + path, **kw)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL) as e:
            raise Unreachable(f"{self.label} cannot be reached ({e.__class__.__name__}): nothing was charged") from None
        except httpx.HTTPError as e:
            if creates:
                raise Uncertain(f"{self.label} did not answer ({e.__class__.__name__}): the request may have "
                                f"reached the customer") from None
            raise Unreachable(f"{self.label} did not answer ({e.__class__.__name__})") from None

    def close(self) -> None:
        self.client.close()


class TokenCache:
    """An OAuth client-credentials token, fetched once and kept until shortly
    before it expires (thread-safe: one fetch at a time)."""

    def __init__(self, fetch):
        self._fetch = fetch               # () -> (token, expires_in_seconds)
        self._lock = threading.Lock()
        self._token: str | None = None
        self._until = 0.0
        self.fetches = 0

    def get(self) -> str:
        with self._lock:
            if self._token is None or time.monotonic() >= self._until:
                token, ttl = self._fetch()
                self.fetches += 1
                margin = min(60.0, ttl * 0.1)
                self._token, self._until = token, time.monotonic() + max(0.0, ttl - margin)
            return self._token

    def drop(self, token: str) -> None:
        with self._lock:
            if self._token == token:
                self._token = None
