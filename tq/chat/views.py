from __future__ import annotations

from sanic import Blueprint, Request
from sanic.response import HTTPResponse

from tq.auth.dependencies import authenticated
from tq.auth.schemas import StreamTokenOut
from tq.auth.views import stream_token_response
from tq.core.openapi import doc

bp = Blueprint("chat", url_prefix="/api/chat")


@bp.get("/token")
@doc(
    summary="A Stream user token (the route the React frontend calls)",
    tag="chat",
    ok={200: StreamTokenOut},
    errors=(503,),
)
@authenticated()
async def chat_token(request: Request) -> HTTPResponse:
    return stream_token_response(request)
