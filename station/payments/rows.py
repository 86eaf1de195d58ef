"""The provider payment rows as the callback path reads and writes them: plain
SQL through peewee's connection, each statement built once (a callback holds the
store's write lock, which the tills' sale commits need: no query building inside
it). Rows come back as ``ProviderPayment`` objects (values converted as the ORM
converts them), so the state machine reads them as any other row."""
from __future__ import annotations

import datetime as _dt

from data import db as dbmod
from data.payments import ProviderPayment

_FIELDS = ProviderPayment._meta.sorted_fields
_COLUMNS = ", ".join(f.column_name for f in _FIELDS)
_BY_REF = f"SELECT {_COLUMNS} FROM provider_payment WHERE ref = ?"
_BY_PROVIDER_REF = f"SELECT {_COLUMNS} FROM provider_payment WHERE provider = ? AND provider_ref = ?"
_TICKET_STATUS = "SELECT status FROM ticket WHERE id = ?"
_LOG_COLUMNS = ("received_at", "provider", "source", "remote", "path", "body", "signature_ok", "verdict",
                "detail", "payment_id", "provider_ref", "result_code")
_LOG = (f"INSERT INTO payment_callback ({', '.join(_LOG_COLUMNS)}) "
        f"VALUES ({', '.join('?' * len(_LOG_COLUMNS))})")
_UPDATES: dict[tuple, str] = {}
_COLUMN_OF = {f.name: f.column_name for f in _FIELDS}


def _one(sql: str, params, lock: bool):
    if lock and dbmod.is_postgres():
        sql += " FOR UPDATE"
    row = dbmod.current().execute_sql(dbmod.q(sql), params).fetchone()
    if row is None:
        return None
    return ProviderPayment(**{f.name: (None if v is None else f.python_value(v)) for f, v in zip(_FIELDS, row)})


def by_ref(ref: str, *, lock: bool = True) -> ProviderPayment | None:
    """The payment with our reference (FOR UPDATE on PostgreSQL; SQLite's write
    transaction holds the lock already)."""
    return _one(_BY_REF, (ref,), lock)


def by_provider_ref(provider: str, provider_ref: str, *, lock: bool = True) -> ProviderPayment | None:
    return _one(_BY_PROVIDER_REF, (provider, provider_ref), lock)


def ticket_status(ticket_id: int | None) -> str | None:
    if ticket_id is None:
        return None
    row = dbmod.current().execute_sql(dbmod.q(_TICKET_STATUS), (ticket_id,)).fetchone()
    return row[0] if row else None


def _param(v):
    if isinstance(v, _dt.datetime):
        return dbmod.param_time(v)
    return v


def update(payment_id: int, fields: dict, *, status_was: str | None = None) -> int:
    """UPDATE the payment's ``fields`` (model field names); with ``status_was``,
    only while its status is still that. The number of rows changed."""
    names = tuple(sorted(fields))
    key = (names, status_was is not None)
    sql = _UPDATES.get(key)
    if sql is None:
        sets = ", ".join(f"{_COLUMN_OF[n]} = ?" for n in names)
        sql = _UPDATES[key] = (f"UPDATE provider_payment SET {sets} WHERE id = ?"
                               + (" AND status = ?" if status_was is not None else ""))
    params = [_param(fields[n]) for n in names] + [payment_id] + ([status_was] if status_was is not None else [])
    return dbmod.current().execute_sql(dbmod.q(sql), params).rowcount


def log(values: dict) -> None:
    """One row of the insert-only callback log (its result read by nobody: on
    PostgreSQL it travels with the COMMIT)."""
    dbmod.defer(dbmod.q(_LOG), [_param(values.get(c)) for c in _LOG_COLUMNS])

