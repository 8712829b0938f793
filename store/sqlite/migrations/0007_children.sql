-- Child runs. A child knows its parent and what becomes of it when the
-- parent ends first; a parent counts its children's ends, and a parent
-- waiting for children wakes when the count reaches children_wake (0: not
-- waiting for children).
ALTER TABLE runs ADD COLUMN parent_id TEXT;
ALTER TABLE runs ADD COLUMN on_parent_end TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN children_ended INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN children_wake INTEGER NOT NULL DEFAULT 0;
CREATE INDEX runs_parent ON runs (parent_id, created_at, id) WHERE parent_id IS NOT NULL;
