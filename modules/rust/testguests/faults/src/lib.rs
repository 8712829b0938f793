//! The faults test guest in Rust: one workflow per behaviour the host's
//! tests need, with the same workflows as modules/go/testguests/faults.
//! Guests that misbehave (loop, oom, badptr, panic), and small workflows for
//! retries, sleeps, signals, effects, cursors, isolated steps and limits.
//! modules/TESTGUESTS.md is their contract.

use std::alloc::Layout;
use std::sync::Mutex;
use std::time::Duration;
use wasmflow::{await_signal, effect, json_struct, sleep, step, Context, Error, Json, StepOptions};

wasmflow::workflows! {
    "ok" => ok,
    "panic" => panic,
    "loop" => spin,
    "oom" => oom,
    "badptr" => badptr,
    "flaky" => flaky,
    "sleepy" => sleepy,
    "effects" => effects,
    "await" => await_go,
    "big" => big,
    "cursor" => cursor,
    "patient" => cursor [wasmflow::WorkflowOptions::new().resume_delay(Duration::from_millis(300))],
    "in_effect" => in_effect,
    "advancing" => advancing,
    "unadvanceable" => unadvanceable,
    "isolated" => isolated,
    "checkpoints" => checkpoints,
}

fn ok(_ctx: &Context, _: ()) -> Result<Json, Error> {
    Ok(Json::object().with("ok", &true))
}

/// panic panics in workflow code: the SDK fails the run with "panic: boom".
fn panic(_ctx: &Context, _: ()) -> Result<(), Error> {
    panic!("boom")
}

/// spin (workflow "loop") never returns and never calls the host: the host
/// must stop it at the activation time limit. The volatile accesses keep
/// the compiler from reducing the loop to nothing.
fn spin(_ctx: &Context, _: ()) -> Result<(), Error> {
    let mut state: u64 = 0;
    loop {
        let n = unsafe { std::ptr::read_volatile(&state) };
        let n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        unsafe { std::ptr::write_volatile(&mut state, n) };
    }
}

/// HOARD keeps what oom allocates reachable, so that no allocation can be
/// optimised away.
static HOARD: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());

/// The smallest chunk oom allocates once a larger one has failed.
const OOM_MIN_CHUNK: usize = 64 << 10;

