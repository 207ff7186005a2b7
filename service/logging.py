"""structlog set-up (JSON lines off a terminal, a console renderer on one) and the one
canonical log line of every request."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson
import structlog
from aiohttp import web

http_log = structlog.get_logger("runstream.http")


def configure_logging(level: int = logging.INFO) -> None:
    processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
    ]
    if sys.stderr.isatty():
        processors.append(structlog.dev.ConsoleRenderer())
        factory: structlog.types.WrappedLogger = structlog.PrintLoggerFactory(sys.stderr)
    else:
        processors.append(structlog.processors.JSONRenderer(serializer=orjson.dumps))
        factory = structlog.BytesLoggerFactory(sys.stderr.buffer)
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=factory,
        cache_logger_on_first_use=True,
    )


def log_request(request: web.BaseRequest, status: int, started: float, **fields: Any) -> None:
    """The request's one line: method, path, status and milliseconds since `started`
    (a `time.perf_counter()` value), with any `fields` a stream adds when it ends."""
    http_log.info(
        "request", method=request.method, path=request.path, status=status,
        ms=round((time.perf_counter() - started) * 1000, 2), **fields,
    )
