"""Entry point: `python server.py` (the Procfile's web line). Builds the app and serves it."""

import sys

from config import ConfigError, load_settings

try:
    settings = load_settings()
except ConfigError as exc:
    sys.exit(f"talent-quotient: {exc}")

from tq.app import create_app

app = create_app(settings)

if __name__ == "__main__":
    app.run(
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        access_log=False,
        motd=False,
        # One worker needs no process manager; it also makes SIGTERM from a dyno immediate.
        single_process=settings.workers == 1,
    )
