"""The report summary tables: per business day (and hour, terminal, cashier,
product, product and month, tender method, tax rate) the figures of the completed
sales, processed refunds and voids, so a report reads a few hundred rows
whatever the store's history holds.

Nothing writes them in the sale's transaction: ``station.reporting.summary``
fills them from the journal after a watermark (``rpt_state.seq``) before each
read, and ``station verify`` proves they equal a recomputation from the rows.
Every measure is a BIGINT sum (minor units, thousandths of a quantity, counts);
``day`` is the business day ``YYYY-MM-DD`` in the store's time zone after the
day's cut-off, ``month`` ``YYYY-MM``.
"""
from __future__ import annotations

#: table -> (key columns with their SQL type, measure columns)
TABLES: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    "rpt_day": ((("day", "VARCHAR(10)"),), (
        "tickets", "items", "lines", "gross", "discounts", "total", "tax", "rounding", "cost",
        "refunds_n", "refunds", "refund_tax", "refund_cost", "post_voids_n", "post_voids", "exchanges_n",
        "voids_n", "voids", "line_voids_n", "line_voids")),
    "rpt_hour": ((("day", "VARCHAR(10)"), ("hour", "INTEGER")), ("tickets", "total")),
    "rpt_terminal": ((("day", "VARCHAR(10)"), ("terminal", "VARCHAR(64)")), (
        "tickets", "total", "tax", "refunds_n", "refunds", "voids_n", "line_voids_n")),
    "rpt_cashier": ((("day", "VARCHAR(10)"), ("cashier", "VARCHAR(64)")), (
        "tickets", "items", "total", "discounts", "refunds_n", "refunds", "post_voids_n", "voids_n", "voids",
        "line_voids_n", "line_voids", "price_overrides", "overrides_requested", "overrides_approved",
        "no_sales")),
    "rpt_product_day": ((("day", "VARCHAR(10)"), ("product_id", "BIGINT")), (
        "qty", "lines", "revenue", "tax", "cost", "refund_qty", "refund_revenue", "refund_tax", "refund_cost")),
    "rpt_product_month": ((("month", "VARCHAR(7)"), ("product_id", "BIGINT")), (
        "qty", "lines", "revenue", "tax", "cost", "refund_qty", "refund_revenue", "refund_tax", "refund_cost")),
    "rpt_method": ((("day", "VARCHAR(10)"), ("method", "VARCHAR(32)")), ("tickets", "amount", "refunds_n",
                                                                          "refunds")),
    "rpt_tax": ((("day", "VARCHAR(10)"), ("rate", "INTEGER")), ("gross", "tax", "refund_gross", "refund_tax")),
}

STATE = "rpt_state"


def create_schema(database) -> None:
    """The summary tables and the watermark's table, empty (a migration step calls
    it; the first read adds the watermark row and fills them)."""
    for table, (keys, measures) in TABLES.items():
        cols = [f"{k} {t} NOT NULL" for k, t in keys] + [f"{m} BIGINT NOT NULL DEFAULT 0" for m in measures]
        database.execute_sql(f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)}, "
                             f"PRIMARY KEY ({', '.join(k for k, _t in keys)}))")
    for table in ("rpt_product_day", "rpt_product_month"):
        key = "day" if table == "rpt_product_day" else "month"
        database.execute_sql(f"CREATE INDEX IF NOT EXISTS {table}_product ON {table} (product_id, {key})")
    database.execute_sql(
        f"CREATE TABLE IF NOT EXISTS {STATE} (id INTEGER PRIMARY KEY CHECK (id = 1), "
        "seq BIGINT NOT NULL DEFAULT 0, timezone VARCHAR(64) NOT NULL DEFAULT '', "
        "day_starts VARCHAR(5) NOT NULL DEFAULT '', updated_at VARCHAR(32) NOT NULL DEFAULT '')")
