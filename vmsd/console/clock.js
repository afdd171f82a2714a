// A playback stream's time to the wall clock, from its plan (GET .../playback/plan with the
// stream's own start and duration). The stream skips each gap without a jump in its time, so
// currentTime alone drifts behind the wall clock by every gap passed; the plan says where.

// The plan as the API returns it, with its times as epoch milliseconds.
export function readPlan(plan) {
  return {
    start: Date.parse(plan.start),
    end: Date.parse(plan.end),
    gaps: plan.gaps.map((g) => ({
      start: Date.parse(g.start), end: Date.parse(g.end), seconds: g.seconds, reason: g.reason, at: g.at_seconds,
    })),
  };
}

// The gaps a stream at `seconds` has already skipped, in order.
export function skippedBy(plan, seconds) {
  return plan.gaps.filter((g) => g.at <= seconds);
}

// Wall clock (epoch ms) of stream time `seconds`: start + currentTime + every gap passed.
export function wallClock(plan, seconds) {
  return plan.start + (seconds + skippedBy(plan, seconds).reduce((sum, g) => sum + g.seconds, 0)) * 1000;
}

// 5 -> "00:00:05", 3725.4 -> "01:02:05" (whole seconds, rounded; hours past 99 still fit).
export function hms(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const p = (n) => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor((s % 3600) / 60))}:${p(s % 60)}`;
}
