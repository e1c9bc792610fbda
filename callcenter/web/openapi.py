"""The OpenAPI 3.1 document, generated from the route table and the types that validate
requests, so the description cannot drift from the behaviour."""

from __future__ import annotations

from typing import Any

import msgspec

from callcenter import __version__
from callcenter.web.operation import (
    JAMBONZ_SIGNED,
    MAILGUN_SIGNED,
    OPEN,
    TWILIO_SIGNED,
    Operation,
    Text,
)
from callcenter.web.problem import CONTENT_TYPE as PROBLEM_JSON
from callcenter.web.problem import Problem
from callcenter.web.routes import OPERATIONS

REF = "#/components/schemas/{name}"
SIGNED_BY = {
    TWILIO_SIGNED: "twilioSignature",
    JAMBONZ_SIGNED: "jambonzSignature",
    MAILGUN_SIGNED: "mailgunSignature",
}

_ERRORS = {
    401: "Missing, bad or revoked credentials",
    403: "The role may not do this",
    404: "No such resource",
    409: "Conflicts with the current state (e.g. an illegal transition)",
    413: "Body over the size limit",
    422: "Invalid input; `pointer` names the field",
}


def _types(ops: tuple[Operation, ...]) -> list[Any]:
    found: list[Any] = [Problem]
    for op in ops:
        if op.request is not None:
            found.append(op.request)
        if op.messages is not None:
            found.extend((*op.messages[0], *op.messages[1]))
        for _, kind, _ in op.responses:
            if isinstance(kind, tuple):
                found.extend(kind)
            elif kind is not None and not isinstance(kind, Text):
                found.append(kind)
    return found


def _content(schema: dict[str, Any], media: str = "application/json") -> dict[str, Any]:
    return {media: {"schema": schema}}


def _operation(op: Operation, schema_of: dict[int, dict[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "summary": op.summary,
        "x-roles": list(op.roles),
    }
    if op.description:
        doc["description"] = op.description
    if op.roles == (OPEN,):
        doc["security"] = []
    signed = SIGNED_BY.get(op.roles[0])
    if signed is not None:
        doc["security"] = [{signed: []}]
    params = [
        {
            "name": p.name,
            "in": p.where,
            "required": p.required,
            "description": p.description,
            "schema": p.schema,
        }
        for p in op.params
    ]
    if params:
        doc["parameters"] = params
    if op.request is not None:
        doc["requestBody"] = {
            "required": True,
            "content": _content(schema_of[id(op.request)]),
        }
    doc["responses"] = _responses(op, schema_of, signed)
    if op.messages is not None:
        client, server = op.messages
        doc["x-websocket-messages"] = {
            "client": {"oneOf": [schema_of[id(kind)] for kind in client]},
            "server": {"oneOf": [schema_of[id(kind)] for kind in server]},
        }
    return doc


def _response_content(
    kind: Any, schema_of: dict[int, dict[str, Any]], problem: dict[str, Any]
) -> dict[str, Any] | None:
    """The `content` of one documented answer (None: the answer has no body)."""
    if isinstance(kind, Text):
        return _content({"type": "string"}, kind.media_type)
    if kind is Problem:
        return problem
    if isinstance(kind, tuple):
        return _content({"anyOf": [schema_of[id(k)] for k in kind]})
    return None if kind is None else _content(schema_of[id(kind)])


def _responses(
    op: Operation, schema_of: dict[int, dict[str, Any]], signed: str | None
) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    problem = _content({"$ref": REF.format(name="Problem")}, PROBLEM_JSON)
    for status, kind, description in op.responses:
        entry: dict[str, Any] = {"description": description}
        content = _response_content(kind, schema_of, problem)
        if content is not None:
            entry["content"] = content
        responses[str(status)] = entry
    if signed is not None:
        responses.setdefault("403", {"description": "Missing or bad signature", "content": problem})
    elif op.roles != (OPEN,):
        for status, description in _ERRORS.items():
            if op.request is None and status in (413, 422) and not op.params:
                continue
            responses.setdefault(str(status), {"description": description, "content": problem})
    return responses


def build_openapi() -> dict[str, Any]:
    """The whole document, as a JSON-ready dict."""
    kinds = _types(OPERATIONS)
    schemas, components = msgspec.json.schema_components(kinds, ref_template=REF)
    schema_of = {id(kind): schema for kind, schema in zip(kinds, schemas, strict=True)}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, schema_of)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "callcenter API",
            "version": __version__,
            "description": (
                "Contact-center server: canonical call events in, routing decisions, caller "
                "history and live state out. Errors are RFC 9457 problem+json."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token from `callcenter tokens create --role ROLE`.",
                },
                "twilioSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Twilio-Signature",
                    "description": "Twilio's request signature (CALLCENTER_TWILIO_AUTH_TOKEN).",
                },
                "jambonzSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Jambonz-Signature",
                    "description": "t=<unix>,v1=hex(HMAC-SHA256(secret, t + '.' + body)) "
                    "(CALLCENTER_JAMBONZ_SECRET).",
                },
                "mailgunSignature": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "signature",
                    "description": "Mailgun's webhook signature: the form fields `timestamp`, "
                    "`token` and `signature` = hex(HMAC-SHA256(signing key, timestamp + "
                    "token)) (CALLCENTER_MAILGUN_SIGNING_KEY). They come in the posted form, "
                    "which OpenAPI cannot name as a place for a key.",
                },
                "webhookSignature": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-Callcenter-Signature",
                    "description": (
                        "Generic-dialect webhooks only: v1=hex(HMAC-SHA256(secret, "
                        "timestamp + '.' + body)) with X-Callcenter-Timestamp."
                    ),
                },
            },
            "schemas": components,
        },
        "paths": paths,
    }
