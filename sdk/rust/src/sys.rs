//! Thin wrappers over the host functions of ABI version 1 (abi/ABI.md): they
//! turn byte slices into `(ptr, len)` pairs of the guest's 32-bit memory.
//! The host copies guest bytes before each call returns and never keeps a
//! pointer, so a borrow for the duration of the call is all the pinning
//! needed.

pub const STEP_DONE: u32 = 1;
pub const STEP_FAILED: u32 = 2;
pub const END_OK: u32 = 0;
pub const END_ERROR: u32 = 1;
pub const END_PERMANENT: u32 = 2;
pub const EFFECT_DONE: u32 = 1;
pub const SIGNAL_TIMED_OUT: u32 = 1;
pub const CHILD_STARTED: u32 = 0;
pub const CHILD_REFUSED: u32 = 1;
pub const AWAIT_ALL: u32 = 0;
pub const AWAIT_ANY: u32 = 1;
pub const CHILDREN_READY: u32 = 0;
pub const CHILDREN_TIMED_OUT: u32 = 1;
pub const CHANGE_ASK: u32 = 0;
pub const CHANGE_DEPRECATED: u32 = 1;
pub const CHANGE_NEW: u32 = 1;

#[cfg(target_arch = "wasm32")]
mod imports {
    #[link(wasm_import_module = "wasmflow")]
    extern "C" {
        pub fn result_len() -> u32;
        pub fn result_read(ptr: *mut u8, len: u32) -> u32;
        pub fn declare_workflow(ptr: *const u8, len: u32) -> u32;
        pub fn declare_workflow_options(name: *const u8, name_len: u32, opts: *const u8, opts_len: u32) -> u32;
        pub fn run_id() -> u32;
        pub fn workflow() -> u32;
        pub fn input() -> u32;
        pub fn attempt() -> u32;
        pub fn step_begin(name: *const u8, name_len: u32, opts: *const u8, opts_len: u32) -> u32;
        pub fn step_attempt() -> u32;
        pub fn step_end(status: u32, ptr: *const u8, len: u32) -> u32;
        pub fn checkpoint() -> u32;
        pub fn cursor_set(ptr: *const u8, len: u32) -> u32;
        pub fn effect_begin(ptr: *const u8, len: u32) -> u32;
        pub fn effect_end(status: u32, ptr: *const u8, len: u32) -> u32;
        pub fn sleep(ptr: *const u8, len: u32, duration_ms: i64) -> u32;
        pub fn await_signal(ptr: *const u8, len: u32, timeout_ms: i64) -> u32;
        pub fn child_start(ptr: *const u8, len: u32) -> u32;
        pub fn child_await(ptr: *const u8, len: u32, mode: u32, timeout_ms: i64) -> u32;
        pub fn changed(ptr: *const u8, len: u32, flags: u32) -> u32;
        pub fn complete(ptr: *const u8, len: u32) -> u32;
        pub fn fail(ptr: *const u8, len: u32) -> u32;
        pub fn log(level: u32, ptr: *const u8, len: u32) -> u32;
        pub fn progress(ptr: *const u8, len: u32) -> u32;
        pub fn now() -> i64;
        pub fn random(ptr: *mut u8, len: u32) -> u32;
    }
}

// Outside WebAssembly the SDK compiles (for editors, `cargo check` and unit
// tests of pure code) but every host call panics.
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::missing_safety_doc)]
mod imports {
    macro_rules! stubs {
        ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)*) => {
            $(pub unsafe fn $name($(_: $ty),*) -> $ret {
                panic!(concat!("wasmflow: ", stringify!($name), " is only available inside a wasmflow host"))
            })*
        };
    }
    stubs! {
        result_len() -> u32;
        result_read(ptr: *mut u8, len: u32) -> u32;
        declare_workflow(ptr: *const u8, len: u32) -> u32;
        declare_workflow_options(name: *const u8, name_len: u32, opts: *const u8, opts_len: u32) -> u32;
        run_id() -> u32;
        workflow() -> u32;
        input() -> u32;
        attempt() -> u32;
        step_begin(name: *const u8, name_len: u32, opts: *const u8, opts_len: u32) -> u32;
        step_attempt() -> u32;
        step_end(status: u32, ptr: *const u8, len: u32) -> u32;
        checkpoint() -> u32;
        cursor_set(ptr: *const u8, len: u32) -> u32;
        effect_begin(ptr: *const u8, len: u32) -> u32;
        effect_end(status: u32, ptr: *const u8, len: u32) -> u32;
        sleep(ptr: *const u8, len: u32, duration_ms: i64) -> u32;
        await_signal(ptr: *const u8, len: u32, timeout_ms: i64) -> u32;
        child_start(ptr: *const u8, len: u32) -> u32;
        child_await(ptr: *const u8, len: u32, mode: u32, timeout_ms: i64) -> u32;
        changed(ptr: *const u8, len: u32, flags: u32) -> u32;
        complete(ptr: *const u8, len: u32) -> u32;
        fail(ptr: *const u8, len: u32) -> u32;
        log(level: u32, ptr: *const u8, len: u32) -> u32;
        progress(ptr: *const u8, len: u32) -> u32;
        now() -> i64;
        random(ptr: *mut u8, len: u32) -> u32;
    }
}

