use crate::json::{self, FromJson, Json, ToJson};
use crate::runtime::with_state;
use crate::{sys, Context, Error};
use std::cell::Cell;
use std::time::Duration;

/// StepOptions are the options of a step. The zero value (`StepOptions::new()`)
/// gives the host's defaults: 3 attempts, 1 s backoff doubling up to 1 min,
/// no non-retryable prefixes, no step timeout, not isolated.
#[derive(Clone, Debug, Default)]
pub struct StepOptions {
    max_attempts: u32,
    backoff_ms: i64,
    max_backoff_ms: i64,
    non_retryable: Vec<String>,
    timeout_ms: i64,
    isolated: bool,
    resume_errors_after_advancing: bool,
}

impl StepOptions {
    /// Returns the default options.
    pub fn new() -> StepOptions {
        StepOptions::default()
    }

    /// Sets how many times the body may run before the step fails for
    /// good. The default is 3; 1 disables retries.
    pub fn max_attempts(mut self, n: u32) -> StepOptions {
        self.max_attempts = n;
        self
    }

    /// Sets the delay before the second attempt (default 1 s), which doubles
    /// for each further attempt up to `max` (default 1 min).
    pub fn backoff(mut self, initial: Duration, max: Duration) -> StepOptions {
        self.backoff_ms = millis(initial);
        self.max_backoff_ms = millis(max);
        self
    }

    /// Makes the step fail at once, without retry, on an error whose message
    /// starts with `prefix`. May be given more than once.
    pub fn non_retryable(mut self, prefix: &str) -> StepOptions {
        self.non_retryable.push(prefix.to_string());
        self
    }

    /// Bounds one attempt of the body. The host stops an attempt that runs
    /// longer; it fails and is retried per the step's policy. The default is
    /// no step timeout, only the host's activation time limit.
    pub fn timeout(mut self, d: Duration) -> StepOptions {
        self.timeout_ms = millis(d);
        self
    }

    /// Makes the step start in a fresh activation: if anything ran live in
    /// the current one, the run is suspended first and resumes with the
    /// step. Use it for long or heavy steps that should have an activation's
    /// whole time budget to themselves.
    pub fn isolated(mut self) -> StepOptions {
        self.isolated = true;
        self
    }

    /// Makes an error of the body after it saved a new cursor
    /// ([`set`](StepContext::set), [`advance`](StepContext::advance)) resume
    /// the step from that cursor without using up an attempt, as Rails'
    /// option of that name does. The step waits the backoff the next retry
    /// would have waited before it resumes, and the run's activations are
    /// bounded by the host, so a body that keeps advancing and failing
    /// cannot loop without pause or for ever. Permanent and non-retryable
    /// errors still fail the step at once, and an error with no new cursor
    /// uses up an attempt as usual.
    pub fn resume_errors_after_advancing(mut self) -> StepOptions {
        self.resume_errors_after_advancing = true;
        self
    }

    /// Encodes the options as the JSON object of ABI.md section 5.3, leaving
    /// out defaults (an empty slice when all are).
    fn encode(&self) -> Vec<u8> {
        let mut o = Json::object();
        if self.max_attempts > 0 {
            o.set("max_attempts", self.max_attempts.to_json());
        }
        if self.backoff_ms > 0 {
            o.set("backoff_ms", self.backoff_ms.to_json());
        }
        if self.max_backoff_ms > 0 {
            o.set("max_backoff_ms", self.max_backoff_ms.to_json());
        }
        if !self.non_retryable.is_empty() {
            o.set("non_retryable", self.non_retryable.to_json());
        }
        if self.timeout_ms > 0 {
            o.set("timeout_ms", self.timeout_ms.to_json());
        }
        if self.isolated {
            o.set("isolated", Json::Bool(true));
        }
        if self.resume_errors_after_advancing {
            o.set("resume_errors_after_advancing", Json::Bool(true));
        }
        match o {
            Json::Object(ref e) if e.is_empty() => Vec::new(),
            o => o.to_json_string().into_bytes(),
        }
    }
}

/// Rounds d up to whole milliseconds, so that a positive duration never
/// becomes 0, which means "the default".
pub(crate) fn millis(d: Duration) -> i64 {
    let ms = (d.as_nanos() + 999_999) / 1_000_000;
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// StepContext is the handle a step body receives, modelled on Active Job
/// Continuations' step object: the attempt number, the step's cursor, and
/// checkpoints. It is valid only while the body runs.
///
/// A step that works through many items saves a cursor after each one
/// ([`set`](StepContext::set), [`advance`](StepContext::advance)). Saving
/// persists the cursor and is a checkpoint: a safe point where the host may
/// stop the run (shutdown, cancellation, an activation that used half its
/// time) to resume it later, in this process or another, by running the
/// body again from the last saved cursor. Code between two saves may
/// therefore run more than once; save after finishing each unit of work,
/// never before.
pub struct StepContext<'a> {
    ctx: &'a Context,
    name: String,
    cursor: Vec<u8>,
    attempt: Cell<u32>,
}

