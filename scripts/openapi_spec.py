"""Write the OpenAPI spec the server serves to a file: the app is started on a free loopback
port (its database and Redis clients connect lazily, so no service is needed), asked for the
spec once, and stopped. `make lint` validates the output with openapi-spec-validator."""

from __future__ import annotations

import asyncio
import json
import socket
import sys
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config import Settings
from tq.app import create_app


async def spec() -> Any:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        app_env="test",
        jwt_secret="x" * 32,
        mongodb_uri="mongodb://127.0.0.1:9/unused",
        redis_url="redis://127.0.0.1:9/0",
    )
    app = create_app(settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = await app.create_server(
        host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False
    )
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with httpx.AsyncClient() as http:
            answer = await http.get(f"http://127.0.0.1:{port}/docs/openapi.json")
            answer.raise_for_status()
            return answer.json()
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()


def main() -> None:
    """`openapi_spec.py OUT.json`: the app logs to stdout, so the spec goes to a file."""
    Path(sys.argv[1]).write_text(json.dumps(asyncio.run(spec()), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
