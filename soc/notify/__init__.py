"""Notifications: incident events delivered once to e-mail, chat webhooks or an outbox.

``models`` (notifications, destinations, delivery records), ``payloads`` (pure
rendering), ``channels`` (one sender per kind) and ``service`` (``Notifier``: records,
idempotence, retries). Import from those modules; this package imports nothing so that
``soc.config`` can use ``soc.notify.models`` without a cycle.
"""
