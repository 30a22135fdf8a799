from __future__ import annotations

from sanic import Blueprint, Request, empty, json
from sanic.response import HTTPResponse

from tq.auth import service
from tq.auth.dependencies import CurrentClaims, CurrentUser
from tq.auth.schemas import (
    AuthOut,
    DeleteMeIn,
    LoginIn,
    MeOut,
    RegisterIn,
    StreamTokenOut,
    UpdateMeIn,
)
from tq.core.clients import Clients
from tq.core.http import client_address, parse_body
from tq.core.openapi import doc
from tq.core.schemas import dump
from tq.core.security import PasswordHasher, TokenService
from tq.users.models import User
from tq.users.schemas import UserOut

bp = Blueprint("auth", url_prefix="/api/auth")


def token_response(tokens: TokenService, user: User, status: int) -> HTTPResponse:
    token, _claims = tokens.issue(str(user.id), user.role)
    return json(dump(AuthOut(token=token, user=UserOut.of(user))), status=status)


@bp.post("/register")
@doc(
    summary="Create an account",
    tag="auth",
    body=RegisterIn,
    ok={201: AuthOut},
    errors=(409, 413),
    auth=False,
)
async def register(
    request: Request, clients: Clients, hasher: PasswordHasher, tokens: TokenService
) -> HTTPResponse:
    data = parse_body(request, RegisterIn)
    user = await service.register(clients, hasher, data)
    return token_response(tokens, user, 201)


@bp.post("/login")
@doc(
    summary="Exchange email and password for a token",
    tag="auth",
    body=LoginIn,
    ok={200: AuthOut},
    errors=(401, 413, 429),
    auth=False,
)
async def login(
    request: Request, clients: Clients, hasher: PasswordHasher, tokens: TokenService
) -> HTTPResponse:
    data = parse_body(request, LoginIn)
    user = await service.login(clients, hasher, data, client_address(request))
    return token_response(tokens, user, 200)


@bp.get("/me")
@doc(summary="The signed-in user", tag="auth", ok={200: MeOut})
async def me(request: Request, viewer: CurrentUser) -> HTTPResponse:
    return json(dump(MeOut.model_construct(user=UserOut.of(viewer), token=None)), status=200)


@bp.patch("/me")
@doc(
    summary="Change name, avatar or password",
    tag="auth",
    body=UpdateMeIn,
    ok={200: MeOut},
    errors=(403, 413),
)
async def update_me(
    request: Request,
    clients: Clients,
    hasher: PasswordHasher,
    tokens: TokenService,
    viewer: CurrentUser,
) -> HTTPResponse:
    data = parse_body(request, UpdateMeIn)
    password_changed = await service.update_me(clients, hasher, viewer, data)
    token = None
    if password_changed:
        token, _ = tokens.issue(str(viewer.id), viewer.role)
    return json(dump(MeOut(user=UserOut.of(viewer), token=token)))


@bp.delete("/me")
@doc(summary="Delete the account", tag="auth", body=DeleteMeIn, ok={204: None}, errors=(403,))
async def delete_me(
    request: Request, clients: Clients, hasher: PasswordHasher, viewer: CurrentUser
) -> HTTPResponse:
    data = parse_body(request, DeleteMeIn)
    await service.delete_me(clients, hasher, viewer, data.password)
    return empty()


@bp.post("/logout")
@doc(summary="Revoke the presented token", tag="auth", ok={204: None}, errors=(503,))
async def logout(request: Request, clients: Clients, claims: CurrentClaims) -> HTTPResponse:
    await service.logout(clients.redis, claims)
    return empty()


@bp.post("/stream-token")
@doc(
    summary="A Stream user token for chat and video",
    tag="auth",
    ok={200: StreamTokenOut},
    errors=(503,),
)
async def stream_token(request: Request, clients: Clients, viewer: CurrentUser) -> HTTPResponse:
    return json(dump(StreamTokenOut.of(viewer, clients.stream)))
