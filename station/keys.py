"""The key file, kept OFF the database: the PIN pepper and the key that
encrypts TOTP secrets. Created on first use with mode 0600; refused if others
can read it."""
from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from station.errors import ConfigError


@dataclass(frozen=True)
class Keys:
    pepper: bytes
    totp_key: bytes  # Fernet key (urlsafe base64, 32 bytes)

    def fernet(self):
        from cryptography.fernet import Fernet
        return Fernet(self.totp_key)


def load_or_create(path: Path, *, create: bool = True) -> Keys:
    path = Path(path)
    if not path.exists():
        if not create:
            raise ConfigError(f"key file {path} does not exist")
        path.parent.mkdir(parents=True, exist_ok=True)
        body = json.dumps({
            "pepper": base64.b64encode(secrets.token_bytes(32)).decode(),
            "totp_key": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        })
        # O_EXCL: two terminals starting at once never write two different keys
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(body)
        except FileExistsError:
            pass
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"key file {path} is readable by others: run 'chmod 600 {path}'")
    try:
        raw = json.loads(path.read_text())
        return Keys(pepper=base64.b64decode(raw["pepper"]), totp_key=raw["totp_key"].encode())
    except (ValueError, KeyError) as e:
        raise ConfigError(f"key file {path} is damaged ({e.__class__.__name__})") from None
