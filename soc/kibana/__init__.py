"""Kibana: the saved objects soc ships (data views, the SOC dashboard), their import through
Kibana's saved-objects API, and links from an alert to its events in Discover.

``links`` and ``objects`` are pure (no I/O); ``importer`` talks HTTP to Kibana.
"""

from __future__ import annotations