impl<'a> StepContext<'a> {
    /// Returns the workflow's Context. Inside a step body its clock and
    /// random source are real, not replayed.
    pub fn context(&self) -> &'a Context {
        self.ctx
    }

    /// Returns the step's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Returns the step's attempt number: 1 for the first attempt, one more
    /// for each retry after an error. Resuming from a checkpoint is not a
    /// new attempt.
    pub fn attempt(&self) -> u32 {
        if self.attempt.get() == 0 {
            self.attempt.set(sys::step_attempt());
        }
        self.attempt.get()
    }

    /// Returns the step's saved cursor, or None if it has none. It panics,
    /// failing the attempt, if the cursor does not decode into T (the code
    /// changed the cursor's type).
    pub fn cursor<T: FromJson>(&self) -> Option<T> {
        if self.cursor.is_empty() {
            return None;
        }
        match json::from_slice(&self.cursor) {
            Ok(v) => Some(v),
            Err(e) => panic!("wasmflow: the saved cursor of step {:?} does not decode: {}", self.name, e),
        }
    }

    /// Saves `value`, encoded as JSON, as the step's cursor, and
    /// checkpoints. When `set` returns, the cursor is persisted. If the host
    /// must stop the run here, `set` does not return: the run suspends, and
    /// the body runs again later with this cursor.
    pub fn set<T: ToJson + ?Sized>(&mut self, value: &T) {
        let b = json::to_string(value).into_bytes();
        sys::cursor_set(&b);
        self.cursor = b;
    }

    /// Increments an integer cursor (none saved counts as 0), saves it as
    /// [`set`](StepContext::set) does, and returns the new value. A loop
    /// over items 0..n reads:
    ///
    /// ```ignore
    /// let mut i: i64 = s.cursor().unwrap_or(0);
    /// while i < n {
    ///     process(i);
    ///     i = s.advance()?;
    /// }
    /// ```
    ///
    /// A saved cursor that is not an integer, or is `i64::MAX`, cannot
    /// advance: `advance` then saves nothing and returns a permanent error
    /// for which [`Error::is_unadvanceable_cursor`] is true (returned from
    /// the body with `?`, it fails the step at once, without retry), as
    /// Rails' `advance!` raises `UnadvanceableCursorError`.
    pub fn advance(&mut self) -> Result<i64, Error> {
        let mut n: i64 = 0;
        if !self.cursor.is_empty() {
            n = json::from_slice(&self.cursor).map_err(|_| self.unadvanceable("it is not an integer"))?;
        }
        let n = n.checked_add(1).ok_or_else(|| self.unadvanceable("it is the largest i64"))?;
        self.set(&n);
        Ok(n)
    }

    fn unadvanceable(&self, reason: &str) -> Error {
        Error::unadvanceable_cursor(format!(
            "wasmflow: unadvanceable cursor: the cursor {} of step {:?} cannot advance: {}",
            String::from_utf8_lossy(&self.cursor),
            self.name,
            reason
        ))
    }

    /// Marks a safe point to stop without saving a cursor: if the host must
    /// stop the run here, `checkpoint` does not return, and the body runs
    /// again later from the last saved cursor. Inside an [`effect`]'s
    /// closure it fails the run with the host's guest fault `checkpoint
    /// inside effect` (a cursor save there does not compile: `set` needs
    /// the step context mutable, and the effect borrows it shared).
    pub fn checkpoint(&self) {
        sys::checkpoint()
    }
}

