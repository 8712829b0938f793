//! What runs behind the exports that [`workflows!`](crate::workflows)
//! generates: describing the module, running an invocation, compensation,
//! and turning panics into the run's outcome.

use crate::json::{self, FromJson, Json, ToJson};
use crate::step::{step, StepContext, StepOptions};
use crate::{sys, Context, Error};
use std::cell::RefCell;

/// A runner runs one workflow function on the run's input and returns its
/// encoded output.
#[doc(hidden)]
pub type Runner = fn(&Context, &[u8]) -> Result<Vec<u8>, Error>;

pub(crate) struct Compensation {
    pub name: String,
    pub opts: StepOptions,
    pub undo: Box<dyn FnOnce(&mut StepContext<'_>) -> Result<(), Error>>,
}

#[derive(PartialEq)]
enum Phase {
    Idle,
    Describe,
    Run,
}

/// State is what the panic hook needs to know about where the guest is:
/// Rust's wasm32 targets abort on panic, so the hook, not an unwinding
/// `catch_unwind`, decides what a panic does to the run.
pub(crate) struct State {
    phase: Phase,
    workflow: String,
    pub undo: Vec<Compensation>,
    /// The step whose body is running.
    pub step: Option<String>,
    /// The effect whose function is running.
    pub effect: Option<String>,
    /// Set while compensating: the workflow's error and the compensations
    /// that failed so far.
    failure: Option<(String, Vec<String>)>,
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        phase: Phase::Idle,
        workflow: String::new(),
        undo: Vec::new(),
        step: None,
        effect: None,
        failure: None,
    });
}

pub(crate) fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    STATE.with(|s| f(&mut s.borrow_mut()))
}

/// Declares the module's workflows and their options
/// (`wasmflow_describe`). It panics, which refuses the upload, if a name is
/// empty, longer than 256 bytes, or given twice.
#[doc(hidden)]
pub fn describe(workflows: &[(&str, Option<WorkflowOptions>)]) {
    install_panic_hook();
    with_state(|s| s.phase = Phase::Describe);
    for (i, (name, opts)) in workflows.iter().enumerate() {
        if name.is_empty() || name.len() > 256 {
            panic!("wasmflow: workflow name must be 1 to 256 bytes, got {:?}", name);
        }
        if workflows[..i].iter().any(|(n, _)| n == name) {
            panic!("wasmflow: workflow {:?} is registered twice", name);
        }
        sys::declare_workflow(name);
        if let Some(o) = opts {
            sys::declare_workflow_options(name, &o.encode());
        }
    }
    with_state(|s| s.phase = Phase::Idle);
}

/// WorkflowOptions are the options of a workflow, for all its runs (ABI.md,
/// section 5.2), given in [`workflows!`](crate::workflows) after the
/// workflow's function, in brackets.
#[derive(Clone, Debug, Default)]
pub struct WorkflowOptions {
    resume_delay_ms: Option<i64>,
}

impl WorkflowOptions {
    /// Returns the default options: the host's resume delay.
    pub fn new() -> WorkflowOptions {
        WorkflowOptions::default()
    }

    /// Sets how long an interrupted run of the workflow (stopped at a
    /// checkpoint by a host shutdown, its activation's time budget, an
    /// isolated step) waits before it resumes, as Rails' `resume_options
    /// wait:` does. Without it the host's delay applies (`--resume-delay`,
    /// none unless set); `Duration::ZERO` resumes at once whatever the
    /// host's setting.
    pub fn resume_delay(mut self, d: std::time::Duration) -> WorkflowOptions {
        self.resume_delay_ms = Some(crate::step::millis(d));
        self
    }

    fn encode(&self) -> Vec<u8> {
        let mut o = Json::object();
        if let Some(ms) = self.resume_delay_ms {
            o.set("resume_delay_ms", ms.to_json());
        }
        o.to_json_string().into_bytes()
    }
}

/// Runs the invocation the host asks for (`wasmflow_run`) and ends it with
/// complete or fail, neither of which returns.
#[doc(hidden)]
pub fn run(workflows: &[(&str, Runner)]) -> ! {
    install_panic_hook();
    let name = sys::workflow();
    let runner = match workflows.iter().find(|(n, _)| *n == name) {
        Some((_, r)) => *r,
        None => {
            let names: Vec<&str> = workflows.iter().map(|(n, _)| *n).collect();
            sys::fail(&format!("wasmflow: this module has no workflow {:?} (it has {:?})", name, names))
        }
    };
    with_state(|s| {
        s.phase = Phase::Run;
        s.workflow = name.clone();
    });
    let ctx = Context::new(name);
    match runner(&ctx, &sys::input()) {
        Ok(out) => sys::complete(&out),
        Err(e) => compensate(&ctx, e.to_string()),
    }
}

