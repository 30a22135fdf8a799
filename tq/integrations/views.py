from __future__ import annotations

from sanic import Blueprint, Request, empty, json
from sanic.response import HTTPResponse

from tq.auth.dependencies import CurrentInterviewer, CurrentUser
from tq.core.clients import Clients
from tq.core.http import parse_body, parse_query
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.integrations import service
from tq.integrations.schemas import (
    DeliveryDetailEnvelope,
    DeliveryDetailOut,
    DeliveryEnvelope,
    DeliveryOut,
    DeliveryPage,
    DeliveryQuery,
    EndpointEnvelope,
    EndpointIn,
    EndpointOut,
    EndpointPage,
    EndpointUpdateIn,
    EndpointWithSecret,
    PageQuery,
)
from tq.orgs.permissions import Action
from tq.orgs.service import org_for

bp = Blueprint("webhook_endpoints", url_prefix="/api/webhooks/endpoints")
# An organization's endpoints: the organization is the path's (README "Organizations").
org_endpoints_bp = Blueprint("org_webhook_endpoints", url_prefix="/api/orgs")
TAG = "webhooks"
# Without an organization in the path: the interviewer's personal organization (a candidate
# gets 403). One endpoint's routes: its organization's owners and admins.


@bp.post("/")
@doc(
    summary="Register an endpoint for the events of the sessions you host; the secret is "
    "shown once",
    tag=TAG,
    body=EndpointIn,
    ok={201: EndpointWithSecret},
    errors=(403, 409),
)
async def create_endpoint(
    request: Request, clients: Clients, viewer: CurrentInterviewer
) -> HTTPResponse:
    data = parse_body(request, EndpointIn)
    endpoint, secret = await service.create_endpoint(clients, viewer, data)
    body = EndpointWithSecret(endpoint=EndpointOut.of(endpoint), secret=secret)
    return json(dump(body), status=201)


@bp.get("/")
@doc(
    summary="Your endpoints, newest first",
    tag=TAG,
    query=PageQuery,
    ok={200: EndpointPage},
    errors=(403,),
)
async def list_endpoints(
    request: Request, clients: Clients, viewer: CurrentInterviewer
) -> HTTPResponse:
    query = parse_query(request, PageQuery)
    found, cursor = await service.list_endpoints(clients.engine, viewer, query)
    body = EndpointPage(endpoints=[EndpointOut.of(e) for e in found], nextCursor=cursor)
    return json(dump(body))


