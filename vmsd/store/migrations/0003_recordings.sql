-- The segment index: one row per finished recording file. Not tied to cameras by a foreign key:
-- recordings outlive the camera (retention removes them).
CREATE TABLE recordings (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    camera      text NOT NULL,
    path        text NOT NULL UNIQUE,
    start_time  timestamptz NOT NULL,
    end_time    timestamptz NOT NULL CHECK (end_time >= start_time),
    duration_s  double precision NOT NULL CHECK (duration_s >= 0),
    bytes       bigint NOT NULL CHECK (bytes >= 0),
    end_reason  text NOT NULL CHECK (end_reason IN
                ('segment_complete', 'recorder_stopped', 'recorder_crashed', 'source_lost',
                 'recovered')),
    indexed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX recordings_camera_start ON recordings (camera, start_time);
CREATE INDEX recordings_start ON recordings (start_time);
