-- The last numbered write (RunApplyParams.Write) an activation applied to
-- the run, under the fence it claimed the run with. A write whose outcome
-- was lost with its connection is sent again; this is how the store knows
-- that it already committed, and writes nothing twice.
ALTER TABLE runs
    ADD COLUMN write_fence bigint NOT NULL DEFAULT 0,
    ADD COLUMN write_seq   bigint NOT NULL DEFAULT 0;

-- wasmflow_fence_write is wasmflow_fence for a numbered write: first it
-- raises WF003 when write p_write under fence p_fence was applied already
-- (whatever the run's status now: that write may have been the one that
-- ended the activation); then WF002 and WF001 as wasmflow_fence does.
CREATE FUNCTION wasmflow_fence_write(p_run_id text, p_fence bigint, p_write bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT status, fence, write_fence, write_seq INTO r FROM runs WHERE id = p_run_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'run % not found', p_run_id USING ERRCODE = 'WF002';
    END IF;
    IF p_write > 0 AND r.write_fence = p_fence AND r.write_seq >= p_write THEN
        RAISE EXCEPTION 'run % has write % under fence % already', p_run_id, p_write, p_fence
            USING ERRCODE = 'WF003';
    END IF;
    IF r.fence <> p_fence OR r.status <> 'running' THEN
        RAISE EXCEPTION 'run % is % under fence %, not running under fence %', p_run_id, r.status, r.fence, p_fence
            USING ERRCODE = 'WF001';
    END IF;
END;
$$;
