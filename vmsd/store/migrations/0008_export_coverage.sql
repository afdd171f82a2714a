-- The recorded time an export covers, against the range it was asked for (end - start):
-- with the gaps (now the range's leading and trailing missing time too), an export says how
-- much of the request it holds. NULL until the job has planned (queued, running, or a job
-- from before this column).
ALTER TABLE exports ADD COLUMN covered_s double precision CHECK (covered_s >= 0);
