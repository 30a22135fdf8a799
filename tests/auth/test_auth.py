"""Accounts over real HTTP: register, login, me, change, delete, logout, tokens, throttling."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest
from sanic import Request, Sanic
from sanic import json as json_response
from sanic.response import HTTPResponse

from config import Settings
from tests.support import (
    ROOT,
    TEST_JWT_SECRET,
    TEST_STREAM_SECRET,
    RecordingHandler,
    http_client,
    register,
    running_app,
    unique_email,
)
from tq.auth.dependencies import CurrentInterviewer

PUBLIC_USER_FIELDS = {
    "_id",
    "email",
    "name",
    "role",
    "streamId",
    "avatar",
    "profileImage",
    "timezone",
    "createdAt",
    "updatedAt",
}


async def test_register_login_me_round_trip(client: httpx.AsyncClient) -> None:
    email = unique_email("Round")
    response = await client.post(
        "/api/auth/register",
        json={"email": f"  {email.upper()} ", "password": "s3cret-pass", "name": "  Ada  "},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    user = body["user"]
    assert set(user) == PUBLIC_USER_FIELDS
    assert user["email"] == email.lower()
    assert user["name"] == "Ada"
    assert user["role"] == "candidate"
    assert user["streamId"] == user["_id"]
    assert "password" not in response.text and "s3cret-pass" not in response.text

    login = await client.post(
        "/api/auth/login", json={"email": email.upper(), "password": "s3cret-pass"}
    )
    assert login.status_code == 200
    assert login.json()["user"]["_id"] == user["_id"]

    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {login.json()['token']}"}
    )
    assert me.status_code == 200
    assert me.json()["user"] == user


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "email"),
        ({"password": "longenough", "name": "A"}, "email"),
        ({"email": "not-an-email", "password": "longenough", "name": "A"}, "email"),
        ({"email": 42, "password": "longenough", "name": "A"}, "email"),
        ({"email": "a@example.com", "password": "short", "name": "A"}, "password"),
        ({"email": "a@example.com", "password": "x" * 129, "name": "A"}, "password"),
        ({"email": "a@example.com", "password": 12345678, "name": "A"}, "password"),
        ({"email": "a@example.com", "password": "longenough", "name": "   "}, "name"),
        ({"email": "a@example.com", "password": "longenough", "name": "n" * 101}, "name"),
        (
            {"email": "a@example.com", "password": "longenough", "name": "A", "role": "admin"},
            "role",
        ),
        ({"email": "a@example.com", "password": "longenough", "name": "A", "role": "boss"}, "role"),
        (
            {"email": "a@example.com", "password": "longenough", "name": "A", "isAdmin": True},
            "isAdmin",
        ),
    ],
)
async def test_register_rejects_bad_input(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post("/api/auth/register", json=body)
    assert response.status_code == 400, response.text
    error = response.json()
    assert error["error"] == "validation_error"
    assert field in {detail["field"] for detail in error["details"]}


async def test_duplicate_email_in_any_case_is_409(client: httpx.AsyncClient) -> None:
    email = unique_email("dup")
    await register(client, email=email)
    again = await client.post(
        "/api/auth/register", json={"email": email.upper(), "password": "longenough", "name": "B"}
    )
    assert again.status_code == 409
    assert again.json()["error"] == "email_taken"


async def test_racing_registrations_create_one_account(client: httpx.AsyncClient) -> None:
    email = unique_email("race")
    responses = await asyncio.gather(
        *[
            client.post(
                "/api/auth/register",
                json={"email": email, "password": "longenough", "name": f"R{i}"},
            )
            for i in range(10)
        ]
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] + [409] * 9
    assert all(r.json()["error"] == "email_taken" for r in responses if r.status_code == 409)


async def test_wrong_password_and_unknown_email_look_the_same(client: httpx.AsyncClient) -> None:
    user = await register(client)
    wrong = await client.post(
        "/api/auth/login", json={"email": user["user"]["email"], "password": "nope-nope"}
    )
    unknown = await client.post(
        "/api/auth/login", json={"email": unique_email("ghost"), "password": "nope-nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"error": "invalid_credentials", "message": "Invalid email or password"}
    )


async def test_login_rejects_bad_input(client: httpx.AsyncClient) -> None:
    for body in ({}, {"email": "a@example.com"}, {"email": ["x"], "password": "p"}):
        response = await client.post("/api/auth/login", json=body)
        assert response.status_code == 400
        assert response.json()["error"] == "validation_error"


async def test_patch_me_changes_profile_and_password(client: httpx.AsyncClient) -> None:
    user = await register(client)
    headers = user["headers"]
    renamed = await client.patch(
        "/api/auth/me",
        headers=headers,
        json={"name": "Grace", "avatar": "https://img.example.com/g.png"},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["user"]["name"] == "Grace"
    assert renamed.json()["user"]["profileImage"] == "https://img.example.com/g.png"

    for bad in (
        {"password": "newpassword1"},
        {"avatar": "javascript:alert(1)"},
        {},
        {"email": "x@example.com"},
        {"role": "interviewer"},
        {"name": ""},
        {"name": "\u0085"},  # only whitespace, by Python's and the spec's reading alike
        {"name": None},
        {"password": "newpassword1", "currentPassword": None},
    ):
        response = await client.patch("/api/auth/me", headers=headers, json=bad)
        assert response.status_code == 400, (bad, response.text)

    wrong = await client.patch(
        "/api/auth/me",
        headers=headers,
        json={"password": "newpassword1", "currentPassword": "wrong"},
    )
    assert wrong.status_code == 403
    assert wrong.json()["error"] == "wrong_password"

    await asyncio.sleep(1.05)  # token iat has whole-second resolution
    changed = await client.patch(
        "/api/auth/me",
        headers=headers,
        json={"password": "newpassword1", "currentPassword": user["password"]},
    )
    assert changed.status_code == 200
    fresh = {"Authorization": f"Bearer {changed.json()['token']}"}
    assert (await client.get("/api/auth/me", headers=headers)).status_code == 401
    assert (await client.get("/api/auth/me", headers=fresh)).status_code == 200
    email = user["user"]["email"]
    old = await client.post("/api/auth/login", json={"email": email, "password": user["password"]})
    assert old.status_code == 401
    new = await client.post("/api/auth/login", json={"email": email, "password": "newpassword1"})
    assert new.status_code == 200


async def test_logout_revokes_the_token(client: httpx.AsyncClient) -> None:
    user = await register(client)
    assert (await client.post("/api/auth/logout", headers=user["headers"])).status_code == 204
    again = await client.get("/api/auth/me", headers=user["headers"])
    assert again.status_code == 401
    assert again.headers["www-authenticate"] == "Bearer"
    other = await client.post(
        "/api/auth/login", json={"email": user["user"]["email"], "password": user["password"]}
    )
    assert (
        await client.get(
            "/api/auth/me", headers={"Authorization": f"Bearer {other.json()['token']}"}
        )
    ).status_code == 200


async def test_delete_me_needs_password_then_removes_account(client: httpx.AsyncClient) -> None:
    user = await register(client)
    wrong = await client.request(
        "DELETE", "/api/auth/me", headers=user["headers"], json={"password": "not-it-at-all"}
    )
    assert wrong.status_code == 403
    missing = await client.request("DELETE", "/api/auth/me", headers=user["headers"], json={})
    assert missing.status_code == 400
    gone = await client.request(
        "DELETE", "/api/auth/me", headers=user["headers"], json={"password": user["password"]}
    )
    assert gone.status_code == 204
    assert (await client.get("/api/auth/me", headers=user["headers"])).status_code == 401
    login = await client.post(
        "/api/auth/login", json={"email": user["user"]["email"], "password": user["password"]}
    )
    assert login.status_code == 401


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(user_id: str, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "sub": user_id,
        "role": "candidate",
        "iat": now,
        "exp": now + 600,
        "jti": "j-" + user_id,
        "iss": "talent-quotient",
        "aud": "talent-quotient-api",
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


async def test_every_bad_token_is_401(client: httpx.AsyncClient, settings: Settings) -> None:
    user = await register(client)
    uid = user["user"]["_id"]
    good = user["token"]
    header, _payload, signature = good.split(".")
    tampered_payload = _b64(
        {**jwt.decode(good, options={"verify_signature": False}), "role": "interviewer"}
    )
    cases = {
        "missing": None,
        "not bearer": f"Basic {good}",
        "empty bearer": "Bearer",
        "garbage": "Bearer not.a.token",
        "tampered": f"Bearer {header}.{tampered_payload}.{signature}",
        "alg none": "Bearer "
        + _b64({"alg": "none", "typ": "JWT"})
        + "."
        + _b64(_claims(uid))
        + ".",
        "wrong secret": "Bearer " + jwt.encode(_claims(uid), "another-secret-" + "z" * 32),
        "expired": "Bearer " + jwt.encode(_claims(uid, exp=int(time.time()) - 5), TEST_JWT_SECRET),
        "no jti": "Bearer " + jwt.encode(_claims(uid, jti=None), TEST_JWT_SECRET),
        "wrong audience": "Bearer " + jwt.encode(_claims(uid, aud="other"), TEST_JWT_SECRET),
        "wrong issuer": "Bearer " + jwt.encode(_claims(uid, iss="other"), TEST_JWT_SECRET),
        "unknown user": "Bearer "
        + jwt.encode(_claims("5f0000000000000000000000"), TEST_JWT_SECRET),
        "malformed sub": "Bearer " + jwt.encode(_claims("not-an-id"), TEST_JWT_SECRET),
        "hs512": "Bearer " + jwt.encode(_claims(uid), TEST_JWT_SECRET, algorithm="HS512"),
    }
    for name, value in cases.items():
        headers = {"Authorization": value} if value else {}
        response = await client.get("/api/auth/me", headers=headers)
        assert response.status_code == 401, name
        assert response.json()["error"] == "unauthorized", name
        assert response.headers["www-authenticate"] == "Bearer", name
    # The forged-but-valid control: the same claims signed with our secret pass.
    ok = jwt.encode(_claims(uid), TEST_JWT_SECRET)
    assert (
        await client.get("/api/auth/me", headers={"Authorization": f"Bearer {ok}"})
    ).status_code == 200


def add_interviewer_route(app: Sanic[Any, Any]) -> None:
    @app.get("/test/interviewers-only")
    async def only(request: Request, viewer: CurrentInterviewer) -> HTTPResponse:
        return json_response({"ok": viewer.role == "interviewer"})


async def test_role_guard_gives_403(settings: Settings) -> None:
    async with (
        running_app(settings, add_interviewer_route) as (_app, url),
        http_client(url) as http,
    ):
        candidate = await register(http, role="candidate")
        interviewer = await register(http, role="interviewer")
        denied = await http.get("/test/interviewers-only", headers=candidate["headers"])
        assert denied.status_code == 403 and denied.json()["error"] == "forbidden"
        allowed = await http.get("/test/interviewers-only", headers=interviewer["headers"])
        assert allowed.status_code == 200 and allowed.json() == {"ok": True}
        assert (await http.get("/test/interviewers-only")).status_code == 401


async def test_a_stranger_cannot_lock_out_a_known_email(settings: Settings) -> None:
    """Failures lock the (email, address) pair: the stranger's address is refused for that
    account, while its owner, from elsewhere, still logs in; then the window ends."""
    limited = settings.model_copy(
        update={"login_max_failures": 3, "login_window_s": 2, "proxies_count": 1}
    )
    stranger = {"X-Forwarded-For": f"203.0.113.{uuid.uuid4().int % 250 + 1}"}
    owner = {"X-Forwarded-For": f"198.51.100.{uuid.uuid4().int % 250 + 1}"}
    async with running_app(limited) as (_app, url), http_client(url) as http:
        user = await register(http)
        creds = {"email": user["user"]["email"], "password": "wrong-password"}
        for _ in range(3):
            answer = await http.post("/api/auth/login", json=creds, headers=stranger)
            assert answer.status_code == 401
        right = {**creds, "password": user["password"]}
        blocked = await http.post("/api/auth/login", json=right, headers=stranger)
        assert blocked.status_code == 429
        assert blocked.json()["error"] == "too_many_attempts"
        assert 1 <= int(blocked.headers["retry-after"]) <= 2
        assert (await http.post("/api/auth/login", json=right, headers=owner)).status_code == 200
        await asyncio.sleep(2.2)
        assert (await http.post("/api/auth/login", json=right, headers=stranger)).status_code == 200


async def test_successful_logins_are_throttled_per_address(settings: Settings) -> None:
    limited = settings.model_copy(
        update={"login_client_max_attempts": 3, "login_window_s": 5, "proxies_count": 1}
    )
    address = {"X-Forwarded-For": f"192.0.2.{uuid.uuid4().int % 250 + 1}"}
    async with running_app(limited) as (_app, url), http_client(url) as http:
        user = await register(http)
        right = {"email": user["user"]["email"], "password": user["password"]}
        for _ in range(3):
            assert (await http.post("/api/auth/login", json=right, headers=address)).is_success
        refused = await http.post("/api/auth/login", json=right, headers=address)
        assert refused.status_code == 429 and refused.json()["error"] == "too_many_attempts"


async def test_current_password_guesses_are_throttled_per_account(settings: Settings) -> None:
    limited = settings.model_copy(update={"login_max_failures": 3, "login_window_s": 5})
    async with running_app(limited) as (_app, url), http_client(url) as http:
        user = await register(http)
        guess = {"password": "new-password-1", "currentPassword": "not-it"}
        for _ in range(3):
            wrong = await http.patch("/api/auth/me", json=guess, headers=user["headers"])
            assert wrong.status_code == 403 and wrong.json()["error"] == "wrong_password"
        # Even the right password is refused now: the guesser learns nothing more.
        right = {**guess, "currentPassword": user["password"]}
        refused = await http.patch("/api/auth/me", json=right, headers=user["headers"])
        assert refused.status_code == 429 and refused.json()["error"] == "too_many_attempts"
        assert int(refused.headers["retry-after"]) >= 1
        deleting = await http.request(
            "DELETE", "/api/auth/me", json={"password": "nope"}, headers=user["headers"]
        )
        assert deleting.status_code == 429


async def test_login_throttle_per_client_address(settings: Settings) -> None:
    # Behind one proxy, the client is the address it forwards (a fresh one for this test).
    limited = settings.model_copy(
        update={"login_client_max_failures": 4, "login_window_s": 2, "proxies_count": 1}
    )
    client_ip = f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    forwarded = {"X-Forwarded-For": client_ip}
    async with running_app(limited) as (_app, url), http_client(url) as http:
        for _ in range(4):
            creds = {"email": unique_email("spray"), "password": "wrong-password"}
            response = await http.post("/api/auth/login", json=creds, headers=forwarded)
            assert response.status_code == 401
        blocked = await http.post(
            "/api/auth/login",
            headers=forwarded,
            json={"email": unique_email("x"), "password": "whatever1"},
        )
        assert blocked.status_code == 429
        assert "retry-after" in blocked.headers
        other_client = await http.post(
            "/api/auth/login",
            headers={"X-Forwarded-For": "198.51.100.7"},
            json={"email": unique_email("x"), "password": "whatever1"},
        )
        assert other_client.status_code == 401


async def test_stream_token_for_chat_and_video(client: httpx.AsyncClient) -> None:
    user = await register(client, name="Stream User")
    for method, path in (("POST", "/api/auth/stream-token"), ("GET", "/api/chat/token")):
        response = await client.request(method, path, headers=user["headers"])
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["api_key"] == body["apiKey"] == "test-stream-key"
        assert body["userId"] == user["user"]["streamId"]
        assert body["userName"] == "Stream User"
        assert "userImage" in body
        claims = jwt.decode(body["token"], TEST_STREAM_SECRET, algorithms=["HS256"])
        assert claims["user_id"] == user["user"]["streamId"]
        assert claims["exp"] > time.time() + 3000
        assert claims["iat"] <= time.time()
    assert (await client.get("/api/chat/token")).status_code == 401


async def test_the_stream_sdk_refreshes_its_token_through_a_token_provider(
    server: str, client: httpx.AsyncClient, settings: Settings
) -> None:
    """Stream tokens last STREAM_TOKEN_TTL (an hour) and a session may last four: the
    frontend passes the real stream-chat SDK a token provider that calls POST
    /api/auth/stream-token, and the SDK calls it again when Stream says the token expired.
    Here the SDK's own token manager does so against this server."""
    user = await register(client, name="Long Session")
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(ROOT / "tests" / "clients" / "stream-token.mjs"),
        server,
        user["token"],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    answer = json.loads(output)
    assert answer["type"] == "provider" and answer["apiKey"] == "test-stream-key"
    first, refreshed = (
        jwt.decode(answer[name], TEST_STREAM_SECRET, algorithms=["HS256"])
        for name in ("first", "refreshed")
    )
    assert first["user_id"] == refreshed["user_id"] == user["user"]["streamId"]
    assert refreshed["iat"] > first["iat"] and refreshed["exp"] > first["exp"]
    # iat is backdated 5 s for clock skew; the token lives STREAM_TOKEN_TTL from issue.
    assert first["exp"] - first["iat"] == settings.stream_token_ttl + 5


