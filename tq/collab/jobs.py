"""The shared editor's jobs."""

from __future__ import annotations

from bson import ObjectId

from tq.collab.history import index_history
from tq.collab.service import compact
from tq.core.clients import Clients
from tq.jobs.registry import COMPACT_CODE_LOG, job


@job(COMPACT_CODE_LOG)
async def compact_code_log(clients: Clients, session_id: str) -> dict[str, int]:
    """Merge a session's new shared-code updates into its snapshot, and index its history
    (queued by the web process when a room empties, when its session ends and every
    COLLAB_COMPACT_AFTER_UPDATES)."""
    oid = ObjectId(session_id)
    merged = await compact(clients.engine, oid)
    size = clients.settings.code_history_block_updates
    return {"merged": merged, "indexedBlocks": await index_history(clients.engine, oid, size)}
