-- Times are INTEGER microseconds since the Unix epoch, UTC.

CREATE TABLE modules (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL,
    version    TEXT    NOT NULL,
    digest     TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    workflows  TEXT    NOT NULL, -- JSON array of names
    created_at INTEGER NOT NULL,
    UNIQUE (name, version)
);
CREATE INDEX modules_name_digest ON modules (name, digest);

CREATE TABLE module_bytes (
    digest TEXT PRIMARY KEY,
    bytes  BLOB NOT NULL
);

CREATE TABLE runs (
    id               TEXT PRIMARY KEY,
    module_name      TEXT    NOT NULL,
    module_version   TEXT    NOT NULL,
    module_digest    TEXT    NOT NULL,
    workflow         TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    input            TEXT    NOT NULL,
    output           TEXT,
    error            TEXT    NOT NULL DEFAULT '',
    attempt          INTEGER NOT NULL DEFAULT 1,
    idempotency_key  TEXT UNIQUE, -- NULL when none; NULLs never collide
    progress         TEXT,
    activations      INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    signals_received INTEGER NOT NULL DEFAULT 0,
    event_count      INTEGER NOT NULL DEFAULT 0,
    wake_at          INTEGER,
    lease_owner      TEXT    NOT NULL DEFAULT '',
    fence            INTEGER NOT NULL DEFAULT 0,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    completed_at     INTEGER
);
-- The claim path reads only runnable runs; finished runs stay out of it.
CREATE INDEX runs_claim ON runs (wake_at) WHERE status IN ('pending', 'running', 'sleeping', 'waiting');
CREATE INDEX runs_module ON runs (module_name, id);

CREATE TABLE entries (
    run_id     TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq        INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    cursor     BLOB,
    output     BLOB,
    error      TEXT    NOT NULL,
    effect_seq INTEGER NOT NULL,
    wake_at    INTEGER,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE effects (
    run_id     TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_seq   INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    name       TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    key        TEXT    NOT NULL,
    result     BLOB,
    error      TEXT    NOT NULL,
    executions INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, step_seq, seq)
) WITHOUT ROWID;

CREATE TABLE signals (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    payload     TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    consumed_by INTEGER
);
CREATE INDEX signals_pending ON signals (run_id, id) WHERE consumed_by IS NULL;

CREATE TABLE events (
    run_id TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    type   TEXT    NOT NULL,
    step   TEXT    NOT NULL,
    at     INTEGER NOT NULL,
    data   TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
