from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.json_schema import SkipJsonSchema

from tq.core.schemas import Body, Query
from tq.integrations.models import (
    WEBHOOK_EVENT_TYPES,
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEventType,
)

Url = Annotated[str, StringConstraints(min_length=8, max_length=2000, pattern=r"^https?://\S+$")]
Events = Annotated[
    list[WebhookEventType],
    # Each type at most once: as many as there are.
    Field(
        min_length=1, max_length=len(WEBHOOK_EVENT_TYPES), json_schema_extra={"uniqueItems": True}
    ),
]
Description = Annotated[str, StringConstraints(max_length=500)]
ObjectIdCursor = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
DeliveryCursor = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,13}_msg_[0-9a-f]{24}$")]


def _unique(events: list[str] | None) -> None:
    if events is not None and len(set(events)) != len(events):
        raise ValueError("events must be unique")


class EndpointIn(Body):
    url: Url = Field(description="https (http and private addresses only where allowed)")
    events: Events
    description: Description | None = None

    @model_validator(mode="after")
    def unique_events(self) -> EndpointIn:
        _unique(list(self.events))
        return self


class EndpointUpdateIn(Body):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    url: Url | SkipJsonSchema[None] = None
    events: Events | SkipJsonSchema[None] = None
    description: Description | None = None
    enabled: Annotated[
        bool | SkipJsonSchema[None], Field(description="true re-enables a disabled endpoint")
    ] = None

    @model_validator(mode="after")
    def check(self) -> EndpointUpdateIn:
        if not self.model_fields_set:
            raise ValueError("nothing to change")
        for required in ("url", "events", "enabled"):
            if required in self.model_fields_set and getattr(self, required) is None:
                raise ValueError(f"{required} cannot be null")
        _unique(list(self.events) if self.events else None)
        return self


class EndpointOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id")
    url: str
    events: list[str]
    description: str | None
    enabled: bool
    disabledReason: str | None
    failingSince: datetime | None
    secretRotatedAt: datetime
    createdAt: datetime
    updatedAt: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> EndpointOut:
        return cls(
            _id=str(endpoint.id),
            url=endpoint.url,
            events=endpoint.events,
            description=endpoint.description,
            enabled=endpoint.enabled,
            disabledReason=endpoint.disabled_reason,
            failingSince=endpoint.failing_since,
            secretRotatedAt=endpoint.secrets[-1].created_at
            if endpoint.secrets
            else endpoint.created_at,
            createdAt=endpoint.created_at,
            updatedAt=endpoint.updated_at,
        )


class EndpointEnvelope(BaseModel):
    endpoint: EndpointOut


class EndpointWithSecret(BaseModel):
    endpoint: EndpointOut
    secret: str = Field(description="whsec_…: shown here once; sign checks use it")


class EndpointPage(BaseModel):
    endpoints: list[EndpointOut]
    nextCursor: str | None


class PageQuery(Query):
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    after: ObjectIdCursor | SkipJsonSchema[None] = None


class DeliveryQuery(Query):
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    after: DeliveryCursor | SkipJsonSchema[None] = None


class DeliveryOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(alias="_id", description="the webhook-id header, the same on every attempt")
    endpointId: str
    eventType: str
    status: DeliveryStatus
    attempts: int
    lastStatus: int | None = Field(description="HTTP status of the last attempt")
    lastLatencyMs: int | None
    lastError: str | None
    nextAttemptAt: datetime | None
    createdAt: datetime
    finishedAt: datetime | None

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryOut:
        return cls(
            _id=delivery.key,
            endpointId=str(delivery.endpoint_id),
            eventType=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            lastStatus=delivery.last_status,
            lastLatencyMs=delivery.last_latency_ms,
            lastError=delivery.last_error,
            nextAttemptAt=delivery.next_attempt_at if delivery.status == "pending" else None,
            createdAt=delivery.created_at,
            finishedAt=delivery.finished_at,
        )


class DeliveryDetailOut(DeliveryOut):
    payload: str = Field(description="the body sent, as signed")
    responseBody: str | None = Field(description="the first 2 KiB of the last response")

    @classmethod
    def of(cls, delivery: WebhookDelivery) -> DeliveryDetailOut:
        base = DeliveryOut.of(delivery).model_dump(by_alias=True)
        return cls(**base, payload=delivery.payload, responseBody=delivery.last_response)


class DeliveryEnvelope(BaseModel):
    delivery: DeliveryOut


class DeliveryDetailEnvelope(BaseModel):
    delivery: DeliveryDetailOut


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryOut] = Field(description="newest first")
    nextCursor: str | None
