"""No input a client can send produces a 500: schemathesis over the whole OpenAPI document.

The document is the app's own ``/openapi.json``, fetched in-process. Every operation gets a
bounded number of generated requests (valid and invalid), sent as an administrator through the
test client of the real app on the test database; the only check is that none answers 5xx (an
unhandled exception fails the test as well: the test client re-raises it).
"""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from telcrm.api.app import create_app
from telcrm.kit.db import Database
from telcrm.kit.settings import Settings

_NOWHERE = "postgresql+psycopg://unused@127.0.0.1:1/none"
# Serves only the document: its database is never connected to.
_document_app = create_app(
    Settings(run_dispatcher=False, environment="test", database_url=_NOWHERE), Database(_NOWHERE, pool_size=1)
)

# Generated requests, valid and invalid, and the examples the schema gives.
schema = schemathesis.openapi.from_asgi("/openapi.json", _document_app)
schema.config.phases.update(phases=["examples", "fuzzing"])

# The coverage phase enumerates boundary and invalid values of every parameter and body field. Run it
# where that is a few dozen requests; the deep TMF bodies would take thousands per operation.
boundaries = schemathesis.openapi.from_asgi("/openapi.json", _document_app).exclude(
    method=["POST", "PATCH"], path_regex=r"^/tmf-api/[^/]+/v4/(?!hub)"
)
boundaries.config.phases.update(phases=["coverage"])

EXAMPLES = settings(
    max_examples=20,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def as_httpx(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Schemathesis prepares ``requests`` keyword arguments; the test client speaks httpx."""
    out = {k: kwargs[k] for k in ("method", "url", "headers", "params") if kwargs.get(k) is not None}
    if kwargs.get("cookies"):
        out["cookies"] = kwargs["cookies"]
    if "json" in kwargs:
        out["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, bytes | str):
        out["content"] = data
    elif data is not None:
        out["data"] = data
    return out


def send(case: schemathesis.Case, client: TestClient, headers: dict[str, str]) -> None:
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
    response = client.request(**as_httpx(kwargs))
    case.validate_response(response, checks=[not_a_server_error])


@schema.parametrize()
@EXAMPLES
def test_no_generated_request_is_a_server_error(
    case: schemathesis.Case, client: TestClient, admin: dict[str, str]
) -> None:
    send(case, client, admin)


@boundaries.parametrize()
@EXAMPLES
def test_no_boundary_value_is_a_server_error(
    case: schemathesis.Case, client: TestClient, admin: dict[str, str]
) -> None:
    send(case, client, admin)
