-- Snapshots and images are compressed by the host already (zstd): Postgres
-- stores them out of line as they are, without trying its own compression
-- on every write and read.
ALTER TABLE run_snapshots ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE module_images ALTER COLUMN image SET STORAGE EXTERNAL;
