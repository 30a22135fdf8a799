"""OpenID Connect relying party, on authlib: discovery, the authorization code flow with PKCE
(S256), `state` and `nonce`, and the ID token's checks (signature by the provider's JWKS,
issuer, audience, expiry, nonce, azp, at_hash). An ID token signed by a key we do not know
refetches the JWKS once (the provider rotated its keys), at most every SSO_JWKS_REFETCH_S.
Every call to the provider goes through the SSRF guard (tq.core.ssrf.GuardedTransport)."""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from dataclasses import dataclass
from typing import Any

import httpx2
from authlib.deprecate import AuthlibDeprecationWarning

# authlib says its jose module moves to joserfc (its own successor) by authlib 2; its OpenID
# Connect client still builds on it, so the notice is silenced here, after authlib set it up.
warnings.filterwarnings("ignore", category=AuthlibDeprecationWarning)

from authlib.common.errors import AuthlibBaseError  # noqa: E402
from authlib.integrations.httpx_client import AsyncOAuth2Client  # noqa: E402
from authlib.jose import JsonWebKey, JsonWebToken, KeySet  # noqa: E402
from authlib.jose.errors import JoseError  # noqa: E402
from authlib.oidc.core import CodeIDToken  # noqa: E402
from joserfc.errors import JoseError as JoserfcError  # noqa: E402

from config import Settings  # noqa: E402
from tq.core.errors import AppError, BadRequest, Unauthorized  # noqa: E402
from tq.core.ssrf import UnsafeUrl, pinned_request, resolve_public  # noqa: E402

log = logging.getLogger("tq.sso")

# Asymmetric signatures only: never `none`, never HS256 keyed by the client secret.
ID_TOKEN_ALGORITHMS = [
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "EdDSA",
]
MAX_DOCUMENT_BYTES = 512 * 1024
SCOPE = "openid email profile"


class ProviderUnavailable(AppError):
    status_code, code, message = (
        502,
        "sso_provider_unavailable",
        "The identity provider did not answer",
    )


class InvalidIdToken(Unauthorized):
    code = "sso_invalid_id_token"


@dataclass(frozen=True)
class Endpoints:
    issuer: str
    authorization: str
    token: str
    jwks_uri: str
    auth_methods: tuple[str, ...]


class GuardedTransport(httpx2.AsyncBaseTransport):
    """Every request to an identity provider (whatever authlib builds): its host resolved
    and checked as `resolve_public` does, then the request sent to that very address
    (`pinned_request`: no DNS rebinding between the check and the connection). authlib's
    client is on httpx2, hence this transport is too."""

    def __init__(self, *, allow_private: bool, timeout_s: float) -> None:
        self.allow_private = allow_private
        self.timeout_s = timeout_s
        self._inner = httpx2.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = str(request.url)
        addresses = await resolve_public(
            url, allow_private=self.allow_private, timeout_s=self.timeout_s
        )
        pinned, headers, extensions = pinned_request(url, addresses[0])
        request.url = httpx2.URL(pinned)
        request.headers.update(headers)
        request.extensions = {**request.extensions, **extensions}
        response = await self._inner.handle_async_request(request)
        # Read here, bounded: a provider cannot fill this process's memory (authlib reads the
        # token endpoint's answer whole).
        body = bytearray()
        try:
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise ProviderUnavailable("The identity provider's answer is too large")
        finally:
            await response.aclose()
        return httpx2.Response(
            response.status_code,
            headers=response.headers,
            content=bytes(body),
            request=request,
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


CACHED_PROVIDERS = 256  # issuers (and their key sets) one process keeps, the oldest dropped


def _remember(cache: dict[str, Any], key: str, value: Any) -> None:
    cache.pop(key, None)
    cache[key] = value
    while len(cache) > CACHED_PROVIDERS:
        cache.pop(next(iter(cache)))


_endpoints: dict[str, tuple[float, Endpoints]] = {}
# jwks_uri → (fetched at, keys)
_keys: dict[str, tuple[float, KeySet]] = {}


def _transport(settings: Settings) -> GuardedTransport:
    return GuardedTransport(
        allow_private=settings.sso_allows_private, timeout_s=settings.sso_http_timeout_s
    )


async def _get_json(settings: Settings, url: str) -> dict[str, Any]:
    try:
        async with asyncio.timeout(settings.sso_http_timeout_s):
            return await _get_json_now(settings, url)
    except TimeoutError:
        raise ProviderUnavailable(f"The identity provider did not answer in time ({url})") from None


async def _get_json_now(settings: Settings, url: str) -> dict[str, Any]:
    try:
        async with (
            httpx2.AsyncClient(
                transport=_transport(settings), timeout=settings.sso_http_timeout_s
            ) as http,
            http.stream("GET", url, headers={"accept": "application/json"}) as answer,
        ):
            if answer.status_code != 200:
                raise ProviderUnavailable(
                    f"The identity provider answered {answer.status_code} for {url}"
                )
            body = b""
            async for chunk in answer.aiter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise ProviderUnavailable(f"The identity provider's {url} is too large")
        document = httpx2.Response(200, content=body).json()
    except UnsafeUrl:
        raise
    except (httpx2.HTTPError, ValueError):
        raise ProviderUnavailable(f"The identity provider could not be read at {url}") from None
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"The identity provider's {url} is not a JSON object")
    return document