/// oom allocates until the memory cannot grow, then dies as Rust does when
/// an allocation fails: "memory allocation of N bytes failed" on stderr and
/// an abort (a trap). Chunks double from 1 MiB, so that it gets near the
/// limit in a few large allocations; once one fails, they halve down to 64
/// KiB, so that the memory ends within 64 KiB of the limit whatever the
/// limit is (the host names "out of memory" only when the memory is at it).
fn oom(_ctx: &Context, _: ()) -> Result<(), Error> {
    let mut hoard = HOARD.lock().unwrap();
    let mut n: usize = 1 << 20;
    let mut growing = true;
    loop {
        let mut chunk: Vec<u8> = Vec::new();
        if hoard.try_reserve(1).is_ok() && chunk.try_reserve_exact(n).is_ok() {
            hoard.push(chunk);
            if growing {
                n = n.saturating_mul(2);
            }
        } else if n > OOM_MIN_CHUNK {
            growing = false;
            n /= 2;
        } else {
            std::alloc::handle_alloc_error(Layout::array::<u8>(n).unwrap())
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod host {
    #[link(wasm_import_module = "wasmflow")]
    extern "C" {
        /// The host's log function, imported directly so that badptr can
        /// pass it a pointer the SDK never would.
        pub fn log(level: u32, ptr: u32, len: u32) -> u32;
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod host {
    pub unsafe fn log(_level: u32, _ptr: u32, _len: u32) -> u32 {
        panic!("faults: only runs inside a wasmflow host")
    }
}

/// badptr passes the host a pointer far outside its memory: the host must
/// fail the run, not return.
fn badptr(_ctx: &Context, _: ()) -> Result<(), Error> {
    unsafe { host::log(1, 0xFFFF_FF00, 1024) };
    Err(Error::new("badptr: the host accepted an out-of-bounds pointer"))
}

/// flaky's step fails on attempts 1 and 2 and succeeds on 3.
fn flaky(ctx: &Context, _: ()) -> Result<Json, Error> {
    let opts = StepOptions::new().max_attempts(5).backoff(Duration::from_millis(50), Duration::from_millis(50));
    let attempt: u32 = step(ctx, "flaky", opts, |s| {
        if s.attempt() < 3 {
            return Err(Error::new(format!("flaky: attempt {} fails", s.attempt())));
        }
        Ok(s.attempt())
    })?;
    Ok(Json::object().with("attempt", &attempt))
}

json_struct! {
    pub struct SleepyInput {
        pub ms: Option<i64>,
    }
}

/// sleepy sleeps ms milliseconds (default 200) on timer "nap".
fn sleepy(ctx: &Context, input: SleepyInput) -> Result<Json, Error> {
    let ms = input.ms.unwrap_or(200).max(0) as u64;
    sleep(ctx, "nap", Duration::from_millis(ms));
    Ok(Json::object().with("slept", &true))
}

json_struct! {
    /// The idempotency keys the two effects of step "effects" ran with.
    pub struct Keys {
        pub first: String,
        pub second: String,
    }
}

/// effects runs two effects in one step; each returns its idempotency key,
/// so the output shows the keys they ran with.
fn effects(ctx: &Context, _: ()) -> Result<Keys, Error> {
    step(ctx, "effects", StepOptions::new(), |s| {
        let first: String = effect(s, "first", |key| Ok(key.to_string()))?;
        let second: String = effect(s, "second", |key| Ok(key.to_string()))?;
        Ok(Keys { first, second })
    })
}

json_struct! {
    pub struct AwaitInput {
        pub timeout_ms: Option<i64>,
    }
}

/// await_go (workflow "await") waits for signal "go" and returns its
/// payload; without timeout_ms (or with a negative one) it waits for ever.
fn await_go(ctx: &Context, input: AwaitInput) -> Result<Json, Error> {
    let timeout = input.timeout_ms.filter(|&ms| ms >= 0).map(|ms| Duration::from_millis(ms as u64));
    match await_signal::<Json>(ctx, "go", timeout)? {
        Some(payload) => Ok(payload),
        None => Ok(Json::object().with("timed_out", &true)),
    }
}

json_struct! {
    pub struct BigInput {
        pub bytes: usize,
    }
}

/// big returns a JSON string of the given length, to hit the payload limit.
fn big(_ctx: &Context, input: BigInput) -> Result<String, Error> {
    Ok("x".repeat(input.bytes))
}

json_struct! {
    pub struct CursorInput {
        pub items: Option<i64>,
    }
}

json_struct! {
    /// Step count's cursor and result: the next item and the sum so far.
    #[derive(Default)]
    pub struct Cursor {
        pub next: i64,
        pub sum: i64,
    }
}

json_struct! {
    pub struct Counted {
        pub processed: i64,
        pub sum: i64,
    }
}

/// cursor counts items in one step, saving its cursor after each item:
/// interrupted anywhere, it resumes at the first item not yet saved.
fn cursor(ctx: &Context, input: CursorInput) -> Result<Counted, Error> {
    let items = input.items.unwrap_or(100);
    let cur: Cursor = step(ctx, "count", StepOptions::new(), |s| {
        let mut c = s.cursor::<Cursor>().unwrap_or_default();
        for i in c.next..items {
            c.sum += i;
            c.next = i + 1;
            s.set(&c);
        }
        Ok(c)
    })?;
    Ok(Counted { processed: cur.next, sum: cur.sum })
}

json_struct! {
    pub struct InEffectInput {
        pub checkpoint: Option<i64>,
    }
}

/// in_effect saves its step's cursor (or, with {"checkpoint": 1},
/// checkpoints) inside an effect: the host must refuse it.
fn in_effect(ctx: &Context, input: InEffectInput) -> Result<(), Error> {
    step(ctx, "pay", StepOptions::new(), |s| {
        let checkpoint = input.checkpoint == Some(1);
        let done: Result<(), Error> = effect(s, "charge", |_key| {
            if checkpoint {
                s.checkpoint();
            } else {
                wasmflow_cursor_set_in_effect(s);
            }
            Err(Error::new("in_effect: the host accepted a checkpoint inside an effect"))
        });
        done
    })
}

/// Saves the cursor 1 with the raw host function: in the SDK, an effect's
/// closure holds the step context shared and `set` needs it mutable, so a
/// cursor save inside an effect does not compile; the host must refuse the
/// call all the same.
fn wasmflow_cursor_set_in_effect(_s: &wasmflow::StepContext<'_>) {
    #[link(wasm_import_module = "wasmflow")]
    extern "C" {
        fn cursor_set(ptr: *const u8, len: u32) -> u32;
    }
    let cursor = b"1";
    unsafe { cursor_set(cursor.as_ptr(), cursor.len() as u32) };
}

json_struct! {
    pub struct ItemsInput {
        pub items: Option<i64>,
    }
}

json_struct! {
    pub struct Advanced {
        pub attempt: i64,
        pub items: i64,
    }
}

/// advancing's step advances its integer cursor by one and then fails,
/// until the cursor reaches items: with resume_errors_after_advancing and
/// one attempt, it completes in its first attempt.
fn advancing(ctx: &Context, input: ItemsInput) -> Result<Advanced, Error> {
    let items = input.items.unwrap_or(3);
    let opts = StepOptions::new()
        .max_attempts(1)
        .backoff(Duration::from_millis(20), Duration::from_millis(20))
        .resume_errors_after_advancing();
    let attempt: i64 = step(ctx, "advance", opts, |s| {
        let i: i64 = s.cursor().unwrap_or(0);
        if i < items {
            s.set(&(i + 1));
            return Err(Error::new(format!("advancing: failed after item {}", i)));
        }
        Ok(s.attempt() as i64)
    })?;
    Ok(Advanced { attempt, items })
}

/// unadvanceable advances a cursor that is a string (SDK guests only).
fn unadvanceable(ctx: &Context, _: ()) -> Result<i64, Error> {
    step(ctx, "count", StepOptions::new(), |s| {
        s.set("page-1");
        s.advance()
    })
}

/// isolated runs step "before", the isolated step "alone", then "after".
fn isolated(ctx: &Context, _: ()) -> Result<Vec<String>, Error> {
    let mut done = Vec::new();
    for name in ["before", "alone", "after"] {
        let opts = if name == "alone" { StepOptions::new().isolated() } else { StepOptions::new() };
        let out: String = step(ctx, name, opts, |_| Ok(name.to_string()))?;
        done.push(out);
    }
    Ok(done)
}

json_struct! {
    pub struct CheckpointsInput {
        pub n: Option<i64>,
    }
}

json_struct! {
    pub struct Checkpointed {
        pub checkpoints: i64,
    }
}

/// checkpoints calls checkpoint n times in one step: the cost of one
/// checkpoint host call, for the benchmarks.
fn checkpoints(ctx: &Context, input: CheckpointsInput) -> Result<Checkpointed, Error> {
    let n = input.n.unwrap_or(1000);
    let done: i64 = step(ctx, "spin", StepOptions::new(), |s| {
        for _ in 0..n {
            s.checkpoint();
        }
        Ok(n)
    })?;
    Ok(Checkpointed { checkpoints: done })
}
