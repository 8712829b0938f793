-- Writes are fenced set-based, for a whole batch at once (store/postgres,
-- apply.go), no longer by a function call per write.
DROP FUNCTION wasmflow_fence_write(text, bigint, bigint);
