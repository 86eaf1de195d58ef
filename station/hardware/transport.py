"""Raw byte transports for the receipt printer: none, file, serial, network, usb.

Every transport has ``send(data, confirm=False) -> Sent`` and raises
:class:`HardwareError` (a sentence a cashier can read) on any failure. Every I/O
has a timeout, so a printer that never answers costs at most a few times
``printer.timeout`` seconds, whatever the device does:

* file/device kinds open non-blocking (a FIFO with no reader, an unplugged
  ``/dev/usb/lp0`` fail at once) and write against a deadline (``select``);
* every send runs under a watchdog: an I/O stuck in the kernel past its
  deadline is given up (the stuck thread is left behind, and the device is
  reported "still not answering" until it comes back) -- the print thread and
  ``station receipt reprint`` never hang;
* ``confirm``: a network printer is asked its status (``DLE EOT 1`` and
  ``DLE EOT 4``) on the same connection after the data; ``Sent.confirmed`` is
  True only when it answers online with paper, False when it does not answer
  (or reports a problem): "sent, unconfirmed". Other kinds cannot tell (None).
``python-escpos`` is imported lazily (it costs ~250 ms and calls
``logging.basicConfig()``, which would print on the TUI); logging is put back
afterwards.

Receipt and report bytes are built in ``escpos`` ``Dummy()`` printers and sent
through :func:`from_config(cfg).send`; tests read the bytes from a file or a pty.
"""
from __future__ import annotations

import abc
import errno
import logging
import os
import select
import socket
import threading
import time
from dataclasses import dataclass

from station.errors import Unavailable

#: printer status queries (real-time): DLE EOT 1 printer status, DLE EOT 4 roll paper sensor
STATUS_QUERIES = b"\x10\x04\x01\x10\x04\x04"


class HardwareError(Unavailable):
    """A printer or drawer did not do what was asked; the message says why."""


def import_escpos_printer():
    """``escpos.printer`` imported lazily, with the root logger's handlers kept
    as they were (escpos calls ``logging.basicConfig`` on import)."""
    root = logging.getLogger()
    before = list(root.handlers)
    level = root.level
    import escpos.printer as p  # noqa: PLC0415
    for h in list(root.handlers):
        if h not in before:
            root.removeHandler(h)
    root.setLevel(level)
    return p


@dataclass
class Sent:
    """What a printer did with the bytes: ``confirmed`` True (its status said
    online, paper in), False (no answer, or a problem: ``note`` says which), None
    (this kind of connection cannot tell)."""
    confirmed: bool | None = None
    note: str = ""


def parse_status(answer: bytes) -> tuple[bool, str]:
    """(ok, note) from the answers to ``STATUS_QUERIES``: DLE EOT 1 (bit 3 offline)
    then DLE EOT 4 (bits 5-6 paper end). Each byte has the fixed bits 0xx1xx10."""
    if len(answer) < 2:
        return False, "the printer did not report its status"
    printer, paper = answer[0], answer[1]
    if (printer & 0x93) != 0x12 or (paper & 0x93) != 0x12:
        return False, f"the printer answered {answer[:2].hex()}, not a status"
    if printer & 0x08:
        return False, "the printer reports it is offline (cover open or error)"
    if paper & 0x60:
        return False, "the printer reports it is out of paper"
    return True, "the printer confirmed it is online with paper"


#: devices whose last I/O is still stuck in the kernel (a watchdog gave up on it)
_stuck: dict[str, threading.Thread] = {}
_stuck_lock = threading.Lock()