async def test_stream_token_503_when_stream_not_configured(settings: Settings) -> None:
    bare = settings.model_copy(update={"stream_api_key": "", "stream_api_secret": ""})
    async with running_app(bare) as (_app, url), http_client(url) as http:
        user = await register(http)
        response = await http.get("/api/chat/token", headers=user["headers"])
        assert response.status_code == 503
        assert response.json()["error"] == "stream_not_configured"


async def test_logs_never_carry_secrets(settings: Settings) -> None:
    records: list[logging.LogRecord] = []
    handler = RecordingHandler(records)
    logger = logging.getLogger("tq")
    logger.addHandler(handler)
    try:
        async with running_app(settings) as (_app, url), http_client(url) as http:
            user = await register(http, password="very-secret-password")
            await http.post(
                "/api/auth/login",
                json={"email": user["user"]["email"], "password": "wrong-password"},
            )
            await http.get("/api/auth/me", headers=user["headers"])
            await http.get("/api/chat/token", headers=user["headers"])
    finally:
        logger.removeHandler(handler)
    text = "\n".join(record.getMessage() for record in records)
    assert "POST /api/auth/login 401" in text  # the access log did run
    for secret in (
        user["token"],
        "very-secret-password",
        "wrong-password",
        user["user"]["email"],
        "Bearer",
    ):
        assert secret not in text


