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
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data.db import default_data_dir
from station.errors import ConfigError

# (type, default, documentation). type is one of: str, int, bool, list[str], list[int], dict[str]
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
    },
    "terminal": {
        "id": ("str", "T1", "this machine's terminal id (receipt numbers are per terminal)"),
        "drawer": ("str", "", "drawer id of this terminal (empty: same as terminal id)"),
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
    },
    "limits": {
        "cashier_line_discount_pct": ("int", 10, "line/ticket discount a cashier may give alone (%)"),
        "variance_alone": ("int", 200, "drawer variance (minor units) a cashier may close with alone"),
        "paid_out_alone": ("int", 5000, "paid out a cashier may make alone (minor units)"),
        "max_amount": ("int", 10_000_00, "largest amount anyone may type (minor units)"),
        "max_quantity": ("int", 9999, "largest quantity of one line"),
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
    "keymap": {
        "bindings": ("dict[str]", {}, "binding id -> key(s), e.g. {sale_tender = \"f12\"}"),
    },
}

ENV_DB = "STATION_DB"


def _check_type(kind: str, value: Any) -> bool:
    if kind == "str":
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
        if kind == "str":
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
    def key_file(self) -> Path:
        p = self.values["security"]["pepper_file"]
        return Path(p) if p else self.data_dir / "station.key"

    def rows(self):
        """(dotted key, value, source, doc) for ``station config show``."""
        for s, keys in SCHEMA.items():
            for k, (_kind, _d, doc) in keys.items():
                d = f"{s}.{k}"
                yield d, self.values[s][k], self.sources.get(d, "default"), doc


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


def validate(cfg: Config) -> None:
    where = f" in {cfg.file}" if cfg.file else ""
    v = cfg.values
    if not (0 <= v["store"]["minor_units"] <= 4):
        raise ConfigError(f"key store.minor_units{where} must be between 0 and 4")
    if v["store"]["decimal_separator"] not in (".", ",", "either"):
        raise ConfigError(f"key store.decimal_separator{where} must be '.', ',' or 'either'")
    if v["printer"]["kind"] not in ("none", "file", "serial", "network", "usb"):
        raise ConfigError(f"key printer.kind{where} must be none, file, serial, network or usb")
    if v["drawer"]["kick"] not in ("printer", "serial", "none"):
        raise ConfigError(f"key drawer.kick{where} must be printer, serial or none")
    if v["drawer"]["pin"] not in (2, 5):
        raise ConfigError(f"key drawer.pin{where} must be 2 or 5")
    if v["drawer"]["open_level"] not in ("low", "high"):
        raise ConfigError(f"key drawer.open_level{where} must be low or high")
    d = v["cash"]["denominations"]
    if not d or any(x <= 0 for x in d) or len(set(d)) != len(d):
        raise ConfigError(f"key cash.denominations{where} must be distinct positive amounts")
    if v["cash"]["rounding_step"] < 1:
        raise ConfigError(f"key cash.rounding_step{where} must be at least 1")
    if "cash" not in v["cash"]["tender_methods"]:
        raise ConfigError(f"key cash.tender_methods{where} must include 'cash'")
    if not v["terminal"]["id"] or len(v["terminal"]["id"]) > 32:
        raise ConfigError(f"key terminal.id{where} must be 1 to 32 characters")
    for role in v["security"]["totp_roles"]:
        if role not in ("cashier", "supervisor", "manager", "treasurer", "admin"):
            raise ConfigError(f"key security.totp_roles{where}: unknown role {role!r}")
