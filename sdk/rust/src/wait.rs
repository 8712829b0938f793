use crate::json::{self, FromJson};
use crate::step::millis;
use crate::{sys, Context, Error};
use std::time::Duration;

/// A durable sleep of `d`, named `name` (an empty name is `"sleep"`): the
/// host records a timer at its current time plus `d` and suspends the run,
/// which costs no memory and no process while it waits, then resumes it, on
/// any process, once the time has passed. On replay a fired timer returns at
/// once. Only in workflow code, never inside a step body (use
/// `std::thread::sleep` there, which counts against the activation's time).
pub fn sleep(_ctx: &Context, name: &str, d: Duration) {
    sys::sleep(name, millis(d))
}

/// Waits for the next signal named `name` sent to the run (signals sent
/// before the wait count, oldest first) and decodes its JSON payload into
/// T. The run suspends while it waits. It returns `Ok(None)` if `timeout`
/// passed first; a `timeout` of `None` waits for ever, and `Some(0)` only
/// takes a signal already there. Only in workflow code, never inside a step
/// body. The outcome is journaled: replay returns the same signal or the
/// same timeout.
///
/// The error is returned only when a signal arrived whose payload does not
/// decode into T.
pub fn await_signal<T: FromJson>(_ctx: &Context, name: &str, timeout: Option<Duration>) -> Result<Option<T>, Error> {
    let ms = timeout.map(millis).unwrap_or(-1);
    if sys::await_signal(name, ms) == sys::SIGNAL_TIMED_OUT {
        return Ok(None);
    }
    json::from_slice(&sys::result())
        .map(Some)
        .map_err(|e| Error::new(format!("wasmflow: the payload of signal {:?} does not decode: {}", name, e)))
}
