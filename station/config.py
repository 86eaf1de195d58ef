"""Typed settings in one place: one TOML file plus environment overrides.

Where a value comes from, in order of precedence:
  1. a command-line flag (``--db``, ``--terminal``) passed to :func:`load`;
  2. an environment variable ``STATION_<SECTION>_<KEY>`` (e.g. ``STATION_TERMINAL_ID``),
     and ``STATION_DB`` for ``database.url``;
  3. the config file (``--config``, ``STATION_CONFIG``, or ``<data dir>/station.toml``);
  4. the default below.

``station config show`` prints every effective value and where it came from.
A bad or unknown key, or a wrong type, is one ConfigError naming the key and the file.
"""
from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from data.db import default_data_dir
from station.errors import ConfigError
from station.payments import settings as payment_settings
from station.treasury import settings as treasury_settings

# (type, default, documentation). type is one of: str, int, bool, list[str], list[int], dict[str],
# secret (a str that ``config show`` never prints)
SCHEMA: dict[str, dict[str, tuple[str, Any, str]]] = {
    "store": {
        "name": ("str", "Station Demo Store", "store name printed on receipts and shown on screen"),
        "address": ("list[str]", ["1 Market Street", "Springfield"], "address lines for the receipt header"),
        "tax_id": ("str", "", "VAT / tax number printed on receipts"),
        "currency": ("str", "EUR", "ISO 4217 currency code"),
        "currency_symbol": ("str", "EUR", "what screens and receipts print after amounts"),
        "minor_units": ("int", 2, "decimals of the currency (EUR 2, JPY 0)"),
        "prices_include_tax": ("bool", True, "catalog prices are gross (tax-inclusive)"),
        "decimal_separator": ("str", "either", "what cashiers type: '.', ',' or 'either'"),
        "footer": ("list[str]", ["Thank you for shopping with us"], "receipt footer lines"),
        "tax_letters": ("list[str]", ["A=19", "B=7", "C=0"],
                        "receipt letter of each VAT rate, store-wide (LETTER=percent); a rate not listed "
                        "is printed as its percentage"),
    },
    "terminal": {
        "id": ("str", "T1", "this machine's terminal id (receipt numbers are per terminal)"),
        "drawer": ("str", "", "drawer id of this terminal (empty: same as terminal id)"),
        "kiosk": ("bool", False, "a till that boots into the station: Ctrl+C, Ctrl+Z, Ctrl+\\ do nothing, "
                  "quitting logs out (also --kiosk)"),
    },
    "database": {
        "url": ("str", "", "sqlite:////abs/path/store.db or postgresql://user@host:port/db "
                "(empty: <data dir>/store.db)"),
    },
    "security": {
        "pepper_file": ("str", "", "key file (mode 0600) with the PIN pepper and TOTP key "
                        "(empty: <data dir>/station.key)"),
        "max_failed_attempts": ("int", 5, "failed PIN/TOTP attempts before the user is locked"),
        "lockout_minutes": ("int", 15, "how long a locked user stays locked"),
        "idle_lock_minutes": ("int", 5, "lock the screen after this many idle minutes (0: never)"),
        "totp_roles": ("list[str]", ["supervisor", "manager", "treasurer", "admin"],
                       "roles that must give a TOTP code to approve"),
        "scrypt_n": ("int", 2 ** 15, "scrypt cost for PIN hashes"),
        "cli_login_reads": ("bool", True, "read-only CLI commands (lists, reports, verify, audit) ask "
                            "who you are too"),
        "store_group": ("str", "", "OS group that may use the data dir and SQLite store (dirs 2770, "
                        "files 0660; empty: the owner only, 0700/0600)"),
        "approval_request_minutes": ("int", 10, "how long an approval request waits for a manager "
                                     "at another terminal"),
    },
    "limits": {
        "cashier_line_discount_pct": ("int", 10, "line/ticket discount a cashier may give alone (%)"),
        "variance_alone": ("int", 200, "drawer variance (minor units) a cashier may close with alone"),
        "paid_out_alone": ("int", 5000, "paid out a cashier may make alone (minor units)"),
        "max_amount": ("int", 10_000_00, "largest amount anyone may type (minor units)"),
        "max_quantity": ("int", 9999, "largest quantity of one line"),
        "refund_alone": ("int", 100_00, "refund a cashier may give alone (minor units); more needs approval"),
        "refund_days": ("int", 30, "days after the sale a cashier may refund alone; later needs approval"),
        "post_void_minutes": ("int", 15, "a terminal's last sale may be post-voided within this many minutes"),
    },
    "refund": {
        "reasons": ("list[str]", ["damaged", "wrong item", "changed mind", "not as described", "other"],
                    "reason codes a return must give ('post-void' is kept for post-voids)"),
        "signature_line": ("bool", True, "refund receipts carry a line for the customer's signature"),
    },
    "stock": {
        "negative": ("str", "allow", "stock going below zero: allow (the sale goes on, the product is listed "
                     "as negative) | refuse (the scan is refused with the quantity in stock)"),
        "count_approval_value": ("int", 100_00, "a count whose differences are worth more than this at cost "
                                 "(minor units) needs a manager's approval to complete"),
        "adjust_alone": ("int", 50_00, "a stock adjustment a supervisor may post alone, worth at cost "
                         "(minor units); more needs a manager's approval"),
    },
    "printer": {
        "kind": ("str", "none", "none | file | serial | network | usb"),
        "path": ("str", "", "file: raw ESC/POS bytes are appended here"),
        "device": ("str", "", "serial: port (e.g. /dev/ttyUSB0)"),
        "baudrate": ("int", 19200, "serial: baud rate"),
        "host": ("str", "", "network: printer host"),
        "port": ("int", 9100, "network: printer port"),
        "usb_vendor": ("int", 0, "usb: vendor id"),
        "usb_product": ("int", 0, "usb: product id"),
        "timeout": ("int", 3, "seconds before a printer that does not answer is given up"),
        "profile": ("str", "TM-T88V", "python-escpos printer profile"),
        "codepage": ("str", "CP858", "code page for receipt text (CP858 has the euro sign)"),
        "width": ("int", 42, "characters per receipt line"),
    },
    "drawer": {
        "kick": ("str", "printer", "how the drawer opens: printer | serial | none"),
        "device": ("str", "", "serial: port of the drawer"),
        "baudrate": ("int", 9600, "serial: baud rate"),
        "pin": ("int", 2, "drawer connector pin: 2 or 5"),
        "on_ms": ("int", 100, "kick pulse on time (ms)"),
        "off_ms": ("int", 200, "kick pulse off time (ms)"),
        "timeout": ("int", 2, "seconds for every drawer I/O"),
        "status": ("bool", False, "read drawer status (DLE EOT 1)"),
        "open_level": ("str", "low", "status bit 2 level that means open: low | high"),
        "blind_close": ("bool", True, "the cashier counts without seeing the expected cash"),
        "shared": ("bool", False, "several people sell and move cash in one drawer session (each movement "
                   "still records who made it); off: only the session's own cashier"),
        "reasons": ("list[str]", ["float top-up", "supplier", "petty cash", "safe drop", "change",
                                   "customer", "other"], "reason codes for paid in/out, drops"),
    },
    "cash": {
        "denominations": ("list[int]", [50000, 20000, 10000, 5000, 2000, 1000, 500, 200, 100, 50, 20, 10, 5, 2, 1],
                          "notes and coins in minor units, largest first"),
        "rounding_step": ("int", 1, "cash totals are rounded to this many minor units (5 = 0.05)"),
        "quick_amounts": ("list[int]", [1000, 2000, 5000], "quick cash amounts on the tender screen"),
        "tender_methods": ("list[str]", ["cash", "card", "voucher"], "tender methods offered"),
    },
    "scanner": {
        "suffix": ("list[str]", ["enter", "ctrl+j", "tab"], "keys that end a scan: enter (CR), ctrl+j (LF), tab"),
        "merge_lines": ("bool", True, "scanning the same item again adds to its line"),
        "embedded": ("list[str]", ["22IIIIIPPPPPC:price", "23IIIIIWWWWWC:weight"],
                     "EAN-13 patterns with embedded price (P) or weight in grams (W); I = item code"),
    },
    "log": {
        "file": ("str", "", "the log file (empty: <data dir>/station.log)"),
        "max_kb": ("int", 1024, "station.log is rotated when it reaches this size (KiB)"),
        "keep": ("int", 5, "rotated logs kept (station.log.1 ... .N)"),
    },
    "reports": {
        "timezone": ("str", "UTC", "the store's time zone for reports (IANA name, e.g. Europe/Berlin); the same "
                     "on every terminal"),
        "day_starts": ("str", "00:00", "business day cut-off HH:MM: sales before it count to the day before "
                       "(a bakery: 04:00)"),
        "slow_days": ("int", 30, "a product with no sale in this many days is a slow mover"),
    },
    "keymap": {
        "bindings": ("dict[str]", {}, "binding id -> key(s), e.g. {sale_tender = \"f12\"}"),
    },
}

