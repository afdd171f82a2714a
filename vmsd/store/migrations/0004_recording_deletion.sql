-- Crash-consistent deletion: a row is marked, its file unlinked (and the directory fsynced),
-- then the row deleted. A row still marked at startup is a deletion to finish.
ALTER TABLE recordings ADD COLUMN deleting_since timestamptz;
CREATE INDEX recordings_deleting ON recordings (deleting_since) WHERE deleting_since IS NOT NULL;
