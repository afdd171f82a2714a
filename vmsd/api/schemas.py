"""What every response body is built from: `Out`, the base of the response models, `body()`,
and the error bodies every route may answer with. Every JSON body the API sends is built
through one of these models (`body()`), and the OpenAPI document's response schemas are
generated from the same classes, so the document cannot drift from what is sent: a handler
that put a key the model lacks would fail its own request, and the tests with it. Each area's
own models live beside its routes (vmsd.api.cameras' in vmsd.api.camera_schemas)."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from vmsd.recorder.failures import FailureClass


class Out(BaseModel):
    """A response body: exactly these keys (additionalProperties: false in the document)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def body(value: Out | list[Any], status: int = 200) -> web.Response:
    if isinstance(value, list):
        data: Any = [item.model_dump(mode="json") for item in value]
    else:
        data = value.model_dump(mode="json")
    return web.json_response(data, status=status)


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def sparse(description: str | None = None) -> Any:
    """A key that is left out, never null, when unset (a camera's overrides name only what
    differs from the configured defaults)."""
    return Field(
        default=None,
        description=description,
        exclude_if=lambda value: value is None,
        json_schema_extra=_no_default,
    )


class ErrorDetail(Out):
    """One problem of an error: every detail of every error has this shape (README: Errors).
    The two optional keys come with the codes named in their descriptions only."""

    field: str | None = Field(
        description="the parameter or body key the problem is about; null: none in particular"
    )
    message: str
    reason: FailureClass | SkipJsonSchema[None] = sparse(
        "camera_unavailable, snapshot_timeout: why the camera could not be read"
    )
    ffmpeg_stderr: list[str] | SkipJsonSchema[None] = sparse(
        "camera_unavailable, to operator and admin tokens only: FFmpeg's last stderr lines, "
        "credentials redacted"
    )


class ErrorInfo(Out):
    code: str = Field(description="stable, machine-readable (validation_failed, not_found...)")
    message: str
    details: list[ErrorDetail] = Field(
        description="per-field problems on a 422; other context otherwise; often empty"
    )


class ErrorBody(Out):
    """Every error response: {"error": {"code", "message", "details": [{"field", "message"}]}}."""

    error: ErrorInfo
