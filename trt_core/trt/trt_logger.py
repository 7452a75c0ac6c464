"""One TensorRT logger per process, forwarding to Python's ``logging``.

TensorRT keeps the first logger it is given for the whole process, so builder and runtime
share this one.  It also remembers recent errors, so a failed build or deserialisation can
say *why* in the exception message.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

log = logging.getLogger("trt_core.tensorrt")
_lock = threading.Lock()
_loggers: dict[int, Any] = {}


def get_logger(trt: Any) -> Any:
    """The process's TensorRT logger (an ``ILogger`` subclass) for the bindings module ``trt``."""
    with _lock:
        logger = _loggers.get(id(trt))
        if logger is None:
            logger = _loggers[id(trt)] = _make_logger(trt)
        return logger


def _make_logger(trt: Any) -> Any:
    severity = trt.ILogger.Severity
    levels = {
        severity.INTERNAL_ERROR: logging.CRITICAL,
        severity.ERROR: logging.ERROR,
        severity.WARNING: logging.WARNING,
        severity.INFO: logging.DEBUG,  # TensorRT's INFO is chatty
        severity.VERBOSE: logging.DEBUG,
    }

    class Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.count = 0  # errors seen so far
            self.errors: deque[str] = deque(maxlen=100)
            self.verbose = False

        def log(self, sev: Any, msg: str) -> None:
            if sev == severity.VERBOSE and not self.verbose:
                return
            level = levels.get(sev, logging.INFO)
            if level >= logging.ERROR:
                with _lock:
                    self.count += 1
                    self.errors.append(msg)
            log.log(level, "%s", msg)

        def errors_since(self, mark: int) -> list[str]:
            with _lock:
                recent = list(self.errors)
                fresh = self.count - mark
            return recent[-fresh:] if fresh > 0 else []

    return Logger()


def describe_errors(messages: list[str], limit: int = 5) -> str:
    """The last few TensorRT error messages, one line each, for exception texts."""
    if not messages:
        return ""
    return ": " + " | ".join(m.strip().splitlines()[0] if m.strip() else m for m in messages[-limit:])
