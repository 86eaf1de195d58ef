"""The store's key, kept OFF the database: the PIN pepper, the key that encrypts
TOTP secrets, and (derived from them) the key of the journal's MAC.

One store, one key: every till of a store uses the same key file (mode 0600).
The database keeps a check value of it (``schema_meta.key_check``, an HMAC that
reveals nothing of the key), so a till with another key is refused once, at
start, with a sentence saying what to do -- never as a "wrong PIN" that feeds
the shared lockout. A key is created only for a store that has no key yet (no
check value, no users); a store with users never gets a new key by accident: a
till without the key file refuses to start and says how to install it
(``station key export`` on a till that has it, ``station key import`` here).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from station.errors import ConfigError

#: schema_meta row holding the check value of the store's key
CHECK_KEY = "key_check"


@dataclass(frozen=True)
class Keys:
    pepper: bytes
    totp_key: bytes  # Fernet key (urlsafe base64, 32 bytes)

    def fernet(self):
        from cryptography.fernet import Fernet
        return Fernet(self.totp_key)

    @property
    def mac_key(self) -> bytes:
        """The journal's MAC key, derived from the key file (never stored)."""
        return hmac.new(self.pepper, b"station journal mac v1" + self.totp_key, hashlib.sha256).digest()

    def check_value(self) -> str:
        """What the database keeps to recognise this key (reveals nothing of it)."""
        return hmac.new(self.pepper, b"station key check v1" + self.totp_key, hashlib.sha256).hexdigest()[:32]

    def text(self) -> str:
        """The key file's content."""
        return json.dumps({"pepper": base64.b64encode(self.pepper).decode(),
                           "totp_key": self.totp_key.decode()}) + "\n"


def new_keys() -> Keys:
    return Keys(pepper=secrets.token_bytes(32), totp_key=base64.urlsafe_b64encode(secrets.token_bytes(32)))


def parse(text: str, where: str) -> Keys:
    """Keys from a key file's text, or ConfigError naming ``where``."""
    try:
        raw = json.loads(text)
        pepper = base64.b64decode(raw["pepper"], validate=True)
        totp_key = raw["totp_key"].encode()
        if len(pepper) < 16 or len(base64.urlsafe_b64decode(totp_key)) != 32:
            raise ValueError("short key")
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as e:
        raise ConfigError(f"{where} is not a station key file ({e.__class__.__name__})") from None
    return Keys(pepper=pepper, totp_key=totp_key)


def read(path: Path) -> Keys:
    """The key file at ``path``: it must exist, be private (0600) and well formed."""
    path = Path(path)
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"key file {path} is readable by others: run 'chmod 600 {path}'")
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"key file {path} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"key file {path} is damaged (not text)") from None
    except OSError as e:
        raise ConfigError(f"cannot read key file {path}: {e.strerror or e}") from None
    return parse(text, f"key file {path}")


def write(path: Path, keys: Keys) -> None:
    """Write a key file with mode 0600 (its folder 0700 when created). An existing
    file is never overwritten (O_EXCL: two tills starting at once never write two
    different keys; FileExistsError)."""
    path = Path(path)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(keys.text())
            f.flush()
            os.fsync(f.fileno())
    except FileExistsError:
        raise
    except OSError as e:
        raise ConfigError(f"cannot write key file {path}: {e.strerror or e}") from None


def install_hint(path: Path) -> str:
    return (f"on a till of this store run 'station key export FILE', bring FILE here and run "
            f"'station key import FILE' (it becomes {path}, mode 0600)")


# ------------------------------------------------------------ the store ---

def _meta(name: str) -> str | None:
    from data.models import SchemaMeta
    row = SchemaMeta.get_or_none(SchemaMeta.key == name)
    return None if row is None else row.value


def store_check_value() -> str | None:
    """The check value of the store's key kept in the database (None: no key yet)."""
    return _meta(CHECK_KEY)


def store_has_key() -> bool:
    """Does the store already have a key (a check value, or users whose PINs need it)?"""
    from data.models import User
    return store_check_value() is not None or User.select().exists()


def matches_store(keys: Keys) -> bool | None:
    """True / False: this key is / is not the store's; None: the store has no check value yet."""
    kc = store_check_value()
    if kc is None:
        return None
    return hmac.compare_digest(kc, keys.check_value())


def wrong_key_message(path) -> str:
    return (f"the key file {path} is not this store's key (its check value differs from the one in the "
            f"database): {install_hint(path)}")


def record_check_value(keys: Keys, terminal: str = "") -> bool:
    """Store this key's check value unless the store has one; True when it is (now)
    the store's. In the same transaction the journal is keyed from here on (its
    keyed-from marker signed): a store's key and its keyed journal begin together,
    so a marker found "pending" later, beside a check value, was reset."""
    from data import db as dbmod
    from data.models import SchemaMeta
    from station import journal

    def tx():
        with dbmod.write():
            if store_check_value() is not None:
                return
            SchemaMeta.insert(key=CHECK_KEY, value=keys.check_value()).on_conflict_ignore().execute()
            if matches_store(keys):      # ours, just now (another till may have won the race)
                journal.sign_keyed_marker(keys, terminal=terminal)
    dbmod.retrying(tx)
    return bool(matches_store(keys))


def load_for_store(path: Path, terminal: str = "") -> Keys:
    """The key of the open store (the models are bound to it), checked once.

    * no key file, and the store has no key yet: a new key is created (0600) and
      its check value stored;
    * no key file, but the store has one: ConfigError saying how to install it;
    * a key file whose check value differs: ConfigError (never a wrong PIN).
    """
    path = Path(path)
    created = False
    if not path.exists():
        if store_has_key():
            raise ConfigError(f"this till has no key file ({path}) but the store already has a key: "
                              f"{install_hint(path)}")
        try:
            write(path, new_keys())
            created = True
        except FileExistsError:   # another process on this machine made it meanwhile
            pass
    keys = read(path)
    ok = matches_store(keys)
    if ok is None:
        ok = record_check_value(keys, terminal)
    if not ok:
        if created:   # our brand-new key lost a race with another till's: leave no stray key behind
            try:
                path.unlink()
            except OSError:
                pass
        raise ConfigError(wrong_key_message(path))
    return keys


def check(cfg) -> tuple[bool, str]:
    """For ``station doctor``: is this till's key file the store's key? (ok, one sentence).
    Opens the store's database itself; never creates a key."""
    from data import db as dbmod
    from data import migrations
    path = cfg.key_file
    try:
        db = dbmod.open_database(cfg.db_url)
    except dbmod.DatabaseUnavailable as e:
        return False, str(e)
    try:
        if migrations.schema_version(db) == 0:
            return (path.exists(), f"key file {path} " + ("present" if path.exists() else "missing")
                    + "; the store has no schema yet")
        try:
            keys = read(path)
        except ConfigError as e:
            if not path.exists() and not store_has_key():
                return True, f"no key file yet at {path}: the first start creates the store's key"
            msg = str(e)
            if not path.exists():
                msg += f": {install_hint(path)}"
            return False, msg
        ok = matches_store(keys)
        if ok is False:
            return False, wrong_key_message(path)
        if ok is None:
            return True, f"key file {path} is readable; the store records its check value at the next start"
        return True, f"key file {path} is this store's key"
    finally:
        db.close()
