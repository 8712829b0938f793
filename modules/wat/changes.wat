;; changes.wat: patch markers (abi/ABI.md, section 5.10), written by hand
;; against the ABI with no SDK. Two workflows:
;;
;;   changed  asks changed("fix-1", 0) and changed("gone", 1, deprecated),
;;            runs step "s", awaits signal "go" (no timeout), asks
;;            changed("late", 0) and completes with the three answers as a
;;            JSON array: [1,1,1] for a new run, on every replay too (the
;;            markers "fix-1" and "late" are in its journal, "gone"
;;            recorded nothing).
;;   in_step  calls changed inside step "s": a guest fault. If the host ever
;;            returned, the run fails with "in_step: the host accepted
;;            changed inside a step".
;;
;; Memory layout: constant strings at fixed offsets (beside each); the
;; workflow's name is read to 256.
(module
  (import "wasmflow" "declare_workflow" (func $declare_workflow (param i32 i32) (result i32)))
  (import "wasmflow" "workflow" (func $workflow (result i32)))
  (import "wasmflow" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "wasmflow" "changed" (func $changed (param i32 i32 i32) (result i32)))
  (import "wasmflow" "step_begin" (func $step_begin (param i32 i32 i32 i32) (result i32)))
  (import "wasmflow" "step_end" (func $step_end (param i32 i32 i32) (result i32)))
  (import "wasmflow" "await_signal" (func $await_signal (param i32 i32 i64) (result i32)))
  (import "wasmflow" "complete" (func $complete (param i32 i32) (result i32)))
  (import "wasmflow" "fail" (func $fail (param i32 i32) (result i32)))

  (memory (export "memory") 1)
  (data (i32.const 0) "changed")                   ;; 0, 7
  (data (i32.const 16) "in_step")                  ;; 16, 7
  (data (i32.const 32) "fix-1")                    ;; 32, 5
  (data (i32.const 48) "gone")                     ;; 48, 4
  (data (i32.const 64) "s")                        ;; 64, 1
  (data (i32.const 68) "\"s\"")                    ;; 68, 3: the step's output
  (data (i32.const 80) "go")                       ;; 80, 2
  (data (i32.const 96) "[0,0,0]")                  ;; 96, 7: the digits at 97, 99 and 101
  (data (i32.const 104) "late")                    ;; 104, 4
  (data (i32.const 112) "in_step: the host accepted changed inside a step") ;; 112, 48

  (func (export "wasmflow_abi_version") (result i32) (i32.const 1))

  (func (export "wasmflow_describe")
    (drop (call $declare_workflow (i32.const 0) (i32.const 7)))
    (drop (call $declare_workflow (i32.const 16) (i32.const 7))))

  (func (export "wasmflow_run")
    (drop (call $result_read (i32.const 256) (call $workflow)))
    ;; The names differ in their first byte: 'c' or 'i'.
    (if (i32.eq (i32.load8_u (i32.const 256)) (i32.const 0x69))
      (then (call $in_step) (unreachable)))
    ;; changed answers 1 (take the new code) or 0 (the old): written as the
    ;; digits of the output.
    (i32.store8 (i32.const 97) (i32.add (i32.const 0x30)
      (call $changed (i32.const 32) (i32.const 5) (i32.const 0))))
    (i32.store8 (i32.const 99) (i32.add (i32.const 0x30)
      (call $changed (i32.const 48) (i32.const 4) (i32.const 1))))
    ;; StepRun (0): record the output; StepDone (1): it is recorded.
    (if (i32.eqz (call $step_begin (i32.const 64) (i32.const 1) (i32.const 0) (i32.const 0)))
      (then (drop (call $step_end (i32.const 0) (i32.const 68) (i32.const 3)))))
    (drop (call $await_signal (i32.const 80) (i32.const 2) (i64.const -1)))
    ;; A marker right before the end is written with the completion.
    (i32.store8 (i32.const 101) (i32.add (i32.const 0x30)
      (call $changed (i32.const 104) (i32.const 4) (i32.const 0))))
    (drop (call $complete (i32.const 96) (i32.const 7)))
    (unreachable))

  (func $in_step
    (drop (call $step_begin (i32.const 64) (i32.const 1) (i32.const 0) (i32.const 0)))
    (drop (call $changed (i32.const 32) (i32.const 5) (i32.const 0)))
    (drop (call $fail (i32.const 112) (i32.const 48)))
    (unreachable)))
