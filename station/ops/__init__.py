"""Running a shop on Station: where a session comes from (SSH, kiosk), logs,
backup and restore, moving a store to PostgreSQL, and ``station doctor``."""
