"""The OpenAPI 3.1 document, generated from the route table (service/routing.py) and the
models it names, and served at `GET /api/v1/openapi.json`."""

from service.openapi.document import OPENAPI_PATH, build_document, document_bytes

__all__ = ["OPENAPI_PATH", "build_document", "document_bytes"]
