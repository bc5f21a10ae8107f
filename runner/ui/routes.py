"""The web pages' routes: /ui/calls (list), /ui/calls/ID (one call), its recording, static files,
an address's history (/ui/history/ADDRESS), the signed-link door (/ui/open) and, under /v1 with the bearer token, the link maker and the
listing as JSON (what `cb calls list` shows).

A page needs the runner's bearer token or the session cookie a signed link sets (``links``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from ..auth import require_token
from ..postcall.view import show_call
from . import history, links, listing

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


def install(app: FastAPI, ctx: Any) -> None:
    app.state.ui_key = links.key(ctx.settings.state_dir)
    app.mount("/ui/static", StaticFiles(directory=str(HERE / "static")), name="ui-static")
    app.include_router(pages)
    app.include_router(api)


def require_viewer(request: Request) -> None:
    """The bearer token, or a live session cookie from a signed link."""
    if links.check_session(request.app.state.ui_key, request.cookies.get(links.COOKIE)):
        return
    try:
        require_token(request)
    except HTTPException:
        raise HTTPException(401, "open this page with `cb calls show ID --open` (a signed link), "
                                 "or send the runner's bearer token") from None


def _state(request: Request) -> Path:
    return Path(request.app.state.cb.settings.state_dir)


door = APIRouter()
pages = APIRouter(prefix="/ui")
api = APIRouter(prefix="/v1", dependencies=[Depends(require_token)])


@pages.get("/open", include_in_schema=False)
def open_link(request: Request, to: str, exp: str, sig: str) -> RedirectResponse:
    k = request.app.state.ui_key
    if not links.check_link(k, to, exp, sig):
        raise HTTPException(403, "this link is expired or not signed by this runner: run `cb calls show ID --open` again")
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(links.COOKIE, links.session(k), max_age=links.SESSION_SEC, httponly=True,
                        samesite="strict", path="/ui")
    return response


@pages.get("", include_in_schema=False, dependencies=[Depends(require_viewer)])
def home() -> RedirectResponse:
    return RedirectResponse("/ui/calls", status_code=303)


@pages.get("/calls", response_class=HTMLResponse, dependencies=[Depends(require_viewer)])
def call_list(request: Request, page: int = 1) -> HTMLResponse:
    args = {k: v for k, v in request.query_params.items() if k in listing.FILTERS and v}
    data = listing.calls(_state(request), args, page)
    return templates.TemplateResponse(request, "list.html", {**data, "args": args, "slow_ms": listing.SLOW_MS})


@pages.get("/calls/{call_id}", response_class=HTMLResponse, dependencies=[Depends(require_viewer)])
def call_page(request: Request, call_id: str) -> HTMLResponse:
    data = listing.timeline(_state(request), call_id)
    if data is None:
        raise HTTPException(404, f"no call {call_id!r}")
    return templates.TemplateResponse(request, "call.html", data)


@pages.get("/history/{address}", response_class=HTMLResponse, dependencies=[Depends(require_viewer)])
def address_history(request: Request, address: str, call: str | None = None) -> HTMLResponse:
    """Every revision of ADDRESS; with ?call=ID, the one that answered that call marked."""
    pinned = show_call(_state(request), call) if call else None
    if call and pinned is None:
        raise HTTPException(404, f"no call {call!r}")
    revisions = [r.to_dict(with_content=False) for r in request.app.state.cb.store.history(address)]
    if not revisions:
        raise HTTPException(404, f"no history for {address!r}")
    marked = history.rows(revisions, pinned and pinned["state_serial"], pinned and pinned["agent_revision"])
    return templates.TemplateResponse(request, "history.html", {"address": address, "revisions": marked, "call": pinned})


@pages.get("/calls/{call_id}/recording.wav", dependencies=[Depends(require_viewer)])
def recording(request: Request, call_id: str) -> FileResponse:
    data = listing.timeline(_state(request), call_id)
    if data is None or not data["has_recording"]:
        raise HTTPException(404, f"no recording for {call_id!r}")
    return FileResponse(data["call"]["recording"], media_type="audio/wav")


class LinkRequest(BaseModel):
    path: str


@api.post("/ui/links")
def make_link(request: Request, body: LinkRequest) -> dict[str, Any]:
    try:
        url = links.link(request.app.state.ui_key, body.path)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    return {"url": request.app.state.cb.settings.public_base_url + url, "expires_in_sec": links.LINK_SEC}


@api.get("/call-list")
def call_list_json(request: Request, limit: int = 50, page: int = 1) -> dict[str, Any]:
    args = {k: v for k, v in request.query_params.items() if k in listing.FILTERS and v}
    data = listing.calls(_state(request), args, page, size=max(1, min(limit, listing.SCAN)))
    return {"calls": data["calls"], "total": data["total"]}
