"""Every TMF resource we serve passes the same conformance contract (tests/tmf_contract.py)."""

from __future__ import annotations

import pytest

from tests.tmf_contract import RESOURCES, Resource, TmfContract


@pytest.fixture(params=RESOURCES, ids=str)
def resource(request: pytest.FixtureRequest) -> Resource:
    return request.param  # type: ignore[no-any-return]


class TestTmfContract(TmfContract):
    pass
