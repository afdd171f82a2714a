"""Host and process statistics: one background sampler, read by GET /api/v1/system and
/metrics (requests never wait for a measurement)."""
