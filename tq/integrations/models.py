from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from bson import ObjectId
from odmantic import EmbeddedModel, Field, Index, Model
from odmantic.query import desc

from tq.core.time import utcnow

WebhookEventType = Literal[
    "session.created",
    "session.updated",
    "session.started",
    "session.completed",
    "session.cancelled",
    "session.expired",
    "member.joined",
    "member.left",
    "invitation.accepted",
    "scorecard.submitted",
    "run.completed",
    "record.ready",
    "audit.entry",
]
WEBHOOK_EVENT_TYPES: tuple[str, ...] = get_args(WebhookEventType)
DeliveryStatus = Literal["pending", "succeeded", "failed"]


class EndpointSecret(EmbeddedModel):
    """A signing secret, never stored: `whsec_` + an HMAC of the nonce under the server's
    signing key. During a rotation's grace period the old one still signs too."""

    nonce: str
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    expires_at: datetime | None = Field(default=None, key_name="expiresAt")


class WebhookEndpoint(Model):
    # Declared so type checkers see its default (ODMantic adds it implicitly otherwise).
    id: ObjectId = Field(default_factory=ObjectId, primary_field=True)

    owner_id: ObjectId = Field(key_name="ownerId")
    # The organization it belongs to: its owner's personal one (None until the migration).
    org_id: ObjectId | None = Field(default=None, key_name="orgId")
    url: str
    events: list[str]
    description: str | None = None
    secrets: list[EndpointSecret] = Field(default=[])
    enabled: bool = True
    disabled_reason: str | None = Field(default=None, key_name="disabledReason")
    # Start of the current run of failed deliveries (None after a success).
    failing_since: datetime | None = Field(default=None, key_name="failingSince")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")

    model_config = {
        "collection": "webhook_endpoints",
        "indexes": lambda: [
            # an owner's endpoints, newest first; the dispatcher's "enabled endpoints of a host"
            Index(
                WebhookEndpoint.owner_id,
                desc(WebhookEndpoint.created_at),
                desc(WebhookEndpoint.id),
                name="owner_created_id",
            ),
            # an organization's endpoints, newest first; the dispatcher's of a session's org
            Index(
                WebhookEndpoint.org_id,
                desc(WebhookEndpoint.created_at),
                desc(WebhookEndpoint.id),
                name="org_created_id",
            ),
        ],
    }


class WebhookDelivery(Model):
    """One event for one endpoint, and its attempts. `_id` is the Standard Webhooks message id
    (`msg_…`), the same on every retry and replay, so receivers can de-duplicate."""

    key: str = Field(primary_field=True)
    endpoint_id: ObjectId = Field(key_name="endpointId")
    owner_id: ObjectId = Field(key_name="ownerId")
    event_type: str = Field(key_name="eventType")
    payload: str  # the JSON body, exactly as signed
    status: DeliveryStatus = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default_factory=utcnow, key_name="nextAttemptAt")
    claimed_at: datetime | None = Field(default=None, key_name="claimedAt")
    last_status: int | None = Field(default=None, key_name="lastStatus")
    last_latency_ms: int | None = Field(default=None, key_name="lastLatencyMs")
    last_response: str | None = Field(default=None, key_name="lastResponse")  # first 2 KiB
    last_error: str | None = Field(default=None, key_name="lastError")
    created_at: datetime = Field(default_factory=utcnow, key_name="createdAt")
    updated_at: datetime = Field(default_factory=utcnow, key_name="updatedAt")
    finished_at: datetime | None = Field(default=None, key_name="finishedAt")

    model_config = {
        "collection": "webhook_deliveries",
        "indexes": lambda: [
            # an endpoint's delivery log, newest first
            Index(
                WebhookDelivery.endpoint_id,
                desc(WebhookDelivery.created_at),
                desc(WebhookDelivery.key),
                name="endpoint_created_key",
            ),
            # deliveries due (the pump)
            Index(WebhookDelivery.status, WebhookDelivery.next_attempt_at, name="status_due"),
        ],
    }
