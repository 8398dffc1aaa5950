"""The dashboard's ASGI app: REST, WebSockets and the page, over one runs folder.

Everything shown is read from the run folders; the only things the server ever writes into a run
are control requests (:mod:`hlynr.runs.control`) and the replays it records (under
``<run>/replays/``, :mod:`hlynr.server.replays`). Runs it starts or resumes, and replays it
records, are separate processes (:mod:`hlynr.server.launch`).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from fastapi import FastAPI, HTTPException, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

import hlynr
from hlynr.runs import control
from hlynr.server.groups import group_series
from hlynr.server.launch import Launcher
from hlynr.server.replays import MEDIA, Conflict, Replays, what_to_replay
from hlynr.server.runs import NotFound, RunEntry, RunsIndex, resolve_inside
from hlynr.server.series import SeriesBuilder

STATIC = Path(__file__).parent / "static"
TOKEN_HEADER = "x-hlynr-token"
POLL_S = 0.2  # how often a WebSocket looks for new records
LIST_POLL_S = 2.0  # how often the run-list WebSocket refreshes the runs
STATUS_POLL_S = 2.0  # how often a run's WebSocket refreshes the run's status
CHUNK = 5000  # records per WebSocket message at most
MAX_SERIES_CACHE = 8
MAX_GROUP_SERIES_CACHE = 64  # the seeds of the groups on the comparison chart


class StartRequest(BaseModel):
    """``POST /api/start``: a config under the configs folder and ``--set`` overrides."""

    model_config = {"extra": "forbid"}
    config: str
    overrides: list[str] = Field(default_factory=list)


class _SeriesCache:
    """Series of the most recently viewed runs, extended incrementally."""

    def __init__(self, size: int = MAX_SERIES_CACHE) -> None:
        self._items: dict[str, tuple[int, SeriesBuilder, int]] = {}
        self.size = size

    def get(self, entry: RunEntry) -> tuple[SeriesBuilder, int]:
        tail = entry.tail
        epoch, builder, upto = self._items.pop(entry.run_id, (-1, SeriesBuilder(), 0))
        if epoch != tail.epoch:
            builder, upto = SeriesBuilder(), 0
        while upto < tail.count:
            records = tail.read(upto, 20_000)
            for rec in records:
                builder.add(rec)
            upto += len(records)
        self._items[entry.run_id] = (tail.epoch, builder, upto)
        while len(self._items) > self.size:
            self._items.pop(next(iter(self._items)))
        return builder, upto


def _config_error(exc: BaseException) -> str:
    return exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)


def create_app(runs_dir: Path, configs_dir: Path, *, token: str | None = None,
               allowed_hosts: list[str] | None = None) -> FastAPI:
    """The app. ``token``: required on every API call and WebSocket (except health);
    ``allowed_hosts``: accepted ``Host`` header names (None: any)."""
    runs_dir, configs_dir = Path(runs_dir), Path(configs_dir)
    app = FastAPI(title="hlynr dashboard", version=hlynr.__version__, docs_url=None,
                  redoc_url=None, openapi_url=None)
    index = RunsIndex(runs_dir)
    launcher = Launcher(runs_dir)
    replays = Replays(launcher)
    series_cache = _SeriesCache()
    seed_series_cache = _SeriesCache(MAX_GROUP_SERIES_CACHE)
    app.state.index, app.state.launcher, app.state.replays = index, launcher, replays

    def token_ok(given: str | None) -> bool:
        return token is None or (given is not None and hmac.compare_digest(given, token))

    def host_ok(host: str | None) -> bool:
        if allowed_hosts is None:
            return True
        name = (host or "").rsplit(":", 1)[0] if not (host or "").startswith("[") \
            else (host or "").split("]")[0] + "]"
        return name in allowed_hosts

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        if not host_ok(request.headers.get("host")):
            return JSONResponse({"error": "host not allowed"}, status_code=400)
        path = request.url.path
        if path.startswith("/api/") and path != "/api/health":
            if not token_ok(request.headers.get(TOKEN_HEADER) or request.query_params.get("token")):
                return JSONResponse({"error": "missing or wrong token"}, status_code=401)
            if request.method == "POST" and \
                    request.headers.get("content-type", "").split(";")[0] != "application/json":
                return JSONResponse({"error": "POST bodies must be application/json"},
                                    status_code=415)
        return await call_next(request)

    def entry_or_404(run_id: str) -> RunEntry:
        try:
            return index.get(run_id)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "version": hlynr.__version__, "runs_dir": str(runs_dir),
                "configs_dir": str(configs_dir), "token_required": token is not None}

    @app.get("/api/runs")
    def list_runs() -> dict[str, Any]:
        return {"runs": [r.overview() for r in index.runs(rescan=True)], "groups": index.groups()}

    @app.get("/api/groups/{group_id:path}/series")
    def group_series_view(group_id: str, metric: str = Query("success.eval", max_length=100),
                          points: int = Query(400, ge=10, le=5000)) -> dict[str, Any]:
        try:
            entry, runs = index.group(group_id)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        curves = {}
        for seed, run in runs.items():
            builder, _ = seed_series_cache.get(run)
            col = builder.cols.get(metric)
            curves[seed] = ((np.array(col[0], dtype=float), np.array(col[1], dtype=float)) if col
                            else (np.empty(0), np.empty(0)))
        return {"group": group_id, "metric": metric, "n_seeds": len(entry.group.seeds),
                **group_series(curves, points)}

    @app.get("/api/configs")
    def list_configs() -> dict[str, Any]:
        root = configs_dir.resolve()
        found = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.y*ml")
                       if p.suffix in (".yaml", ".yml") and p.is_file()
                       and not any(part.startswith(".") for part in p.relative_to(root).parts)
                       ) if root.is_dir() else []
        return {"configs": found}

    @app.get("/api/launches")
    def launches() -> dict[str, Any]:
        return {"launches": launcher.poll()}

    @app.post("/api/start", status_code=201)
    def start(body: StartRequest) -> dict[str, Any]:
        from hlynr.config import ConfigError
        from hlynr.training.runner import new_run_dir
        from hlynr.zoo import load_config

        try:
            path = resolve_inside(configs_dir, body.config, max_parts=16)
        except NotFound as exc:
            raise HTTPException(404, f"config {exc}") from None
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            raise HTTPException(404, f"no config {body.config!r} under the configs folder")
        try:
            config = load_config(path, body.overrides).config
        except ConfigError as exc:
            raise HTTPException(400, _config_error(exc)) from None
        if config.tune is not None:
            raise HTTPException(400, f"{body.config} has a tune: section; the dashboard starts "
                                     "single runs (tune with hlynr train --optimize)")
        base = run_dir = new_run_dir(config, runs_dir)
        k = 1
        while run_dir.resolve() in launcher.reserved or run_dir.exists():
            k += 1  # a run this server started a moment ago has not made its folder yet
            run_dir = base.with_name(f"{base.name}-{k}")
        run_id = run_dir.resolve().relative_to(runs_dir.resolve()).as_posix()
        launch = launcher.start(run_id, run_dir, path, body.overrides)
        return {"run": run_id, "pid": launch.process.pid}

    @app.get("/api/runs/{run_id:path}/summary")
    def run_summary(run_id: str) -> dict[str, Any]:
        entry = entry_or_404(run_id)
        summary = None
        try:
            summary = json.loads((entry.path / "summary.json").read_text())
        except (OSError, ValueError):
            pass
        return {**entry.overview(), "summary": summary}

    @app.get("/api/runs/{run_id:path}/config")
    def run_config(run_id: str) -> dict[str, Any]:
        entry = entry_or_404(run_id)
        text = (entry.path / "config.yaml").read_text()
        return {"yaml": text, "config": yaml.safe_load(text)}

    @app.get("/api/runs/{run_id:path}/metrics")
    def run_metrics(run_id: str, since: int = Query(0, ge=0),
                    limit: int = Query(1000, ge=1, le=100_000)) -> dict[str, Any]:
        tail = entry_or_404(run_id).tail
        records = tail.read(since, limit)
        return {"epoch": tail.epoch, "since": since, "next": since + len(records),
                "count": tail.count, "records": records}

    @app.get("/api/runs/{run_id:path}/series")
    def run_series(run_id: str, points: int = Query(1000, ge=10, le=100_000)) -> dict[str, Any]:
        entry = entry_or_404(run_id)
        builder, upto = series_cache.get(entry)
        return {"epoch": entry.tail.epoch, "next": upto, "last_rollout_t": builder.last_t,
                "series": builder.export(points)}

    @app.get("/api/runs/{run_id:path}/control/{req_id}")
    def control_answer(run_id: str, req_id: str) -> dict[str, Any]:
        entry = entry_or_404(run_id)
        if not req_id.replace("-", "").isalnum():
            raise HTTPException(404, "no such request")
        ack = control.read_ack(entry.path, req_id)
        if ack is not None:
            return ack
        if any(r["id"] == req_id for r in control.pending(entry.path)):
            return {"id": req_id, "status": "pending"}
        raise HTTPException(404, "no such request")

    def _request(run_id: str, action: control.Action) -> dict[str, Any]:
        entry = entry_or_404(run_id)
        status, pid = entry.state()
        if pid is None:
            raise HTTPException(409, f"run {run_id} is not running ({status})")
        return {"run": run_id, "request": control.request(entry.path, action),
                "action": action.value, "pid": pid}

    @app.post("/api/runs/{run_id:path}/save", status_code=202)
    def save(run_id: str) -> dict[str, Any]:
        return _request(run_id, control.Action.SAVE)

    @app.post("/api/runs/{run_id:path}/stop", status_code=202)
    def stop(run_id: str) -> dict[str, Any]:
        return _request(run_id, control.Action.STOP)

    @app.post("/api/runs/{run_id:path}/resume", status_code=202)
    def resume(run_id: str) -> dict[str, Any]:
        entry = entry_or_404(run_id)
        view = entry.overview()
        if view["pid"] is not None:
            raise HTTPException(409, f"run {run_id} is running (process {view['pid']})")
        if not view["resumable"]:
            raise HTTPException(409, f"run {run_id} cannot be resumed ({view['status']}, "
                                     f"{len(view['checkpoints'])} checkpoints)")
        launch = launcher.resume(run_id, entry.path)
        return {"run": run_id, "pid": launch.process.pid}

    def run_config_data(entry: RunEntry) -> dict[str, Any]:
        try:
            data = yaml.safe_load((entry.path / "config.yaml").read_text())
        except (OSError, yaml.YAMLError):
            data = None
        return data if isinstance(data, dict) else {}

    @app.get("/api/runs/{run_id:path}/replays")
    def run_replays(run_id: str) -> dict[str, Any]:
        entry = entry_or_404(run_id)
        which, reason = what_to_replay(entry.path, run_config_data(entry))
        return {"run": run_id, "replays": replays.list(entry), "recordable": which is not None,
                "which": which, "reason": reason or None}

    @app.post("/api/runs/{run_id:path}/replays", status_code=202)
    def record_replay(run_id: str) -> dict[str, Any]:
        entry = entry_or_404(run_id)
        try:
            return replays.start(entry, run_config_data(entry))
        except Conflict as exc:
            raise HTTPException(409, str(exc)) from None

    @app.get("/api/runs/{run_id:path}/replays/{replay_id}/{name}")
    def replay_file(run_id: str, replay_id: str, name: str) -> FileResponse:
        entry = entry_or_404(run_id)
        try:
            path = replays.file(entry, replay_id, name)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from None
        return FileResponse(path, media_type=MEDIA[path.suffix],
                            headers={"Cache-Control": "no-cache"})

    @app.get("/api/runs/{run_id:path}")
    def run_overview(run_id: str) -> dict[str, Any]:
        return entry_or_404(run_id).overview()

    async def ws_accept(ws: WebSocket) -> bool:
        origin = ws.headers.get("origin")
        host = ws.headers.get("host")
        if not host_ok(host) or not token_ok(ws.query_params.get("token")) or \
                (origin is not None and origin.split("://", 1)[-1] != host):
            await ws.close(code=4401)
            return False
        await ws.accept()
        return True

    async def pause(ws: WebSocket, seconds: float) -> None:
        """Sleep, noticing a closed connection (raises WebSocketDisconnect)."""
        try:
            msg = await asyncio.wait_for(ws.receive(), timeout=seconds)
        except TimeoutError:
            return
        if msg["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(msg.get("code", 1000))

    @app.websocket("/ws/runs")
    async def ws_runs(ws: WebSocket) -> None:
        if not await ws_accept(ws):
            return
        sent: dict[str, dict[str, Any]] = {}
        sent_groups: list[dict[str, Any]] | None = None
        try:
            while True:
                views = {r.run_id: r.overview() for r in index.runs()}
                groups = index.groups()
                changed = [v for k, v in views.items() if sent.get(k) != v]
                removed = [k for k in sent if k not in views]
                if changed or removed or not sent or groups != sent_groups:
                    await ws.send_json({"type": "runs", "full": not sent, "runs": changed,
                                        "removed": removed, "groups": groups,
                                        "launches": launcher.poll()})
                sent, sent_groups = views, groups
                await pause(ws, LIST_POLL_S)
        except WebSocketDisconnect:
            return

    @app.websocket("/ws/runs/{run_id:path}")
    async def ws_run(ws: WebSocket, run_id: str) -> None:
        try:
            entry = index.get(run_id)
        except NotFound:
            await ws.close(code=4404)
            return
        if not await ws_accept(ws):
            return
        tail = entry.tail
        since = max(0, int(ws.query_params.get("since", "0") or 0))
        epoch = ws.query_params.get("epoch")
        last_t = float(ws.query_params.get("last_t", "0") or 0)  # where raw rewards start
        last_view: dict[str, Any] | None = None
        next_status = 0.0
        try:
            if epoch is not None and epoch != "" and int(epoch) != tail.epoch:
                await ws.send_json({"type": "reset", "epoch": tail.epoch})
                since, last_t = 0, 0.0
            current = tail.epoch
            while True:
                tail.refresh()
                if tail.epoch != current:
                    await ws.send_json({"type": "reset", "epoch": tail.epoch})
                    current, since, last_t = tail.epoch, 0, 0.0
                while tail.count > since:
                    records = tail.read(since, CHUNK)
                    delta = SeriesBuilder(last_t)
                    for rec in records:
                        delta.add(rec)
                    last_t = delta.last_t
                    await ws.send_json({"type": "records", "epoch": current, "since": since,
                                        "next": since + len(records), "records": records,
                                        "points": delta.export()})
                    since += len(records)
                now = time.monotonic()
                if now >= next_status:
                    next_status = now + STATUS_POLL_S
                    view = entry.overview()
                    view.pop("mtime", None)
                    if view != last_view:
                        await ws.send_json({"type": "status", "run": view})
                        last_view = view
                await pause(ws, POLL_S)
        except WebSocketDisconnect:
            return

    @app.get("/")
    def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