/// Runs `body` as the step `name` of the workflow, at most until it
/// completes once. The first time the run reaches the step, `body` runs and
/// its output is encoded as JSON and recorded; when the run replays, `step`
/// returns the recorded output and `body` does not run. Live or replayed, the
/// value returned is the one decoded from the recorded JSON, so the code
/// after the step sees the same value either way.
///
/// If `body` returns an error, the host retries the step per `opts`: the run
/// suspends until the backoff has passed and, in a later activation, `body`
/// runs again with [`StepContext::attempt`] one higher and the last cursor
/// saved. When the step fails for good (no attempts left, a non-retryable
/// prefix, or an [`Error::permanent`]), `step` returns an error whose
/// [`Error::step`] is `Some(name)` carrying the message; replay returns the
/// same error. A panic in `body` is an error of the step whose message
/// starts with `"panic: "` (see the crate documentation for what follows
/// when it leaves no attempt).
///
/// `step` may be called only from workflow code, never inside a step body:
/// steps do not nest.
pub fn step<'a, T, F>(ctx: &'a Context, name: &str, opts: StepOptions, body: F) -> Result<T, Error>
where
    T: ToJson + FromJson,
    F: FnOnce(&mut StepContext<'a>) -> Result<T, Error>,
{
    match sys::step_begin(name, &opts.encode()) {
        sys::STEP_DONE => return decode_output(name, &sys::result()),
        sys::STEP_FAILED => return Err(Error::step_failed(name, sys::result_string())),
        _ => {}
    }
    let mut s = StepContext { ctx, name: name.to_string(), cursor: sys::result(), attempt: Cell::new(0) };
    with_state(|st| st.step = Some(name.to_string()));
    let r = body(&mut s);
    with_state(|st| st.step = None);
    match r {
        Err(e) => {
            let status = if e.is_permanent() { sys::END_PERMANENT } else { sys::END_ERROR };
            let msg = e.to_string();
            sys::step_end(status, msg.as_bytes());
            // The host returned: the step failed for good (a retry would
            // have suspended the run inside step_end).
            Err(Error::step_failed(name, msg))
        }
        Ok(v) => {
            let out = json::to_string(&v).into_bytes();
            sys::step_end(sys::END_OK, &out);
            decode_output(name, &out)
        }
    }
}

fn decode_output<T: FromJson>(step: &str, b: &[u8]) -> Result<T, Error> {
    json::from_slice(b).map_err(|e| Error::new(format!("wasmflow: the recorded output of step {:?} does not decode: {}", step, e)))
}

/// Performs `f`, a side effect on the outside world (a payment, an email),
/// as the effect `name` of the current step, and records its result.
///
/// `f` receives the effect's idempotency key, `RUN_ID/STEP_SEQ/EFFECT_SEQ`,
/// the same for every execution of this effect: pass it to the remote side
/// (an Idempotency-Key header, a payment's client reference) so that it can
/// recognise a repeat. The host records that the effect started before `f`
/// runs and its outcome after. If a crash falls in between, the next
/// execution of the step runs `f` again with the same key (the timeline
/// marks the effect uncertain). Once the outcome is recorded, `effect`
/// returns the recorded result, decoded from JSON, without running `f`,
/// whether the step resumed from a checkpoint or is retried.
///
/// An error from `f` is recorded and returned as is; return it from the step
/// body to have the step retried per its policy, which runs `f` again with
/// the same key.
pub fn effect<T, F>(s: &StepContext<'_>, name: &str, f: F) -> Result<T, Error>
where
    T: ToJson + FromJson,
    F: FnOnce(&str) -> Result<T, Error>,
{
    let r = sys::effect_begin(name);
    let reg = sys::result();
    if r == sys::EFFECT_DONE {
        return json::from_slice(&reg)
            .map_err(|e| Error::new(format!("wasmflow: the recorded result of effect {:?} of step {:?} does not decode: {}", name, s.name, e)));
    }
    let key = String::from_utf8_lossy(&reg).into_owned();
    with_state(|st| st.effect = Some(name.to_string()));
    let r = f(&key);
    with_state(|st| st.effect = None);
    match r {
        Err(e) => {
            let status = if e.is_permanent() { sys::END_PERMANENT } else { sys::END_ERROR };
            sys::effect_end(status, e.to_string().as_bytes());
            Err(e)
        }
        Ok(v) => {
            let out = json::to_string(&v).into_bytes();
            sys::effect_end(sys::END_OK, &out);
            json::from_slice(&out).map_err(|e| Error::new(format!("wasmflow: the result of effect {:?} does not decode: {}", name, e)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context_with_cursor<'a>(ctx: &'a Context, cursor: &str) -> StepContext<'a> {
        StepContext { ctx, name: "count".to_string(), cursor: cursor.as_bytes().to_vec(), attempt: Cell::new(0) }
    }

    #[test]
    fn advance_on_a_cursor_that_cannot_advance_is_a_named_permanent_error() {
        let ctx = Context::new("w".to_string());
        for (cursor, reason) in [(r#""page-7""#, "not an integer"), (r#"{"next":3}"#, "not an integer"), ("1.5", "not an integer"), ("9223372036854775807", "largest i64")] {
            let mut s = context_with_cursor(&ctx, cursor);
            let err = s.advance().expect_err(cursor);
            assert!(err.is_unadvanceable_cursor() && err.is_permanent(), "{:?}", err);
            assert!(err.message().contains("unadvanceable cursor") && err.message().contains(cursor) && err.message().contains(reason), "{}", err);
            assert_eq!(s.cursor, cursor.as_bytes(), "the cursor changed");
        }
    }

    #[test]
    fn encodes_resume_errors_after_advancing() {
        let o = StepOptions::new().resume_errors_after_advancing();
        assert_eq!(String::from_utf8(o.encode()).unwrap(), r#"{"resume_errors_after_advancing":true}"#);
    }
}
