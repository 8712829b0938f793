//! Guest SDK for [wasmflow](../../README.md) durable workflows: the guest
//! side of ABI version 1 (`abi/ABI.md`), with no dependencies, for the
//! `wasm32-wasi` target.
//!
//! A module registers its workflows with [`workflows!`], which generates the
//! exports the host calls. A workflow is a function
//! `fn(&Context, In) -> Result<Out, Error>` whose input and output are JSON
//! ([`FromJson`], [`ToJson`], [`json_struct!`]). It runs from the top in
//! every activation; [`step`]s record their outputs so that replay skips
//! them, [`effect`]s give side effects stable idempotency keys, cursors let
//! a long step resume where it stopped, [`sleep`] and [`await_signal`]
//! suspend the run at no cost, and [`Context::start_child`] starts child
//! runs beside it, to await with [`Child::wait`], [`await_all`] and
//! [`await_any`] ([`parallel`] does both for a set of branches). See the crate's README for the rules of
//! replay and a complete example.
//!
//! # Panics
//!
//! Rust's wasm32 targets abort on panic, so the SDK installs a panic hook
//! that settles the run before the abort: a panic in workflow code fails the
//! run with `panic: MESSAGE`; a panic in a step body or an effect is an
//! error of the step, retried per its policy. When it leaves no attempt, the
//! workflow cannot continue past the panic, so the run compensates and fails
//! as if the workflow had returned the step's error with `?`.

mod change;
mod child;
mod context;
mod error;
pub mod json;
mod runtime;
mod step;
mod sys;
mod wait;

pub use child::{await_all, await_all_within, await_any, parallel, Branch, Child, ChildOptions, ChildResult, OnParentEnd};
pub use context::{Context, Level};
pub use error::Error;
pub use json::{FromJson, Json, ToJson};
pub use runtime::WorkflowOptions;
pub use step::{effect, step, StepContext, StepOptions};
pub use wait::{await_signal, sleep};

#[doc(hidden)]
pub use runtime::{describe as __describe, invoke as __invoke, run as __run, Runner as __Runner};

/// ABI_VERSION is the version of the guest ABI this crate implements.
pub const ABI_VERSION: i32 = 1;

/// Registers the module's workflows and generates the exports the host
/// calls (`wasmflow_abi_version`, `wasmflow_describe`, `wasmflow_run`). Use
/// it once, at the root of a `cdylib` crate:
///
/// ```ignore
/// wasmflow::workflows! {
///     "signup" => signup,
///     "export" => export,
/// }
/// ```
///
/// Each function is `fn(&Context, In) -> Result<Out, Error>` with
/// `In: FromJson` and `Out: ToJson`. The run's input is decoded into `In`
/// (an empty input decodes as `null`, so as `In`'s zero value). If the
/// function returns `Ok`, the output completes the run. If it returns an
/// error, the compensations registered with [`Context::compensate`] run in
/// reverse order, each as its own step, and the run fails with the error's
/// message. The module is refused at upload if a name is empty, longer than
/// 256 bytes, or given twice.
///
/// A workflow's [`WorkflowOptions`] follow its function in brackets:
///
/// ```ignore
/// wasmflow::workflows! {
///     "export" => export [wasmflow::WorkflowOptions::new().resume_delay(Duration::from_secs(5))],
/// }
/// ```
#[macro_export]
macro_rules! workflows {
    ($($name:expr => $f:path $([$opts:expr])?),+ $(,)?) => {
        #[no_mangle]
        pub extern "C" fn wasmflow_abi_version() -> i32 {
            $crate::ABI_VERSION
        }

        #[no_mangle]
        pub extern "C" fn wasmflow_describe() {
            $crate::__describe(&[$({
                #[allow(unused_mut)]
                let mut opts: Option<$crate::WorkflowOptions> = None;
                $(opts = Some($opts);)?
                ($name, opts)
            }),+])
        }

        #[no_mangle]
        pub extern "C" fn wasmflow_run() {
            $crate::__run(&[$(
                ($name, (|ctx: &$crate::Context, input: &[u8]| $crate::__invoke($name, $f, ctx, input)) as $crate::__Runner)
            ),+])
        }
    };
}
