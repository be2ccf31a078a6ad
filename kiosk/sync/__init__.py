"""Kiosk side of sync: push the outbox to the central store, pull what the gate needs.

``client`` speaks HTTP (transport injectable), ``runner`` does one sync under a lock,
``loop`` runs it in the background with backoff, ``state`` keeps status in the ``meta`` table.
"""
