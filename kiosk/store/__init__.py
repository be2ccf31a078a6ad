"""The local store: one SQLite file per kiosk, schema made only by Alembic migrations."""
