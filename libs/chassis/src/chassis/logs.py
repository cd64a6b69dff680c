"""JSON log lines on stdout, each carrying who logged it and for which call.

Every line has time, level, logger, message, service and instance; inside a call also
correlation_id, trace_id and caller; plus whatever the call site passed as `extra=`.
The stack redirects stdout to .state/logs/<instance>.log; Kubernetes collects it as is.
"""

import json
import logging
import sys
from datetime import UTC, datetime

from chassis import context
from chassis.config import ServiceSettings

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    {*vars(logging.LogRecord("", logging.INFO, "", 0, "", (), None)), "message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str, instance: str) -> None:
        super().__init__()
        self._service = service
        self._instance = instance
        # Every call logs a line: the encoder and the date part of the time are made once
        # (once a second), not per line.
        self._encoder = json.JSONEncoder(default=str)
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": self._time(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self._service,
            "instance": self._instance,
        }
        # Read at format time: handlers format synchronously, inside the call that logs.
        correlation_id = context.correlation_id.get()
        if correlation_id:
            line["correlation_id"] = correlation_id
        trace_id = context.trace_id.get()
        if trace_id:
            line["trace_id"] = trace_id
        caller = context.caller.get()
        if caller:
            line["caller"] = caller
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return self._encoder.encode(line)

    def _time(self, created: float) -> str:
        """ISO 8601 in UTC with milliseconds, as datetime.isoformat(timespec="milliseconds")."""
        second = int(created)
        if second != self._second:
            self._second = second
            self._second_text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._second_text}.{int((created - second) * 1000):03d}+00:00"


def configure_logging(settings: ServiceSettings) -> None:
    """Makes every logger in the process write JSON lines to stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(settings.service, settings.instance))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level)
    # Process and multiprocessing names are in no line (one process is one instance);
    # looking them up for every record is wasted work.
    logging.logProcesses = False
    logging.logMultiprocessing = False
