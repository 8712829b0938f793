;; nap.wat: the parking guest of abi/ABI.md, section 12, as printed there.
;; Workflow "nap" sleeps one second, durably, and completes with {}.
(module
  (import "wasmflow" "declare_workflow" (func $declare (param i32 i32) (result i32)))
  (import "wasmflow" "sleep" (func $sleep (param i32 i32 i64) (result i32)))
  (import "wasmflow" "complete" (func $complete (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "nap")
  (data (i32.const 16) "{}")
  (func (export "wasmflow_abi_version") (result i32) (i32.const 1))
  (func (export "wasmflow_describe") (drop (call $declare (i32.const 0) (i32.const 3))))
  ;; The workflow: sleep one second, then complete. Park (255) means:
  ;; return now.
  (func $nap
    (if (i32.eq (call $sleep (i32.const 0) (i32.const 0) (i64.const 1000)) (i32.const 255))
      (then (return)))
    (drop (call $complete (i32.const 16) (i32.const 2)))
    (unreachable))
  (func (export "wasmflow_run") (call $nap))
  ;; Restored from the snapshot: make the parked call again.
  (func (export "wasmflow_resume") (call $nap)))
