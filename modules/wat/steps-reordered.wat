;; steps-reordered.wat: the `steps-reordered` test guest of
;; modules/TESTGUESTS.md: steps.wat with workflow "abc" running its steps in
;; the order a, c, b (and completing with ["a","c","b"]); only wasmflow_run
;; and that output differ. Resuming a run of steps.wat after step "b" with
;; this code must fail the run with nondeterminism.
;;
;; Memory layout: constant strings at fixed offsets (beside each). A step's
;; output is the 3 bytes "N" at 16+3i; its name is the middle byte.
(module
  (import "wasmflow" "declare_workflow" (func $declare_workflow (param i32 i32) (result i32)))
  (import "wasmflow" "step_begin" (func $step_begin (param i32 i32 i32 i32) (result i32)))
  (import "wasmflow" "step_end" (func $step_end (param i32 i32 i32) (result i32)))
  (import "wasmflow" "complete" (func $complete (param i32 i32) (result i32)))
  (import "wasmflow" "fail" (func $fail (param i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "abc")                       ;; 0, 3
  (data (i32.const 16) "\"a\"\"b\"\"c\"")          ;; outputs: a 16, b 19, c 22 (3 bytes each)
  (data (i32.const 32) "[\"a\",\"c\",\"b\"]")      ;; 32, 13
  (data (i32.const 48) "a step failed")            ;; 48, 13

  (func (export "wasmflow_abi_version") (result i32) (i32.const 1))

  (func (export "wasmflow_describe")
    (drop (call $declare_workflow (i32.const 0) (i32.const 3))))

  ;; $step runs the step whose output is the 3 bytes at out. StepRun (0):
  ;; record the output. StepDone (1): it is recorded; this guest knows it, so
  ;; there is nothing to read. StepFailed (2) cannot happen (the body never
  ;; fails), but would fail the run.
  (func $step (param $out i32)
    (local $r i32)
    (local.set $r (call $step_begin (i32.add (local.get $out) (i32.const 1)) (i32.const 1) (i32.const 0) (i32.const 0)))
    (if (i32.eqz (local.get $r))
      (then (drop (call $step_end (i32.const 0) (local.get $out) (i32.const 3)))))
    (if (i32.eq (local.get $r) (i32.const 2))
      (then (drop (call $fail (i32.const 48) (i32.const 13))) (unreachable))))

  ;; The workflow has one name; it need not be read.
  (func (export "wasmflow_run")
    (call $step (i32.const 16)) ;; a
    (call $step (i32.const 22)) ;; c
    (call $step (i32.const 19)) ;; b
    (drop (call $complete (i32.const 32) (i32.const 13)))
    (unreachable)))
