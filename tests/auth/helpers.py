from __future__ import annotations

import uuid
from typing import Any

import httpx


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}@example.com"


async def register(
    http: httpx.AsyncClient,
    *,
    role: str = "candidate",
    name: str = "Test User",
    email: str | None = None,
    password: str = "correct horse battery",
) -> dict[str, Any]:
    """Register a fresh user; returns the response body plus `password` and `headers`."""
    response = await http.post(
        "/api/auth/register",
        json={"email": email or unique_email(), "password": password, "name": name, "role": role},
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    body["password"] = password
    body["headers"] = {"Authorization": f"Bearer {body['token']}"}
    return body
