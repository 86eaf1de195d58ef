"""Raw byte transports for the receipt printer: none, file, serial, network, usb.

Every transport has ``send(data: bytes)`` and raises :class:`HardwareError`
(a sentence a cashier can read) on any failure; every I/O has a timeout, so a
printer that never answers costs at most ``printer.timeout`` seconds.
``python-escpos`` is imported lazily (it costs ~250 ms and calls
``logging.basicConfig()``, which would print on the TUI); logging is put back
afterwards.

Receipt and report bytes are built in ``escpos`` ``Dummy()`` printers and sent
through :func:`from_config(cfg).send`; tests read the bytes from a file or a pty.
"""
from __future__ import annotations

import abc

import logging
import os
import socket
import threading

from station.errors import Unavailable


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


def dummy():
    """An escpos ``Dummy`` printer (bytes collect in ``.output``)."""
    return import_escpos_printer().Dummy()


class Transport(abc.ABC):
    """Where raw ESC/POS bytes go. Every concrete transport sends (or raises
    HardwareError with a sentence); reading status is optional."""
    kind = "none"

    @abc.abstractmethod
    def send(self, data: bytes) -> None:
        """Send ``data`` whole, or raise HardwareError."""

    def describe(self) -> str:
        return self.kind

    def read(self, n: int = 1) -> bytes:
        """Read up to ``n`` status bytes (b"" when the transport cannot answer)."""
        return b""


class NoneTransport(Transport):
    """No printer configured: sending is refused with a clear message."""
    kind = "none"

    def send(self, data: bytes) -> None:
        raise HardwareError("no printer is configured (printer.kind = none)")


class FileTransport(Transport):
    """Appends raw ESC/POS bytes to a file (a spool, or /dev/usb/lp0)."""
    kind = "file"
    _lock = threading.Lock()

    def __init__(self, path: str):
        if not path:
            raise HardwareError("printer.kind = file needs printer.path")
        self.path = path

    def describe(self) -> str:
        return f"file {self.path}"

    def send(self, data: bytes) -> None:
        try:
            with self._lock:
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    view = memoryview(data)
                    while view:
                        n = os.write(fd, view)
                        view = view[n:]
                finally:
                    os.close(fd)
        except OSError as e:
            raise HardwareError(f"cannot write to printer file {self.path}: {e.strerror or e}") from None


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

    def send(self, data: bytes) -> None:
        if self._port is not None:
            serial_write(self._port, data, self.device or "port")
            return
        port = open_serial(self.device, self.baudrate, self.timeout)
        try:
            serial_write(port, data, self.device)
        finally:
            port.close()

    def exchange(self, data: bytes, n: int = 1) -> bytes:
        """Write ``data`` and read up to ``n`` bytes (status queries)."""
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

    def send(self, data: bytes) -> None:
        s = self._connect()
        try:
            s.settimeout(self.timeout)
            s.sendall(data)
        except socket.timeout:
            raise HardwareError(f"printer {self.host}:{self.port} stopped taking data (timeout)") from None
        except OSError as e:
            raise HardwareError(f"printer {self.host}:{self.port}: {_why(e)}") from None
        finally:
            s.close()

    def exchange(self, data: bytes, n: int = 1) -> bytes:
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

    def send(self, data: bytes) -> None:
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


def from_config(cfg, *, port=None) -> Transport:
    """The printer transport configured in ``[printer]``."""
    p = cfg.values["printer"]
    kind = p["kind"]
    t = float(p["timeout"])
    if kind == "none":
        return NoneTransport()
    if kind == "file":
        return FileTransport(p["path"])
    if kind == "serial":
        return SerialTransport(p["device"], p["baudrate"], t, port=port)
    if kind == "network":
        return NetworkTransport(p["host"], p["port"], t)
    if kind == "usb":
        return UsbTransport(p["usb_vendor"], p["usb_product"], t, p["profile"])
    raise HardwareError(f"unknown printer kind {kind!r}")
