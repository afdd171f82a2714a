"""The one error shape: every detail of every error is {"field", "message"} plus only the
documented extra keys, whatever the VmsdError was raised with."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as PydanticValidationError

from vmsd.api.middleware import error_body, error_detail
from vmsd.recorder.failures import FailureClass, failure_detail, stderr_detail


def test_a_field_problem_stays_as_it_is() -> None:
    detail = {"field": "end", "message": "must be after start"}
    assert error_detail(detail).model_dump(mode="json") == detail


def test_a_plain_line_is_a_detail_about_no_field() -> None:
    """StoreError and ConfigError details are lines for the CLI and the logs."""
    line = "cameras[2].segment_seconds: must be <= 600 (got 900)"
    assert error_detail(line).model_dump(mode="json") == {"field": None, "message": line}


def test_the_snapshot_details_carry_their_documented_extras() -> None:
    reason = error_detail(failure_detail(FailureClass.REFUSED)).model_dump(mode="json")
    assert reason == {
        "field": None,
        "message": "the camera refused the connection",
        "reason": "refused",
    }
    tail = error_detail(stderr_detail(["a", "b"])).model_dump(mode="json")
    assert tail == {
        "field": None,
        "message": "FFmpeg's last stderr lines",
        "ffmpeg_stderr": ["a", "b"],
    }


@pytest.mark.parametrize(
    "bad",
    [
        {"reason": "not_a_class", "message": "x"},  # an undocumented class
        {"field": "x", "message": "y", "hint": "z"},  # an undocumented key
        {"field": "x"},  # no message
    ],
)
def test_an_undocumented_detail_is_refused(bad: dict[str, str]) -> None:
    with pytest.raises(PydanticValidationError):
        error_detail(bad)


def test_a_detail_of_another_type_is_refused() -> None:
    with pytest.raises(TypeError):
        error_detail(42)


def test_the_body() -> None:
    assert error_body("not_found", "no recording with id 7") == {
        "error": {"code": "not_found", "message": "no recording with id 7", "details": []}
    }
