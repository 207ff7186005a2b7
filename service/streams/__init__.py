"""The one stream layer every dialect renders onto: SSE framing, cursors, the serving loop."""
