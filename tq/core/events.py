"""Domain events: how one domain reacts to another's change without importing it.

A domain publishes a plain event (`await clients.events.publish(AccountClosing(...))`); the
reactions are wired in one place, `tq.reactions`, so the list of cross-domain effects is
readable at a glance and no domain module imports one above it. Handlers run in order, in the
publisher's request: an error propagates, and the publisher's own write has not happened yet
(or is retried), so nothing is half-done silently."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

Event = TypeVar("Event")
Handler = Callable[[Any], Awaitable[None]]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[type, list[Handler]] = defaultdict(list)

    def subscribe(self, kind: type[Event], handler: Callable[[Event], Awaitable[None]]) -> None:
        self._handlers[kind].append(handler)

    def handlers(self, kind: type) -> list[Handler]:
        return list(self._handlers.get(kind, ()))

    async def publish(self, event: object) -> None:
        for handler in self._handlers.get(type(event), ()):
            await handler(event)
