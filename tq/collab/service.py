"""The shared editor: one Yjs document per session, served over the y-websocket protocol.

A room is the in-memory document of a session in the web process that holds its connections.
It is loaded from the session's update log (`code_updates`) when its first person connects and
dropped when its last one leaves. Every update a client sends is applied, stored, and only then
relayed to the others: what anyone received is in the database. Awareness (cursors, who is
there) is relayed but never stored, and its `user` is the server's account data, never the
client's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bson import ObjectId
from odmantic import AIOEngine
from pycrdt import Awareness, Doc, Map, Text, merge_updates
from pymongo.errors import DuplicateKeyError
from redis.asyncio import Redis

from config import Settings
from tq.collab import protocol
from tq.collab.models import CodeSnapshot, CodeUpdate
from tq.core.queue import JobQueue
from tq.core.time import utcnow
from tq.jobs.registry import COMPACT_CODE_LOG
from tq.sessions.models import FINAL_STATUSES, Session
from tq.sessions.schemas import opens_at, session_role
from tq.users.models import User

log = logging.getLogger("tq.collab")

# Close codes: 4400-4499 make the y-websocket client stop reconnecting (a refusal is final).
CLOSE_MALFORMED = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_IDLE = 4408
CLOSE_TOO_EARLY = 4409
CLOSE_TOO_LARGE = 4413
CLOSE_TOO_MANY = 4429
CLOSE_STORAGE = 1011  # the database refused an update: reconnect and resend
CLOSE_RESTART = 1012  # the room was rebuilt from the log: reconnect
CLOSE_SLOW = 1013  # "try again later": it did not read what it was sent in time

SEND_TIMEOUT_S = 5.0  # a client that reads nothing this long is cut off


class Socket(Protocol):
    async def send(self, data: bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def fail_connection(self, code: int = 1006, reason: str = "") -> bool: ...


class Refused(Exception):
    """A connection refused or ended, with its close code and reason."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def user_color(user_id: ObjectId) -> str:
    """A stable colour per person for cursors (a hue from the id, fixed lightness)."""
    hue = int(hashlib.sha256(str(user_id).encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue}, 70%, 45%)"


@dataclass
class Bucket:
    """A token bucket: `rate` a second, up to `2 * rate` at once."""

    rate: float
    allowance: float = 0.0
    checked_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.allowance = self.rate * 2

    def take(self) -> bool:
        now = time.monotonic()
        self.allowance = min(self.rate * 2, self.allowance + (now - self.checked_at) * self.rate)
        self.checked_at = now
        if self.allowance < 1:
            return False
        self.allowance -= 1
        return True


@dataclass(eq=False)
class Connection:
    socket: Socket
    user: User
    role: str
    read_only: bool
    updates: Bucket  # document updates
    frames: Bucket  # any frame: sync requests and awareness cost the server too
    client_ids: set[int] = field(default_factory=set)

    @property
    def card(self) -> dict[str, Any]:
        return {
            "id": str(self.user.id),
            "name": self.user.name,
            "sessionRole": self.role,
            "color": user_color(self.user.id),
        }


# How much earlier than a moment the log is read again to be sure of everything stored after
# it (after a snapshot's last update; after a room was last current). An update's id is made
# when its batch is built, a moment before the insert lands, so an update of another process may
# land later with an id just below. Applying an update twice changes nothing (Yjs updates are
# idempotent): reading this overlap again costs little and misses nothing that landed within it.
LATE_INSERT_MARGIN = timedelta(minutes=5)
# An update another process published while this one could not hear may still be on its way
# to the log when this one catches up (its insert is batched): the log is read again after
# these delays, so an insert that lands late is relayed too.
CATCH_UP_AGAIN_S = (2.0, 6.0)


