CREATE TABLE modules (
    id         bigserial PRIMARY KEY,
    name       text        NOT NULL,
    version    text        NOT NULL,
    digest     text        NOT NULL,
    size       bigint      NOT NULL,
    workflows  json        NOT NULL,
    created_at timestamptz NOT NULL,
    UNIQUE (name, version)
);
CREATE INDEX modules_name_digest ON modules (name, digest);

CREATE TABLE module_bytes (
    digest text PRIMARY KEY,
    bytes  bytea NOT NULL
);

CREATE TABLE runs (
    id               text PRIMARY KEY,
    module_name      text        NOT NULL,
    module_version   text        NOT NULL,
    module_digest    text        NOT NULL,
    workflow         text        NOT NULL,
    status           text        NOT NULL,
    input            json        NOT NULL,
    output           json,
    error            text        NOT NULL DEFAULT '',
    attempt          integer     NOT NULL DEFAULT 1,
    idempotency_key  text UNIQUE, -- NULL when none; NULLs never collide
    progress         json,
    activations      integer     NOT NULL DEFAULT 0,
    cancel_requested boolean     NOT NULL DEFAULT false,
    signals_received bigint      NOT NULL DEFAULT 0,
    event_count      bigint      NOT NULL DEFAULT 0,
    wake_at          timestamptz,
    lease_owner      text        NOT NULL DEFAULT '',
    fence            bigint      NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    completed_at     timestamptz
);
-- The claim path reads only runnable runs; finished runs stay out of it.
CREATE INDEX runs_claim ON runs (wake_at) WHERE status IN ('pending', 'running', 'sleeping', 'waiting');
CREATE INDEX runs_module ON runs (module_name, id);

CREATE TABLE entries (
    run_id     text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq        integer     NOT NULL,
    kind       text        NOT NULL,
    name       text        NOT NULL,
    status     text        NOT NULL,
    attempts   integer     NOT NULL,
    cursor     bytea,
    output     bytea,
    error      text        NOT NULL,
    effect_seq integer     NOT NULL,
    wake_at    timestamptz,
    started_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE effects (
    run_id     text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    step_seq   integer     NOT NULL,
    seq        integer     NOT NULL,
    name       text        NOT NULL,
    status     text        NOT NULL,
    key        text        NOT NULL,
    result     bytea,
    error      text        NOT NULL,
    executions integer     NOT NULL,
    started_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (run_id, step_seq, seq)
);

CREATE TABLE signals (
    id          bigserial PRIMARY KEY,
    run_id      text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name        text        NOT NULL,
    payload     json        NOT NULL,
    created_at  timestamptz NOT NULL,
    consumed_by integer
);
CREATE INDEX signals_pending ON signals (run_id, id) WHERE consumed_by IS NULL;

CREATE TABLE events (
    run_id text        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    bigint      NOT NULL,
    type   text        NOT NULL,
    step   text        NOT NULL,
    at     timestamptz NOT NULL,
    data   json        NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- wasmflow_fence locks the run and raises WF001 unless it is running under
-- fence p_fence (WF002 when the run does not exist). RunApply sends it first
-- in its batch, so a stale writer's batch aborts before writing anything.
CREATE FUNCTION wasmflow_fence(p_run_id text, p_fence bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT status, fence INTO r FROM runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % not found', p_run_id USING ERRCODE = 'WF002';
    END IF;
    IF r.fence <> p_fence OR r.status <> 'running' THEN
        RAISE EXCEPTION 'run % is % under fence %, not running under fence %', p_run_id, r.status, r.fence, p_fence
            USING ERRCODE = 'WF001';
    END IF;
END;
$$;

-- wasmflow_replace_event overwrites an existing event's time and data
-- (coalesced checkpoints); WF002 when there is no such event.
CREATE FUNCTION wasmflow_replace_event(p_run_id text, p_seq bigint, p_at timestamptz, p_data json) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE events SET at = p_at, data = p_data WHERE run_id = p_run_id AND seq = p_seq;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % has no event %', p_run_id, p_seq USING ERRCODE = 'WF002';
    END IF;
END;
$$;

-- wasmflow_consume_signal marks a pending signal of the run consumed by the
-- journal entry p_entry_seq; WF002 when there is no such pending signal.
CREATE FUNCTION wasmflow_consume_signal(p_run_id text, p_signal_id bigint, p_entry_seq integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE signals SET consumed_by = p_entry_seq
    WHERE id = p_signal_id AND run_id = p_run_id AND consumed_by IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % has no pending signal %', p_run_id, p_signal_id USING ERRCODE = 'WF002';
    END IF;
END;
$$;
