"""/api/v1/cameras: the camera registry, with each camera's live state."""

from __future__ import annotations

import dataclasses

from aiohttp import web
from pydantic import ValidationError as PydanticValidationError

from vmsd.access.roles import Role
from vmsd.api.audit_note import audit_note
from vmsd.api.body import read_json
from vmsd.api.camera_schemas import (
    CameraOut,
    LastErrorOut,
    ProbeAudioOut,
    ProbeFailureOut,
    ProbeOut,
    ProbeRecordingOut,
    ProbeRequest,
    ProbeVideoOut,
    RecorderIdle,
    RecorderOut,
    RecordingOverridesOut,
    RestartOut,
    RetentionOverridesOut,
)
from vmsd.api.middleware import PRINCIPAL
from vmsd.api.query import CameraPath, camera_name
from vmsd.api.routes import ApiRoute, Reply
from vmsd.api.schemas import body
from vmsd.api.services import services
from vmsd.api.visibility import (
    require_camera,
    require_every_camera,
    require_in_scope,
    visible,
)
from vmsd.cameras.model import Camera, CameraPatch, camera_from_config
from vmsd.cameras.state import CameraError
from vmsd.config.cameras import CameraConfig
from vmsd.config.messages import field_errors
from vmsd.core.errors import ValidationError
from vmsd.recorder.failures import FailureClass
from vmsd.recorder.model import RecorderStatus
from vmsd.recorder.probe_stream import ProbeResult


def camera_out(request: web.Request, camera: Camera) -> CameraOut:
    svc = services(request)
    live = svc.live.get(camera.name)
    status = svc.recorders.status(camera.name)
    return CameraOut(
        name=camera.name,
        source=camera.display_source,
        username=camera.username,
        has_password=camera.password is not None,
        rtsp_transport=camera.rtsp_transport,
        enabled=camera.enabled,
        record=camera.record,
        recording=RecordingOverridesOut(**camera.recording.model_dump(exclude_none=True)),
        retention=RetentionOverridesOut(**camera.retention.model_dump(exclude_none=True)),
        description=camera.description,
        location=camera.location,
        groups=list(camera.groups),
        managed_by=camera.managed_by,
        created_at=camera.created_at,
        updated_at=camera.updated_at,
        state=live.state,
        state_since=live.since,
        state_reason=live.reason,
        last_error=last_error_out(live.last_error),
        retry_at=status.retry_at if status is not None else None,
        readers=live.readers,
        inbound_bytes=live.inbound_bytes,
        recorder=recorder_out(status),
    )


def last_error_out(error: CameraError | None) -> LastErrorOut | None:
    if error is None:
        return None
    return LastErrorOut(
        failure=FailureClass(error.failure),
        message=error.message,
        at=error.at,
        repeats=error.repeats,
    )


def recorder_out(status: RecorderStatus | None) -> RecorderOut | RecorderIdle:
    if status is None:
        return RecorderIdle()
    return RecorderOut(
        state=status.state,
        pid=status.pid,
        started_at=status.started_at,
        restarts_total=status.restarts_total,
        restarts_last_hour=status.restarts_last_hour,
        last_segment_end=status.last_segment_end,
        fps=status.fps,
        bitrate_bits=status.bitrate_bits,
    )


async def list_cameras(request: web.Request) -> web.Response:
    cameras = services(request).cameras.list()
    return body([camera_out(request, c) for c in cameras if visible(request, c)])


async def create_camera(request: web.Request) -> web.Response:
    config = await read_json(request, CameraConfig)
    require_in_scope(request, config.name, config.groups)
    audit_note(request).target = f"camera:{config.name}"
    camera = await services(request).cameras.create(config)
    return body(camera_out(request, camera), status=201)


async def get_camera(request: web.Request) -> web.Response:
    camera = require_camera(request, camera_name(request))
    return body(camera_out(request, camera))


async def patch_camera(request: web.Request) -> web.Response:
    name = camera_name(request)
    current = require_camera(request, name)
    patch = await read_json(request, CameraPatch)
    if patch.groups is not None:
        require_in_scope(request, name, patch.groups, current.groups)
    camera = await services(request).cameras.update(name, patch)
    return body(camera_out(request, camera))


async def restart_recorder(request: web.Request) -> web.Response:
    name = camera_name(request)
    require_camera(request, name)  # 404 for an unknown camera, or one out of scope
    await services(request).recorders.restart(name, request[PRINCIPAL].name)
    return body(RestartOut(camera=name), status=202)


async def snapshot(request: web.Request) -> web.Response:
    svc = services(request)
    camera = require_camera(request, camera_name(request))
    jpeg = await svc.snapshots.grab(camera)
    return web.Response(
        body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"}
    )


async def probe_camera(request: web.Request) -> web.Response:
    svc = services(request)
    camera = require_camera(request, camera_name(request))
    return body(probe_out(await svc.probes.probe_camera(camera), camera.name))


async def probe_source(request: web.Request) -> web.Response:
    require_every_camera(request, "probing a source that is no camera")
    candidate = probe_candidate(await read_json(request, ProbeRequest))
    return body(probe_out(await services(request).probes.probe_source(candidate), None))


PROBE_CANDIDATE_NAME = "probe"


def probe_candidate(probe: ProbeRequest) -> Camera:
    """The request as the camera it would be, by the rules of POST /api/v1/cameras."""
    fields = probe.model_dump(include={"source", "username", "password", "rtsp_transport"})
    try:
        config = CameraConfig(name=PROBE_CANDIDATE_NAME, recording=probe.recording, **fields)
    except PydanticValidationError as err:
        raise ValidationError("invalid request body", field_errors(err)) from err
    return camera_from_config(config, managed_by="api")