SCHEMA.update(payment_settings.SCHEMA)
SCHEMA.update(treasury_settings.SCHEMA)

ENV_DB = "STATION_DB"


def _check_type(kind: str, value: Any) -> bool:
    if kind in ("str", "secret"):
        return isinstance(value, str)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "list[str]":
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    if kind == "list[int]":
        return isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    if kind == "dict[str]":
        return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    raise AssertionError(kind)


def _from_env(kind: str, text: str, name: str) -> Any:
    try:
        if kind in ("str", "secret"):
            return text
        if kind == "int":
            return int(text)
        if kind == "bool":
            t = text.strip().lower()
            if t in ("1", "true", "yes", "on"):
                return True
            if t in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if kind == "list[str]":
            return [p.strip() for p in text.split(",") if p.strip()]
        if kind == "list[int]":
            return [int(p) for p in text.split(",") if p.strip()]
        if kind == "dict[str]":
            out = {}
            for part in text.split(","):
                if part.strip():
                    k, v = part.split("=", 1)
                    out[k.strip()] = v.strip()
            return out
    except ValueError:
        raise ConfigError(f"environment variable {name}={text!r} is not a valid {kind}") from None
    raise AssertionError(kind)


class Section:
    """Attribute access to one section's values."""

    def __init__(self, name: str, values: dict[str, Any]):
        self._name = name
        self.__dict__.update(values)

    def __repr__(self) -> str:
        return f"<{self._name} {self.__dict__}>"


