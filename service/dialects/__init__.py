"""Wire formats: each module maps the canonical log and read models to one product's words.

Every dialect is a renderer of the same log events on the shared stream layer
(service/streams); none keeps state of its own beyond what one stream needs.
"""
