-- The last numbered write (RunApplyParams.Write) an activation applied to
-- the run, under the fence it claimed the run with: a write sent again
-- after its outcome was lost is recognised and not applied twice.
ALTER TABLE runs ADD COLUMN write_fence INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN write_seq INTEGER NOT NULL DEFAULT 0;
