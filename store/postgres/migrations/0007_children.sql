-- Child runs. A child knows its parent and what becomes of it when the
-- parent ends first; a parent counts its children's ends, and a parent
-- waiting for children wakes when the count reaches children_wake (0: not
-- waiting for children).
ALTER TABLE runs
    ADD COLUMN parent_id      text,
    ADD COLUMN on_parent_end  text   NOT NULL DEFAULT '',
    ADD COLUMN children_ended bigint NOT NULL DEFAULT 0,
    ADD COLUMN children_wake  bigint NOT NULL DEFAULT 0;
CREATE INDEX runs_parent ON runs (parent_id, created_at, id) WHERE parent_id IS NOT NULL;

-- wasmflow_child_ended counts one more end of a child of p_parent, wakes
-- the parent if it waits for that many, and appends the child's event to
-- the parent's timeline when p_type is not NULL. The caller holds the
-- child's row lock; this takes the parent's, so that the child's end and
-- the parent's suspension serialize on the parent's row.
CREATE FUNCTION wasmflow_child_ended(p_parent text, p_now timestamptz, p_type text, p_step text, p_at timestamptz,
    p_data json) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
BEGIN
    UPDATE runs SET
        children_ended = children_ended + 1,
        wake_at = CASE WHEN status = 'waiting' AND children_wake > 0 AND children_ended + 1 >= children_wake
            THEN LEAST(COALESCE(wake_at, p_now), p_now) ELSE wake_at END,
        children_wake = CASE WHEN status = 'waiting' AND children_wake > 0 AND children_ended + 1 >= children_wake
            THEN 0 ELSE children_wake END,
        event_count = event_count + CASE WHEN p_type IS NULL THEN 0 ELSE 1 END,
        updated_at = p_now
    WHERE id = p_parent
    RETURNING event_count INTO v_seq;
    IF FOUND AND p_type IS NOT NULL THEN
        INSERT INTO events (run_id, seq, type, step, at, data)
        VALUES (p_parent, v_seq, p_type, COALESCE(p_step, ''), COALESCE(p_at, p_now), COALESCE(p_data, '{}'::json));
    END IF;
END;
$$;

-- wasmflow_end_children ends the children of p_id that have not ended and
-- whose on_parent_end is cancel: a running child gets cancel_requested
-- (its activation ends it); any other is cancelled at once, counted in
-- p_id's children_ended, and ends its own children in turn. Children are
-- locked in id order.
CREATE FUNCTION wasmflow_end_children(p_id text, p_now timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_ids text[];
    v_id  text;
BEGIN
    PERFORM 1 FROM runs WHERE parent_id = p_id AND on_parent_end = 'cancel'
        AND status IN ('pending', 'running', 'sleeping', 'waiting') ORDER BY id FOR UPDATE;
    UPDATE runs SET cancel_requested = true, updated_at = p_now
        WHERE parent_id = p_id AND on_parent_end = 'cancel' AND status = 'running' AND NOT cancel_requested;
    WITH c AS (
        UPDATE runs SET status = 'cancelled', wake_at = NULL, lease_owner = '', completed_at = p_now,
            children_wake = 0, event_count = event_count + 1, updated_at = p_now
        WHERE parent_id = p_id AND on_parent_end = 'cancel' AND status IN ('pending', 'sleeping', 'waiting')
        RETURNING id, event_count
    ), e AS (
        INSERT INTO events (run_id, seq, type, step, at, data)
        SELECT id, event_count, 'run_cancelled', '', p_now, json_build_object('parent', p_id) FROM c
    ) SELECT array_agg(id ORDER BY id) INTO v_ids FROM c;
    IF v_ids IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM run_snapshots WHERE run_id = ANY(v_ids);
    UPDATE runs SET children_ended = children_ended + cardinality(v_ids) WHERE id = p_id;
    FOREACH v_id IN ARRAY v_ids LOOP
        IF EXISTS (SELECT 1 FROM runs WHERE parent_id = v_id) THEN
            PERFORM wasmflow_end_children(v_id, p_now);
        END IF;
    END LOOP;
END;
$$;

-- wasmflow_run_ended is the work of a run's end (RunApply with a terminal
-- status, RunCancel): its parent learns (with the event p_type, p_step,
-- p_at, p_data unless p_type is NULL), and its children end.
CREATE FUNCTION wasmflow_run_ended(p_id text, p_now timestamptz, p_type text, p_step text, p_at timestamptz,
    p_data json) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_parent text;
BEGIN
    SELECT parent_id INTO v_parent FROM runs WHERE id = p_id;
    IF v_parent IS NOT NULL THEN
        PERFORM wasmflow_child_ended(v_parent, p_now, p_type, p_step, p_at, p_data);
    END IF;
    PERFORM wasmflow_end_children(p_id, p_now);
END;
$$;
