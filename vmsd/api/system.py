"""Liveness, readiness, metrics, version."""

from __future__ import annotations

import asyncio
import platform
from datetime import datetime
from typing import Literal

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import Field

from vmsd import __version__
from vmsd.access.roles import Role
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import Out, body
from vmsd.api.services import services
from vmsd.api.visibility import visible_name
from vmsd.config.server import OpenEndpoint
from vmsd.core.errors import StoreError, UnavailableError
from vmsd.core.health import Phase
from vmsd.system.model import sample_json


class LiveOut(Out):
    status: Literal["ok", "not_live"]
    detail: str | None = None


class CheckOut(Out):
    name: str
    ok: bool
    detail: str


class ReadyOut(Out):
    status: Literal["ready", "not_ready"]
    checks: list[CheckOut]


class VersionOut(Out):
    version: str
    python: str
    api: Literal["v1"] = "v1"


class CpuOut(Out):
    count: int
    percent: float | None
    per_core_percent: list[float | None]
    load_average: list[float] = Field(min_length=3, max_length=3)


class MemoryOut(Out):
    total_bytes: int
    available_bytes: int
    used_bytes: int
    percent: float | None


class SwapOut(Out):
    total_bytes: int
    used_bytes: int


class FilesystemOut(Out):
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int
    inodes_total: int
    inodes_free: int


class InterfaceOut(Out):
    interface: str
    receive_bytes_total: int
    transmit_bytes_total: int
    receive_bytes_per_second: float | None
    transmit_bytes_per_second: float | None


class ProcessOut(Out):
    role: str
    camera: str | None
    pid: int
    cpu_percent: float | None
    rss_bytes: int = Field(description="resident memory (a shared page counts once per process)")
    pss_bytes: int | None = Field(description="proportional share: shared pages split fairly")
    uss_bytes: int | None = Field(description="memory no other process shares")
    uptime_seconds: float
    processes: int


class GpuOut(Out):
    index: int
    name: str
    uuid: str
    utilization_percent: float | None
    memory_used_bytes: int | None
    memory_total_bytes: int | None
    encoder_utilization_percent: float | None
    decoder_utilization_percent: float | None
    temperature_celsius: float | None
    power_watts: float | None


class SystemOut(Out):
    time: datetime
    sample_interval_seconds: float
    sample_duration_seconds: float
    version: str
    uptime_seconds: float
    boot_time: float = Field(description="unix seconds")
    cpu: CpuOut
    memory: MemoryOut
    swap: SwapOut
    storage: list[FilesystemOut]
    network: list[InterfaceOut]
    processes: list[ProcessOut]
    gpus: list[GpuOut]
    gpus_reason: str | None
    problems: list[str]


async def healthz(request: web.Request) -> web.Response:
    """Liveness: the heartbeat beats and the supervisors are alive. Nothing else is checked
    (a dead DB or a degraded component must not make systemd or an orchestrator kill a daemon
    that is still recording; /readyz names those)."""
    live, why = services(request).health.live()
    if not live:
        return body(LiveOut(status="not_live", detail=why), status=503)
    return body(LiveOut(status="ok"))


async def readyz(request: web.Request) -> web.Response:
    svc = services(request)
    checks = {
        c.name: CheckOut(name=c.name, ok=c.ok, detail=c.detail) for c in svc.health.components()
    }
    try:  # the database is asked now, not taken from the last periodic check
        await svc.check_database()
        checks["database"] = CheckOut(name="database", ok=True, detail="")
    except StoreError as err:
        checks["database"] = CheckOut(name="database", ok=False, detail=err.message)
    phase_ok = svc.health.phase is Phase.READY
    checks["phase"] = CheckOut(name="phase", ok=phase_ok, detail=svc.health.phase.value)
    ready = all(c.ok for c in checks.values())
    status = "ready" if ready else "not_ready"
    return body(ReadyOut(status=status, checks=list(checks.values())), 200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    # In a thread: with 32 cameras one exposition takes 10-12 ms, which on the loop would
    # stall every auth request of MediaMTX's at each scrape.
    payload = await asyncio.to_thread(generate_latest, services(request).metrics.registry)
    return web.Response(body=payload, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def system(request: web.Request) -> web.Response:
    """The latest sample; a request never waits for a measurement."""
    sample = services(request).system.latest()
    if sample is None:
        raise UnavailableError("the first system sample is not taken yet")
    out = SystemOut.model_validate(sample_json(sample, __version__))
    # A recorder's process names its camera: only those of the caller's cameras show.
    processes = [p for p in out.processes if p.camera is None or visible_name(request, p.camera)]
    return body(out.model_copy(update={"processes": processes}))


async def version(request: web.Request) -> web.Response:
    return body(VersionOut(version=__version__, python=platform.python_version()))


ROUTES = [
    ApiRoute(
        "GET",
        "/healthz",
        healthz,
        "Liveness: 200 while the event loop runs its heartbeat and every supervisor is alive",
        role=Role.VIEWER,
        open_as=OpenEndpoint.HEALTHZ,
        responses={
            200: Reply("live", LiveOut),
            503: Reply("not live: the heartbeat stopped or a supervisor failed", LiveOut),
        },
    ),
    ApiRoute(
        "GET",
        "/readyz",
        readyz,
        "Readiness: 200 when the database and every component are up",
        role=Role.VIEWER,
        open_as=OpenEndpoint.READYZ,
        responses={
            200: Reply("ready", ReadyOut),
            503: Reply("not ready; `checks` names what failed", ReadyOut),
        },
    ),
    ApiRoute(
        "GET",
        "/metrics",
        metrics,
        "Prometheus metrics (text exposition format)",
        role=Role.VIEWER,
        open_as=OpenEndpoint.METRICS,
        responses={200: Reply("the exposition", media_types=("text/plain",))},
    ),
    ApiRoute(
        "GET",
        "/api/v1/version",
        version,
        "vmsd and API version",
        role=Role.VIEWER,
        responses={200: Reply("versions", VersionOut)},
    ),
    ApiRoute(
        "GET",
        "/api/v1/system",
        system,
        "Host CPU, memory, storage filesystems, network, vmsd's processes and GPUs (latest sample)",
        role=Role.VIEWER,
        responses={
            200: Reply("the latest sample", SystemOut),
            503: Reply("no sample yet (the first comes a second after start)"),
        },
    ),
]