@dataclass
class Config:
    values: dict[str, dict[str, Any]]
    sources: dict[str, str]
    file: Path | None
    data_dir: Path = field(default_factory=default_data_dir)

    def __getattr__(self, name: str) -> Section:
        values = self.__dict__.get("values", {})
        if name in values:
            return Section(name, values[name])
        raise AttributeError(name)

    def get(self, dotted: str) -> Any:
        s, k = dotted.split(".", 1)
        return self.values[s][k]

    def set(self, dotted: str, value: Any, source: str = "override") -> None:
        s, k = dotted.split(".", 1)
        if s not in SCHEMA or k not in SCHEMA[s]:
            raise ConfigError(f"unknown setting {dotted}")
        if not _check_type(SCHEMA[s][k][0], value):
            raise ConfigError(f"setting {dotted} must be {SCHEMA[s][k][0]}, not {value!r}")
        self.values[s][k] = value
        self.sources[dotted] = source

    # derived values ------------------------------------------------------
    @property
    def db_url(self) -> str:
        return self.values["database"]["url"] or f"sqlite:///{(self.data_dir / 'store.db').resolve()}"

    @property
    def terminal_id(self) -> str:
        return self.values["terminal"]["id"]

    @property
    def drawer_id(self) -> str:
        return self.values["terminal"]["drawer"] or self.terminal_id

    @property
    def log_file(self) -> Path:
        p = self.values["log"]["file"]
        return Path(p) if p else self.data_dir / "station.log"

    @property
    def key_file(self) -> Path:
        p = self.values["security"]["pepper_file"]
        return Path(p) if p else self.data_dir / "station.key"

    def rows(self):
        """(dotted key, value, source, doc) for ``station config show``."""
        for s, keys in SCHEMA.items():
            for k, (kind, _d, doc) in keys.items():
                d = f"{s}.{k}"
                v = self.values[s][k]
                yield d, ("***" if kind == "secret" and v else v), self.sources.get(d, "default"), doc


def default_config_path(data_dir: Path | None = None) -> Path:
    return (data_dir or default_data_dir()) / "station.toml"


