;; children.wat: the `children` test guest of modules/TESTGUESTS.md, written
;; by hand against abi/ABI.md (ABI v1, section 5.9: child_start and
;; child_await) with no SDK. It declares one workflow per behaviour the
;; contract lists; each is a function $wf_NAME below. Every child it starts
;; is of this same module (the request names no module).
;;
;; The guest does not export wasmflow_resume, so the host never answers it
;; Park: where a run waits (child_await, sleep) the host ends the call, and
;; the next activation replays.
;;
;; Memory layout:
;;   [0, 144)      workflow names: slot i (16 bytes at 16*i) holds the length
;;                 of name i in its first byte and the name after it. Slot i
;;                 names element i of the function table, so describing and
;;                 dispatching are loops over the slots.
;;   [256, 1336)   constant strings (offset and length beside each), but for
;;   [992, 1012)   the digits of the number being formatted by $put_u64.
;;   [65536, ...)  the heap: a bump allocator ($alloc) that grows the memory
;;                 as needed and never frees (an instance lives for one
;;                 activation). Bytes copied out of the result register
;;                 ($read_result), requests, id arrays and outputs go there.
;;
;; Children started by one workflow are kept in a table on the heap: entry
;; k is 8 bytes, the offset and the length of child k's id (copied from the
;; register after child_start answered ChildStarted). $await builds the
;; JSON array of those ids that child_await takes, so a fan-out has no
;; fixed bound on its children.
;;
;; JSON is written by appending pieces to the top of the heap ($put,
;; $put_u64, $put_json_string: consecutive puts are contiguous) and read
;; back with small scans ($find_int, $find_str, $contains, $count): not a
;; JSON parser, but enough for the flat input objects and for the compact
;; answers of child_await, whose keys and values this guest knows.
(module
  (import "wasmflow" "declare_workflow" (func $declare_workflow (param i32 i32) (result i32)))
  (import "wasmflow" "workflow" (func $workflow (result i32)))
  (import "wasmflow" "input" (func $input (result i32)))
  (import "wasmflow" "result_len" (func $result_len (result i32)))
  (import "wasmflow" "result_read" (func $result_read (param i32 i32) (result i32)))
  (import "wasmflow" "step_begin" (func $step_begin (param i32 i32 i32 i32) (result i32)))
  (import "wasmflow" "step_end" (func $step_end (param i32 i32 i32) (result i32)))
  (import "wasmflow" "sleep" (func $sleep (param i32 i32 i64) (result i32)))
  (import "wasmflow" "now" (func $now (result i64)))
  (import "wasmflow" "child_start" (func $child_start (param i32 i32) (result i32)))
  (import "wasmflow" "child_await" (func $child_await (param i32 i32 i32 i64) (result i32)))
  (import "wasmflow" "complete" (func $complete (param i32 i32) (result i32)))
  (import "wasmflow" "fail" (func $fail (param i32 i32) (result i32)))

  (memory (export "memory") 2)

  ;; Workflow names, one 16-byte slot each: length byte, then the name.
  (data (i32.const 0) "\06square")        ;; also the name of square's step: 1, 6
  (data (i32.const 16) "\06fanout")
  (data (i32.const 32) "\07sleeper")
  (data (i32.const 48) "\05fails")
  (data (i32.const 64) "\05first")
  (data (i32.const 80) "\0acompensate")
  (data (i32.const 96) "\06waiter")
  (data (i32.const 112) "\07timeout")
  (data (i32.const 128) "\07refused")
  (type $wf (func))
  (table 9 funcref)
  (elem (i32.const 0)
    $wf_square $wf_fanout $wf_sleeper $wf_fails $wf_first $wf_compensate
    $wf_waiter $wf_timeout $wf_refused)
  (global $workflows i32 (i32.const 9))

  ;; Constant strings: offset, length.
  (data (i32.const 256) "{\"square\":")                                        ;; 256, 10
  (data (i32.const 272) "},[]\"")                                             ;; } 272, "," 273, [ 274, ] 275, "\"" 276
  (data (i32.const 288) "\"i\"")                                              ;; 288, 3
  (data (i32.const 296) "\"n\"")                                              ;; 296, 3
  (data (i32.const 304) "\"ms\"")                                             ;; 304, 4
  (data (i32.const 320) "{\"workflow\":\"square\",\"input\":{\"i\":")          ;; 320, 34
  (data (i32.const 368) "}}")                                                 ;; 368, 2
  (data (i32.const 384) "{\"workflow\":\"sleeper\",\"input\":{\"ms\":60000}}")  ;; 384, 43
  (data (i32.const 432) "{\"workflow\":\"sleeper\",\"input\":{\"ms\":60000},\"on_parent_end\":\"abandon\"}") ;; 432, 69
  (data (i32.const 512) "{\"workflow\":\"fails\"}")                           ;; 512, 20
  (data (i32.const 544) "{\"workflow\":\"nosuch\"}")                          ;; 544, 21
  (data (i32.const 576) "child failed on purpose")                            ;; 576, 23
  (data (i32.const 608) "nap")                                                ;; 608, 3
  (data (i32.const 624) "{\"slept\":")                                        ;; 624, 9
  (data (i32.const 640) "{\"sum\":")                                          ;; 640, 7
  (data (i32.const 656) ",\"children\":")                                     ;; 656, 12
  (data (i32.const 672) "\"completed\"")                                      ;; 672, 11
  (data (i32.const 688) "\"failed\"")                                         ;; 688, 8
  (data (i32.const 704) "\"error\"")                                          ;; 704, 7
  (data (i32.const 720) "\"square\"")                                         ;; 720, 8
  (data (i32.const 736) "undo")                                               ;; 736, 4
  (data (i32.const 752) "\"undone\"")                                         ;; 752, 8
  (data (i32.const 768) "{\"child\":\"failed\",\"error\":")                   ;; 768, 26
  (data (i32.const 800) ",\"undo\":")                                         ;; 800, 8
  (data (i32.const 816) "{\"first\":{\"square\":")                            ;; 816, 19
  (data (i32.const 848) "{\"timed_out\":true}")                               ;; 848, 18
  (data (i32.const 880) "{\"timed_out\":false}")                              ;; 880, 19
  (data (i32.const 912) "{\"refused\":")                                      ;; 912, 11
  (data (i32.const 928) "{\"children\":")                                     ;; 928, 12
  (data (i32.const 944) "unknown workflow")                                   ;; 944, 16
  (data (i32.const 960) "cannot grow memory")                                 ;; 960, 18
  (data (i32.const 1024) "fanout: a child did not complete")                  ;; 1024, 32
  (data (i32.const 1072) "first: the square child did not end first")         ;; 1072, 41
  (data (i32.const 1120) "compensate: the child did not fail")                ;; 1120, 34
  (data (i32.const 1168) "refused: the host started a child of workflow nosuch") ;; 1168, 52
  (data (i32.const 1232) "\\u00")                                             ;; 1232, 4 (a backslash alone: 1232, 1)
  (data (i32.const 1240) "0123456789abcdef")                                  ;; 1240, 16
  (data (i32.const 1264) "child refused: ")                                   ;; 1264, 15
  (data (i32.const 1280) "compensate: the child failed with no error")        ;; 1280, 42
  (data (i32.const 1328) ",\"ms\":")                                          ;; 1328, 6

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
      (br_if $each (i32.lt_u (local.get $i) (global.get $workflows)))))

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
    (drop (call $fail (i32.const 944) (i32.const 16)))
    (unreachable))

  ;; ---- Workflows ----

  ;; square runs step "square", whose output is {"square":I*I} for the
  ;; input's "i" (default 0; this guest reads only non-negative integers),
  ;; and completes with the step's output. The body first holds its
  ;; activation for the input's "ms" milliseconds (default 0), as real work
  ;; would: this guest imports no WASI, so it reads the real time inside the
  ;; step with now (ABI.md, section 4) until they have passed.
  (func $wf_square
    (local $p i32) (local $n i32) (local $i i64) (local $ms i64) (local $until i64) (local $m i32)
    (call $read_input)
    (local.set $n)
    (local.set $p)
    (local.set $i (call $find_int (local.get $p) (local.get $n) (i32.const 288) (i32.const 3) (i64.const 0)))
    (local.set $ms (call $find_int (local.get $p) (local.get $n) (i32.const 304) (i32.const 4) (i64.const 0)))
    (if (call $begin (i32.const 1) (i32.const 6))
      (then
        (local.set $until (i64.add (call $now) (i64.mul (local.get $ms) (i64.const 1000000))))
        (loop $busy
          (br_if $busy (i64.lt_s (call $now) (local.get $until))))
        (local.set $m (global.get $heap))
        (call $put (i32.const 256) (i32.const 10))
        (call $put_u64 (i64.mul (local.get $i) (local.get $i)))
        (call $put (i32.const 272) (i32.const 1))
        (call $end (local.get $m) (i32.sub (global.get $heap) (local.get $m)))))
    (drop (call $complete (global.get $out_ptr) (global.get $out_len)))
    (unreachable))

  ;; fanout starts the input's "n" (default 3) children of square with
  ;; {"i":1,"ms":M} ... {"i":N,"ms":M}, M the input's "ms" (default 0),
  ;; awaits all of them, and completes with {"sum":S,"children":N}, S the sum
  ;; of the squares they answered. A child that did not complete fails the
  ;; run.
  (func $wf_fanout
    (local $p i32) (local $len i32) (local $n i32) (local $k i32) (local $tab i32) (local $m i32) (local $sum i64) (local $ms i64)
    (call $read_input)
    (local.set $len)
    (local.set $p)
    (local.set $n (i32.wrap_i64 (call $find_int (local.get $p) (local.get $len) (i32.const 296) (i32.const 3) (i64.const 3))))
    (local.set $ms (call $find_int (local.get $p) (local.get $len) (i32.const 304) (i32.const 4) (i64.const 0)))
    (local.set $tab (call $alloc (i32.mul (local.get $n) (i32.const 8))))
    (block $started
      (loop $each
        (br_if $started (i32.ge_u (local.get $k) (local.get $n)))
        ;; The request {"workflow":"square","input":{"i":K+1,"ms":M}}.
        (local.set $m (global.get $heap))
        (call $put (i32.const 320) (i32.const 34))
        (call $put_u64 (i64.extend_i32_u (i32.add (local.get $k) (i32.const 1))))
        (call $put (i32.const 1328) (i32.const 6))
        (call $put_u64 (local.get $ms))
        (call $put (i32.const 368) (i32.const 2))
        (call $start_into (local.get $tab) (local.get $k) (local.get $m) (i32.sub (global.get $heap) (local.get $m)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $each)))
    (drop (call $await (local.get $tab) (local.get $n) (i32.const 0) (i64.const -1)))
    ;; ChildrenReady: the register holds one result per child.
    (call $read_result)
    (local.set $len)
    (local.set $p)
    (if (i32.ne (call $count (local.get $p) (local.get $len) (i32.const 672) (i32.const 11)) (local.get $n))
      (then
        (drop (call $fail (i32.const 1024) (i32.const 32)))
        (unreachable)))
    (local.set $sum (call $sum_ints (local.get $p) (local.get $len) (i32.const 720) (i32.const 8)))
    (local.set $m (global.get $heap))
    (call $put (i32.const 640) (i32.const 7))
    (call $put_u64 (local.get $sum))
    (call $put (i32.const 656) (i32.const 12))
    (call $put_u64 (i64.extend_i32_u (local.get $n)))
    (call $put (i32.const 272) (i32.const 1))
    (call $complete_heap (local.get $m)))

  ;; sleeper sleeps the input's "ms" milliseconds (default 200) on timer
  ;; "nap" and completes with {"slept":MS}.
  (func $wf_sleeper
    (local $p i32) (local $n i32) (local $ms i64) (local $m i32)
    (call $read_input)
    (local.set $n)
    (local.set $p)
    (local.set $ms (call $find_int (local.get $p) (local.get $n) (i32.const 304) (i32.const 4) (i64.const 200)))
    (drop (call $sleep (i32.const 608) (i32.const 3) (local.get $ms)))
    (local.set $m (global.get $heap))
    (call $put (i32.const 624) (i32.const 9))
    (call $put_u64 (local.get $ms))
    (call $put (i32.const 272) (i32.const 1))
    (call $complete_heap (local.get $m)))

  ;; fails fails with "child failed on purpose".
  (func $wf_fails
    (drop (call $fail (i32.const 576) (i32.const 23)))
    (unreachable))

  ;; first starts a sleeper of 60 s and a square of 7 and awaits either
  ;; (AwaitAny, no timeout). The one result must be the square child's (its
  ;; quoted id is in the answer); it completes with {"first":{"square":V}},
  ;; V read from that child's output. The sleeper is cancelled when the run
  ;; completes (on_parent_end defaults to cancel).
  (func $wf_first
    (local $tab i32) (local $m i32) (local $p i32) (local $len i32) (local $v i64)
    (local.set $tab (call $alloc (i32.const 16)))
    (call $start_into (local.get $tab) (i32.const 0) (i32.const 384) (i32.const 43))
    (local.set $m (global.get $heap))
    (call $put (i32.const 320) (i32.const 34))
    (call $put_u64 (i64.const 7))
    (call $put (i32.const 368) (i32.const 2))
    (call $start_into (local.get $tab) (i32.const 1) (local.get $m) (i32.sub (global.get $heap) (local.get $m)))
    (drop (call $await (local.get $tab) (i32.const 2) (i32.const 1) (i64.const -1)))
    (call $read_result)
    (local.set $len)
    (local.set $p)
    ;; The square child's id, quoted, must be in the answer.
    (local.set $m (global.get $heap))
    (call $put (i32.const 276) (i32.const 1))
    (call $put (i32.load (i32.add (local.get $tab) (i32.const 8))) (i32.load (i32.add (local.get $tab) (i32.const 12))))
    (call $put (i32.const 276) (i32.const 1))
    (local.set $v (call $find_int (local.get $p) (local.get $len) (i32.const 720) (i32.const 8) (i64.const -1)))
    (if (i32.or
          (i32.eqz (call $contains (local.get $p) (local.get $len) (local.get $m) (i32.sub (global.get $heap) (local.get $m))))
          (i64.lt_s (local.get $v) (i64.const 0)))
      (then
        (drop (call $fail (i32.const 1072) (i32.const 41)))
        (unreachable)))
    (local.set $m (global.get $heap))
    (call $put (i32.const 816) (i32.const 19))
    (call $put_u64 (local.get $v))
    (call $put (i32.const 368) (i32.const 2))
    (call $complete_heap (local.get $m)))

  ;; compensate starts a child of fails and awaits it. Its result is a
  ;; failure (a value, not the end of this run), so it runs step "undo",
  ;; whose output is "undone", and completes with
  ;; {"child":"failed","error":E,"undo":"undone"}, E the child's error as the
  ;; answer gave it (a JSON string).
  (func $wf_compensate
    (local $tab i32) (local $p i32) (local $len i32) (local $ep i32) (local $el i32) (local $m i32)
    (local.set $tab (call $alloc (i32.const 8)))
    (call $start_into (local.get $tab) (i32.const 0) (i32.const 512) (i32.const 20))
    (drop (call $await (local.get $tab) (i32.const 1) (i32.const 0) (i64.const -1)))
    (call $read_result)
    (local.set $len)
    (local.set $p)
    (if (i32.eqz (call $contains (local.get $p) (local.get $len) (i32.const 688) (i32.const 8)))
      (then
        (drop (call $fail (i32.const 1120) (i32.const 34)))
        (unreachable)))
    (call $find_str (local.get $p) (local.get $len) (i32.const 704) (i32.const 7))
    (local.set $el)
    (local.set $ep)
    (if (i32.eqz (local.get $el))
      (then
        (drop (call $fail (i32.const 1280) (i32.const 42)))
        (unreachable)))
    (if (call $begin (i32.const 736) (i32.const 4))
      (then (call $end (i32.const 752) (i32.const 8))))
    (local.set $m (global.get $heap))
    (call $put (i32.const 768) (i32.const 26))
    (call $put (local.get $ep) (local.get $el))
    (call $put (i32.const 800) (i32.const 8))
    (call $put (global.get $out_ptr) (global.get $out_len))
    (call $put (i32.const 272) (i32.const 1))
    (call $complete_heap (local.get $m)))

  ;; waiter starts the input's "n" (default 2) sleepers of 60 s and awaits
  ;; all of them. The test cancels it first; if they ever all ended, it would
  ;; complete with {"children":N}.
  (func $wf_waiter
    (local $p i32) (local $len i32) (local $n i32) (local $k i32) (local $tab i32) (local $m i32)
    (call $read_input)
    (local.set $len)
    (local.set $p)
    (local.set $n (i32.wrap_i64 (call $find_int (local.get $p) (local.get $len) (i32.const 296) (i32.const 3) (i64.const 2))))
    (local.set $tab (call $alloc (i32.mul (local.get $n) (i32.const 8))))
    (block $started
      (loop $each
        (br_if $started (i32.ge_u (local.get $k) (local.get $n)))
        (call $start_into (local.get $tab) (local.get $k) (i32.const 384) (i32.const 43))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $each)))
    (drop (call $await (local.get $tab) (local.get $n) (i32.const 0) (i64.const -1)))
    (local.set $m (global.get $heap))
    (call $put (i32.const 928) (i32.const 12))
    (call $put_u64 (i64.extend_i32_u (local.get $n)))
    (call $put (i32.const 272) (i32.const 1))
    (call $complete_heap (local.get $m)))

  ;; timeout starts a sleeper of 60 s that the run abandons when it ends,
  ;; awaits it for 50 ms, and completes with {"timed_out":true} when
  ;; child_await answers ChildrenTimedOut (1), {"timed_out":false} if the
  ;; child had ended.
  (func $wf_timeout
    (local $tab i32)
    (local.set $tab (call $alloc (i32.const 8)))
    (call $start_into (local.get $tab) (i32.const 0) (i32.const 432) (i32.const 69))
    (if (i32.eq (call $await (local.get $tab) (i32.const 1) (i32.const 0) (i64.const 50)) (i32.const 1))
      (then
        (drop (call $complete (i32.const 848) (i32.const 18)))
        (unreachable)))
    (drop (call $complete (i32.const 880) (i32.const 19)))
    (unreachable))

  ;; refused starts a child of workflow "nosuch", which this module does not
  ;; have. ChildRefused (1): it completes with {"refused":R}, R the host's
  ;; reason as a JSON string. Were the child started, the run fails.
  (func $wf_refused
    (local $r i32) (local $p i32) (local $n i32) (local $m i32)
    (local.set $r (call $child_start (i32.const 544) (i32.const 21)))
    (call $read_result)
    (local.set $n)
    (local.set $p)
    (if (i32.ne (local.get $r) (i32.const 1))
      (then
        (drop (call $fail (i32.const 1168) (i32.const 52)))
        (unreachable)))
    (local.set $m (global.get $heap))
    (call $put (i32.const 912) (i32.const 11))
    (call $put_json_string (local.get $p) (local.get $n))
    (call $put (i32.const 272) (i32.const 1))
    (call $complete_heap (local.get $m)))

  ;; ---- Children ----

  ;; $start_into starts the child of request (req, req_len) and stores its
  ;; id (copied to the heap) as entry k of the table at tab. A refused start
  ;; (ChildRefused, 1) fails the run with "child refused: REASON".
  (func $start_into (param $tab i32) (param $k i32) (param $req i32) (param $req_len i32)
    (local $r i32) (local $p i32) (local $n i32) (local $m i32) (local $e i32)
    (local.set $r (call $child_start (local.get $req) (local.get $req_len)))
    (call $read_result)
    (local.set $n)
    (local.set $p)
    (if (local.get $r)
      (then
        (local.set $m (global.get $heap))
        (call $put (i32.const 1264) (i32.const 15))
        (call $put (local.get $p) (local.get $n))
        (drop (call $fail (local.get $m) (i32.sub (global.get $heap) (local.get $m))))
        (unreachable)))
    (local.set $e (i32.add (local.get $tab) (i32.mul (local.get $k) (i32.const 8))))
    (i32.store (local.get $e) (local.get $p))
    (i32.store (i32.add (local.get $e) (i32.const 4)) (local.get $n)))

  ;; $await builds the JSON array of the n ids in the table at tab and calls
  ;; child_await with it, mode (0 AwaitAll, 1 AwaitAny) and timeout_ms, and
  ;; returns its answer: 0 (ChildrenReady: the register holds the results)
  ;; or 1 (ChildrenTimedOut). Until the children have ended the host ends
  ;; the call here, and a later activation replays to it.
  (func $await (param $tab i32) (param $n i32) (param $mode i32) (param $timeout i64) (result i32)
    (local $m i32) (local $k i32) (local $e i32)
    (local.set $m (global.get $heap))
    (call $put (i32.const 274) (i32.const 1))
    (block $done
      (loop $each
        (br_if $done (i32.ge_u (local.get $k) (local.get $n)))
        (if (local.get $k) (then (call $put (i32.const 273) (i32.const 1))))
        (local.set $e (i32.add (local.get $tab) (i32.mul (local.get $k) (i32.const 8))))
        (call $put (i32.const 276) (i32.const 1))
        (call $put (i32.load (local.get $e)) (i32.load (i32.add (local.get $e) (i32.const 4))))
        (call $put (i32.const 276) (i32.const 1))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br $each)))
    (call $put (i32.const 275) (i32.const 1))
    (call $child_await (local.get $m) (i32.sub (global.get $heap) (local.get $m)) (local.get $mode) (local.get $timeout)))

  ;; ---- Steps ----

  ;; $begin begins step (name, name_len) with default options and returns 1
  ;; if its body must run (StepRun; the body ends with $end). Otherwise it
  ;; returns 0 with the recorded output in $out_ptr/$out_len (StepDone), or
  ;; fails the run with the recorded error (StepFailed).
  (func $begin (param $name i32) (param $name_len i32) (result i32)
    (local $r i32) (local $p i32) (local $n i32)
    (local.set $r (call $step_begin (local.get $name) (local.get $name_len) (i32.const 0) (i32.const 0)))
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

  ;; $end ends the running body with EndOK and the output (ptr, len), which
  ;; it leaves in $out_ptr/$out_len.
  (func $end (param $ptr i32) (param $len i32)
    (drop (call $step_end (i32.const 0) (local.get $ptr) (local.get $len)))
    (global.set $out_ptr (local.get $ptr))
    (global.set $out_len (local.get $len)))

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
            (drop (call $fail (i32.const 960) (i32.const 18)))
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

  ;; $put_byte appends the byte c to the heap.
  (func $put_byte (param $c i32)
    (i32.store8 (call $alloc (i32.const 1)) (local.get $c)))

  ;; $put_u64 appends v, unsigned, in decimal to the heap. The digits are
  ;; written backwards into [992, 1012) first.
  (func $put_u64 (param $v i64)
    (local $p i32)
    (local.set $p (i32.const 1012))
    (loop $digit
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (i64.store8 (local.get $p) (i64.add (i64.rem_u (local.get $v) (i64.const 10)) (i64.const 48)))
      (local.set $v (i64.div_u (local.get $v) (i64.const 10)))
      (br_if $digit (i64.ne (local.get $v) (i64.const 0))))
    (call $put (local.get $p) (i32.sub (i32.const 1012) (local.get $p))))

  ;; $put_json_string appends the UTF-8 text (p, n) to the heap as a JSON
  ;; string: quotes around it, a backslash before " and \, and control
  ;; characters as \u00XX.
  (func $put_json_string (param $p i32) (param $n i32)
    (local $end i32) (local $c i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (call $put (i32.const 276) (i32.const 1))
    (block $done
      (loop $byte
        (br_if $done (i32.ge_u (local.get $p) (local.get $end)))
        (local.set $c (i32.load8_u (local.get $p)))
        (if (i32.lt_u (local.get $c) (i32.const 32))
          (then
            (call $put (i32.const 1232) (i32.const 4))
            (call $put (i32.add (i32.const 1240) (i32.shr_u (local.get $c) (i32.const 4))) (i32.const 1))
            (call $put (i32.add (i32.const 1240) (i32.and (local.get $c) (i32.const 15))) (i32.const 1)))
          (else
            (if (i32.or (i32.eq (local.get $c) (i32.const 34)) (i32.eq (local.get $c) (i32.const 92)))
              (then (call $put (i32.const 1232) (i32.const 1))))
            (call $put_byte (local.get $c))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $byte)))
    (call $put (i32.const 276) (i32.const 1)))

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

  ;; $index returns the offset of the first occurrence of (s, s_len) in
  ;; [p, end), or -1.
  (func $index (param $p i32) (param $end i32) (param $s i32) (param $s_len i32) (result i32)
    (block $not_found
      (loop $search
        (br_if $not_found (i32.gt_u (i32.add (local.get $p) (local.get $s_len)) (local.get $end)))
        (if (call $eq (local.get $p) (local.get $s_len) (local.get $s) (local.get $s_len))
          (then (return (local.get $p))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $search)))
    (i32.const -1))

  ;; $contains reports whether (s, s_len) occurs in (p, n).
  (func $contains (param $p i32) (param $n i32) (param $s i32) (param $s_len i32) (result i32)
    (i32.ne
      (call $index (local.get $p) (i32.add (local.get $p) (local.get $n)) (local.get $s) (local.get $s_len))
      (i32.const -1)))

  ;; $count returns how many times (s, s_len) occurs in (p, n), without
  ;; overlaps.
  (func $count (param $p i32) (param $n i32) (param $s i32) (param $s_len i32) (result i32)
    (local $end i32) (local $k i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $search
        (local.set $p (call $index (local.get $p) (local.get $end) (local.get $s) (local.get $s_len)))
        (br_if $done (i32.eq (local.get $p) (i32.const -1)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (local.set $p (i32.add (local.get $p) (local.get $s_len)))
        (br $search)))
    (local.get $k))

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

  ;; $value_at returns the offset of the value after the key found at k
  ;; ((key_len) bytes, with its quotes): past the key, white space, a colon
  ;; and white space. It returns -1 if no colon follows.
  (func $value_at (param $k i32) (param $key_len i32) (param $end i32) (result i32)
    (local $j i32)
    (local.set $j (call $skip_space (i32.add (local.get $k) (local.get $key_len)) (local.get $end)))
    (if (i32.ge_u (local.get $j) (local.get $end)) (then (return (i32.const -1))))
    (if (i32.ne (i32.load8_u (local.get $j)) (i32.const 58)) (then (return (i32.const -1)))) ;; :
    (call $skip_space (i32.add (local.get $j) (i32.const 1)) (local.get $end)))

  ;; $int_from finds the first occurrence in [p, end) of the key (key,
  ;; key_len), given with its quotes, followed by a colon and decimal
  ;; digits, and returns their value and the offset after them; the offset
  ;; is 0 if there is none.
  (func $int_from (param $p i32) (param $end i32) (param $key i32) (param $key_len i32) (result i64 i32)
    (local $j i32) (local $start i32) (local $c i32) (local $v i64)
    (block $not_found
      (loop $search
        (local.set $p (call $index (local.get $p) (local.get $end) (local.get $key) (local.get $key_len)))
        (br_if $not_found (i32.eq (local.get $p) (i32.const -1)))
        (local.set $j (call $value_at (local.get $p) (local.get $key_len) (local.get $end)))
        (if (i32.ne (local.get $j) (i32.const -1))
          (then
            (local.set $start (local.get $j))
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
            (if (i32.gt_u (local.get $j) (local.get $start))
              (then (return (local.get $v) (local.get $j))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $search)))
    (i64.const 0)
    (i32.const 0))

  ;; $find_int returns the value of the first key (key, key_len) with an
  ;; unsigned integer value in the JSON text (p, n), or default.
  (func $find_int (param $p i32) (param $n i32) (param $key i32) (param $key_len i32) (param $default i64) (result i64)
    (local $v i64) (local $next i32)
    (call $int_from (local.get $p) (i32.add (local.get $p) (local.get $n)) (local.get $key) (local.get $key_len))
    (local.set $next)
    (local.set $v)
    (if (result i64) (local.get $next)
      (then (local.get $v))
      (else (local.get $default))))

  ;; $sum_ints returns the sum of the values of every key (key, key_len)
  ;; with an unsigned integer value in the JSON text (p, n).
  (func $sum_ints (param $p i32) (param $n i32) (param $key i32) (param $key_len i32) (result i64)
    (local $end i32) (local $v i64) (local $sum i64)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $done
      (loop $each
        (call $int_from (local.get $p) (local.get $end) (local.get $key) (local.get $key_len))
        (local.set $p)
        (local.set $v)
        (br_if $done (i32.eqz (local.get $p)))
        (local.set $sum (i64.add (local.get $sum) (local.get $v)))
        (br $each)))
    (local.get $sum))

  ;; $find_str returns the JSON string value, quotes and escapes included, of
  ;; the first key (key, key_len) with a string value in the JSON text (p,
  ;; n), as an offset and a length; the length is 0 if there is none.
  (func $find_str (param $p i32) (param $n i32) (param $key i32) (param $key_len i32) (result i32 i32)
    (local $end i32) (local $j i32) (local $start i32) (local $c i32)
    (local.set $end (i32.add (local.get $p) (local.get $n)))
    (block $not_found
      (loop $search
        (local.set $p (call $index (local.get $p) (local.get $end) (local.get $key) (local.get $key_len)))
        (br_if $not_found (i32.eq (local.get $p) (i32.const -1)))
        (local.set $start (call $value_at (local.get $p) (local.get $key_len) (local.get $end)))
        (if (i32.and
              (i32.ne (local.get $start) (i32.const -1))
              (i32.lt_u (local.get $start) (local.get $end)))
          (then
            (if (i32.eq (i32.load8_u (local.get $start)) (i32.const 34)) ;; "
              (then
                (local.set $j (i32.add (local.get $start) (i32.const 1)))
                (block $unterminated
                  (loop $char
                    (br_if $unterminated (i32.ge_u (local.get $j) (local.get $end)))
                    (local.set $c (i32.load8_u (local.get $j)))
                    (if (i32.eq (local.get $c) (i32.const 34))
                      (then (return (local.get $start) (i32.sub (i32.add (local.get $j) (i32.const 1)) (local.get $start)))))
                    ;; A backslash escapes the next byte.
                    (local.set $j (i32.add (local.get $j) (select (i32.const 2) (i32.const 1) (i32.eq (local.get $c) (i32.const 92)))))
                    (br $char)))))))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        (br $search)))
    (i32.const 0)
    (i32.const 0)))
