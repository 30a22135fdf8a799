"""Flower, the job dashboard, as `make run` starts it: `python -m workers.dashboard [flower
options]`. Two changes to stock Flower, both about secrets:
- every page sits behind its basic auth, `/metrics` and `/healthcheck` included (Flower serves
  those two to anyone: queue names, task counts and worker names are the deployment's);
- the credentials come from `FLOWER_BASIC_AUTH` (user:password) in the environment, which
  Flower reads itself, never from the command line, where `ps` shows them to every user."""

from __future__ import annotations

import os
import sys

from flower.views import monitor  # type: ignore[import-untyped]
from tornado import web


def require_auth() -> None:
    for handler in (monitor.Metrics, monitor.Healthcheck):
        handler.get = web.authenticated(handler.get)


def main(argv: list[str]) -> None:
    if any(arg.startswith("--basic-auth") or arg.startswith("--basic_auth") for arg in argv):
        sys.exit("pass the credentials as FLOWER_BASIC_AUTH, not on the command line")
    if not os.environ.get("FLOWER_BASIC_AUTH"):
        sys.exit("FLOWER_BASIC_AUTH (user:password) is required")
    require_auth()
    from workers import app

    app.start(["flower", *argv])


if __name__ == "__main__":
    main(sys.argv[1:])
