-- Retention (RunPurge) deletes finished runs oldest first: this index finds
-- them without reading runnable runs, as runs_claim finds runnable runs
-- without reading finished ones.
CREATE INDEX runs_finished ON runs (completed_at) WHERE status IN ('completed', 'failed', 'cancelled');
-- Deleting a run deletes its signals (ON DELETE CASCADE), which needs them
-- by run, consumed ones included (signals_pending holds only the others).
CREATE INDEX signals_run ON signals (run_id);