fn raw(b: &[u8]) -> (*const u8, u32) {
    (b.as_ptr(), b.len() as u32)
}

/// Copies `n` bytes out of the host's result register.
fn read_result(n: u32) -> Vec<u8> {
    let mut b = vec![0u8; n as usize];
    if n > 0 {
        unsafe { imports::result_read(b.as_mut_ptr(), n) };
    }
    b
}

/// Copies the whole result register.
pub fn result() -> Vec<u8> {
    read_result(unsafe { imports::result_len() })
}

pub fn result_string() -> String {
    String::from_utf8_lossy(&result()).into_owned()
}

pub fn declare_workflow(name: &str) {
    let (p, n) = raw(name.as_bytes());
    unsafe { imports::declare_workflow(p, n) };
}

pub fn declare_workflow_options(name: &str, opts: &[u8]) {
    let (np, nl) = raw(name.as_bytes());
    let (op, ol) = raw(opts);
    unsafe { imports::declare_workflow_options(np, nl, op, ol) };
}

pub fn run_id() -> String {
    let n = unsafe { imports::run_id() };
    String::from_utf8_lossy(&read_result(n)).into_owned()
}

pub fn workflow() -> String {
    let n = unsafe { imports::workflow() };
    String::from_utf8_lossy(&read_result(n)).into_owned()
}

pub fn input() -> Vec<u8> {
    let n = unsafe { imports::input() };
    read_result(n)
}

pub fn attempt() -> u32 {
    unsafe { imports::attempt() }
}

pub fn step_begin(name: &str, opts: &[u8]) -> u32 {
    let (np, nl) = raw(name.as_bytes());
    let (op, ol) = raw(opts);
    unsafe { imports::step_begin(np, nl, op, ol) }
}

pub fn step_attempt() -> u32 {
    unsafe { imports::step_attempt() }
}

pub fn step_end(status: u32, b: &[u8]) {
    let (p, n) = raw(b);
    unsafe { imports::step_end(status, p, n) };
}

pub fn checkpoint() {
    unsafe { imports::checkpoint() };
}

pub fn cursor_set(b: &[u8]) {
    let (p, n) = raw(b);
    unsafe { imports::cursor_set(p, n) };
}

pub fn effect_begin(name: &str) -> u32 {
    let (p, n) = raw(name.as_bytes());
    unsafe { imports::effect_begin(p, n) }
}

pub fn effect_end(status: u32, b: &[u8]) {
    let (p, n) = raw(b);
    unsafe { imports::effect_end(status, p, n) };
}

pub fn sleep(name: &str, ms: i64) {
    let (p, n) = raw(name.as_bytes());
    unsafe { imports::sleep(p, n, ms) };
}

pub fn await_signal(name: &str, timeout_ms: i64) -> u32 {
    let (p, n) = raw(name.as_bytes());
    unsafe { imports::await_signal(p, n, timeout_ms) }
}

pub fn child_start(req: &[u8]) -> u32 {
    let (p, n) = raw(req);
    unsafe { imports::child_start(p, n) }
}

pub fn child_await(ids: &[u8], mode: u32, timeout_ms: i64) -> u32 {
    let (p, n) = raw(ids);
    unsafe { imports::child_await(p, n, mode, timeout_ms) }
}

pub fn changed(id: &str, flags: u32) -> u32 {
    let (p, n) = raw(id.as_bytes());
    unsafe { imports::changed(p, n, flags) }
}

/// Completes the run; the host never returns from it.
pub fn complete(b: &[u8]) -> ! {
    let (p, n) = raw(b);
    unsafe { imports::complete(p, n) };
    unreachable!("wasmflow: the host returned from complete")
}

/// Fails the run; the host never returns from it.
pub fn fail(msg: &str) -> ! {
    let (p, n) = raw(msg.as_bytes());
    unsafe { imports::fail(p, n) };
    unreachable!("wasmflow: the host returned from fail")
}

pub fn log(level: u32, b: &[u8]) {
    let (p, n) = raw(b);
    unsafe { imports::log(level, p, n) };
}

pub fn progress(b: &[u8]) {
    let (p, n) = raw(b);
    unsafe { imports::progress(p, n) };
}

pub fn now() -> i64 {
    unsafe { imports::now() }
}

/// Fills `b` from the host's random source, in chunks well under the host's
/// payload limit.
pub fn random(b: &mut [u8]) {
    for c in b.chunks_mut(64 << 10) {
        unsafe { imports::random(c.as_mut_ptr(), c.len() as u32) };
    }
}
