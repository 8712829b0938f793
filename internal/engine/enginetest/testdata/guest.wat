;; The guest of the engine conformance suite (enginetest.go): one export
;; per behaviour the suite checks. guest.wasm is this file compiled;
;; TestGuestIsItsText checks that the two agree.
(module
  (type $answer (func (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "host" "mix" (func $mix (param i32 i64 f32 f64) (result i64)))
  (import "host" "sum" (func $sum (param i32 i32) (result i32)))
  (import "host" "fill" (func $fill (param i32 i32)))
  (import "host" "fail" (func $fail))
  (memory (export "memory") 1)
  (global $starts (export "starts") (mut i32) (i32.const 0))
  (global (export "counter") (mut i64) (i64.const 0))
  (global (export "seven") i32 (i32.const 7))
  (data (i32.const 16) "hello\n")
  (table 2 funcref)
  (elem (i32.const 0) $nothing $fortytwo)
  (func $nothing)
  (func $fortytwo (result i32) (i32.const 42))
  ;; The start section runs at instantiation.
  (func $start (global.set $starts (i32.add (global.get $starts) (i32.const 1))))
  (start $start)

  ;; Host calls.
  (func (export "mix") (param i32 i64 f32 f64) (result i64)
    (call $mix (local.get 0) (local.get 1) (local.get 2) (local.get 3)))
  (func (export "sum") (param i32 i32) (result i32) (call $sum (local.get 0) (local.get 1)))
  (func (export "fill") (param i32 i32) (call $fill (local.get 0) (local.get 1)))
  (func (export "fail") (call $fail))
  (func (export "exit") (param i32) (call $exit (local.get 0)))
  (func (export "hello") (result i32)
    ;; One iovec at 0: the 6 bytes at 16, to stdout (fd 1).
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 6))
    (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
  (func (export "results") (param i32) (result i32 i64 f32 f64)
    (local.get 0)
    (i64.extend_i32_s (local.get 0))
    (f32.convert_i32_s (local.get 0))
    (f64.convert_i32_s (local.get 0)))

  ;; Memory.
  (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store8 (local.get 0) (local.get 1)))
  (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "size") (result i32) (memory.size))

  ;; Deadlines.
  (func (export "spin") (loop $l (br $l)))

  ;; Traps.
  (func (export "unreachable") unreachable)
  (func (export "divide") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1)))
  (func (export "truncate") (param f64) (result i32) (i32.trunc_f64_s (local.get 0)))
  (func $recurse (export "recurse") (call $recurse))
  (func (export "indirect") (param i32) (result i32) (call_indirect (type $answer) (local.get 0))))
