"""Continuous collection: ``soc ingest --follow`` tails log files and directories.

``models`` holds the saved position of one file (``Offset``), ``tailer`` reads complete
lines from a file across rename and copy-truncate rotation, ``offsets`` stores positions
in Elasticsearch's state index, and ``follower`` runs the loop: discover files, read a
bounded batch, parse, index, and only then move the saved offset.
"""

from __future__ import annotations
