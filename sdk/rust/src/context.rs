use crate::json::ToJson;
use crate::runtime::{with_state, Compensation};
use crate::step::{StepContext, StepOptions};
use crate::{sys, Error};
use std::cell::{Cell, RefCell};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Context is the handle a workflow function receives: the run it executes,
/// its deterministic clock and random source, its log, and the
/// compensations registered so far. It is valid for the one invocation it
/// was made for.
pub struct Context {
    workflow: String,
    run_id: RefCell<Option<String>>,
    attempt: Cell<u32>,
}

/// Level is the level of a line in the run's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

impl Context {
    pub(crate) fn new(workflow: String) -> Context {
        Context { workflow, run_id: RefCell::new(None), attempt: Cell::new(0) }
    }

    /// Returns the id of the run.
    pub fn run_id(&self) -> String {
        self.run_id.borrow_mut().get_or_insert_with(sys::run_id).clone()
    }

    /// Returns the name of the workflow being run.
    pub fn workflow(&self) -> &str {
        &self.workflow
    }

    /// Returns the run's attempt number: 1 for a new run, one more for each
    /// manual retry of the run.
    pub fn attempt(&self) -> u32 {
        if self.attempt.get() == 0 {
            self.attempt.set(sys::attempt());
        }
        self.attempt.get()
    }

    /// Returns the current time as the host gives it. Outside a step body it
    /// is the run's workflow clock: the time of the latest journal entry the
    /// run has reached, the same on every replay. Inside a step body it is
    /// the real time. (`SystemTime::now()` returns the same.)
    pub fn now(&self) -> SystemTime {
        let ns = sys::now();
        if ns >= 0 {
            UNIX_EPOCH + Duration::from_nanos(ns as u64)
        } else {
            UNIX_EPOCH - Duration::from_nanos(ns.unsigned_abs())
        }
    }

    /// Fills `buf` with random bytes from the host. Outside a step body they
    /// come from a stream seeded by the run and its journal position,
    /// identical on every replay; inside a step body they are fresh.
    pub fn random(&self, buf: &mut [u8]) {
        sys::random(buf)
    }

    /// Returns a random u64 drawn from [`Context::random`], and so
    /// deterministic outside step bodies in the same way.
    pub fn random_u64(&self) -> u64 {
        let mut b = [0u8; 8];
        sys::random(&mut b);
        u64::from_le_bytes(b)
    }

    /// Writes a line to the run's log. The host drops lines written while
    /// the run replays what it did before, so each line appears once.
    pub fn log(&self, level: Level, message: impl AsRef<str>) {
        sys::log(level as u32, message.as_ref().as_bytes())
    }

    pub fn debug(&self, message: impl AsRef<str>) {
        self.log(Level::Debug, message)
    }

    pub fn info(&self, message: impl AsRef<str>) {
        self.log(Level::Info, message)
    }

    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(Level::Warn, message)
    }

    pub fn error(&self, message: impl AsRef<str>) {
        self.log(Level::Error, message)
    }

    /// Publishes `value`, encoded as JSON, as the run's progress value for
    /// UIs, replacing the previous one.
    pub fn progress<T: ToJson + ?Sized>(&self, value: &T) {
        sys::progress(crate::json::to_string(value).as_bytes())
    }

    /// Registers `undo` as the compensation of what the workflow has done so
    /// far (a saga): typically called right after the step whose effect it
    /// reverses has succeeded. If the workflow function then returns an
    /// error, the registered compensations run in reverse order of
    /// registration, each as a step named `"undo:" + name` with `opts`, so
    /// each is journaled and runs to completion once; then the run fails
    /// with the workflow's error.
    ///
    /// Registration is in memory and happens again on every replay, since
    /// the workflow code runs again: register compensations
    /// deterministically, like everything outside step bodies.
    pub fn compensate<F>(&self, name: &str, opts: StepOptions, undo: F)
    where
        F: FnOnce(&mut StepContext<'_>) -> Result<(), Error> + 'static,
    {
        let c = Compensation { name: name.to_string(), opts, undo: Box::new(undo) };
        with_state(|s| s.undo.push(c));
    }
}
