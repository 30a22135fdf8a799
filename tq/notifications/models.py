from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from odmantic import Field, Index, Model

from tq.core.time import utcnow

EmailKind = Literal[
    "invitation", "reschedule", "cancellation", "reminder", "webhook_disabled", "org_invitation"
]
EmailStatus = Literal["queued", "sending", "sent", "failed", "superseded"]


class Email(Model):
    """One email to one recipient. The `_id` is a key naming what it is about (e.g.
    `reminder:<session>:<sequence>:<address>`), so racing beats or retried fan-outs cannot queue
    the same email twice. Only ids and the address are kept: the body is rendered from current
    state when it is sent, and the invitation link's token is derived then (never stored)."""

    key: str = Field(primary_field=True)
    kind: EmailKind
    to: str
    session_id: ObjectId | None = Field(key_name="sessionId")  # None: not about a session
    # What an email not about a session shows (e.g. the disabled endpoint's URL).
    context: dict[str, str] = Field(default={})
    invitation_id: ObjectId | None = Field(default=None, key_name="invitationId")
    # invitation: which link of the invitation (1, then one more per resend)
    send_no: int = Field(default=1, key_name="sendNo")
    # reschedule / cancellation: the calendar SEQUENCE the email carries
    sequence: int = 0
    # The session as it was when queued (None on records older than this field: rendered
    # from the session as it is when sent).
    # (A plain document: ODMantic cannot hold an optional embedded model.)
    facts: dict[str, Any] | None = None
    status: EmailStatus = "queued"
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    claimed_at: datetime | None = Field(default=None, key_name="claimedAt")
    sent_at: datetime | None = Field(default=None, key_name="sentAt")
    error: str | None = None

    model_config = {
        "collection": "emails",
        "indexes": lambda: [
            # emails left queued (a lost job, SMTP away past the retries): re-sent by age
            Index(Email.status, Email.created_at, name="status_created"),
            # a session's emails to one address (a candidate's erasure)
            Index(Email.session_id, Email.to, name="session_to"),
        ],
    }
