"""The cash drawer adapter: kick (open) and status.

Kick: ``ESC p m t1 t2`` (1B 70 m t1 t2), m = 0 for connector pin 2, 1 for pin 5,
t1/t2 = pulse on/off time in 2 ms units (from ``drawer.on_ms`` / ``drawer.off_ms``).
Sent through the receipt printer's transport (``drawer.kick = printer``) or a
separate serial port (``drawer.kick = serial``); every I/O has a timeout.

Status: ``DLE EOT 1`` (10 04 01); the answer's bit 2 is the level of connector
pin 3. Which level means "open" depends on the drawer: ``drawer.open_level``.

This module does no database work; :mod:`station.drawer` journals every kick
(``drawer.kick`` / ``drawer.kick_failed``) and hands a failed kick back to the
caller to show.
"""
from __future__ import annotations

from dataclasses import dataclass

from station.hardware import transport as tp
from station.hardware.transport import HardwareError

STATUS_QUERY = b"\x10\x04\x01"


@dataclass
class KickResult:
    ok: bool
    message: str
    via: str            # printer | serial | none
    skipped: bool = False   # no drawer hardware configured: nothing was sent


def kick_bytes(cfg) -> bytes:
    d = cfg.values["drawer"]
    m = 0 if d["pin"] == 2 else 1
    t1 = max(1, min(255, (d["on_ms"] + 1) // 2))
    t2 = max(1, min(255, (d["off_ms"] + 1) // 2))
    return bytes([0x1B, 0x70, m, t1, t2])


def _serial_transport(cfg, port=None) -> tp.SerialTransport:
    d = cfg.values["drawer"]
    return tp.SerialTransport(d["device"], d["baudrate"], float(d["timeout"]), port=port)


def _transport(ctx):
    """(via, transport) for the configured kick path. ``ctx.extras`` may hold an
    already open port under ``drawer.port`` / ``printer.port`` (tests: loop://)."""
    cfg = ctx.config
    via = cfg.values["drawer"]["kick"]
    if via == "none":
        return via, None
    if via == "serial":
        return via, _serial_transport(cfg, ctx.extras.get("drawer.port"))
    if cfg.values["printer"]["kind"] == "none":
        return via, None
    return via, tp.from_config(cfg, port=ctx.extras.get("printer.port"))


def kick(ctx) -> KickResult:
    """Open the drawer. Never raises: a failure is returned with its reason."""
    via, t = "none", None
    try:
        via, t = _transport(ctx)
        if t is None:
            why = ("no drawer is configured (drawer.kick = none)" if via == "none"
                   else "no printer is configured to open the drawer (printer.kind = none)")
            return KickResult(True, why + ": open it by hand", via, skipped=True)
        t.send(kick_bytes(ctx.config))
        return KickResult(True, f"drawer opened via {t.describe()}", via)
    except HardwareError as e:
        return KickResult(False, f"the drawer did not open: {e}", via)
    except Exception as e:  # noqa: BLE001 - a kick must never crash the sale
        return KickResult(False, f"the drawer did not open: {e.__class__.__name__}: {e}", via)


@dataclass
class DrawerStatus:
    known: bool
    open: bool | None
    message: str


def parse_status(byte: int, open_level: str) -> bool:
    high = bool(byte & 0x04)
    return high if open_level == "high" else not high


def status(ctx) -> DrawerStatus:
    """Read the drawer status (``DLE EOT 1``) where ``drawer.status`` is on.
    Never raises."""
    cfg = ctx.config
    d = cfg.values["drawer"]
    if not d["status"]:
        return DrawerStatus(False, None, "drawer status is not read (drawer.status = false)")
    try:
        via = d["kick"]
        if via == "serial":
            t = _serial_transport(cfg, ctx.extras.get("drawer.port"))
        elif via == "printer" and cfg.values["printer"]["kind"] in ("serial", "network"):
            t = tp.from_config(cfg, port=ctx.extras.get("printer.port"))
        else:
            return DrawerStatus(False, None, "drawer status needs a serial or network connection")
        answer = t.exchange(STATUS_QUERY, 1)
        if not answer:
            return DrawerStatus(False, None, "the drawer did not answer the status query (timeout)")
        is_open = parse_status(answer[0], d["open_level"])
        return DrawerStatus(True, is_open, "drawer still open" if is_open else "drawer closed")
    except HardwareError as e:
        return DrawerStatus(False, None, f"drawer status unknown: {e}")
    except Exception as e:  # noqa: BLE001
        return DrawerStatus(False, None, f"drawer status unknown: {e.__class__.__name__}: {e}")
