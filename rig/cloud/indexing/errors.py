"""The indexing API's own exceptions (API reference, SearchIndex "Errors")."""

from __future__ import annotations

from rig.cloud.core.errors import CloudError


class InvalidQueryException(CloudError):
    code, http_status = "InvalidQueryException", 400


class IndexNotReadyException(CloudError):
    code, http_status = "IndexNotReadyException", 400
