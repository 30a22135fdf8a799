"""What the sessions domain announces to others (wired in tq.reactions)."""

from __future__ import annotations

from dataclasses import dataclass

from bson import ObjectId


@dataclass(frozen=True)
class SessionDeleted:
    """The session's document is gone; what other domains keep of it should go too."""

    session_id: ObjectId