async def endpoints(settings: Settings, issuer: str, *, fresh: bool = False) -> Endpoints:
    """The provider's discovery document (cached SSO_METADATA_CACHE_S): its `issuer` must be
    the configured one exactly (OpenID Connect Discovery 1.0, 4.3)."""
    cached = _endpoints.get(issuer)
    if cached and not fresh and cached[0] > time.monotonic():
        return cached[1]
    document = await _get_json(settings, issuer.rstrip("/") + "/.well-known/openid-configuration")
    if document.get("issuer") != issuer:
        raise BadRequest(
            f"The provider's discovery document names issuer {document.get('issuer')!r}, not "
            f"{issuer!r}",
            code="sso_issuer_mismatch",
        )
    try:
        found = Endpoints(
            issuer=issuer,
            authorization=str(document["authorization_endpoint"]),
            token=str(document["token_endpoint"]),
            jwks_uri=str(document["jwks_uri"]),
            auth_methods=tuple(
                document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
            ),
        )
    except KeyError as missing:
        raise BadRequest(
            f"The provider's discovery document has no {missing}", code="sso_bad_discovery"
        ) from None
    if "S256" not in (document.get("code_challenge_methods_supported") or ["S256"]):
        raise BadRequest("The provider does not support PKCE with S256", code="sso_no_pkce")
    _remember(_endpoints, issuer, (time.monotonic() + settings.sso_metadata_cache_s, found))
    return found


async def _key_set(settings: Settings, jwks_uri: str, *, refetch: bool) -> KeySet:
    cached = _keys.get(jwks_uri)
    now = time.monotonic()
    if cached and not refetch and now - cached[0] < settings.sso_metadata_cache_s:
        return cached[1]
    if cached and refetch and now - cached[0] < settings.sso_jwks_refetch_s:
        return cached[1]  # refetched a moment ago: an unknown key stays unknown
    document = await _get_json(settings, jwks_uri)
    try:
        keys = JsonWebKey.import_key_set(document)
    except (JoseError, ValueError, TypeError):
        raise ProviderUnavailable("The provider's JWKS is not a key set") from None
    _remember(_keys, jwks_uri, (now, keys))
    return keys


def oauth_client(
    settings: Settings, found: Endpoints, client_id: str, client_secret: str, redirect_uri: str
) -> AsyncOAuth2Client:
    method = (
        "client_secret_basic"
        if "client_secret_basic" in found.auth_methods
        else "client_secret_post"
    )
    return AsyncOAuth2Client(
        client_id=client_id,
        client_secret=client_secret,
        scope=SCOPE,
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        token_endpoint_auth_method=method,
        transport=_transport(settings),
        timeout=settings.sso_http_timeout_s,
    )


def authorization_url(
    client: AsyncOAuth2Client, found: Endpoints, state: str, nonce: str, verifier: str
) -> str:
    url, _ = client.create_authorization_url(
        found.authorization, state=state, nonce=nonce, code_verifier=verifier
    )
    return str(url)


async def exchange_code(
    client: AsyncOAuth2Client, found: Endpoints, code: str, verifier: str
) -> dict[str, Any]:
    """The token endpoint's answer for this code (with the PKCE verifier)."""
    try:
        async with asyncio.timeout(client.timeout.read or 10.0):
            token = await client.fetch_token(found.token, code=code, code_verifier=verifier)
    except TimeoutError:
        raise ProviderUnavailable("The identity provider's token endpoint did not answer") from None
    except (UnsafeUrl, ProviderUnavailable):
        raise
    except httpx2.HTTPError:
        raise ProviderUnavailable("The identity provider's token endpoint did not answer") from None
    except (AuthlibBaseError, ValueError) as exc:  # the provider said no, or said nonsense
        # The provider's error code only: nothing of the request (its credentials) is logged.
        log.info(
            "token endpoint refused the code: %s %s",
            type(exc).__name__,
            getattr(exc, "error", None),
        )
        raise Unauthorized(
            f"The identity provider refused the code ({getattr(exc, 'error', None) or 'error'})",
            code="sso_code_refused",
        ) from None
    if not token.get("id_token"):
        raise InvalidIdToken("The identity provider returned no ID token")
    return dict(token)


async def verify_id_token(
    settings: Settings,
    found: Endpoints,
    client_id: str,
    id_token: str,
    nonce: str,
    access_token: str | None = None,
) -> dict[str, Any]:
    """The ID token's claims once signature, issuer, audience, expiry, nonce (and azp,
    at_hash) hold; InvalidIdToken otherwise."""
    jwt = JsonWebToken(ID_TOKEN_ALGORITHMS)
    options = {
        "iss": {"essential": True, "value": found.issuer},
        "aud": {"essential": True, "value": client_id},
        "sub": {"essential": True},
        "exp": {"essential": True},
        "iat": {"essential": True},
        "nonce": {"essential": True, "value": nonce},
    }
    params = {"nonce": nonce, "client_id": client_id, "access_token": access_token}
    for refetch in (False, True):
        keys = await _key_set(settings, found.jwks_uri, refetch=refetch)
        try:
            claims = jwt.decode(
                id_token, keys, claims_cls=CodeIDToken, claims_options=options, claims_params=params
            )
            claims.validate(leeway=settings.sso_clock_skew_s)
        except ValueError as exc:
            # authlib: no key of the set has this `kid` (raised before any check of the
            # signature); once more with the provider's current keys.
            if not refetch and str(exc) == "Key not found":
                continue
            raise InvalidIdToken(f"The ID token is not valid ({exc})") from None
        except (JoseError, JoserfcError) as exc:
            # (authlib's claim checks raise joserfc's errors, its decoding its own)
            raise InvalidIdToken(f"The ID token is not valid ({exc.error})") from None
        return dict(claims)
    raise InvalidIdToken("The ID token is signed by a key the provider does not publish")
