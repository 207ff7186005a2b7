"""The fixed limits of what a client may send, written once.

The request models, the workflow definition model, the console (through vocabulary.js)
and the OpenAPI document take their bounds from here; docs/vocabulary.md lists them with
the sentence under each (tests/projections/test_vocabulary.py keeps the two equal). Limits an
operator may change (body and event sizes, rates) are settings, not these.
"""

from __future__ import annotations

# -- lists and pages

MAX_PAGE = 1_000_000
"""Highest `page` of a list."""

MAX_PAGE_LIMIT = 100
"""Most items per page of a list (`limit`)."""

DEFAULT_PAGE_LIMIT = 10
"""Items per page when `limit` is not given."""

MAX_SEARCH_CHARS = 200
"""Longest `search` text of a list."""

MAX_EVENTS_PAGE = 1000
"""Most events per page of the raw log (`limit` of the events endpoints)."""

MAX_POSITION = 2**62
"""Highest log position a cursor (`after`) may name."""

MAX_CHAT_RUNS = 1000
"""Most runs a chat's run list shows (it has no pages)."""

# -- run actions

MAX_REASON_CHARS = 500
"""Longest cancel `reason`."""

MAX_CANCEL_RUN_IDS = 1000
"""Most `runIds` in one cancel request."""

# -- identity

MAX_USERNAME = 64
"""Longest username."""

MIN_PASSWORD_LENGTH = 8
"""Shortest password."""

MAX_PASSWORD_LENGTH = 1024
"""Longest password."""

MAX_NAME = 100
"""Longest name of a workspace or an API token."""

MAX_CHAT_TITLE = 200
"""Longest chat title."""

# -- workflow definitions

MAX_NODES = 5000
"""Most nodes in one workflow."""

MAX_NAME_CHARS = 200
"""Longest workflow or node name (a node's name travels in every event of the node)."""

MAX_NODE_ID_CHARS = 200
"""Longest node id."""

MAX_DESCRIPTION_CHARS = 2000
"""Longest workflow description."""

MAX_RETRY_ATTEMPTS = 100
"""Highest `retry.maxAttempts` of a node."""

MAX_RETRY_MULTIPLIER = 10
"""Highest `retry.multiplier` of a node (how much each wait grows over the one before)."""

# -- JSON values (both well below orjson's 254 levels, so whatever wraps them still encodes)

MAX_BODY_DEPTH = 64
"""Deepest nesting of a request body."""

MAX_VALUE_DEPTH = 128
"""Deepest nesting of a node's input or output."""

# -- answers

MAX_FIELD_ERRORS = 50
"""Most bad fields one 400 names (then one entry says how many more)."""

MAX_PROBLEMS = 100
"""Most problems one invalid workflow answer names (then one entry says how many more)."""
