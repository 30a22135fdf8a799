"""Foundation: error shapes, request ids, CORS, body limits, OpenAPI."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from sanic import Request, Sanic, json
from sanic.response import HTTPResponse

from config import Settings
from tests.support import RecordingHandler, http_client, register, running_app
from tq.core.http import parse_body


async def test_unknown_route_is_404_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert response.json()["message"]
    assert response.headers["x-request-id"]


async def test_wrong_method_is_405_json(client: httpx.AsyncClient) -> None:
    response = await client.delete("/api/health")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def add_echo_route(app: Sanic[Any, Any]) -> None:
    """A route that parses a JSON body the way every real handler does."""
    from pydantic import BaseModel, Field

    class Echo(BaseModel):
        text: str = Field(min_length=1)

    @app.post("/test/echo")
    async def echo(request: Request) -> HTTPResponse:
        return json(parse_body(request, Echo).model_dump())

    @app.get("/test/boom")
    async def boom(request: Request) -> HTTPResponse:
        raise RuntimeError("secret internals: password=hunter2")


async def test_body_errors_are_json(settings: Settings) -> None:
    async with running_app(settings, add_echo_route) as (_app, url), http_client(url) as http:
        ok = await http.post("/test/echo", json={"text": "hi"})
        assert ok.status_code == 200 and ok.json() == {"text": "hi"}

        malformed = await http.post(
            "/test/echo", content=b'{"text": ', headers={"content-type": "application/json"}
        )
        assert malformed.status_code == 400
        assert malformed.json()["error"] == "bad_request"

        invalid = await http.post("/test/echo", json={"text": ""})
        assert invalid.status_code == 400
        assert invalid.json()["error"] == "validation_error"
        assert invalid.json()["details"][0]["field"] == "text"

        not_object = await http.post("/test/echo", json=[1, 2])
        assert not_object.status_code == 400

        wrong_type = await http.post(
            "/test/echo", content=b"text=hi", headers={"content-type": "text/plain"}
        )
        assert wrong_type.status_code == 415
        assert wrong_type.json()["error"] == "unsupported_media_type"

        too_big = await http.post(
            "/test/echo", json={"text": "x" * (settings.request_max_size + 10)}
        )
        assert too_big.status_code == 413
        assert too_big.json()["error"] == "payload_too_large"

        deep = b"[" * 100_000 + b"]" * 100_000
        nested = await http.post(
            "/test/echo",
            content=deep[: settings.request_max_size - 10],
            headers={"content-type": "application/json"},
        )
        assert nested.status_code == 400


async def test_500_hides_internals_and_logs_request_id(settings: Settings) -> None:
    records: list[logging.LogRecord] = []
    handler = RecordingHandler(records)
    logging.getLogger("tq.errors").addHandler(handler)
    try:
        async with running_app(settings, add_echo_route) as (_app, url), http_client(url) as http:
            response = await http.get("/test/boom", headers={"X-Request-ID": "trace-123"})
    finally:
        logging.getLogger("tq.errors").removeHandler(handler)
    assert any("request_id=trace-123" in r.getMessage() for r in records)
    assert response.status_code == 500
    assert response.json() == {"error": "internal_error", "message": "Internal server error"}
    assert "hunter2" not in response.text
    assert response.headers["x-request-id"] == "trace-123"


async def test_request_id_is_generated_or_echoed_safely(client: httpx.AsyncClient) -> None:
    generated = await client.get("/api/health")
    assert len(generated.headers["x-request-id"]) == 32
    echoed = await client.get("/api/health", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    unsafe = await client.get("/api/health", headers={"X-Request-ID": "bad id\twith tabs"})
    assert unsafe.headers["x-request-id"] != "bad id\twith tabs"


async def test_cors_allows_configured_origins_only(client: httpx.AsyncClient) -> None:
    allowed = await client.get("/api/health", headers={"Origin": "http://localhost:5173"})
    assert allowed.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert allowed.headers["access-control-allow-credentials"] == "true"

    refused = await client.get("/api/health", headers={"Origin": "https://evil.example"})
    assert refused.status_code == 200
    assert "access-control-allow-origin" not in refused.headers

    preflight = await client.options(
        "/api/health",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert "authorization" in preflight.headers["access-control-allow-headers"].lower()


async def test_cors_headers_go_only_to_requests_with_an_origin(settings: Settings) -> None:
    # One allowed origin: the case where CORS headers could be sent to every request.
    one = settings.model_copy(update={"cors_origin": ["http://localhost:5173"]})
    async with running_app(one) as (_app, url), http_client(url) as http:
        browser = await http.get("/api/health", headers={"Origin": "http://localhost:5173"})
        assert browser.headers["access-control-allow-origin"] == "http://localhost:5173"
        assert browser.headers["vary"].lower() == "origin"
        # Without an Origin (a probe, a server) there is nothing for CORS to say.
        plain = await http.get("/api/health")
        assert not [name for name in plain.headers if name.lower().startswith("access-control-")]


async def test_openapi_spec_is_served_and_valid(client: httpx.AsyncClient) -> None:
    from openapi_spec_validator import validate

    response = await client.get("/docs/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    validate(spec)
    assert "/api/health" in spec["paths"]
    ui = await client.get("/docs")
    assert ui.status_code == 200


async def test_openapi_spec_is_built_once_at_start(settings: Settings) -> None:
    async with running_app(settings) as (app, url), http_client(url) as http:
        built = app.ctx.openapi_json
        assert built, "the spec is built when the server starts"
        first = await http.get("/docs/openapi.json")
        second = await http.get("/docs/openapi.json")
    assert first.status_code == 200 and first.headers["content-type"] == "application/json"
    assert first.content == second.content == built
    spec = first.json()
    operation_ids = [op["operationId"] for item in spec["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    # What the server enforces is declared: required bodies, the two create shapes, arrays.
    create = spec["paths"]["/api/sessions"]["post"]["requestBody"]
    assert create["required"] is True
    assert len(spec["components"]["schemas"]["CreateSessionIn"]["oneOf"]) == 2
    status = next(
        p for p in spec["paths"]["/api/sessions"]["get"]["parameters"] if p["name"] == "status"
    )
    assert status["schema"]["items"]["enum"] == ["scheduled", "active", "completed", "cancelled"]


async def test_strict_openapi_30_validators_accept_real_responses(
    client: httpx.AsyncClient,
) -> None:
    """openapi-schema-validator's OAS 3.0 validator reads `nullable` strictly (only beside a
    `type`): real responses with null objects (a session without a participant, a scorecard
    not started) must validate against the served spec, and `servers` must not be empty."""
    from openapi_schema_validator import OAS30Validator

    spec = (await client.get("/docs/openapi.json")).json()
    assert spec["servers"], "strict clients need a server to call"

    def check(path: str, method: str, body: object, status: str = "200") -> None:
        media = spec["paths"][path][method]["responses"][status]["content"]["application/json"]
        schema = {**media["schema"], "components": spec["components"]}
        errors = [e.message for e in OAS30Validator(schema).iter_errors(body)]
        assert not errors, (path, errors)

    host = await register(client, role="interviewer")
    made = await client.post("/api/sessions", json={"title": "Strict"}, headers=host["headers"])
    session = made.json()["session"]
    assert session["participant"] is None
    check("/api/sessions", "post", made.json(), "201")
    got = await client.get(f"/api/sessions/{session['_id']}", headers=host["headers"])
    check("/api/sessions/{session_id}", "get", got.json())
    mine = await client.get(
        f"/api/sessions/{session['_id']}/scorecards/me", headers=host["headers"]
    )
    assert mine.json()["scorecard"] is None
    check("/api/sessions/{session_id}/scorecards/me", "get", mine.json())
    # The check can fail: a null where the spec allows none is reported.
    bad = {**got.json(), "session": {**got.json()["session"], "host": None}}
    media = spec["paths"]["/api/sessions/{session_id}"]["get"]["responses"]["200"]["content"]
    schema = {**media["application/json"]["schema"], "components": spec["components"]}
    assert list(OAS30Validator(schema).iter_errors(bad))
