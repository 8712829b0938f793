-- Wake idle host processes when a run becomes runnable now: created, handed
-- back at a checkpoint or a shutdown, signalled, retried. Notifications only
-- cut latency: every process also polls, so a lost notification (a dropped
-- listening connection) delays a run by at most one poll interval. Postgres
-- delivers them at commit and folds identical ones of one transaction.
CREATE FUNCTION wasmflow_notify_runnable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('wasmflow_runnable', '');
    RETURN NULL;
END
$$;

-- The second of slack covers the host's clock being slightly ahead of the
-- database's: wake_at is set from the host's clock.
CREATE TRIGGER runs_runnable_insert AFTER INSERT ON runs FOR EACH ROW
    WHEN (NEW.status IN ('pending', 'sleeping', 'waiting') AND NEW.wake_at <= now() + interval '1 second')
    EXECUTE FUNCTION wasmflow_notify_runnable();

CREATE TRIGGER runs_runnable_update AFTER UPDATE OF status, wake_at ON runs FOR EACH ROW
    WHEN (NEW.status IN ('pending', 'sleeping', 'waiting') AND NEW.wake_at <= now() + interval '1 second'
          AND (OLD.status IS DISTINCT FROM NEW.status OR OLD.wake_at IS DISTINCT FROM NEW.wake_at))
    EXECUTE FUNCTION wasmflow_notify_runnable();
