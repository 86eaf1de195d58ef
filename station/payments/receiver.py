"""The callback receiver: a small ASGI app (starlette) served by uvicorn
(``station payments serve``), the address providers call back.

Every callback, valid or not, is written to the insert-only ``PaymentCallback``
log; a valid one settles its payment in the same transaction (:func:`service.settle`).
The answer is fast and idempotent: a duplicate gets the same 200 and changes
nothing. Refused, and logged: a source outside ``payments.allow_networks`` (403),
a bad signature (401), a body we cannot read (400), one over 64 KiB (413).
A database that does not answer is a 503 (the provider sends it again).

Routes: POST /mpesa/callback, /mpesa/reversal/result, /mpesa/reversal/timeout,
/airtel/callback, /card/callback; GET /health; POST /ping (answers without
touching the database: the benchmark's bare endpoint).
"""
from __future__ import annotations

import contextlib
import ipaddress
import threading

import anyio.to_thread
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from data import db as dbmod
from station.errors import StationError
from station.payments import registry, service
from station.payments.provider import BadSignature, Malformed

MAX_BODY = service.MAX_BODY
#: worker threads writing callbacks (each with its own database connection). SQLite has
#: one writer at a time: one thread queues them here instead of sleeping in SQLite's
#: busy handler (which sleeps up to 100 ms at a time while the lock may be free).
DB_THREADS = {"sqlite": 1, "postgres": 8}

ROUTES = {
    "/mpesa/callback": "mpesa",
    "/mpesa/reversal/result": "mpesa",
    "/mpesa/reversal/timeout": "mpesa",
    "/airtel/callback": "airtel",
    "/card/callback": "card_gateway",
}


def _networks(ctx):
    return [ipaddress.ip_network(n, strict=False) for n in ctx.config.get("payments.allow_networks")]


def _allowed(nets, host: str) -> bool:
    if not nets:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return any(ip in n for n in nets)


def process(ctx, kind: str, path: str, query: dict, headers: dict, body: bytes, remote: str, nets) -> tuple[int, dict]:
    """One callback -> (HTTP status, JSON reply). Runs in a worker thread."""
    if not _allowed(nets, remote):
        service.log_rejected(kind, "source_refused", f"{remote} is not in payments.allow_networks", body=body,
                             remote=remote, path=path)
        return 403, {"error": "source not allowed"}
    if len(body) > MAX_BODY:
        service.log_rejected(kind, "malformed", f"body of {len(body)} bytes is over {MAX_BODY}", body=body[:MAX_BODY],
                             remote=remote, path=path)
        return 413, {"error": "too large"}
    prov = registry.provider_of_kind(ctx, kind)
    if prov is None:
        service.log_rejected(kind, "error", f"no tender method uses {kind} here", body=body, remote=remote, path=path)
        return 404, {"error": f"{kind} is not configured"}
    try:
        cb = prov.parse_callback(path, query, headers, body)
    except BadSignature as e:
        service.log_rejected(kind, "bad_signature", str(e), body=body, remote=remote, path=path, signature_ok=False)
        return 401, {"error": "bad signature"}
    except Malformed as e:
        service.log_rejected(kind, "malformed", str(e), body=body, remote=remote, path=path)
        return 400, {"error": f"malformed: {e}"}
    verdict, _v = service.settle(ctx, kind, source="callback", kind=cb.kind, state=cb.state, ref=cb.ref,
                                 provider_ref=cb.provider_ref, merchant_ref=cb.merchant_ref, receipt=cb.receipt,
                                 paid_amount=cb.paid_amount, result_code=cb.result_code, message=cb.message,
                                 body=body.decode("utf-8", "replace"), remote=remote, path=path,
                                 signature_ok=cb.signature_ok)
    return 200, cb.reply or {"received": verdict}


def make_app(ctx) -> Starlette:
    nets = _networks(ctx)

    async def callback(request: Request):
        path = request.url.path
        kind = ROUTES[path]
        body = await request.body()
        remote = request.client.host if request.client else ""
        try:
            status, reply = await run_in_threadpool(process, ctx, kind, path, dict(request.query_params),
                                                    {k.lower(): v for k, v in request.headers.items()}, body,
                                                    remote, nets)
        except StationError as e:   # the database is not answering: the provider will send it again
            return JSONResponse({"error": str(e)}, status_code=503)
        return JSONResponse(reply, status_code=status)

    async def ping(request: Request):
        await request.body()
        return JSONResponse({"ResultCode": 0, "ResultDesc": "Accepted"})

    async def health(request: Request):
        return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(app):
        anyio.to_thread.current_default_thread_limiter().total_tokens = \
            DB_THREADS["postgres" if dbmod.is_postgres(ctx.db) else "sqlite"]
        yield

    routes = [Route(p, callback, methods=["POST"]) for p in ROUTES]
    routes += [Route("/ping", ping, methods=["POST"]), Route("/health", health, methods=["GET"])]
    return Starlette(routes=routes, lifespan=lifespan)


def parse_listen(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _server(ctx, listen: str, log_level: str):
    import uvicorn
    host, port = parse_listen(listen)
    config = uvicorn.Config(make_app(ctx), host=host, port=port, log_level=log_level, access_log=False,
                            lifespan="on", timeout_keep_alive=30)
    return uvicorn.Server(config)


def serve(ctx, listen: str, *, log_level: str = "info") -> None:
    """Serve until interrupted (``station payments serve``)."""
    _server(ctx, listen, log_level).run()


class Running:
    """The receiver on a thread of this process (tests, the benchmark)."""

    def __init__(self, ctx, listen: str = "127.0.0.1:0", log_level: str = "warning"):
        self.server = _server(ctx, listen, log_level)
        self.thread = threading.Thread(target=self.server.run, name="payments-receiver", daemon=True)
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the payment receiver did not start")
            self.thread.join(0.01)
        sock = self.server.servers[0].sockets[0]
        self.host, self.port = sock.getsockname()[:2]
        self.url = f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
