;; initlog.wat: a guest whose _initialize calls the host (a log line), so its
;; state after _initialize cannot be imaged: the host runs it as uploaded,
;; calling _initialize in every activation. Its one workflow, "ok",
;; completes at once with {"ok":true}.
(module
  (import "wasmflow" "declare_workflow" (func $declare_workflow (param i32 i32) (result i32)))
  (import "wasmflow" "log" (func $log (param i32 i32 i32) (result i32)))
  (import "wasmflow" "complete" (func $complete (param i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "ok")              ;; 0, 2
  (data (i32.const 16) "{\"ok\":true}")  ;; 16, 11
  (data (i32.const 32) "initializing")   ;; 32, 12

  ;; Counts the calls of _initialize in this instance: a run's output would
  ;; differ if it ran twice.
  (global $inits (mut i32) (i32.const 0))

  (func (export "_initialize")
    (global.set $inits (i32.add (global.get $inits) (i32.const 1)))
    (drop (call $log (i32.const 1) (i32.const 32) (i32.const 12))))

  (func (export "wasmflow_abi_version") (result i32) (i32.const 1))

  (func (export "wasmflow_describe")
    (drop (call $declare_workflow (i32.const 0) (i32.const 2))))

  (func (export "wasmflow_run")
    (if (i32.ne (global.get $inits) (i32.const 1)) (then (unreachable)))
    (drop (call $complete (i32.const 16) (i32.const 11)))
    (unreachable)))
