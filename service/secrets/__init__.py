"""Workspace secrets: named values, encrypted at rest, read by runs as `{{secrets.NAME}}`."""