/// Decodes the input, calls the workflow function and encodes its output.
/// An empty input decodes as `null`.
#[doc(hidden)]
pub fn invoke<In, Out, F>(name: &str, f: F, ctx: &Context, input: &[u8]) -> Result<Vec<u8>, Error>
where
    In: FromJson,
    Out: ToJson,
    F: FnOnce(&Context, In) -> Result<Out, Error>,
{
    let v = if input.is_empty() { Json::Null } else { Json::parse(input).map_err(|e| decode_error(name, e))? };
    let input = In::from_json(&v).map_err(|e| decode_error(name, e))?;
    Ok(json::to_string(&f(ctx, input)?).into_bytes())
}

fn decode_error(workflow: &str, e: Error) -> Error {
    Error::new(format!("wasmflow: the input of workflow {:?} does not decode: {}", workflow, e))
}

/// Runs the registered compensations, newest first, each as the step
/// "undo:NAME", after the workflow failed with `message`; then fails the
/// run. Compensations are taken one at a time so that, if one panics, the
/// panic hook can go on with the rest.
fn compensate(ctx: &Context, message: String) -> ! {
    with_state(|s| {
        if s.failure.is_none() {
            s.failure = Some((message, Vec::new()));
        }
    });
    while let Some(u) = with_state(|s| s.undo.pop()) {
        let undo = u.undo;
        if let Err(e) = step(ctx, &format!("undo:{}", u.name), u.opts, move |s| undo(s)) {
            with_state(|s| s.failure.as_mut().map(|f| f.1.push(e.to_string())));
        }
    }
    let (mut msg, failed) = with_state(|s| s.failure.take()).unwrap_or_default();
    if !failed.is_empty() {
        msg.push_str("; compensation failed: ");
        msg.push_str(&failed.join("; "));
    }
    sys::fail(&msg)
}

fn install_panic_hook() {
    // The hook's argument type is named differently across Rust versions
    // (PanicInfo, PanicHookInfo): let the compiler infer it.
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let text = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "Box<dyn Any>".to_string());
        let location = info.location().map(|l| format!(" at {}:{}:{}", l.file(), l.line(), l.column())).unwrap_or_default();
        on_panic(text, location)
    }));
}

/// The panic hook. Rust's wasm32 targets cannot unwind, so after the hook
/// the guest aborts (a trap): the hook must settle the run first.
///
/// - In workflow code the run fails at once with "panic: MESSAGE", without
///   compensation, as a bug should.
/// - In a step body (or an effect), the panic is an error of the step: it is
///   recorded and the step is retried per its policy (`step_end` suspends
///   the run and does not return). If no attempt is left, the workflow
///   cannot carry on past the panic, so the run does what a workflow that
///   returns the step's error with `?` does: compensations, then failure.
/// - While describing the module, the hook logs the message and the trap
///   refuses the upload.
fn on_panic(text: String, location: String) {
    let msg = format!("panic: {}", text);
    sys::log(3, format!("{}{}", msg, location).as_bytes());

    let (phase, workflow, step, effect) = with_state(|s| (std::mem::replace(&mut s.phase, Phase::Idle), s.workflow.clone(), s.step.take(), s.effect.take()));
    if phase != Phase::Run {
        return;
    }
    with_state(|s| s.phase = Phase::Run);
    let step = match step {
        Some(step) => step,
        None => sys::fail(&msg),
    };
    if effect.is_some() {
        sys::effect_end(sys::END_ERROR, msg.as_bytes());
    }
    sys::step_end(sys::END_ERROR, msg.as_bytes());
    let err = Error::step_failed(&step, msg).to_string();
    with_state(|s| s.failure.as_mut().map(|f| f.1.push(err.clone())));
    compensate(&Context::new(workflow), err)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn encodes_workflow_options() {
        let enc = |o: WorkflowOptions| String::from_utf8(o.encode()).unwrap();
        assert_eq!(enc(WorkflowOptions::new()), "{}");
        assert_eq!(enc(WorkflowOptions::new().resume_delay(Duration::from_secs(5))), r#"{"resume_delay_ms":5000}"#);
        assert_eq!(enc(WorkflowOptions::new().resume_delay(Duration::ZERO)), r#"{"resume_delay_ms":0}"#);
    }
}