async def test_timezone_is_an_iana_name_shown_to_its_owner(client: httpx.AsyncClient) -> None:
    user = await register(client)
    headers = user["headers"]
    assert user["user"]["timezone"] is None  # UTC until set
    set_ = await client.patch("/api/auth/me", headers=headers, json={"timezone": "Europe/Paris"})
    assert set_.status_code == 200, set_.text
    assert set_.json()["user"]["timezone"] == "Europe/Paris"
    assert (await client.get("/api/auth/me", headers=headers)).json()["user"][
        "timezone"
    ] == "Europe/Paris"
    for bad in ("Mars/Olympus", "europe/paris", "", "+02:00"):
        refused = await client.patch("/api/auth/me", headers=headers, json={"timezone": bad})
        assert refused.status_code == 400, bad
    cleared = await client.patch("/api/auth/me", headers=headers, json={"timezone": None})
    assert cleared.json()["user"]["timezone"] is None


async def test_a_burst_of_concurrent_guesses_is_counted_before_any_is_verified(
    settings: Settings,
) -> None:
    """Twenty wrong passwords sent at once: the limit holds for the burst (a check-then-count
    throttle let all of them be verified)."""
    limited = settings.model_copy(
        update={"login_max_failures": 3, "login_window_s": 5, "proxies_count": 1}
    )
    address = {"X-Forwarded-For": f"203.0.113.{uuid.uuid4().int % 250 + 1}"}
    async with running_app(limited) as (_app, url), http_client(url) as http:
        user = await register(http)
        guess = {"email": user["user"]["email"], "password": "wrong-password"}
        answers = await asyncio.gather(
            *(http.post("/api/auth/login", json=guess, headers=address) for _ in range(20))
        )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [401] * 3 + [429] * 17, codes
