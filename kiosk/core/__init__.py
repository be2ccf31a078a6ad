"""The pure gate core: rules, screening, policy and decisions.

Nothing in this package touches a screen, a file, a socket, a serial port or a database;
a test (tests/test_core_purity.py) keeps it that way, so every rule can be unit-tested and
reused by the app, the CLI and the central store alike.
"""