def load(path: str | Path | None = None, *, env: dict | None = None,
         overrides: dict[str, Any] | None = None) -> Config:
    env = dict(os.environ if env is None else env)
    data_dir = Path(env["STATION_HOME"]) if env.get("STATION_HOME") else default_data_dir()
    explicit = path or env.get("STATION_CONFIG")
    file = Path(explicit) if explicit else default_config_path(data_dir)
    values = {s: {k: (list(v[1]) if isinstance(v[1], list) else dict(v[1]) if isinstance(v[1], dict) else v[1])
                  for k, v in keys.items()} for s, keys in SCHEMA.items()}
    sources: dict[str, str] = {}

    if file.exists():
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ConfigError(f"config file {file} is not UTF-8 text") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"config file {file} is not valid TOML: {e}") from None
        except OSError as e:
            raise ConfigError(f"cannot read config file {file}: {e.strerror}") from None
        for s, table in raw.items():
            if s not in SCHEMA:
                raise ConfigError(f"unknown section [{s}] in {file}")
            if not isinstance(table, dict):
                raise ConfigError(f"'{s}' in {file} must be a [section]")
            for k, v in table.items():
                if k not in SCHEMA[s]:
                    raise ConfigError(f"unknown key {s}.{k} in {file}")
                kind = SCHEMA[s][k][0]
                if not _check_type(kind, v):
                    raise ConfigError(f"key {s}.{k} in {file} must be {kind}, not {v!r}")
                values[s][k] = v
                sources[f"{s}.{k}"] = f"file {file}"
    elif explicit:
        raise ConfigError(f"config file {file} does not exist")

    for s, keys in SCHEMA.items():
        for k, (kind, _d, _doc) in keys.items():
            name = f"STATION_{s.upper()}_{k.upper()}"
            if name in env:
                values[s][k] = _from_env(kind, env[name], name)
                sources[f"{s}.{k}"] = f"env {name}"
    if env.get(ENV_DB):
        values["database"]["url"] = env[ENV_DB]
        sources["database.url"] = f"env {ENV_DB}"

    cfg = Config(values=values, sources=sources, file=file if file.exists() else None, data_dir=data_dir)
    for dotted, v in (overrides or {}).items():
        if v is not None:
            cfg.set(dotted, v, "command line")
    validate(cfg)
    return cfg


#: allowed range of every number in SCHEMA (lists: of each element), inclusive
RANGES: dict[str, tuple[int, int]] = {
    "store.minor_units": (0, 4),
    "security.max_failed_attempts": (1, 100),
    "security.lockout_minutes": (1, 7 * 24 * 60),
    "security.idle_lock_minutes": (0, 24 * 60),
    "security.scrypt_n": (2 ** 10, 2 ** 20),
    "limits.cashier_line_discount_pct": (0, 100),
    "limits.variance_alone": (0, 10 ** 12),
    "limits.paid_out_alone": (0, 10 ** 12),
    "limits.max_amount": (1, 10 ** 12),
    "limits.max_quantity": (1, 1_000_000),
    "stock.count_approval_value": (0, 10 ** 12),
    "stock.adjust_alone": (0, 10 ** 12),
    "printer.baudrate": (300, 921_600),
    "printer.port": (1, 65535),
    "printer.usb_vendor": (0, 65535),
    "printer.usb_product": (0, 65535),
    "printer.timeout": (1, 120),
    "printer.width": (16, 100),
    "drawer.baudrate": (300, 921_600),
    "drawer.pin": (2, 5),
    "drawer.on_ms": (2, 510),
    "drawer.off_ms": (2, 510),
    "drawer.timeout": (1, 60),
    "cash.denominations": (1, 10 ** 12),
    "cash.rounding_step": (1, 10_000),
    "cash.quick_amounts": (1, 10 ** 12),
    "security.approval_request_minutes": (1, 24 * 60),
    "log.max_kb": (16, 10 ** 7),
    "log.keep": (1, 1000),
    "limits.refund_alone": (0, 10 ** 12),
    "limits.refund_days": (0, 3650),
    "limits.post_void_minutes": (0, 24 * 60),
    "reports.slow_days": (1, 3650),
}
RANGES.update(payment_settings.RANGES)
RANGES.update(treasury_settings.RANGES)