def _watchdog(what: str, limit: float, fn):
    """Run ``fn()`` in a helper thread and wait at most ``limit`` seconds. An I/O
    that outlives it is given up: HardwareError, and ``what`` stays "still not
    answering" until that thread ends."""
    with _stuck_lock:
        th = _stuck.get(what)
        if th is not None and th.is_alive():
            raise HardwareError(f"{what} is still not answering (its last output is stuck): check it")
        _stuck.pop(what, None)
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread
            box["error"] = e
    th = threading.Thread(target=run, name=f"printer-io {what}", daemon=True)
    th.start()
    th.join(limit)
    if th.is_alive():
        with _stuck_lock:
            _stuck[what] = th
        raise HardwareError(f"{what} did not answer within {limit:g} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


class Transport(abc.ABC):
    """Where raw ESC/POS bytes go. Every concrete transport sends (or raises
    HardwareError with a sentence); reading status is optional."""
    kind = "none"
    timeout: float = 3.0

    def send(self, data: bytes, *, confirm: bool = False) -> Sent:
        """Send ``data`` whole, or raise HardwareError; never longer than the
        watchdog allows. ``confirm``: ask the printer whether it printed."""
        return _watchdog(self.describe(), self.timeout * 3 + 1, lambda: self._send(data, confirm))

    @abc.abstractmethod
    def _send(self, data: bytes, confirm: bool) -> Sent:
        """The transport's own send (with its own timeouts)."""

    def describe(self) -> str:
        return self.kind


class NoneTransport(Transport):
    """No printer configured: sending is refused with a clear message."""
    kind = "none"

    def _send(self, data: bytes, confirm: bool) -> Sent:
        raise HardwareError("no printer is configured (printer.kind = none)")


def _open_errors(path: str, e: OSError) -> HardwareError:
    if e.errno == errno.ENXIO:
        return HardwareError(f"no printer is connected at {path} (nothing is reading it)")
    if e.errno in (errno.ENODEV, errno.ENOENT) and path.startswith("/dev/"):
        return HardwareError(f"printer device {path} is not there (unplugged or switched off?)")
    return HardwareError(f"cannot write to printer file {path}: {e.strerror or e}")


class FileTransport(Transport):
    """Appends raw ESC/POS bytes to a file (a spool, a FIFO, or a device such as
    /dev/usb/lp0). Opened non-blocking; written against a deadline."""
    kind = "file"
    _lock = threading.Lock()

    def __init__(self, path: str, timeout: float = 3.0):
        if not path:
            raise HardwareError("printer.kind = file needs printer.path")
        self.path, self.timeout = path, timeout

    def describe(self) -> str:
        return f"file {self.path}"

    def _send(self, data: bytes, confirm: bool) -> Sent:
        deadline = time.monotonic() + self.timeout
        with self._lock:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY,
                             0o644)
            except OSError as e:
                raise _open_errors(self.path, e) from None
            try:
                view = memoryview(data)
                while view:
                    try:
                        n = os.write(fd, view)
                    except BlockingIOError:
                        n = 0
                    except OSError as e:
                        raise HardwareError(f"cannot write to printer file {self.path}: {e.strerror or e}") \
                            from None
                    view = view[n:]
                    if view:
                        left = deadline - time.monotonic()
                        if left <= 0:
                            raise HardwareError(f"printer {self.path} stopped taking data "
                                                f"({len(data) - len(view)} of {len(data)} bytes in "
                                                f"{self.timeout:g} s)")
                        select.select([], [fd], [], min(left, 0.5))
            finally:
                os.close(fd)
        return Sent(None)


def open_serial(device: str, baudrate: int, timeout: float):
    """Open a serial port (or a pyserial URL such as ``loop://``) with read and
    write timeouts, or raise HardwareError naming the port."""
    import serial  # noqa: PLC0415
    if not device:
        raise HardwareError("no serial port configured")
    try:
        return serial.serial_for_url(device, baudrate=baudrate, timeout=timeout, write_timeout=timeout)
    except (serial.SerialException, OSError, ValueError) as e:
        raise HardwareError(f"serial port {device} is not available: {_why(e)}") from None


def _why(e: BaseException) -> str:
    s = str(e).strip()
    if isinstance(e, OSError) and e.strerror:
        s = e.strerror
    return s.splitlines()[0] if s else e.__class__.__name__


def serial_write(port, data: bytes, device: str) -> None:
    import serial  # noqa: PLC0415
    try:
        n = port.write(data)
        port.flush()
    except serial.SerialTimeoutException:
        raise HardwareError(f"serial port {device} did not accept the data in time (write timeout)") from None
    except (serial.SerialException, OSError) as e:
        raise HardwareError(f"cannot write to serial port {device}: {_why(e)}") from None
    if n is not None and n != len(data):
        raise HardwareError(f"serial port {device} took {n} of {len(data)} bytes")


class SerialTransport(Transport):
    kind = "serial"

    def __init__(self, device: str, baudrate: int = 19200, timeout: float = 3.0, port=None):
        self.device, self.baudrate, self.timeout = device, baudrate, timeout
        self._port = port   # an already open port (tests: serial_for_url("loop://"))

    def describe(self) -> str:
        return f"serial {self.device}"

    def _send(self, data: bytes, confirm: bool) -> Sent:
        if self._port is not None:
            serial_write(self._port, data, self.device or "port")
            return Sent(None)
        port = open_serial(self.device, self.baudrate, self.timeout)
        try:
            serial_write(port, data, self.device)
        finally:
            port.close()
        return Sent(None)

    def exchange(self, data: bytes, n: int = 1) -> bytes:
        """Write ``data`` and read up to ``n`` bytes (status queries)."""
        return _watchdog(self.describe(), self.timeout * 3 + 1, lambda: self._exchange(data, n))

    def _exchange(self, data: bytes, n: int) -> bytes:
        import serial  # noqa: PLC0415
        port = self._port or open_serial(self.device, self.baudrate, self.timeout)
        try:
            serial_write(port, data, self.device)
            try:
                return port.read(n)
            except (serial.SerialException, OSError) as e:
                raise HardwareError(f"cannot read from serial port {self.device}: {_why(e)}") from None
        finally:
            if self._port is None:
                port.close()