class Room:
    def __init__(self, session_id: ObjectId) -> None:
        self.session_id = session_id
        self.doc: Doc[Any] = Doc()
        self.code = Text()
        self.doc["code"] = self.code
        self.meta: Map[Any] = Map()
        self.doc["meta"] = self.meta
        self.awareness = Awareness(self.doc)
        self.awareness.set_local_state(None)  # the server is nobody in the room
        self.connections: set[Connection] = set()
        # Bytes of the stored log, and of the updates on their way there: the size bound.
        self.size = 0
        self.since_compaction = 0  # updates this process stored since it last queued one
        self.subscribed = False  # its channel's subscription confirmed (again: catch up)
        self.remote_ids: set[int] = set()  # awareness clients of other processes' people

    async def broadcast(self, frame: bytes, skip: Connection | None = None) -> None:
        targets = [c for c in self.connections if c is not skip]
        if len(targets) == 1:  # the common case (two people): no task for it
            await self.deliver(targets[0], frame)
        elif targets:
            await asyncio.gather(*(self.deliver(c, frame) for c in targets))

    async def deliver(self, connection: Connection, frame: bytes) -> None:
        """One frame to one person. A client that stops reading is cut off at once (it
        reconnects and syncs) and leaves the room, so it holds up nobody a second time."""
        try:
            await send(connection, frame)
        except Refused:
            log.info("collab connection too slow to read: cut off")
            self.connections.discard(connection)
        except Exception:
            log.debug("relay to a closed connection skipped")


async def send(connection: Connection, frame: bytes) -> None:
    """`frame` to `connection` within SEND_TIMEOUT_S, or the connection is failed (its send
    buffer is full: a closing handshake would wait as long) and Refused(CLOSE_SLOW)."""
    try:
        async with asyncio.timeout(SEND_TIMEOUT_S):
            await connection.socket.send(frame)
    except TimeoutError:
        connection.socket.fail_connection(CLOSE_SLOW, "too_slow")
        raise Refused(CLOSE_SLOW, "too_slow") from None


def channel_of(session_id: ObjectId) -> str:
    return f"collab:{session_id}"


def session_of(channel: bytes) -> ObjectId:
    return ObjectId(channel.decode().split(":", 1)[1])


STOP_WAIT_S = 5.0  # a stopping process's wait for its last inserts and messages
MAX_UNPUBLISHED = 10_000  # messages kept for Redis while it does not answer


PEER_UPDATE, PEER_AWARENESS = b"U", b"A"


