-- Retention: the times that decide when a record expires, as columns (with indexes) so that the sweeper
-- finds the expired records without reading every record's JSON.

ALTER TABLE jobs ADD COLUMN finished_at_ms bigint;
UPDATE jobs SET finished_at_ms = (convert_from(record, 'UTF8')::jsonb ->> 'finished_at_ms')::bigint WHERE finished;
CREATE INDEX jobs_finished_at ON jobs (finished_at_ms) WHERE finished;

ALTER TABLE job_tokens ADD COLUMN created_at_ms bigint;
UPDATE job_tokens SET created_at_ms = (convert_from(record, 'UTF8')::jsonb ->> 'created_at_ms')::bigint;
CREATE INDEX job_tokens_created_at ON job_tokens (created_at_ms);

ALTER TABLE requests ADD COLUMN created_at_ms bigint;
UPDATE requests SET created_at_ms = (convert_from(record, 'UTF8')::jsonb ->> 'created_at_ms')::bigint;
CREATE INDEX requests_created_at ON requests (created_at_ms);