class NetworkTransport(Transport):
    kind = "network"

    def __init__(self, host: str, port: int = 9100, timeout: float = 3.0):
        if not host:
            raise HardwareError("printer.kind = network needs printer.host")
        self.host, self.port, self.timeout = host, port, timeout

    def describe(self) -> str:
        return f"network {self.host}:{self.port}"

    def _connect(self):
        try:
            return socket.create_connection((self.host, self.port), timeout=self.timeout)
        except socket.timeout:
            raise HardwareError(f"printer {self.host}:{self.port} did not answer within {self.timeout:g} s") from None
        except OSError as e:
            raise HardwareError(f"cannot reach printer {self.host}:{self.port}: {_why(e)}") from None

    def _send(self, data: bytes, confirm: bool) -> Sent:
        s = self._connect()
        try:
            s.settimeout(self.timeout)
            s.sendall(data + (STATUS_QUERIES if confirm else b""))
            if not confirm:
                return Sent(None)
            # "sent" only means the kernel took it: the printer's own answer, on the same
            # connection, after the receipt, is what counts as printed
            answer = b""
            try:
                while len(answer) < 2:
                    chunk = s.recv(2 - len(answer))
                    if not chunk:
                        break
                    answer += chunk
            except socket.timeout:
                pass
            ok, note = parse_status(answer)
            return Sent(ok, note)
        except socket.timeout:
            raise HardwareError(f"printer {self.host}:{self.port} stopped taking data (timeout)") from None
        except OSError as e:
            raise HardwareError(f"printer {self.host}:{self.port}: {_why(e)}") from None
        finally:
            s.close()

    def exchange(self, data: bytes, n: int = 1) -> bytes:
        return _watchdog(self.describe(), self.timeout * 3 + 1, lambda: self._exchange(data, n))

    def _exchange(self, data: bytes, n: int = 1) -> bytes:
        s = self._connect()
        try:
            s.settimeout(self.timeout)
            s.sendall(data)
            return s.recv(n)
        except socket.timeout:
            raise HardwareError(f"printer {self.host}:{self.port} did not answer (timeout)") from None
        except OSError as e:
            raise HardwareError(f"printer {self.host}:{self.port}: {_why(e)}") from None
        finally:
            s.close()


class UsbTransport(Transport):
    kind = "usb"

    def __init__(self, vendor: int, product: int, timeout: float = 3.0, profile: str | None = None):
        if not vendor or not product:
            raise HardwareError("printer.kind = usb needs printer.usb_vendor and printer.usb_product")
        self.vendor, self.product, self.timeout, self.profile = vendor, product, timeout, profile

    def describe(self) -> str:
        return f"usb {self.vendor:04x}:{self.product:04x}"

    def _send(self, data: bytes, confirm: bool) -> Sent:
        try:
            import usb.core  # noqa: F401,PLC0415 - pyusb, from python-escpos[usb]
        except ImportError:
            raise HardwareError("USB printing needs pyusb: install python-escpos[usb] "
                                "(or use printer.kind = file with /dev/usb/lp0)") from None
        p = import_escpos_printer()
        dev = p.Usb(self.vendor, self.product, timeout=int(self.timeout * 1000))
        try:
            dev.open()
            dev._raw(data)
        except Exception as e:  # DeviceNotFoundError, usb.core.USBError, OSError
            raise HardwareError(f"USB printer {self.describe()[4:]} is not available: {_why(e)}") from None
        finally:
            try:
                dev.close()
            except Exception:  # noqa: BLE001
                pass
        return Sent(None)


def from_config(cfg, *, port=None) -> Transport:
    """The printer transport configured in ``[printer]``."""
    p = cfg.values["printer"]
    kind = p["kind"]
    t = float(p["timeout"])
    if kind == "none":
        return NoneTransport()
    if kind == "file":
        return FileTransport(p["path"], t)
    if kind == "serial":
        return SerialTransport(p["device"], p["baudrate"], t, port=port)
    if kind == "network":
        return NetworkTransport(p["host"], p["port"], t)
    if kind == "usb":
        return UsbTransport(p["usb_vendor"], p["usb_product"], t, p["profile"])
    raise HardwareError(f"unknown printer kind {kind!r}")
