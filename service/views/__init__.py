"""HTTP views: each module translates requests to domain calls and domain errors to HTTP."""
