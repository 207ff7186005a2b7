"""The success bodies of the API and the frames of its streams, one model each.

Handlers build plain dicts (fast, and shaped by the dialect modules); these models are
what the route table (service/routing.py) names for each answer, what the OpenAPI
document (service/openapi/) is generated from, and what the tests check real answers
against. Every model forbids fields it does not declare, so an answer that grows a field
without its model fails the tests.
"""
