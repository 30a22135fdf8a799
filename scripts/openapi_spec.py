"""Write the OpenAPI spec the server serves to a file: the app is started on a free loopback
port (its database and Redis clients connect lazily, so no service is needed), asked for the
spec once, and stopped. `make lint` validates the output with openapi-spec-validator."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config import Settings
from tests.support import http_client, running_app


async def spec() -> Any:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        app_env="test",
        jwt_secret="x" * 32,
        mongodb_uri="mongodb://127.0.0.1:9/unused",
        redis_url="redis://127.0.0.1:9/0",
    )
    async with running_app(settings) as (_app, url), http_client(url) as http:
        answer = await http.get("/docs/openapi.json")
        answer.raise_for_status()
        return answer.json()


def main() -> None:
    """`openapi_spec.py OUT.json`: the app logs to stdout, so the spec goes to a file."""
    Path(sys.argv[1]).write_text(json.dumps(asyncio.run(spec()), indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
