from __future__ import annotations

from typing import Any

import httpx


async def create(http: httpx.AsyncClient, owner: dict[str, Any], **body: Any) -> dict[str, Any]:
    body = body or {"title": "Pairing interview"}
    response = await http.post("/api/sessions", json=body, headers=owner["headers"])
    assert response.status_code == 201, response.text
    session: dict[str, Any] = response.json()["session"]
    return session


async def act(
    http: httpx.AsyncClient, who: dict[str, Any], session: dict[str, Any], action: str
) -> httpx.Response:
    return await http.post(f"/api/sessions/{session['_id']}/{action}", headers=who["headers"])
