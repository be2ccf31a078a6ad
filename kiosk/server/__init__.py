"""The command's central store: HTTP API for kiosks, dashboard, SQLite or PostgreSQL."""