def _source(cfg: Config, dotted: str) -> str:
    """Where a value came from, as a phrase after the key: ' in FILE', ' (env X)'."""
    src = cfg.sources.get(dotted, "default")
    if src.startswith("file "):
        return f" in {src[5:]}"
    if src == "default":
        return " (its default)"
    return f" ({src})"


def _check_ranges(cfg: Config) -> None:
    for s, keys in SCHEMA.items():
        for k, (kind, _d, _doc) in keys.items():
            dotted = f"{s}.{k}"
            if kind not in ("int", "list[int]") or dotted not in RANGES:
                continue   # tests/test_config.py: every number of SCHEMA has its range
            lo, hi = RANGES[dotted]
            value = cfg.values[s][k]
            for v in (value if kind == "list[int]" else [value]):
                if not lo <= v <= hi:
                    each = " each" if kind == "list[int]" else ""
                    raise ConfigError(f"key {dotted}{_source(cfg, dotted)} must{each} be between {lo} and "
                                      f"{hi}, not {v}")
    n = cfg.values["security"]["scrypt_n"]
    if n & (n - 1):
        raise ConfigError(f"key security.scrypt_n{_source(cfg, 'security.scrypt_n')} must be a power of 2 "
                          f"between {RANGES['security.scrypt_n'][0]} and {RANGES['security.scrypt_n'][1]}, "
                          f"not {n}")


def report_settings_problems(reports: dict) -> list[tuple[str, str]]:
    """(key, what is wrong) for the ``[reports]`` time zone and cut-off."""
    out = []
    try:
        ZoneInfo(reports["timezone"])
    except (ValueError, KeyError, OSError):
        out.append(("timezone", f"must be an IANA time zone name such as Europe/Berlin, not {reports['timezone']!r}"))
    m = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", reports["day_starts"])
    if m is None:
        out.append(("day_starts", f"must be a time HH:MM from 00:00 to 23:59, not {reports['day_starts']!r}"))
    return out


def validate(cfg: Config) -> None:
    """Every value in its range and of its allowed choices; else ONE ConfigError
    naming the key, where it came from (file, environment, command line) and
    what is allowed."""
    v = cfg.values
    _check_ranges(cfg)

    def bad(dotted: str, text: str):
        raise ConfigError(f"key {dotted}{_source(cfg, dotted)} {text}")

    if v["store"]["decimal_separator"] not in (".", ",", "either"):
        bad("store.decimal_separator", "must be '.', ',' or 'either'")
    if v["printer"]["kind"] not in ("none", "file", "serial", "network", "usb"):
        bad("printer.kind", "must be none, file, serial, network or usb")
    if v["drawer"]["kick"] not in ("printer", "serial", "none"):
        bad("drawer.kick", "must be printer, serial or none")
    if v["stock"]["negative"] not in ("allow", "refuse"):
        bad("stock.negative", "must be allow or refuse")
    if v["drawer"]["pin"] not in (2, 5):
        bad("drawer.pin", "must be 2 or 5")
    if v["drawer"]["open_level"] not in ("low", "high"):
        bad("drawer.open_level", "must be low or high")
    d = v["cash"]["denominations"]
    if not d or len(set(d)) != len(d):
        bad("cash.denominations", "must be distinct positive amounts")
    if "cash" not in v["cash"]["tender_methods"]:
        bad("cash.tender_methods", "must include 'cash'")
    if not v["terminal"]["id"] or len(v["terminal"]["id"]) > 32:
        bad("terminal.id", "must be 1 to 32 characters")
    reasons = v["refund"]["reasons"]
    if not reasons or any(not r.strip() or len(r) > 64 for r in reasons) or "post-void" in reasons:
        bad("refund.reasons", "must be reason codes of 1 to 64 characters ('post-void' is kept for post-voids)")
    for role in v["security"]["totp_roles"]:
        if role not in ("cashier", "supervisor", "manager", "treasurer", "admin"):
            bad("security.totp_roles", f"has an unknown role {role!r}")
    for key, problem in report_settings_problems(v["reports"]):
        bad(f"reports.{key}", problem)
    for problem in payment_settings.validate(v, _source(cfg, "payments.methods")):
        raise ConfigError(problem)
    for problem in treasury_settings.validate(v, lambda dotted: _source(cfg, dotted)):
        raise ConfigError(problem)
