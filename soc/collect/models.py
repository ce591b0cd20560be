"""The saved position in one followed file, and what a follower reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["FollowStats", "Offset"]


@dataclass(frozen=True)
class Offset:
    """Where reading of ``path`` stopped, and which file that was.

    ``device``/``inode`` tell a rotated file (a new inode at the same path) from the one
    we read; ``head`` (a hash of the first line) tells a copy-truncated and refilled file
    from the one we read even when it has grown past ``position`` again. ``line`` counts
    the lines consumed, so rejections name ``file:line`` after a restart too.
    """

    path: str
    device: int
    inode: int
    position: int
    line: int
    head: str

    def to_doc(self) -> dict[str, Any]:
        return {
            "kind": "follow-offset",
            "path": self.path,
            "device": self.device,
            "inode": self.inode,
            "position": self.position,
            "line": self.line,
            "head": self.head,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Offset:
        return cls(
            path=str(doc["path"]),
            device=int(doc["device"]),
            inode=int(doc["inode"]),
            position=int(doc["position"]),
            line=int(doc.get("line", 0)),
            head=str(doc.get("head", "")),
        )


@dataclass
class FollowStats:
    """Running totals of one ``soc ingest --follow`` process."""

    lines: int = 0
    indexed: int = 0
    skipped: int = 0
    rejected: int = 0
    batches: int = 0
    rotations: int = 0
    truncations: int = 0
    retries: int = 0
    lag_bytes: int = 0
    files: int = 0
    es_down: bool = False
    per_index: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "lines": self.lines,
            "indexed": self.indexed,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "rotations": self.rotations,
            "truncations": self.truncations,
            "retries": self.retries,
        }
