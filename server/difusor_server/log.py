"""One JSON line per event, to stdout (the journal) and appended to the log file."""

import json
import os
import sys
from datetime import datetime, timezone, tzinfo
from typing import Any, TextIO

SEVERITY = {
    "published": "info",
    "duplicate": "info",
    "recovered": "warning",
    "rejected": "warning",
    "purged": "info",
    "purge-failed": "incident",
    "incident": "incident",
    "pruned": "info",
    "cleanup": "warning",
    "sidecar-late": "warning",
    "freshness": "info",
    "check": "info",
    "webhook-failed": "warning",
    "config-error": "critical",
    "restored": "warning",
}


class Logger:
    def __init__(
        self,
        log_file: str | None = None,
        zone: tzinfo | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.log_file = log_file
        self.zone = zone or timezone.utc
        self.stream = stream if stream is not None else sys.stdout
        self.lines: list[dict[str, Any]] = []  # what this run logged, for callers and tests
        self._warned = False

    def event(self, event: str, **fields: Any) -> dict[str, Any]:
        """Log one line: ``ts``, ``event``, ``severity``, then ``fields`` that are not None."""
        record: dict[str, Any] = {
            "ts": datetime.now(timezone.utc)
            .astimezone(self.zone)
            .isoformat(timespec="milliseconds"),
            "event": event,
        }
        record["severity"] = fields.pop("severity", None) or SEVERITY.get(event, "info")
        for key, value in fields.items():
            if value is not None:
                record[key] = value
        line = json.dumps(record, ensure_ascii=False, sort_keys=False, default=str)
        self.lines.append(record)
        try:
            self.stream.write(line + "\n")
            self.stream.flush()
        except Exception:
            pass
        if self.log_file:
            try:
                fd = os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
                try:
                    os.write(fd, (line + "\n").encode("utf-8"))
                finally:
                    os.close(fd)
            except OSError as exc:
                if not self._warned:
                    self._warned = True
                    sys.stderr.write(f"difusor: cannot append to {self.log_file}: {exc}\n")
        return record
