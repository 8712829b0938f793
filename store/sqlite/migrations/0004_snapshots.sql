-- Init images of modules (see internal/snapshot): state the host derives from a
-- module's bytes, kept so that no process derives it again. Any of them may
-- be deleted: the host makes it again.
CREATE TABLE module_images (
    digest     TEXT    NOT NULL,
    format     TEXT    NOT NULL,
    image      BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (digest, format)
);

-- The latest suspension snapshot of each run (see internal/snapshot): a run's
-- state when it last parked, at journal position position. A shortcut too:
-- the host replays the journal when it is missing or unusable. Written in
-- the same transaction as the suspension; deleted when the run finishes.
CREATE TABLE run_snapshots (
    run_id        TEXT    PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    module_digest TEXT    NOT NULL,
    format        TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    position      INTEGER NOT NULL,
    activation    INTEGER NOT NULL,
    data          BLOB    NOT NULL,
    created_at    INTEGER NOT NULL
);
