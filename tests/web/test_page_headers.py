"""Every HTML page is served with a Content-Security-Policy that forbids framing and
foreign scripts (the pages themselves run under it in the Chromium tests)."""

from __future__ import annotations

import pytest

from tests.conftest import AppClient


@pytest.mark.parametrize("path", ["/wallboard", "/agent", "/v1/docs"])
async def test_pages_forbid_framing_and_foreign_code(client: AppClient, path: str) -> None:
    response = await client.get(path)
    assert response.status == 200 and response.content_type == "text/html"
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'self'" and policy["default-src"] == "'self'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
