-- One camera's segments in time order with what the timeline and retention read, so those
-- scans are index-only (bench/recordings.py: a one-day timeline reads 8,640 rows). Replaces
-- the plain (camera, start_time) index, which it covers.
CREATE INDEX recordings_camera_span ON recordings (camera, start_time, id)
    INCLUDE (end_time, end_reason, bytes) WHERE deleting_since IS NULL;
DROP INDEX recordings_camera_start;
