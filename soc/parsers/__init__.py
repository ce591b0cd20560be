"""Readers that turn logs a small city already has into soc's ECS events, without Beats.

OpenSSH syslog, Windows Security events as JSON (Winlogbeat or ``evtx_dump``) and Zeek
conn/dns/http logs. Each parser is a pure function of the lines of one file (see
``models.Parser``), picked by name from one table (``formats.PARSERS``), so it is tested
without Elasticsearch; ``soc.es.ingest`` does the indexing.
"""

from __future__ import annotations

from soc.parsers.formats import FORMATS, PARSERS, guess_format, parse_file, read_head
from soc.parsers.models import Parsed, Parser, ParseResult, Rejected, Skipped

__all__ = [
    "FORMATS",
    "PARSERS",
    "ParseResult",
    "Parsed",
    "Parser",
    "Rejected",
    "Skipped",
    "guess_format",
    "parse_file",
    "read_head",
]
