;; counter.wat: a wasmflow guest written by hand against abi/ABI.md (ABI v1),
;; with no SDK. It offers one workflow, "count": three steps "one", "two" and
;; "three" run in order, each recording a small JSON output ("1", "2", "3");
;; step "two" also runs one effect "e". The run completes with {"done":3}.
;; On replay (StepDone) each step's recorded output is read back from the
;; result register into a scratch area and checked.
(module
  (import "wasmflow" "declare_workflow" (func $declare_workflow (param i32 i32) (result i32)))
  (import "wasmflow" "workflow" (func $workflow (result i32)))
  (import "wasmflow" "result_len" (func $result_len (result i32)))
  (import "wasmflow" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "wasmflow" "step_begin" (func $step_begin (param i32 i32 i32 i32) (result i32)))
  (import "wasmflow" "step_end" (func $step_end (param i32 i32 i32) (result i32)))
  (import "wasmflow" "effect_begin" (func $effect_begin (param i32 i32) (result i32)))
  (import "wasmflow" "effect_end" (func $effect_end (param i32 i32 i32) (result i32)))
  (import "wasmflow" "complete" (func $complete (param i32 i32) (result i32)))
  (import "wasmflow" "fail" (func $fail (param i32 i32) (result i32)))

  (memory (export "memory") 1)

  ;; Strings. Offsets and lengths are repeated at the call sites below.
  (data (i32.const 0) "count")                       ;; 0, 5
  (data (i32.const 16) "one")                        ;; 16, 3
  (data (i32.const 32) "two")                        ;; 32, 3
  (data (i32.const 48) "three")                      ;; 48, 5
  (data (i32.const 64) "e")                          ;; 64, 1
  (data (i32.const 80) "123")                        ;; step outputs: 80, 81, 82 (1 byte each)
  (data (i32.const 96) "\"sent\"")                   ;; effect result: 96, 6
  (data (i32.const 112) "{\"done\":3}")              ;; run output: 112, 10
  (data (i32.const 128) "unknown workflow")          ;; 128, 16
  (data (i32.const 160) "step failed")               ;; 160, 11
  (data (i32.const 176) "recorded output differs")   ;; 176, 23
  (data (i32.const 208) "result too large")          ;; 208, 16

  ;; Scratch area for bytes copied out of the result register.
  (global $scratch i32 (i32.const 1024))
  (global $scratch_cap i32 (i32.const 64512)) ;; 65536 - 1024

  (func (export "wasmflow_abi_version") (result i32) (i32.const 1))

  (func (export "wasmflow_describe")
    (drop (call $declare_workflow (i32.const 0) (i32.const 5))))

  ;; $read_result copies the result register into the scratch area and
  ;; returns its length; it fails the run if the bytes do not fit.
  (func $read_result (result i32)
    (local $n i32)
    (local.set $n (call $result_len))
    (if (i32.gt_u (local.get $n) (global.get $scratch_cap))
      (then (drop (call $fail (i32.const 208) (i32.const 16))) (unreachable)))
    (drop (call $result_read (global.get $scratch) (local.get $n)))
    (local.get $n))

  ;; $step runs one step named (name_ptr, name_len) whose output is the one
  ;; byte at out_ptr; with_effect != 0 runs effect "e" inside its body.
  (func $step (param $name_ptr i32) (param $name_len i32) (param $out_ptr i32) (param $with_effect i32)
    (local $r i32)
    (local.set $r (call $step_begin (local.get $name_ptr) (local.get $name_len) (i32.const 0) (i32.const 0)))
    ;; StepRun (0): run the body, then step_end.
    (if (i32.eqz (local.get $r))
      (then
        (if (local.get $with_effect)
          (then
            ;; EffectRun (0) and EffectRerun (2): execute (here: nothing to
            ;; do) with the key in the register, then record the outcome.
            ;; EffectDone (1): the result is recorded; read it, do not end.
            (if (i32.eq (call $effect_begin (i32.const 64) (i32.const 1)) (i32.const 1))
              (then (drop (call $read_result)))
              (else
                (drop (call $read_result)) ;; the idempotency key
                (drop (call $effect_end (i32.const 0) (i32.const 96) (i32.const 6)))))))
        (drop (call $step_end (i32.const 0) (local.get $out_ptr) (i32.const 1)))
        (return)))
    ;; StepDone (1): the recorded output is in the register.
    (if (i32.eq (local.get $r) (i32.const 1))
      (then
        (if (i32.or
              (i32.ne (call $read_result) (i32.const 1))
              (i32.ne (i32.load8_u (global.get $scratch)) (i32.load8_u (local.get $out_ptr))))
          (then (drop (call $fail (i32.const 176) (i32.const 23))) (unreachable)))
        (return)))
    ;; StepFailed (2): failed for good.
    (drop (call $fail (i32.const 160) (i32.const 11)))
    (unreachable))

  (func (export "wasmflow_run")
    ;; Check that the workflow to run is "count".
    (if (i32.or
          (i32.ne (call $workflow) (i32.const 5))
          (i32.or
            (i32.ne (block (result i32) (drop (call $read_result)) (i32.load (global.get $scratch))) (i32.load (i32.const 0)))
            (i32.ne (i32.load8_u (i32.add (global.get $scratch) (i32.const 4))) (i32.load8_u (i32.const 4)))))
      (then (drop (call $fail (i32.const 128) (i32.const 16))) (unreachable)))
    (call $step (i32.const 16) (i32.const 3) (i32.const 80) (i32.const 0))
    (call $step (i32.const 32) (i32.const 3) (i32.const 81) (i32.const 1))
    (call $step (i32.const 48) (i32.const 5) (i32.const 82) (i32.const 0))
    (drop (call $complete (i32.const 112) (i32.const 10)))
    (unreachable)))
