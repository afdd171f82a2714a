-- Clip exports: one MP4 joined from the segments of a range, made by a background job.
CREATE TABLE exports (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    camera      text NOT NULL,
    start_time  timestamptz NOT NULL,
    end_time    timestamptz NOT NULL CHECK (end_time > start_time),
    state       text NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'running', 'done', 'failed')),
    progress    double precision NOT NULL DEFAULT 0,
    path        text,
    bytes       bigint,
    error       text,
    gaps        jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX exports_state ON exports (state, id);
