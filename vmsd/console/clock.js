// A playback stream's time to the wall clock, from its plan (GET .../playback/plan with the
// stream's own start and duration). The stream skips each gap without a jump in its time, so
// currentTime alone drifts behind the wall clock by every gap passed; the plan says where.
// A player goes on with the stream asked for from one's end: the two join, or a gap lies
// between them.

// A hole between recordings up to this long is no gap (the planner's SPAN_MERGE_GAP_S).
export const MERGE_GAP_S = 1;
// A stream ended this close to its length was played out; further from it, it was cut short.
export const PLAYED_OUT_SLACK_S = 1;

// The plan as the API returns it, with its times as epoch milliseconds; and its end as the API
// wrote it, to the microsecond, which is where a stream that goes on from it must start (a
// millisecond early is still inside the last segment, whose last keyframe it would replay from).
export function readPlan(plan) {
  return {
    start: Date.parse(plan.start),
    end: Date.parse(plan.end),
    endText: plan.end,
    seconds: plan.duration_seconds,
    endReason: plan.end_reason,
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

// Whether a stream whose time stopped at `seconds` was played to its end.
export function playedOut(plan, seconds) {
  return plan.seconds - seconds < PLAYED_OUT_SLACK_S;
}

// The gap between a stream and the next (its plan's start later than the first one's end), or
// null when they join. Its reason is what ended the first stream's last segment.
export function gapBetween(plan, next) {
  const seconds = (next.start - plan.end) / 1000;
  if (seconds <= MERGE_GAP_S) return null;
  return { start: plan.end, end: next.start, seconds, reason: plan.endReason || "unknown" };
}

// 5 -> "00:00:05", 3725.4 -> "01:02:05" (whole seconds, rounded; hours past 99 still fit).
export function hms(seconds) {
  const s = Math.max(0, Math.round(seconds));
  const p = (n) => String(n).padStart(2, "0");
  return `${p(Math.floor(s / 3600))}:${p(Math.floor((s % 3600) / 60))}:${p(s % 60)}`;
}
