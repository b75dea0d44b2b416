"""The log of the long-running commands (`suanli up`, `suanli agent`): private, rotated
and quiet.

- The file is created (and re-created on rotation) with mode 0600: it names jobs, users
  and paths. It rotates at `MAX_BYTES` and keeps `BACKUPS` old files, so a server that
  runs for months never fills its disk.
- At INFO a quiet server logs what changes (a cycle that admitted jobs, a job submitted to
  an engine, an agent registering), never a line per request, claim or heartbeat: the
  HTTP client's per-request lines are raised to WARNING, and the HTTP server's access log
  is off unless asked for.
- Anything that looks like a suanli token (``sl_...``) is masked before it is written,
  whichever code logged it.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
from logging.handlers import RotatingFileHandler
from pathlib import Path

MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 5
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
CHATTY = ("httpx", "httpcore")
"""Loggers that write a line per HTTP request (the agents poll several times a second)."""
TOKEN = re.compile(r"sl_[A-Za-z0-9_-]{8,}")


class PrivateRotatingFileHandler(RotatingFileHandler):
    """A RotatingFileHandler whose files are readable by their owner only."""

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)  # a file left by an older version may be world-readable
        return os.fdopen(fd, "a", encoding=self.encoding, errors=self.errors)


class MaskTokens(logging.Filter):
    """Replace every token-like string in a record's final message with ``sl_***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "sl_" in message:
            record.msg, record.args = TOKEN.sub("sl_***", message), None
        return True


def configure(path: Path | None, *, level: int = logging.INFO) -> None:
    """Send this process's logging to `path` (private and rotated; None: stderr), at
    `level`, with the chatty HTTP client loggers at WARNING and tokens masked."""
    handler: logging.Handler
    if path is None:
        handler = logging.StreamHandler(sys.stderr)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = PrivateRotatingFileHandler(
            path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8"
        )
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(MaskTokens())
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for name in CHATTY:
        logging.getLogger(name).setLevel(logging.WARNING)
