"""Typed FastAPI dependencies: settings, view, producer, clock, metrics and role checks.

Everything lives on ``app.state`` (set by ``create_app``); routes ask for it with the
``Annotated`` aliases below, e.g. ``def list_queues(view: ViewDep, now_ms: NowMsDep, _: Viewer)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from floorwatch.api.auth import Principal, TokenStore
from floorwatch.api.ingest import ApiMetrics
from floorwatch.api.kafka import EventProducer
from floorwatch.config import Settings
from floorwatch.readmodel.people import TeamsCache
from floorwatch.readmodel.view import View

_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <secret>")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_view(request: Request) -> View:
    return request.app.state.view


def get_producer(request: Request) -> EventProducer:
    return request.app.state.producer


def get_metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics


def get_teams(request: Request) -> TeamsCache:
    return request.app.state.teams


def get_now_ms(request: Request) -> int:
    """Current time in epoch ms from ``app.state.clock`` (injectable for tests)."""
    return int(request.app.state.clock())


SettingsDep = Annotated[Settings, Depends(get_settings)]
ViewDep = Annotated[View, Depends(get_view)]
ProducerDep = Annotated[EventProducer, Depends(get_producer)]
MetricsDep = Annotated[ApiMetrics, Depends(get_metrics)]
NowMsDep = Annotated[int, Depends(get_now_ms)]
TeamsDep = Annotated[TeamsCache, Depends(get_teams)]


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"})


def get_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    """The caller of a valid ``Authorization: Bearer`` token, or 401.

    REST takes no ``?token=``: a secret in a URL ends up in access logs, proxy logs and browser
    history. Only the websocket (which browsers cannot give headers) still reads it."""
    if bearer is None and request.headers.get("authorization"):
        raise _unauthorized("Authorization header must be 'Bearer <token>'")
    secret = bearer.credentials if bearer is not None else None
    if not secret:
        if "token" in request.query_params:
            raise _unauthorized("?token= is not accepted on the REST API: send 'Authorization: Bearer <token>'")
        raise _unauthorized("missing token: send 'Authorization: Bearer <token>'")
    store: TokenStore = request.app.state.tokens
    principal = store.authenticate(secret)
    if principal is None:
        raise _unauthorized("invalid token")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(role: str) -> Callable[[Principal], Principal]:
    """A dependency that lets through callers holding ``role`` (implied roles count)."""

    def check(principal: PrincipalDep) -> Principal:
        if not principal.has(role):
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=f"token {principal.name!r} lacks role {role!r}")
        return principal

    check.__name__ = f"require_{role}"
    return check


Viewer = Annotated[Principal, Depends(require("viewer"))]
Supervisor = Annotated[Principal, Depends(require("supervisor"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Ingest = Annotated[Principal, Depends(require("ingest"))]
