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

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self._service,
            "instance": self._instance,
        }
        # Read at format time: handlers format synchronously, inside the call that logs.
        for name, value in (
            ("correlation_id", context.correlation_id.get()),
            ("trace_id", context.trace_id.get()),
            ("caller", context.caller.get()),
        ):
            if value:
                line[name] = value
        line.update((k, v) for k, v in vars(record).items() if k not in _RECORD_ATTRIBUTES)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(settings: ServiceSettings) -> None:
    """Makes every logger in the process write JSON lines to stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(settings.service, settings.instance))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(settings.log_level)
