"""The OpenAPI document matches the routes the app serves, and the docs page is served."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.conftest import AppClient

EVENT_TYPES = {
    "call.created",
    "call.ringing",
    "call.answered",
    "call.ended",
    "call.transferred",
    "call.agent_failed",
    "call.callback_requested",
    "call.dtmf",
    "survey.completed",
}
UNDOCUMENTED = ("/static", "/v1/docs", "/v1/openapi.json")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


async def document(client: AppClient) -> Any:
    response = await client.get("/v1/openapi.json")
    assert response.status == 200
    assert response.content_type == "application/json"
    return await response.json()


def registered(client: AppClient) -> set[tuple[str, str]]:
    """(method, path template) of every route on the app, less static files and the docs."""
    found = set()
    for route in client.app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method == "HEAD" or path.startswith(UNDOCUMENTED):
            continue
        found.add((route.method.lower(), path))
    return found


def documented(doc: Any) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every object inside a JSON value, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


async def test_is_an_openapi_3_1_document(client: AppClient) -> None:
    doc = await document(client)
    assert doc["openapi"].startswith("3.1.")
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    operation_ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for item in doc["paths"].values():
        for op in item.values():
            assert op["responses"], op["operationId"]
            assert all(status.isdigit() for status in op["responses"]), op["operationId"]


async def test_every_route_is_documented_and_nothing_else(client: AppClient) -> None:
    routes = registered(client)
    assert ("post", "/v1/events") in routes  # the filter above did not drop everything
    assert documented(await document(client)) == routes


async def test_path_parameters_are_declared(client: AppClient) -> None:
    doc = await document(client)
    for path, item in doc["paths"].items():
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert declared == names, (method, path)


async def test_every_ref_resolves(client: AppClient) -> None:
    doc = await document(client)
    schemas = doc["components"]["schemas"]
    refs = [node["$ref"] for node in walk(doc) if "$ref" in node]
    refs += [
        target
        for node in walk(doc)
        if isinstance(node.get("discriminator"), dict)
        for target in node["discriminator"].get("mapping", {}).values()
    ]
    assert len(refs) > 10
    prefix = "#/components/schemas/"
    for ref in refs:
        assert ref.startswith(prefix), ref
        assert ref[len(prefix) :] in schemas, ref


async def test_events_request_is_discriminated_by_type(client: AppClient) -> None:
    doc = await document(client)
    schemas = doc["components"]["schemas"]
    body = doc["paths"]["/v1/events"]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    unions = [node for node in walk(schema) if "discriminator" in node]
    # One for a single event, one for the items of an array.
    assert len(unions) == 2
    arrays = [node for node in walk(schema) if node.get("type") == "array"]
    assert len(arrays) == 1
    assert "discriminator" in arrays[0]["items"]
    for union in unions:
        assert union["discriminator"]["propertyName"] == "type"
        mapping = union["discriminator"]["mapping"]
        assert set(mapping) == EVENT_TYPES
        for tag, ref in mapping.items():
            component = schemas[ref.rsplit("/", 1)[1]]
            assert component["properties"]["type"]["enum"] == [tag]
            assert {"type", "event_id", "call_id"} <= set(component["required"])


async def test_documented_security_matches_behaviour(client: AppClient) -> None:
    """Operations documented as open answer without a token; signed gateway webhooks refuse
    an unsigned request with 403; the others refuse with 401."""
    doc = await document(client)
    for path, item in doc["paths"].items():
        concrete = "/".join("x" if p.startswith("{") else p for p in path.split("/"))
        for method, op in item.items():
            response = await client.request(method.upper(), concrete)
            if op.get("security") == []:
                # an open websocket asks a plain request to upgrade; an open POST without
                # a body is refused as input (documented), a CORS preflight has no body
                expected = {"post": 422, "options": 204}.get(method, 200)
                expected = 426 if path.startswith("/ws/") else expected
                assert response.status == expected, (method, path)
                assert str(expected) in op["responses"], (method, path)
            elif "Signature" in str(op.get("security")):
                assert response.status == 403, (method, path)
                assert "403" in op["responses"], (method, path)
            else:
                assert response.status == 401, (method, path)
                assert "401" in op["responses"], (method, path)


async def test_docs_page_and_assets(client: AppClient) -> None:
    page = await client.get("/v1/docs")
    assert page.status == 200
    assert page.content_type == "text/html"
    html = await page.text()
    assert "/static/api.js" in html
    assert "<html" in html.lower()
    script = await client.get("/static/api.js")
    assert script.status == 200
    assert script.content_type in ("application/javascript", "text/javascript")
    assert "/v1/openapi.json" in await script.text()
    style = await client.get("/static/api.css")
    assert (style.status, style.content_type) == (200, "text/css")
    assert (await client.get("/static/nothing.js")).status == 404
