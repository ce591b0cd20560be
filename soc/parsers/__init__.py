"""Readers that turn logs a small city already has into soc's ECS events, without Beats.

OpenSSH and PAM syslog, Windows Security events as JSON (Winlogbeat, ``evtx_dump`` or
NXLog) and Zeek conn/dns/http/ssl logs. Each parser is a pure function of the lines of one file (see
``models.Parser``), picked by name from one table (``formats.PARSERS``), so it is tested
without Elasticsearch; ``soc.es.ingest`` does the indexing. Whatever a line holds, it
ends as an event, a skip or that line's rejection (``common.guarded``): never an exception
that loses the rest of the file.
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