class Rooms:
    """The rooms of this process. Rooms of one session in several processes (WORKERS > 1,
    several dynos) hear each other through Redis pub/sub: an update stored here is published,
    and each other process applies it to its own copy and relays it to its own people."""

    def __init__(self, engine: AIOEngine, queue: JobQueue, settings: Settings) -> None:
        self.engine = engine
        self.queue = queue
        self.settings = settings
        self.tasks: set[asyncio.Task[Any]] = set()  # compactions being queued
        self.catching_up: set[asyncio.Task[None]] = set()  # the log read again (reconnected)
        # Updates of every room waiting for their insert, and the task inserting them.
        self.pending: list[tuple[Room, ObjectId | None, bytes, asyncio.Future[None]]] = []
        self.committer: asyncio.Task[None] | None = None
        # Messages for the other processes, and the task sending them.
        self.outgoing: list[tuple[str, bytes]] = []
        self.publisher: asyncio.Task[None] | None = None
        self.rooms: dict[ObjectId, Room] = {}
        self.loading: dict[ObjectId, asyncio.Lock] = {}
        self.process = uuid.uuid4().bytes  # what this process's own messages start with
        # Binary messages on a connection of their own: the shared client decodes to text.
        self.redis = Redis.from_url(
            settings.redis_url, socket_connect_timeout=settings.redis_timeout_s
        )
        # Subscription confirmations are heard too: one that comes again means the connection
        # was renewed (redis-py does it quietly), and what was published meanwhile is lost.
        self.pubsub = self.redis.pubsub(ignore_subscribe_messages=False)
        self.listener: asyncio.Task[None] | None = None
        self.first_subscribed = asyncio.Event()  # wakes the listener when a room opens
        self.heard_at = utcnow()  # the last time the subscription was known to be up

    def start(self) -> None:
        self.listener = asyncio.create_task(self._listen())

    async def stop(self) -> None:
        if self.listener is not None:
            self.listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.listener
        for task in list(self.catching_up):
            task.cancel()
        with contextlib.suppress(Exception):
            await self.pubsub.aclose()  # type: ignore[no-untyped-call]
        # What is being stored and published is finished first (a graceful stop loses none),
        # within a bound: with Redis away, publishing would retry for ever.
        waiting = [t for t in (self.committer, self.publisher, *self.tasks) if t is not None]
        if waiting:
            _, late = await asyncio.wait(waiting, timeout=STOP_WAIT_S)
            for task in late:
                task.cancel()
        await self.redis.aclose()

    async def _listen(self) -> None:
        behind = False  # the connection failed: messages may have been missed
        while True:
            started = utcnow()
            try:
                if not self.pubsub.subscribed:
                    # No room open: sleep until one subscribes (a 50 ms poll cost every idle
                    # process CPU). Cleared, then checked again with no await between, so a
                    # subscription made just before is not missed; and looked at once a second
                    # whatever happens (a wake-up that never comes must not stop the listener).
                    self.first_subscribed.clear()
                    if not self.pubsub.subscribed:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.first_subscribed.wait(), 1.0)
                    continue
                message = await self.pubsub.get_message(timeout=1.0)
                since = self.heard_at
                self.heard_at = started
                if behind:  # heard from Redis again (subscriptions renewed on reconnecting)
                    behind = False
                    for room in list(self.rooms.values()):
                        await self._catch_up(room, since)
                    again = asyncio.create_task(self._catch_up_again(since))
                    self.catching_up.add(again)
                    again.add_done_callback(self.catching_up.discard)
                if message is None:
                    continue
                if message["type"] == "subscribe":
                    renewed = self.rooms.get(session_of(message["channel"]))
                    if renewed is not None and renewed.subscribed:  # it may have missed some
                        await self._catch_up(renewed, since)
                    elif renewed is not None:
                        renewed.subscribed = True
                elif message["type"] == "message":
                    await self._from_peer(message["channel"], message["data"])
            except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
                raise
            except BaseException:  # a yrs panic on a peer's bytes must not end the listener
                log.warning("collab pub/sub unavailable; retrying", exc_info=True)
                behind = True
                await asyncio.sleep(1.0)

    async def _catch_up_again(self, since: datetime) -> None:
        for delay in CATCH_UP_AGAIN_S:
            await asyncio.sleep(delay)
            for room in list(self.rooms.values()):
                await self._catch_up(room, since)

    async def _catch_up(self, room: Room, since: datetime) -> None:
        """What other processes stored while this one could not hear them (from `since`, the
        last moment it knew it could): read from the log and relayed to this room's people."""
        before = room.doc.get_state()
        start = ObjectId.from_datetime(since - LATE_INSERT_MARGIN)
        cursor = self._log().find({"sessionId": room.session_id, "_id": {"$gte": start}})
        async for entry in cursor.sort([("_id", 1)]):
            room.doc.apply_update(entry["update"])
        missed = room.doc.get_update(before)
        if missed != protocol.EMPTY_UPDATE:
            await room.broadcast(protocol.update_message(missed))

    async def _from_peer(self, channel: bytes, data: bytes) -> None:
        if data[:16] == self.process:
            return
        room = self.rooms.get(session_of(channel))
        if room is None:
            return
        kind, payload = data[16:17], data[17:]
        if kind == PEER_UPDATE:
            room.doc.apply_update(payload)  # idempotent: also what the log load brings
            # (If the load already read it from the log, it is counted twice: the bound errs
            # on the safe side until the room is loaded again.)
            room.size += len(payload)
            await room.broadcast(protocol.update_message(payload))
        elif kind == PEER_AWARENESS:
            for client, (_, state) in protocol.read_awareness(payload, 1 << 20, 1 << 30).items():
                if state is None:
                    room.remote_ids.discard(client)
                else:
                    room.remote_ids.add(client)
            room.awareness.apply_awareness_update(payload, "peer")
            await room.broadcast(protocol.awareness_message(payload))

    def _publish(self, room: Room, kind: bytes, payload: bytes) -> None:
        """To the other processes, in order, without waiting: what gathers while one batch is
        in flight goes in the next pipeline (one round trip), as the inserts do."""
        self.outgoing.append((channel_of(room.session_id), self.process + kind + payload))
        if self.publisher is None or self.publisher.done():
            self.publisher = asyncio.create_task(self._send_outgoing())

    async def _send_outgoing(self) -> None:
        while self.outgoing:
            batch, self.outgoing = self.outgoing, []
            pipe = self.redis.pipeline(transaction=False)
            for channel, message in batch:
                pipe.publish(channel, message)
            try:
                await pipe.execute()
            except Exception:
                # Sent again once Redis answers, up to a bound. Past it the oldest are dropped:
                # with Redis away that long, the others' subscriptions broke too, and they
                # catch up from the log when they hear it again.
                self.outgoing = [*batch, *self.outgoing][-MAX_UNPUBLISHED:]
                log.warning("collab messages not published yet (%d waiting)", len(self.outgoing))
                await asyncio.sleep(1.0)

    def _log(self) -> Any:
        return self.engine.get_collection(CodeUpdate)

    async def open(self, session: Session, connection: Connection) -> Room:
        """The session's room, loaded if it is not in memory, with `connection` in it.
        Refused when the session or the person has all the connections allowed: counted
        under the room's lock, so connections arriving together cannot all slip in."""
        lock = self.loading.setdefault(session.id, asyncio.Lock())
        async with lock:
            room = self.rooms.get(session.id)
            if room is not None:
                self._check_capacity(room, connection)
            if room is None:
                room = Room(session.id)
                # Listening before loading: an update published meanwhile is applied too.
                self.rooms[session.id] = room
                try:
                    await self.pubsub.subscribe(channel_of(session.id))
                except Exception:
                    log.warning("collab room %s not subscribed", session.id)
                # Even when it failed: the listener is what renews the connection.
                self.first_subscribed.set()
                try:
                    await self._load(room, session)
                except BaseException:
                    await self._forget(room)
                    raise
                self._check_capacity(room, connection)
            room.connections.add(connection)
            return room

    def _check_capacity(self, room: Room, connection: Connection) -> None:
        settings = self.settings
        if len(room.connections) >= settings.collab_max_connections_per_session:
            raise Refused(CLOSE_TOO_MANY, "too_many_connections")
        mine = sum(1 for c in room.connections if c.user.id == connection.user.id)
        if mine >= settings.collab_max_connections_per_user:
            raise Refused(CLOSE_TOO_MANY, "too_many_connections")

    async def _load(self, room: Room, session: Session) -> None:
        stored = await read_log(self.engine, session.id)
        for part in stored.parts:
            room.doc.apply_update(part)
        room.size = stored.log_bytes
        if "language" not in room.meta:
            # The session's language, written by the server as the first update.
            before = room.doc.get_state()
            room.meta["language"] = session.language
            update = room.doc.get_update(before)
            room.size += len(update)
            await self._store(room, None, update)
            self._publish(room, PEER_UPDATE, update)

    async def close_if_empty(self, room: Room) -> None:
        if not room.connections:
            await self._forget(room)

    async def _forget(self, room: Room) -> None:
        """Out of memory (its state is in the database) and off the channel. What it stored
        since its last compaction is compacted now: everyone left, often because the session
        ended, and the next load reads one snapshot instead of the whole log."""
        if self.rooms.get(room.session_id) is room:
            del self.rooms[room.session_id]
            if room.since_compaction:
                self.compact_soon(room)
            lock = self.loading.get(room.session_id)
            if lock is not None and not lock.locked():  # nobody waits on it to open the room
                del self.loading[room.session_id]
            with contextlib.suppress(Exception):
                await self.pubsub.unsubscribe(channel_of(room.session_id))

    def compact_soon(self, room: Room) -> None:
        """Queue the session's compaction (in the background: nobody waits for it)."""
        room.since_compaction = 0
        task = asyncio.create_task(self.queue.enqueue(COMPACT_CODE_LOG, str(room.session_id)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _store(self, room: Room, author: ObjectId | None, update: bytes) -> None:
        """Stored, in order, with the updates that arrived meanwhile in any room of this
        process (group commit): while one insert is in flight the next ones gather, and go in
        one `insert_many`. A typing burst is a few inserts, not one per keystroke, and nobody
        waits for a timer."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((room, author, update, done))
        if self.committer is None or self.committer.done():
            self.committer = asyncio.create_task(self._commit())
        await done

    async def _commit(self) -> None:
        """Insert what waits, batch after batch. On a failure nothing after it is stored (a
        log with a hole would rebuild another document): every waiter gets the error."""
        try:
            while self.pending:
                batch = self.pending[: self.settings.collab_commit_batch]
                del self.pending[: len(batch)]
                records = [
                    CodeUpdate.document(room.session_id, author, update)
                    for room, author, update, _ in batch
                ]
                try:
                    await self._log().insert_many(records, ordered=True)
                except BaseException as exc:
                    failed, self.pending = [*batch, *self.pending], []
                    for *_, done in failed:
                        if not done.done():
                            done.set_exception(exc)
                    return
                for room, *_, done in batch:
                    if not done.done():
                        done.set_result(None)
                    room.since_compaction += 1
                    if room.since_compaction >= self.settings.collab_compact_after_updates:
                        self.compact_soon(room)
        finally:
            for *_, done in self.pending:  # only if this task itself was cut short
                if not done.done():
                    done.set_exception(RuntimeError("the commit task ended"))

    async def receive(self, room: Room, connection: Connection, frame: bytes) -> None:
        """One frame from `connection`: answered, applied and relayed, or refused."""
        if len(frame) > self.settings.collab_max_message_bytes:
            raise Refused(CLOSE_TOO_LARGE, "message_too_large")
        if not connection.frames.take():
            raise Refused(CLOSE_TOO_MANY, "too_many_frames")
        kind, sub, payload = protocol.parse(frame)
        if kind == protocol.MessageType.SYNC:
            if sub == protocol.SyncType.STEP1:
                await send(connection, protocol.sync_step2(room.doc, payload))
                return
            if sub not in (protocol.SyncType.STEP2, protocol.SyncType.UPDATE):
                raise Refused(CLOSE_MALFORMED, "malformed_frame")
            if payload == protocol.EMPTY_UPDATE:
                return
            if connection.read_only:
                await send(connection, protocol.permission_denied("read_only"))
                return
            if not connection.updates.take():
                raise Refused(CLOSE_TOO_MANY, "too_many_updates")
            await self._accept(room, connection, payload)
        elif kind == protocol.MessageType.AWARENESS:
            await self._awareness(room, connection, payload)
        elif kind == protocol.MessageType.QUERY_AWARENESS:
            if room.awareness.states:
                ids = list(room.awareness.states)
                update = room.awareness.encode_awareness_update(ids)
                await send(connection, protocol.awareness_message(update))
        elif kind != protocol.MessageType.AUTH:
            raise Refused(CLOSE_MALFORMED, "malformed_frame")

    async def _accept(self, room: Room, connection: Connection, update: bytes) -> None:
        if room.size + len(update) > self.settings.collab_max_document_bytes:
            raise Refused(CLOSE_TOO_LARGE, "document_too_large")
        # Counted before anything awaits, so updates arriving together cannot all pass the bound.
        room.size += len(update)
        try:
            # (Every update is kept, even one that changes nothing here: a delete-only update
            # leaves the state vector as it was, so "no change" cannot be told cheaply.)
            room.doc.apply_update(update)
        except Exception:
            # Refused while decoding: the document is as it was, and so is its size.
            room.size -= len(update)
            raise Refused(CLOSE_MALFORMED, "malformed_update") from None
        except BaseException as exc:  # a yrs panic (pyo3's PanicException)
            if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt | SystemExit):
                raise
            # It may have stopped midway, leaving part of the update in the document: the
            # room is rebuilt from the log, for everyone.
            await self._reset(room, connection)
            raise Refused(CLOSE_MALFORMED, "malformed_update") from None
        # Stored, then relayed, even if this connection goes away meanwhile: what was applied
        # must reach the others and the log.
        await asyncio.shield(self._keep(room, connection, update))

    async def _keep(self, room: Room, connection: Connection, update: bytes) -> None:
        try:
            await self._store(room, connection.user.id, update)
        except Exception:
            log.exception("update of session %s not stored", room.session_id)
            await self._reset(room, connection)
            raise Refused(CLOSE_STORAGE, "storage_unavailable") from None
        self._publish(room, PEER_UPDATE, update)
        await room.broadcast(protocol.update_message(update), skip=connection)

    async def _reset(self, room: Room, connection: Connection) -> None:
        """The room holds what the database lacks: it is dropped and the others reconnect to
        one loaded afresh (their clients send again what the log misses)."""
        await self._forget(room)
        for other in room.connections:
            if other is not connection:
                other.socket.fail_connection(CLOSE_RESTART, "room_reloaded")

    async def _awareness(self, room: Room, connection: Connection, update: bytes) -> None:
        settings = self.settings
        try:
            received = protocol.read_awareness(
                update, settings.collab_max_awareness_clients, settings.collab_max_awareness_bytes
            )
        except protocol.AwarenessTooLarge:
            raise Refused(CLOSE_TOO_LARGE, "awareness_too_large") from None
        owners = {cid for c in room.connections if c is not connection for cid in c.client_ids}
        owners |= room.remote_ids
        entries = []
        for client, (clock, state) in received.items():
            if client in owners:
                continue  # another connection's cursor is not this one's to move
            if client not in connection.client_ids:
                if len(connection.client_ids) >= self.settings.collab_max_awareness_clients:
                    raise Refused(CLOSE_TOO_MANY, "too_many_awareness_clients")
                connection.client_ids.add(client)
            if isinstance(state, dict):
                state = {**state, "user": connection.card}  # who you are is the server's word
            elif state is not None:
                state = {"user": connection.card}
            entries.append((client, clock, state))
        if not entries:
            return
        rewritten = protocol.write_awareness(entries)
        room.awareness.apply_awareness_update(rewritten, connection)
        # To everyone, the sender too: y-websocket drops a socket that hears nothing for 30 s,
        # and its own awareness renewal is what keeps a lone client's socket alive.
        await room.broadcast(protocol.awareness_message(rewritten))
        self._publish(room, PEER_AWARENESS, rewritten)

    async def leave(self, room: Room, connection: Connection) -> None:
        room.connections.discard(connection)
        gone = [cid for cid in connection.client_ids if cid in room.awareness.states]
        if gone:
            room.awareness.remove_awareness_states(gone, "left")
            update = room.awareness.encode_awareness_update(gone)
            await room.broadcast(protocol.awareness_message(update))
            self._publish(room, PEER_AWARENESS, update)
        await self.close_if_empty(room)


@dataclass
class StoredLog:
    parts: list[bytes]  # the snapshot's state (if any), then each update stored after it
    log_bytes: int  # the log's size (the document's bound)
    last_id: ObjectId | None  # the newest update it holds
    new_updates: int  # updates stored after the snapshot
    snapshot: dict[str, Any] | None  # the snapshot it started from


def _overlap_start(up_to: ObjectId) -> ObjectId:
    return ObjectId.from_datetime(up_to.generation_time - LATE_INSERT_MARGIN)


async def read_log(engine: AIOEngine, session_id: ObjectId) -> StoredLog:
    """The session's stored document: its snapshot, then the updates after it."""
    snapshot = await engine.get_collection(CodeSnapshot).find_one({"sessionId": session_id})
    stored = StoredLog([], 0, None, 0, snapshot)
    query: dict[str, Any] = {"sessionId": session_id}
    if snapshot is not None:
        stored.parts.append(snapshot["state"])
        stored.log_bytes = snapshot["logBytes"]
        stored.last_id = snapshot["upTo"]
        query["_id"] = {"$gt": _overlap_start(snapshot["upTo"])}
    cursor = engine.get_collection(CodeUpdate).find(query).sort([("_id", 1)])
    async for entry in cursor:
        stored.parts.append(entry["update"])
        if stored.last_id is None or entry["_id"] > stored.last_id:
            stored.log_bytes += len(entry["update"])
            stored.last_id = entry["_id"]
            stored.new_updates += 1
    return stored


async def compact(engine: AIOEngine, session_id: ObjectId) -> int:
    """Merge the session's snapshot and the updates stored after it into a new snapshot.
    The updates are kept (the timeline replays them). Returns how many updates it added.
    Run twice at once, one wins and the other changes nothing."""
    stored = await read_log(engine, session_id)
    old = stored.snapshot
    added, last = stored.new_updates, stored.last_id
    if not added or last is None:
        return 0
    state = merge_updates(*stored.parts)
    fields = {
        "upTo": last,
        "state": state,
        "updates": (old["updates"] if old else 0) + added,
        "logBytes": stored.log_bytes,
        "at": utcnow(),
    }
    snapshots = engine.get_collection(CodeSnapshot)
    if old is None:
        record = CodeSnapshot(
            session_id=session_id,
            up_to=last,
            state=state,
            updates=added,
            log_bytes=stored.log_bytes,
        )
        try:
            await snapshots.insert_one(record.model_dump_doc())
        except DuplicateKeyError:
            return 0  # another compaction made the first snapshot meanwhile
        return added
    # Only over the snapshot it read: a newer one written meanwhile is left alone.
    replaced = await snapshots.update_one(
        {"sessionId": session_id, "upTo": old["upTo"]}, {"$set": fields}
    )
    return added if replaced.modified_count else 0


@dataclass(frozen=True)
class SharedCode:
    code: str
    language: str | None
    update_id: ObjectId | None  # the last stored update it includes: the document's state


async def shared_code(engine: AIOEngine, session_id: ObjectId) -> SharedCode:
    """The session's shared document as stored (everything anyone was relayed is stored)."""
    doc: Doc[Any] = Doc()
    code = Text()
    meta: Map[Any] = Map()
    doc["code"], doc["meta"] = code, meta
    stored = await read_log(engine, session_id)
    for part in stored.parts:
        doc.apply_update(part)
    language = meta.get("language")
    return SharedCode(str(code), language if isinstance(language, str) else None, stored.last_id)


def admission(settings: Settings, session: Session, user: User) -> tuple[str, bool]:
    """(the person's role, read-only) for a member of `session`; Refused before the room
    opens. A finished session stays readable, never writable."""
    role = session_role(session, user.id)
    if role is None:
        raise Refused(CLOSE_NOT_FOUND, "session_not_found")
    read_only = session.status in FINAL_STATUSES
    if session.status == "scheduled" and utcnow() < opens_at(session, settings.join_window_minutes):
        raise Refused(CLOSE_TOO_EARLY, "too_early")
    return role, read_only