def probe_out(result: ProbeResult, camera: str | None) -> ProbeOut:
    video, audio, verdict, failure = result.video, result.audio, result.verdict, result.failure
    return ProbeOut(
        camera=camera,
        ok=failure is None,
        via=result.via,
        failure=ProbeFailureOut(failure=failure.failure, message=failure.message)
        if failure is not None
        else None,
        video=ProbeVideoOut(**dataclasses.asdict(video)) if video is not None else None,
        audio=ProbeAudioOut(**dataclasses.asdict(audio)) if audio is not None else None,
        recording=ProbeRecordingOut(**dataclasses.asdict(verdict)) if verdict is not None else None,
        measured_seconds=result.measured_s,
        elapsed_seconds=round(result.elapsed_s, 3),
        note=result.note,
    )


async def delete_camera(request: web.Request) -> web.Response:
    name = camera_name(request)
    require_camera(request, name)
    await services(request).cameras.delete(name)
    return web.Response(status=204)


_READ_ONLY = Reply("managed by the config file (read-only here)")
_NO_CAMERA = Reply("no such camera (or one outside the caller's scope)")
_PROBES_BUSY = Reply(
    "recording.probe_max_concurrent probes are running (or vmsd is stopping)",
    headers={"Retry-After": "seconds"},
)
ROUTES = [
    ApiRoute(
        "GET",
        "/api/v1/cameras",
        list_cameras,
        "List cameras with their live state",
        role=Role.VIEWER,
        tag="cameras",
        responses={200: Reply("every camera", CameraOut, many=True)},
    ),
    ApiRoute(
        "POST",
        "/api/v1/cameras",
        create_camera,
        "Add a camera (credentials are stored encrypted and never returned)",
        role=Role.ADMIN,
        action="camera.create",
        tag="cameras",
        request_model=CameraConfig,
        responses={
            201: Reply("created", CameraOut),
            403: Reply("the role is too low, or the camera or its groups are outside the scope"),
            409: Reply("a camera has that name"),
            422: Reply("invalid camera (the source, or credentials that do not fit it)"),
        },
    ),
    ApiRoute(
        "GET",
        "/api/v1/cameras/{name}",
        get_camera,
        "One camera with its live state",
        role=Role.VIEWER,
        tag="cameras",
        path_params=CameraPath,
        responses={200: Reply("the camera", CameraOut), 404: _NO_CAMERA},
    ),
    ApiRoute(
        "PATCH",
        "/api/v1/cameras/{name}",
        patch_camera,
        "Change a camera; absent keys stay as they are, password null removes it",
        role=Role.ADMIN,
        action="camera.update",
        tag="cameras",
        path_params=CameraPath,
        request_model=CameraPatch,
        responses={
            200: Reply("changed", CameraOut),
            403: Reply("the role is too low, or the new groups are outside the scope"),
            404: _NO_CAMERA,
            409: _READ_ONLY,
            422: Reply("invalid change (the source, or credentials that do not fit it)"),
        },
    ),
    ApiRoute(
        "POST",
        "/api/v1/cameras/{name}/restart",
        restart_recorder,
        "Restart the camera's recorder (its open segment is finalised and indexed first)",
        role=Role.OPERATOR,
        action="camera.restart",
        tag="cameras",
        path_params=CameraPath,
        responses={
            202: Reply("restart scheduled", RestartOut),
            404: _NO_CAMERA,
            409: Reply("not recording"),
        },
    ),
    ApiRoute(
        "GET",
        "/api/v1/cameras/{name}/snapshot",
        snapshot,
        "A JPEG of the live picture (cached for a second or two)",
        role=Role.VIEWER,
        tag="cameras",
        path_params=CameraPath,
        responses={
            200: Reply("the picture", media_types=("image/jpeg",)),
            404: _NO_CAMERA,
            409: Reply("camera disabled"),
            503: Reply("no picture from the camera"),
            504: Reply("timed out"),
        },
    ),
    ApiRoute(
        "POST",
        "/api/v1/cameras/{name}/probe",
        probe_camera,
        "Probe the camera's stream where its recorder reads it: codecs, size, fps, bitrate, "
        "and whether it is recorded as it comes or with its audio transcoded",
        role=Role.OPERATOR,
        action="camera.probe",
        tag="cameras",
        path_params=CameraPath,
        responses={
            200: Reply("the probe's answer (ok false: the failure's class)", ProbeOut),
            404: _NO_CAMERA,
            409: Reply("a probe of the camera is running, or a publisher it cannot reach"),
            503: _PROBES_BUSY,
        },
    ),
    # Not /api/v1/cameras/probe: that path is the camera named "probe" (GET, PATCH, DELETE).
    ApiRoute(
        "POST",
        "/api/v1/probe",
        probe_source,
        "Probe a source before saving it as a camera (it connects where the body says, as "
        "adding a camera does: admin)",
        role=Role.ADMIN,
        action="source.probe",
        tag="cameras",
        request_model=ProbeRequest,
        responses={
            200: Reply("the probe's answer (ok false: the failure's class)", ProbeOut),
            403: Reply("the role is too low, or the camera scope is not '*'"),
            422: Reply("invalid source (the rules of a camera's), or a publisher"),
            503: _PROBES_BUSY,
        },
    ),
    ApiRoute(
        "DELETE",
        "/api/v1/cameras/{name}",
        delete_camera,
        "Remove a camera (its recordings stay until retention removes them)",
        role=Role.ADMIN,
        action="camera.delete",
        tag="cameras",
        path_params=CameraPath,
        responses={204: Reply("deleted"), 404: _NO_CAMERA, 409: _READ_ONLY},
    ),
]
