;; faults.wat: the `faults` test guest of modules/TESTGUESTS.md, written by
;; hand against abi/ABI.md (ABI v1) with no SDK. It declares one workflow per
;; behaviour the contract lists; each is a function $wf_NAME below.
;;
;; Memory layout:
;;   [0, 256)      workflow names: slot i (16 bytes at 16*i) holds the length
;;                 of name i in its first byte and the name after it. Slot i
;;                 names element i of the function table, so describing and
;;                 dispatching are loops over the slots.
;;   [256, 960)    constant strings (offset and length beside each).
;;   [960, 980)    digits of the number being formatted by $put_u64.
;;   [992, 996)    one more constant string, "ms" with its quotes.
;;   [1024, 1344)  more constant strings.
;;   [65536, ...)  the heap: a bump allocator ($alloc) that grows the memory
;;                 as needed and never frees (an instance lives for one
;;                 activation). Bytes copied out of the result register
;;                 ($read_result) and every output built with $put go there.
;;
;; JSON is written by appending pieces to the top of the heap ($put,
;; $put_u64: consecutive puts are contiguous) and read back with $find_int, a
;; minimal scan for a key and the decimal digits of its value.
;;
;; Steps follow ABI.md section 5.3: $begin calls step_begin; the body runs
;; only on StepRun and ends with $end (step_end). On StepDone the recorded
;; output is used and the body is not run again; on StepFailed the run fails
;; with the recorded message. Either way the step's output ends up in
;; $out_ptr/$out_len.
(module
  (import "wasmflow" "declare_workflow" (func $declare_workflow (param i32 i32) (result i32)))
  (import "wasmflow" "declare_workflow_options" (func $declare_workflow_options (param i32 i32 i32 i32) (result i32)))
  (import "wasmflow" "workflow" (func $workflow (result i32)))
  (import "wasmflow" "input" (func $input (result i32)))
  (import "wasmflow" "result_len" (func $result_len (result i32)))
  (import "wasmflow" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "wasmflow" "step_begin" (func $step_begin (param i32 i32 i32 i32) (result i32)))
  (import "wasmflow" "step_attempt" (func $step_attempt (result i32)))
  (import "wasmflow" "step_end" (func $step_end (param i32 i32 i32) (result i32)))
  (import "wasmflow" "cursor_set" (func $cursor_set (param i32 i32) (result i32)))
  (import "wasmflow" "checkpoint" (func $checkpoint (result i32)))
  (import "wasmflow" "effect_begin" (func $effect_begin (param i32 i32) (result i32)))
  (import "wasmflow" "effect_end" (func $effect_end (param i32 i32 i32) (result i32)))
  (import "wasmflow" "sleep" (func $sleep (param i32 i32 i64) (result i32)))
  (import "wasmflow" "await_signal" (func $await_signal (param i32 i32 i64) (result i32)))
  (import "wasmflow" "complete" (func $complete (param i32 i32) (result i32)))
  (import "wasmflow" "fail" (func $fail (param i32 i32) (result i32)))
  (import "wasmflow" "log" (func $log (param i32 i32 i32) (result i32)))

  (memory (export "memory") 2)

  ;; Workflow names, one 16-byte slot each: length byte, then the name.
  (data (i32.const 0) "\02ok")
  (data (i32.const 16) "\05panic")
  (data (i32.const 32) "\04loop")
  (data (i32.const 48) "\03oom")
  (data (i32.const 64) "\06badptr")
  (data (i32.const 80) "\05flaky")        ;; also the name of flaky's step: 81, 5
  (data (i32.const 96) "\06sleepy")
  (data (i32.const 112) "\07effects")     ;; also the name of effects' step: 113, 7
  (data (i32.const 128) "\05await")
  (data (i32.const 144) "\03big")
  (data (i32.const 160) "\06cursor")
  (data (i32.const 176) "\08isolated")
  (data (i32.const 192) "\0bcheckpoints")
  (data (i32.const 208) "\07patient")
  (data (i32.const 224) "\09in_effect")
  (data (i32.const 240) "\09advancing")
  (type $wf (func))
  (table 16 funcref)
  (elem (i32.const 0)
    $wf_ok $wf_panic $wf_loop $wf_oom $wf_badptr $wf_flaky
    $wf_sleepy $wf_effects $wf_await $wf_big $wf_cursor $wf_isolated
    $wf_checkpoints $wf_patient $wf_in_effect $wf_advancing)
  (global $workflows i32 (i32.const 16))

  ;; Constant strings: offset, length.
  (data (i32.const 256) "{\"ok\":true}")                                        ;; 256, 11
  (data (i32.const 272) "boom")                                               ;; 272, 4
  (data (i32.const 288) "badptr: the host accepted an out-of-bounds pointer") ;; 288, 50
  (data (i32.const 352) "unknown workflow")                                   ;; 352, 16
  (data (i32.const 384) "{\"max_attempts\":5,\"backoff_ms\":50,\"max_backoff_ms\":50}") ;; 384, 54
  (data (i32.const 448) "flaky: attempt ")                                    ;; 448, 15
  (data (i32.const 464) " fails")                                             ;; 464, 6
  (data (i32.const 480) "{\"attempt\":")                                      ;; 480, 11
  (data (i32.const 496) "},[]\"")                                             ;; } 496, "," 497, [ 498, ] 499, "\"" 500
  (data (i32.const 512) "nap")                                                ;; 512, 3
  (data (i32.const 528) "{\"slept\":true}")                                   ;; 528, 14
  (data (i32.const 544) "first")                                              ;; 544, 5
  (data (i32.const 560) "second")                                             ;; 560, 6
  (data (i32.const 576) "{\"first\":")                                        ;; 576, 9
  (data (i32.const 592) ",\"second\":")                                       ;; 592, 10
  (data (i32.const 608) "go")                                                 ;; 608, 2
  (data (i32.const 624) "\"timeout_ms\"")                                     ;; 624, 12
  (data (i32.const 640) "{\"timed_out\":true}")                               ;; 640, 18
  (data (i32.const 672) "\"bytes\"")                                          ;; 672, 7
  (data (i32.const 688) "\"items\"")                                          ;; 688, 7
  (data (i32.const 704) "count")                                              ;; 704, 5
  (data (i32.const 720) "{\"next\":")                                         ;; 720, 8
  (data (i32.const 736) ",\"sum\":")                                          ;; 736, 7
  (data (i32.const 752) "\"next\"")                                           ;; 752, 6
  (data (i32.const 768) "\"sum\"")                                            ;; 768, 5
  (data (i32.const 784) "{\"processed\":")                                    ;; 784, 13
  ;; isolated's steps: each output is the step's name as a JSON string, and
  ;; the name is that string without its quotes.
  (data (i32.const 800) "\"before\"")                                         ;; 800, 8 (name 801, 6)
  (data (i32.const 816) "\"alone\"")                                          ;; 816, 7 (name 817, 5)
  (data (i32.const 832) "\"after\"")                                          ;; 832, 7 (name 833, 5)
  (data (i32.const 848) "{\"isolated\":true}")                                ;; 848, 17
  (data (i32.const 880) "cannot grow memory")                                 ;; 880, 18
  (data (i32.const 912) "\"n\"")                                              ;; 912, 3
  (data (i32.const 928) "{\"checkpoints\":")                                  ;; 928, 15
  (data (i32.const 944) "spin")                                               ;; 944, 4
  (data (i32.const 992) "\"ms\"")                                             ;; 992, 4
  (data (i32.const 1024) "{\"resume_delay_ms\":300}")                          ;; 1024, 23
  (data (i32.const 1056) "pay")                                               ;; 1056, 3
  (data (i32.const 1064) "charge")                                            ;; 1064, 6
  (data (i32.const 1072) "\"checkpoint\"")                                     ;; 1072, 12
  (data (i32.const 1088) "in_effect: the host accepted a checkpoint inside an effect") ;; 1088, 58
  (data (i32.const 1148) "1")                                                 ;; 1148, 1
  (data (i32.const 1152) "advance")                                           ;; 1152, 7
  (data (i32.const 1168) "{\"max_attempts\":1,\"backoff_ms\":20,\"max_backoff_ms\":20,\"resume_errors_after_advancing\":true}") ;; 1168, 91
  (data (i32.const 1280) "advancing: failed after item ")                     ;; 1280, 29
  (data (i32.const 1312) ",\"items\":")                                        ;; 1312, 9

  (global $heap (mut i32) (i32.const 65536))
  (global $out_ptr (mut i32) (i32.const 0))
  (global $out_len (mut i32) (i32.const 0))

  (func (export "wasmflow_abi_version") (result i32) (i32.const 1))

  (func (export "wasmflow_describe")
    (local $i i32)
    (loop $each
      (drop (call $declare_workflow
        (i32.add (i32.mul (local.get $i) (i32.const 16)) (i32.const 1))
        (i32.load8_u (i32.mul (local.get $i) (i32.const 16)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (global.get $workflows))))
    ;; patient waits 300 ms before it resumes after an interrupt.
    (drop (call $declare_workflow_options (i32.const 209) (i32.const 7) (i32.const 1024) (i32.const 23))))

  ;; wasmflow_run reads the workflow's name and calls the function in the
  ;; table slot of the name that matches. Every $wf_ function ends the run.
  (func (export "wasmflow_run")
    (local $p i32) (local $n i32) (local $i i32)
    (drop (call $workflow))
    (call $read_result)
    (local.set $n)
    (local.set $p)
    (loop $each
      (if (call $eq (local.get $p) (local.get $n)
            (i32.add (i32.mul (local.get $i) (i32.const 16)) (i32.const 1))
            (i32.load8_u (i32.mul (local.get $i) (i32.const 16))))
        (then (call_indirect (type $wf) (local.get $i)) (unreachable)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $each (i32.lt_u (local.get $i) (global.get $workflows))))
    (drop (call $fail (i32.const 352) (i32.const 16)))
    (unreachable))

  ;; ---- Workflows ----

  ;; ok completes with {"ok":true}.
  (func $wf_ok
    (drop (call $complete (i32.const 256) (i32.const 11)))
    (unreachable))

  ;; panic fails the run with "boom" (a guest without an SDK has no panic).
  (func $wf_panic
    (drop (call $fail (i32.const 272) (i32.const 4)))
    (unreachable))

  ;; loop spins for ever without calling the host: the host must stop it at
  ;; the activation time limit.
  (func $wf_loop
    (loop $spin (br $spin)))

  ;; oom grows the memory by 1, 2, 4, ... pages until memory.grow fails, then
  ;; by halving counts down to one page so that the memory ends exactly at the
  ;; host's limit whatever it is, and dies (a trap).
  (func $wf_oom
    (local $n i32)
    (local.set $n (i32.const 1))
    (block $full
      (loop $double
        (br_if $full (i32.eq (memory.grow (local.get $n)) (i32.const -1)))
        (local.set $n (i32.shl (local.get $n) (i32.const 1)))
        (br $double)))
    (loop $halve
      (local.set $n (i32.shr_u (local.get $n) (i32.const 1)))
      (if (i32.ne (local.get $n) (i32.const 0))
        (then
          (drop (memory.grow (local.get $n)))
          (br $halve))))
    (unreachable))

  ;; badptr logs 1024 bytes from 0xFFFFFF00, far outside its memory: the host
  ;; must fail the run. If the call returns, the run fails with a message
  ;; saying so.
  (func $wf_badptr
    (drop (call $log (i32.const 1) (i32.const 0xFFFFFF00) (i32.const 1024)))
    (drop (call $fail (i32.const 288) (i32.const 50)))
    (unreachable))

  ;; flaky runs step "flaky" (max_attempts 5, backoff 50 ms capped at 50 ms)
  ;; whose body fails on attempts 1 and 2 with "flaky: attempt N fails" and
  ;; returns the attempt number on attempt 3. Completes with {"attempt":N}.
  (func $wf_flaky
    (local $a i32) (local $m i32)
    (if (call $begin (i32.const 81) (i32.const 5) (i32.const 384) (i32.const 54))
      (then
        (local.set $a (call $step_attempt))
        (local.set $m (global.get $heap))
        (if (i32.lt_u (local.get $a) (i32.const 3))
          (then
            (call $put (i32.const 448) (i32.const 15))
            (call $put_u64 (i64.extend_i32_u (local.get $a)))
            (call $put (i32.const 464) (i32.const 6))
            (call $end (i32.const 1) (local.get $m) (i32.sub (global.get $heap) (local.get $m))))
          (else
            (call $put_u64 (i64.extend_i32_u (local.get $a)))
            (call $end (i32.const 0) (local.get $m) (i32.sub (global.get $heap) (local.get $m)))))))
    ;; The step's output (a JSON number) goes into the run's output as is.
    (local.set $m (global.get $heap))
    (call $put (i32.const 480) (i32.const 11))
    (call $put (global.get $out_ptr) (global.get $out_len))
    (call $put (i32.const 496) (i32.const 1))
    (call $complete_heap (local.get $m)))

  ;; sleepy sleeps the input's "ms" milliseconds (default 200) on timer
  ;; "nap" and completes with {"slept":true}.
  (func $wf_sleepy
    (local $p i32) (local $n i32)
    (call $read_input)
    (local.set $n)
    (local.set $p)
    (drop (call $sleep (i32.const 512) (i32.const 3)
      (call $find_int (local.get $p) (local.get $n) (i32.const 992) (i32.const 4) (i64.const 200))))
    (drop (call $complete (i32.const 528) (i32.const 14)))
    (unreachable))

  ;; effects runs step "effects" with effects "first" and "second"; each
  ;; effect's result is its idempotency key (a JSON string). The step's
  ;; output, {"first":KEY1,"second":KEY2}, is the run's output.
  (func $wf_effects
    (local $p1 i32) (local $n1 i32) (local $p2 i32) (local $n2 i32) (local $m i32)
    (if (call $begin (i32.const 113) (i32.const 7) (i32.const 0) (i32.const 0))
      (then
        (call $effect (i32.const 544) (i32.const 5))
        (local.set $n1)
        (local.set $p1)
        (call $effect (i32.const 560) (i32.const 6))
        (local.set $n2)
        (local.set $p2)
        (local.set $m (global.get $heap))
        (call $put (i32.const 576) (i32.const 9))
        (call $put (local.get $p1) (local.get $n1))
        (call $put (i32.const 592) (i32.const 10))
        (call $put (local.get $p2) (local.get $n2))
        (call $put (i32.const 496) (i32.const 1))
        (call $end (i32.const 0) (local.get $m) (i32.sub (global.get $heap) (local.get $m)))))
    (drop (call $complete (global.get $out_ptr) (global.get $out_len)))
    (unreachable))

  ;; await waits for signal "go", with the input's "timeout_ms" as timeout
  ;; (absent: no timeout, -1), and completes with the signal's payload or
  ;; {"timed_out":true}.
  (func $wf_await
    (local $p i32) (local $n i32) (local $timeout i64)
    (call $read_input)
    (local.set $n)
    (local.set $p)
    (local.set $timeout (call $find_int (local.get $p) (local.get $n) (i32.const 624) (i32.const 12) (i64.const -1)))
    (if (i32.eqz (call $await_signal (i32.const 608) (i32.const 2) (local.get $timeout)))
      (then
        ;; SignalReceived: the register holds the payload.
        (call $read_result)
        (local.set $n)
        (local.set $p)
        (drop (call $complete (local.get $p) (local.get $n)))
        (unreachable)))
    (drop (call $complete (i32.const 640) (i32.const 18)))
    (unreachable))

  ;; big completes with a JSON string of the input's "bytes" x characters.
  (func $wf_big
    (local $p i32) (local $n i32)
    (call $read_input)
    (local.set $n)
    (local.set $p)
    (local.set $n (i32.wrap_i64 (call $find_int (local.get $p) (local.get $n) (i32.const 672) (i32.const 7) (i64.const 0))))
    (local.set $p (call $alloc (i32.add (local.get $n) (i32.const 2))))
    (i32.store8 (local.get $p) (i32.const 34)) ;; "
    (memory.fill (i32.add (local.get $p) (i32.const 1)) (i32.const 120) (local.get $n)) ;; x
    (i32.store8 (i32.add (i32.add (local.get $p) (i32.const 1)) (local.get $n)) (i32.const 34))
    (drop (call $complete (local.get $p) (i32.add (local.get $n) (i32.const 2))))
    (unreachable))

  ;; cursor runs step "count" over the input's "items" (default 100) items.
  ;; Its cursor is {"next":I,"sum":S}: the body starts from the saved cursor
  ;; (none: 0 and 0), adds each item I from next to items-1 to sum and saves
  ;; the cursor after each one; its output is the final cursor. Completes with
  ;; {"processed":NEXT,"sum":SUM} read from the step's output.
  (func $wf_cursor
    (local $items i64) (local $next i64) (local $sum i64) (local $p i32) (local $n i32) (local $m i32)
    (call $read_input)
    (local.set $n)
    (local.set $p)
    (local.set $items (call $find_int (local.get $p) (local.get $n) (i32.const 688) (i32.const 7) (i64.const 100)))
    (if (call $begin (i32.const 704) (i32.const 5) (i32.const 0) (i32.const 0))
      (then
        ;; StepRun: the register holds the saved cursor, or nothing.
        (call $read_result)
        (local.set $n)
        (local.set $p)
        (local.set $next (call $find_int (local.get $p) (local.get $n) (i32.const 752) (i32.const 6) (i64.const 0)))
        (local.set $sum (call $find_int (local.get $p) (local.get $n) (i32.const 768) (i32.const 5) (i64.const 0)))
        (block $done
          (loop $item
            (br_if $done (i64.ge_s (local.get $next) (local.get $items)))
            (local.set $sum (i64.add (local.get $sum) (local.get $next)))
            (local.set $next (i64.add (local.get $next) (i64.const 1)))
            ;; Build the cursor on the heap, save it, and give the space back.
            (local.set $m (global.get $heap))
            (call $put_cursor (local.get $next) (local.get $sum))
            (drop (call $cursor_set (local.get $m) (i32.sub (global.get $heap) (local.get $m))))
            (global.set $heap (local.get $m))
            (br $item)))
        (local.set $m (global.get $heap))
        (call $put_cursor (local.get $next) (local.get $sum))
        (call $end (i32.const 0) (local.get $m) (i32.sub (global.get $heap) (local.get $m)))))
    (local.set $next (call $find_int (global.get $out_ptr) (global.get $out_len) (i32.const 752) (i32.const 6) (i64.const 0)))
    (local.set $sum (call $find_int (global.get $out_ptr) (global.get $out_len) (i32.const 768) (i32.const 5) (i64.const 0)))
    (local.set $m (global.get $heap))
    (call $put (i32.const 784) (i32.const 13))
    (call $put_u64 (local.get $next))
    (call $put (i32.const 736) (i32.const 7))
    (call $put_u64 (local.get $sum))
    (call $put (i32.const 496) (i32.const 1))
    (call $complete_heap (local.get $m)))

  ;; patient is cursor, declared with a resume delay of 300 ms.
  (func $wf_patient (call $wf_cursor))

  ;; in_effect begins step "pay" and its effect "charge", and then, inside
  ;; the effect, checkpoints (input {"checkpoint": 1}) or saves the cursor
  ;; 1: the host must fail the run there. If it returned, the run fails
  ;; with a message saying so.
  (func $wf_in_effect
    (local $p i32) (local $n i32)
    (call $read_input)
    (local.set $n)
    (local.set $p)
    (if (call $begin (i32.const 1056) (i32.const 3) (i32.const 0) (i32.const 0))
      (then
        (drop (call $effect_begin (i32.const 1064) (i32.const 6)))
        (if (i64.eq (call $find_int (local.get $p) (local.get $n) (i32.const 1072) (i32.const 12) (i64.const 0)) (i64.const 1))
          (then (drop (call $checkpoint)))
          (else (drop (call $cursor_set (i32.const 1148) (i32.const 1)))))))
    (drop (call $fail (i32.const 1088) (i32.const 58)))
    (unreachable))

  ;; advancing runs step "advance" (one attempt, resume_errors_after_advancing)
  ;; over the input's "items" (default 3). Its cursor is an integer I (none:
  ;; 0): while I < items the body saves I+1 and fails with "advancing:
  ;; failed after item I"; then it returns its attempt number. Completes
  ;; with {"attempt":A,"items":ITEMS}.
  (func $wf_advancing
    (local $items i64) (local $i i64) (local $p i32) (local $n i32) (local $m i32)
    (call $read_input)
    (local.set $n)
    (local.set $p)
    (local.set $items (call $find_int (local.get $p) (local.get $n) (i32.const 688) (i32.const 7) (i64.const 3)))
    (if (call $begin (i32.const 1152) (i32.const 7) (i32.const 1168) (i32.const 91))
      (then
        (call $read_result)
        (local.set $n)
        (local.set $p)
        (if (local.get $n) (then (local.set $i (call $parse_u64 (local.get $p) (local.get $n)))))
        (if (i64.lt_s (local.get $i) (local.get $items))
          (then
            (local.set $m (global.get $heap))
            (call $put_u64 (i64.add (local.get $i) (i64.const 1)))
            (drop (call $cursor_set (local.get $m) (i32.sub (global.get $heap) (local.get $m))))
            (local.set $m (global.get $heap))
            (call $put (i32.const 1280) (i32.const 29))
            (call $put_u64 (local.get $i))
            ;; The host resumes the step later: step_end does not return.
            (call $end (i32.const 1) (local.get $m) (i32.sub (global.get $heap) (local.get $m)))
            (unreachable)))
        (local.set $m (global.get $heap))
        (call $put_u64 (i64.extend_i32_u (call $step_attempt)))
        (call $end (i32.const 0) (local.get $m) (i32.sub (global.get $heap) (local.get $m)))))
    (local.set $m (global.get $heap))
    (call $put (i32.const 480) (i32.const 11))
    (call $put (global.get $out_ptr) (global.get $out_len))
    (call $put (i32.const 1312) (i32.const 9))
    (call $put_u64 (local.get $items))
    (call $put (i32.const 496) (i32.const 1))
    (call $complete_heap (local.get $m)))

  ;; $put_cursor appends {"next":NEXT,"sum":SUM} to the heap.
  (func $put_cursor (param $next i64) (param $sum i64)
    (call $put (i32.const 720) (i32.const 8))
    (call $put_u64 (local.get $next))
    (call $put (i32.const 736) (i32.const 7))
    (call $put_u64 (local.get $sum))
    (call $put (i32.const 496) (i32.const 1)))

  ;; isolated runs steps "before", "alone" (isolated) and "after", each
  ;; returning its name, and completes with the array of their outputs.
  (func $wf_isolated
    (local $p1 i32) (local $n1 i32) (local $p2 i32) (local $n2 i32) (local $p3 i32) (local $n3 i32) (local $m i32)
    (call $named_step (i32.const 800) (i32.const 8) (i32.const 0) (i32.const 0))
    (local.set $n1)
    (local.set $p1)
    (call $named_step (i32.const 816) (i32.const 7) (i32.const 848) (i32.const 17))
    (local.set $n2)
    (local.set $p2)
    (call $named_step (i32.const 832) (i32.const 7) (i32.const 0) (i32.const 0))
    (local.set $n3)
    (local.set $p3)
    (local.set $m (global.get $heap))
    (call $put (i32.const 498) (i32.const 1))
    (call $put (local.get $p1) (local.get $n1))
    (call $put (i32.const 497) (i32.const 1))
    (call $put (local.get $p2) (local.get $n2))
    (call $put (i32.const 497) (i32.const 1))
    (call $put (local.get $p3) (local.get $n3))
    (call $put (i32.const 499) (i32.const 1))
    (call $complete_heap (local.get $m)))

;; checkpoints runs step "spin", whose body calls checkpoint the input's
  ;; "n" times (default 1000) and returns n; it completes with
  ;; {"checkpoints":N} read from the step's output. It measures the cost of
  ;; one checkpoint host call.
  (func $wf_checkpoints
    (local $n i64) (local $i i64) (local $p i32) (local $len i32) (local $m i32)
    (call $read_input)
    (local.set $len)
    (local.set $p)
    (local.set $n (call $find_int (local.get $p) (local.get $len) (i32.const 912) (i32.const 3) (i64.const 1000)))
    (if (call $begin (i32.const 944) (i32.const 4) (i32.const 0) (i32.const 0))
      (then
        (block $done
          (loop $again
            (br_if $done (i64.ge_s (local.get $i) (local.get $n)))
            (drop (call $checkpoint))
            (local.set $i (i64.add (local.get $i) (i64.const 1)))
            (br $again)))
        (local.set $m (global.get $heap))
        (call $put_u64 (local.get $n))
        (call $end (i32.const 0) (local.get $m) (i32.sub (global.get $heap) (local.get $m)))))
    ;; The step's output is the bare number.
    (local.set $n (call $parse_u64 (global.get $out_ptr) (global.get $out_len)))
    (local.set $m (global.get $heap))
    (call $put (i32.const 928) (i32.const 15))
    (call $put_u64 (local.get $n))
    (call $put (i32.const 496) (i32.const 1))
    (call $complete_heap (local.get $m)))

  ;; $named_step runs a step whose output is the JSON string at (quoted,
  ;; quoted_len) and whose name is that string without its quotes, with
  ;; options (opts, opts_len); it returns the step's output.
  (func $named_step (param $quoted i32) (param $quoted_len i32) (param $opts i32) (param $opts_len i32) (result i32 i32)
    (if (call $begin
          (i32.add (local.get $quoted) (i32.const 1)) (i32.sub (local.get $quoted_len) (i32.const 2))
          (local.get $opts) (local.get $opts_len))
      (then (call $end (i32.const 0) (local.get $quoted) (local.get $quoted_len))))
    (global.get $out_ptr)
    (global.get $out_len))

  ;; ---- Steps and effects ----

  ;; $begin begins step (name, name_len) with options (opts, opts_len) and
  ;; returns 1 if its body must run (StepRun: the register holds the saved
  ;; cursor, or nothing; the body ends with $end). Otherwise it returns 0 with
  ;; the recorded output in $out_ptr/$out_len (StepDone), or fails the run
  ;; with the recorded error (StepFailed).
  (func $begin (param $name i32) (param $name_len i32) (param $opts i32) (param $opts_len i32) (result i32)
    (local $r i32) (local $p i32) (local $n i32)
    (local.set $r (call $step_begin (local.get $name) (local.get $name_len) (local.get $opts) (local.get $opts_len)))
    (if (i32.eqz (local.get $r)) (then (return (i32.const 1))))
    (call $read_result)
    (local.set $n)
    (local.set $p)
    (if (i32.eq (local.get $r) (i32.const 1))
      (then
        (global.set $out_ptr (local.get $p))
        (global.set $out_len (local.get $n))
        (return (i32.const 0))))
    (drop (call $fail (local.get $p) (local.get $n)))
    (unreachable))

  ;; $end ends the running body with status 0 (EndOK: (ptr, len) is the
  ;; output, left in $out_ptr/$out_len) or 1 (EndError: (ptr, len) is the
  ;; message). An error with attempts left does not return: the host
  ;; schedules the retry and ends the activation. If step_end returns after an
  ;; error, the step failed for good and the run fails with the message.
  (func $end (param $status i32) (param $ptr i32) (param $len i32)
    (drop (call $step_end (local.get $status) (local.get $ptr) (local.get $len)))
    (if (local.get $status)
      (then
        (drop (call $fail (local.get $ptr) (local.get $len)))
        (unreachable)))
    (global.set $out_ptr (local.get $ptr))
    (global.set $out_len (local.get $len)))

  ;; $effect runs the running step's next effect (name, name_len), whose
  ;; result is its idempotency key as a JSON string, and returns the result:
  ;; recorded (EffectDone), or made from the key in the register (EffectRun,
  ;; EffectRerun) and recorded with effect_end.
  (func $effect (param $name i32) (param $name_len i32) (result i32 i32)
    (local $r i32) (local $p i32) (local $n i32) (local $m i32)
    (local.set $r (call $effect_begin (local.get $name) (local.get $name_len)))
    (call $read_result)
    (local.set $n)
    (local.set $p)
    (if (i32.eq (local.get $r) (i32.const 1))
      (then (return (local.get $p) (local.get $n))))
    (local.set $m (global.get $heap))
    (call $put (i32.const 500) (i32.const 1))
    (call $put (local.get $p) (local.get $n))
    (call $put (i32.const 500) (i32.const 1))
    (local.set $n (i32.sub (global.get $heap) (local.get $m)))
    (drop (call $effect_end (i32.const 0) (local.get $m) (local.get $n)))
    (local.get $m)
    (local.get $n))

  ;; ---- Memory, bytes and JSON ----

  ;; $alloc reserves n bytes at the top of the heap, growing the memory if
  ;; needed, and returns their offset. It fails the run if the memory cannot
  ;; grow.
  (func $alloc (param $n i32) (result i32)
    (local $p i32) (local $end i64) (local $pages i64)
    (local.set $p (global.get $heap))
    (local.set $end (i64.add (i64.extend_i32_u (local.get $p)) (i64.extend_i32_u (local.get $n))))
    ;; Pages needed to hold [0, end), minus the pages there are.
    (local.set $pages
      (i64.sub
        (i64.shr_u (i64.add (local.get $end) (i64.const 65535)) (i64.const 16))
        (i64.extend_i32_u (memory.size))))
    (if (i64.gt_s (local.get $pages) (i64.const 0))
      (then
        (if (i32.or
              (i64.gt_u (local.get $pages) (i64.const 65536))
              (i32.eq (memory.grow (i32.wrap_i64 (local.get $pages))) (i32.const -1)))
          (then
            (drop (call $fail (i32.const 880) (i32.const 18)))
            (unreachable)))))
    (global.set $heap (i32.wrap_i64 (local.get $end)))
    (local.get $p))

  ;; $read_result copies the result register to the heap and returns the
  ;; bytes' offset and length.
  (func $read_result (result i32 i32)
    (local $p i32) (local $n i32)
    (local.set $n (call $result_len))
    (local.set $p (call $alloc (local.get $n)))
    (if (local.get $n)
      (then (drop (call $result_read (local.get $p) (local.get $n)))))
    (local.get $p)
    (local.get $n))

  ;; $read_input returns the run's input (JSON text), copied to the heap.
  (func $read_input (result i32 i32)
    (drop (call $input))
    (call $read_result))

  ;; $complete_heap completes the run with the bytes from m to the top of the
  ;; heap.
  (func $complete_heap (param $m i32)
    (drop (call $complete (local.get $m) (i32.sub (global.get $heap) (local.get $m))))
    (unreachable))

  ;; $put appends len bytes from src to the heap.
  (func $put (param $src i32) (param $len i32)
    (memory.copy (call $alloc (local.get $len)) (local.get $src) (local.get $len)))

  ;; $put_u64 appends v, unsigned, in decimal to the heap. The digits are
  ;; written backwards into [960, 980) first.
  (func $put_u64 (param $v i64)
    (local $p i32)
    (local.set $p (i32.const 980))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p) (i64.add (i64.rem_u (local.get $v) (i64.const 10)) (i64.const 48)))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (call $put (local.get $p) (i32.sub (i32.const 980) (local.get $p))))

  ;; $eq reports whether the bytes (a, a_len) and (b, b_len) are equal.
  (func $eq (param $a i32) (param $a_len i32) (param $b i32) (param $b_len i32) (result i32)
    (local $i i32)
    (if (i32.ne (local.get $a_len) (local.get $b_len)) (then (return (i32.const 0))))
    (block $differ
      (loop $byte
        (if (i32.eq (local.get $i) (local.get $a_len)) (then (return (i32.const 1))))
        (br_if $differ
          (i32.ne
            (i32.load8_u (i32.add (local.get $a) (local.get $i)))
            (i32.load8_u (i32.add (local.get $b) (local.get $i)))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $byte)))
    (i32.const 0))

  ;; $skip_space returns the offset of the first byte from p on that is not
  ;; JSON whitespace, or end.
  (func $skip_space (param $p i32) (param $end i32) (result i32)
    (local $c i32)
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (br_if $done
          (i32.eqz
            (i32.or
              (i32.or (i32.eq (local.get $c) (i32.const 32)) (i32.eq (local.get $c) (i32.const 9)))
              (i32.or (i32.eq (local.get $c) (i32.const 10)) (i32.eq (local.get $c) (i32.const 13))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $byte)))
    (local.get $p))

  ;; $find_int scans the JSON text (p, n) for the key (key, key_len), given
  ;; with its quotes, followed by a colon and decimal digits, and returns
  ;; their value; it returns default if there is no such key. This is not a
  ;; JSON parser: it is enough for the flat objects this guest reads (its
  ;; input, and the cursors and outputs it wrote itself).
;; $parse_u64 reads the decimal digits at the start of (p, n), after any
  ;; white space.
  (func $parse_u64 (param $p i32) (param $n i32) (result i64)
    (local $end i32) (local $c i32) (local $v i64)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $p (call $skip_space (local.get $p) (local.get $end)))
    (block $done
      (loop $digit
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.sub (i32.load8_u (local.get $p)) (i32.const 48)))
        (br_if $done (i32.gt_u (local.get $c) (i32.const 9)))
        (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.extend_i32_u (local.get $c))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $digit)))
    (local.get $v))

  (func $find_int (param $p i32) (param $n i32) (param $key i32) (param $key_len i32) (param $default i64) (result i64)
    (local $end i32) (local $i i32) (local $j i32) (local $c i32) (local $v i64)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (local.set $i (local.get $p))
    (block $not_found
      (loop $search
        (br_if $not_found (i32.gt_u (i32.add (local.get $i) (local.get $key_len)) (local.get $end)))
        (if (call $eq (local.get $i) (local.get $key_len) (local.get $key) (local.get $key_len))
          (then
            (local.set $j (call $skip_space (i32.add (local.get $i) (local.get $key_len)) (local.get $end)))
            (if (i32.lt_u (local.get $j) (local.get $end))
              (then
                (if (i32.eq (i32.load8_u (local.get $j)) (i32.const 58)) ;; :
                  (then
                    (local.set $j (call $skip_space (i32.add (local.get $j) (i32.const 1)) (local.get $end)))
                    (local.set $i (local.get $j))
                    (local.set $v (i64.const 0))
                    (block $digits_end
                      (loop $digit
                        (br_if $digits_end (i32.ge_u (local.get $j) (local.get $end)))
                        (local.set $c (i32.sub (i32.load8_u (local.get $j)) (i32.const 48)))
                        (br_if $digits_end (i32.gt_u (local.get $c) (i32.const 9)))
                        (local.set $v (i64.add (i64.mul (local.get $v) (i64.const 10)) (i64.extend_i32_u (local.get $c))))
                        (local.set $j (i32.add (local.get $j) (i32.const 1)))
                        (br $digit)))
                    ;; At least one digit: that is the value.
                    (if (i32.gt_u (local.get $j) (local.get $i))
                      (then (return (local.get $v))))))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $search)))
    (local.get $default)))