@bp.get("/<endpoint_id:str>")
@doc(summary="One of your endpoints", tag=TAG, ok={200: EndpointEnvelope}, errors=(403, 404))
async def get_endpoint(
    request: Request, endpoint_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    endpoint = await service.own_endpoint(clients.engine, viewer, endpoint_id)
    return json(dump(EndpointEnvelope(endpoint=EndpointOut.of(endpoint))))


@bp.patch("/<endpoint_id:str>")
@doc(
    summary="Change an endpoint's URL, events, description, or enable it again",
    tag=TAG,
    body=EndpointUpdateIn,
    ok={200: EndpointEnvelope},
    errors=(403, 404),
)
async def update_endpoint(
    request: Request, endpoint_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, EndpointUpdateIn)
    endpoint = await service.update_endpoint(clients, viewer, endpoint_id, data)
    return json(dump(EndpointEnvelope(endpoint=EndpointOut.of(endpoint))))


@bp.delete("/<endpoint_id:str>")
@doc(summary="Delete an endpoint and its delivery log", tag=TAG, ok={204: None}, errors=(403, 404))
async def delete_endpoint(
    request: Request, endpoint_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    await service.delete_endpoint(clients, viewer, endpoint_id)
    return empty()


@bp.post("/<endpoint_id:str>/rotate-secret")
@doc(
    summary="A new secret (shown once); the old one keeps signing for the grace period",
    tag=TAG,
    ok={200: EndpointWithSecret},
    errors=(403, 404),
)
async def rotate_secret(
    request: Request, endpoint_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    endpoint, secret = await service.rotate_secret(clients, viewer, endpoint_id)
    return json(dump(EndpointWithSecret(endpoint=EndpointOut.of(endpoint), secret=secret)))


@bp.post("/<endpoint_id:str>/test")
@doc(summary="Send a `ping` event now", tag=TAG, ok={202: DeliveryEnvelope}, errors=(403, 404))
async def send_test(
    request: Request, endpoint_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    delivery = await service.send_test(clients, viewer, endpoint_id)
    return json(dump(DeliveryEnvelope(delivery=DeliveryOut.of(delivery))), status=202)


@bp.get("/<endpoint_id:str>/deliveries")
@doc(
    summary="The endpoint's delivery log, newest first",
    tag=TAG,
    query=DeliveryQuery,
    ok={200: DeliveryPage},
    errors=(403, 404),
)
async def list_deliveries(
    request: Request, endpoint_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, DeliveryQuery)
    found, cursor = await service.list_deliveries(clients, viewer, endpoint_id, query)
    body = DeliveryPage(deliveries=[DeliveryOut.of(d) for d in found], nextCursor=cursor)
    return json(dump(body))


@bp.get("/<endpoint_id:str>/deliveries/<delivery_id:str>")
@doc(
    summary="One delivery, with the body sent and the first 2 KiB of the last response",
    tag=TAG,
    ok={200: DeliveryDetailEnvelope},
    errors=(403, 404),
)
async def get_delivery(
    request: Request,
    endpoint_id: str,
    delivery_id: str,
    clients: Clients,
    viewer: CurrentUser,
) -> HTTPResponse:
    delivery = await service.own_delivery(clients, viewer, endpoint_id, delivery_id)
    return json(dump(DeliveryDetailEnvelope(delivery=DeliveryDetailOut.of(delivery))))


@bp.post("/<endpoint_id:str>/deliveries/<delivery_id:str>/replay")
@doc(
    summary="Send the same event again (same webhook-id), with a fresh schedule",
    tag=TAG,
    ok={202: DeliveryEnvelope},
    errors=(403, 404),
)
async def replay(
    request: Request,
    endpoint_id: str,
    delivery_id: str,
    clients: Clients,
    viewer: CurrentUser,
) -> HTTPResponse:
    delivery = await service.replay(clients, viewer, endpoint_id, delivery_id)
    return json(dump(DeliveryEnvelope(delivery=DeliveryOut.of(delivery))), status=202)


@org_endpoints_bp.post("/<org_id:str>/webhooks/endpoints")
@doc(
    summary="Register an endpoint for the events of an organization's sessions (owners, "
    "admins); the secret is shown once",
    tag=TAG,
    body=EndpointIn,
    ok={201: EndpointWithSecret},
    errors=(403, 404, 409),
)
async def create_org_endpoint(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, EndpointIn)
    org = await org_for(clients.engine, org_id, viewer, Action.WEBHOOKS_MANAGE)
    endpoint, secret = await service.create_endpoint(clients, viewer, data, org.id)
    body = EndpointWithSecret(endpoint=EndpointOut.of(endpoint), secret=secret)
    return json(dump(body), status=201)


@org_endpoints_bp.get("/<org_id:str>/webhooks/endpoints")
@doc(
    summary="An organization's endpoints, newest first (owners, admins)",
    tag=TAG,
    query=PageQuery,
    ok={200: EndpointPage},
    errors=(403, 404),
)
async def list_org_endpoints(
    request: Request, org_id: str, clients: Clients, viewer: CurrentUser
) -> HTTPResponse:
    query = parse_query(request, PageQuery)
    org = await org_for(clients.engine, org_id, viewer, Action.WEBHOOKS_MANAGE)
    found, cursor = await service.list_endpoints(clients.engine, viewer, query, org.id)
    body = EndpointPage(endpoints=[EndpointOut.of(e) for e in found], nextCursor=cursor)
    return json(dump(body))
