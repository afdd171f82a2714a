"""A recorder's failed runs in a row, by class: what is news (a camera starts failing, its
failure class changes, it recovers) and what is a repeat, counted; and the wait that keeps
a camera's lockout from being fed by a wrong password. Pure.

Many IP cameras lock an account after a few failed logins and keep it locked while the
attempts go on: retrying a refused password every 30 s keeps the camera locked even after the
password is fixed. So after UNAUTHORIZED_REPEATS refusals in a row the recorder waits
`unauthorized_retry_s` (recording.unauthorized_retry_seconds) between tries; a new camera
configuration starts a new recorder, which tries at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from vmsd.recorder.failures import FailureClass

UNAUTHORIZED_REPEATS = 2  # the first refusal may be a camera rebooting; the second is not


@dataclass(frozen=True, slots=True)
class Streak:
    failure: FailureClass
    repeats: int


@dataclass(frozen=True, slots=True)
class FailedStep:
    """One more failed run: `news` when it starts a streak (first failure, or a new class);
    `ended` is the streak it replaced."""

    current: Streak
    news: bool
    ended: Streak | None


@dataclass(slots=True)
class FailureStreak:
    current: Streak | None = None

    def failed(self, failure: FailureClass) -> FailedStep:
        previous = self.current
        if previous is not None and previous.failure is failure:
            self.current = Streak(failure, previous.repeats + 1)
            return FailedStep(self.current, news=False, ended=None)
        self.current = Streak(failure, 1)
        return FailedStep(self.current, news=True, ended=previous)

    def recovered(self) -> Streak | None:
        """The run records: the streak it ends, if any."""
        ended, self.current = self.current, None
        return ended

    def retry_delay(self, backoff_s: float, unauthorized_retry_s: float) -> float:
        """The wait before the next run: the backoff's, or the long one once the camera has
        refused the credentials UNAUTHORIZED_REPEATS times in a row."""
        current = self.current
        if (
            current is not None
            and current.failure is FailureClass.UNAUTHORIZED
            and current.repeats >= UNAUTHORIZED_REPEATS
        ):
            return max(backoff_s, unauthorized_retry_s)
        return backoff_s
