-- Init images of modules (see internal/snapshot): state the host derives from a
-- module's bytes, kept so that no process derives it again. Any of them may
-- be deleted: the host makes it again.
CREATE TABLE module_images (
    digest     text        NOT NULL,
    format     text        NOT NULL,
    image      bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (digest, format)
);

-- The latest suspension snapshot of each run (see internal/snapshot): a run's
-- state when it last parked, at journal position position. A shortcut too:
-- the host replays the journal when it is missing or unusable. Written in
-- the same transaction as the suspension; deleted when the run finishes.
CREATE TABLE run_snapshots (
    run_id        text        PRIMARY KEY REFERENCES runs (id) ON DELETE CASCADE,
    module_digest text        NOT NULL,
    format        text        NOT NULL,
    attempt       integer     NOT NULL,
    position      integer     NOT NULL,
    activation    integer     NOT NULL,
    data          bytea       NOT NULL,
    created_at    timestamptz NOT NULL
);
