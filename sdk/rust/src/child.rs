//! Child runs (ABI.md, section 5.9): a workflow starts runs of other
//! workflows beside itself and awaits one, all or the first of them. Each
//! child is a run in its own right, on whichever process claims it; the
//! parent waits at no cost, as for a signal.

use crate::json::{self, FromJson, Json, ToJson};
use crate::step::millis;
use crate::{sys, Context, Error};
use std::time::Duration;

/// OnParentEnd says what becomes of a child run whose parent ends
/// (completes, fails or is cancelled) before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnParentEnd {
    /// The child is cancelled, and its own children in turn (the default).
    Cancel,
    /// The child goes on alone.
    Abandon,
}

/// ChildOptions are the options of a child run. The zero value
/// (`ChildOptions::new()`) runs the workflow in the very module version the
/// parent runs, and cancels the child if the parent ends first.
#[derive(Clone, Debug, Default)]
pub struct ChildOptions {
    module: Option<String>,
    version: Option<String>,
    on_parent_end: Option<OnParentEnd>,
}

impl ChildOptions {
    /// Returns the default options.
    pub fn new() -> ChildOptions {
        ChildOptions::default()
    }

    /// Runs the child in the module of that name (its latest version, unless
    /// [`version`](ChildOptions::version) says otherwise), resolved when the
    /// child starts; the child is pinned to it.
    pub fn module(mut self, name: &str) -> ChildOptions {
        self.module = Some(name.to_string());
        self
    }

    /// Runs the child in this version of the module named with
    /// [`module`](ChildOptions::module), which it requires.
    pub fn version(mut self, version: &str) -> ChildOptions {
        self.version = Some(version.to_string());
        self
    }

    /// Says what becomes of the child if the parent ends first.
    pub fn on_parent_end(mut self, e: OnParentEnd) -> ChildOptions {
        self.on_parent_end = Some(e);
        self
    }

    /// Encodes the request of `child_start` (ABI.md, section 5.9), leaving
    /// out defaults. It panics if a version is given without a module.
    fn request(&self, workflow: &str, input: Json) -> Vec<u8> {
        if self.version.is_some() && self.module.is_none() {
            panic!("wasmflow: the child run of workflow {:?} names a version but no module (ChildOptions::version needs ChildOptions::module)", workflow);
        }
        let mut o = Json::object().with("workflow", workflow);
        o.set("input", input);
        if let Some(m) = &self.module {
            o.set("module", m.to_json());
        }
        if let Some(v) = &self.version {
            o.set("version", v.to_json());
        }
        match self.on_parent_end {
            Some(OnParentEnd::Abandon) => o.set("on_parent_end", "abandon".to_json()),
            Some(OnParentEnd::Cancel) => o.set("on_parent_end", "cancel".to_json()),
            None => {}
        }
        o.to_json_string().into_bytes()
    }
}

/// Child is a child run the workflow started: its id, to await it, and its
/// workflow. Like a step, a start is journaled, so every replay of the
/// parent gets the same child back and none is ever started twice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Child {
    id: String,
    workflow: String,
}

impl Child {
    /// Returns the child's run id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Returns the name of the workflow the child runs.
    pub fn workflow(&self) -> &str {
        &self.workflow
    }

    /// Waits until the child has ended and returns its outcome, its output
    /// decoded into T if it completed. See [`await_all`].
    pub fn wait<T: FromJson>(&self, ctx: &Context) -> Result<ChildResult<T>, Error> {
        let mut all = await_all(ctx, std::slice::from_ref(self))?;
        Ok(all.remove(0))
    }
}

/// ChildResult is how a child run ended: a child's failure reaches its
/// parent as a value, for the parent to handle (compensate, try another
/// input, fail in turn).
#[derive(Clone, Debug, PartialEq)]
pub enum ChildResult<T> {
    /// The child completed with this output.
    Completed(T),
    /// The child failed with this error message.
    Failed(String),
    /// The child was cancelled; the message says why.
    Cancelled(String),
}

impl<T> ChildResult<T> {
    /// Reports whether the child completed.
    pub fn is_completed(&self) -> bool {
        matches!(self, ChildResult::Completed(_))
    }

    /// Returns the child's output if it completed.
    pub fn output(&self) -> Option<&T> {
        match self {
            ChildResult::Completed(v) => Some(v),
            _ => None,
        }
    }

    /// Returns the child's error message if it failed or was cancelled.
    pub fn error(&self) -> Option<&str> {
        match self {
            ChildResult::Completed(_) => None,
            ChildResult::Failed(m) | ChildResult::Cancelled(m) => Some(m),
        }
    }

    /// Returns the output, or an error that says how the child ended, so
    /// that a workflow that cannot go on without the child can use `?`.
    pub fn into_result(self) -> Result<T, Error> {
        match self {
            ChildResult::Completed(v) => Ok(v),
            ChildResult::Failed(m) => Err(Error::new(format!("child run failed: {}", m))),
            ChildResult::Cancelled(m) => Err(Error::new(format!("child run cancelled: {}", m))),
        }
    }
}

impl Context {
    /// Starts a child run of `workflow` of the same module version as this
    /// run, with `input` encoded as JSON, and returns it to await. Only in
    /// workflow code, never inside a step body. The start is journaled:
    /// replay returns the same child without starting anything.
    ///
    /// If the host refuses the start (for example, the module has no such
    /// workflow), no run was made and the error's
    /// [`refused_child`](Error::refused_child) is `Some(workflow)`, with the
    /// host's reason as its message; replay returns the same refusal.
    pub fn start_child<I: ToJson + ?Sized>(&self, workflow: &str, input: &I) -> Result<Child, Error> {
        self.start_child_with(workflow, input, &ChildOptions::new())
    }

    /// Starts a child run as [`start_child`](Context::start_child) does,
    /// with options: another module, a version, what becomes of the child
    /// if this run ends first.
    pub fn start_child_with<I: ToJson + ?Sized>(&self, workflow: &str, input: &I, opts: &ChildOptions) -> Result<Child, Error> {
        start(&mut Sys, workflow, input.to_json(), opts)
    }
}

/// Waits until every child in `children` has ended and returns their
/// outcomes in the same order, outputs decoded into T. The run suspends
/// while it waits (status `waiting`) and costs nothing; the end of the last
/// child wakes it on any process. Only in workflow code. The wait is
/// journaled: replay returns the same outcomes, even for a child retried
/// since.
///
/// The error is returned only when a completed child's output does not
/// decode into T (use [`Json`] for children of different output types).
pub fn await_all<T: FromJson>(_ctx: &Context, children: &[Child]) -> Result<Vec<ChildResult<T>>, Error> {
    wait_all_forever(&mut Sys, children)
}

/// Waits as [`await_all`] does, for at most `timeout`: it returns
/// `Ok(None)` if the timeout passed before every child had ended (the
/// children go on), and `Some(Duration::ZERO)` only takes children that
/// have all ended already. `None` waits for ever.
pub fn await_all_within<T: FromJson>(_ctx: &Context, children: &[Child], timeout: Option<Duration>) -> Result<Option<Vec<ChildResult<T>>>, Error> {
    wait_all(&mut Sys, children, timeout)
}

/// Waits until one of `children` has ended and returns its index in
/// `children` with its outcome (the first in the slice if several have
/// ended), or `Ok(None)` if `timeout` passed first; `None` waits for ever,
/// and `Some(Duration::ZERO)` only takes a child that has already ended. The
/// run suspends while it waits. The others go on; await them again, or let
/// the run's end cancel them. The wait and its answer are journaled.
///
/// It panics if `children` is empty. The error is returned only when the
/// child's output does not decode into T.
pub fn await_any<T: FromJson>(_ctx: &Context, children: &[Child], timeout: Option<Duration>) -> Result<Option<(usize, ChildResult<T>)>, Error> {
    wait_any(&mut Sys, children, timeout)
}

/// Branch is one branch of [`parallel`]: a workflow of the same module and
/// its input.
#[derive(Clone, Debug, PartialEq)]
pub struct Branch {
    workflow: String,
    input: Json,
}

impl Branch {
    /// Returns the branch that runs `workflow` with `input` encoded as JSON.
    pub fn new<I: ToJson + ?Sized>(workflow: &str, input: &I) -> Branch {
        Branch { workflow: workflow.to_string(), input: input.to_json() }
    }
}

/// Runs each branch as a child run of the same module, all at the same
/// time, waits until all have ended, and returns their outcomes in the
/// order of `branches`. A failed branch is a [`ChildResult`], not an error.
///
/// The error is returned when the host refused to start a branch (the
/// branches started before it are not awaited; they are cancelled when the
/// run ends), or when an output does not decode into T.
pub fn parallel<T: FromJson>(_ctx: &Context, branches: &[Branch]) -> Result<Vec<ChildResult<T>>, Error> {
    run_parallel(&mut Sys, branches)
}

/// Host is what the functions above need of the host, so that their logic
/// can be tested without one. Each call answers the function's status and
/// the result register.
trait Host {
    fn child_start(&mut self, req: &[u8]) -> (u32, Vec<u8>);
    fn child_await(&mut self, ids: &[u8], mode: u32, timeout_ms: i64) -> (u32, Vec<u8>);
}

/// Sys is the real host.
struct Sys;

impl Host for Sys {
    fn child_start(&mut self, req: &[u8]) -> (u32, Vec<u8>) {
        let r = sys::child_start(req);
        (r, sys::result())
    }

    fn child_await(&mut self, ids: &[u8], mode: u32, timeout_ms: i64) -> (u32, Vec<u8>) {
        let r = sys::child_await(ids, mode, timeout_ms);
        (r, sys::result())
    }
}

fn start(h: &mut impl Host, workflow: &str, input: Json, opts: &ChildOptions) -> Result<Child, Error> {
    let req = opts.request(workflow, input);
    match h.child_start(&req) {
        (sys::CHILD_STARTED, id) => Ok(Child { id: String::from_utf8_lossy(&id).into_owned(), workflow: workflow.to_string() }),
        (sys::CHILD_REFUSED, why) => Err(Error::child_refused(workflow, String::from_utf8_lossy(&why))),
        (r, _) => unlisted("child_start", r),
    }
}

fn wait_all<T: FromJson>(h: &mut impl Host, children: &[Child], timeout: Option<Duration>) -> Result<Option<Vec<ChildResult<T>>>, Error> {
    let ms = timeout.map(millis).unwrap_or(-1);
    match h.child_await(&ids(children), sys::AWAIT_ALL, ms) {
        (sys::CHILDREN_TIMED_OUT, _) if ms >= 0 => Ok(None),
        (sys::CHILDREN_READY, reg) => {
            let results = answer(&reg)?;
            if results.len() != children.len() {
                return Err(Error::new(format!("wasmflow: child_await answered {} results for {} children", results.len(), children.len())));
            }
            children.iter().zip(results.iter()).map(|(c, v)| decode(c, v)).collect::<Result<Vec<_>, _>>().map(Some)
        }
        (r, _) => unlisted("child_await", r),
    }
}

/// Without a timeout, the host never answers ChildrenTimedOut (wait_all
/// treats such an answer as unlisted).
fn wait_all_forever<T: FromJson>(h: &mut impl Host, children: &[Child]) -> Result<Vec<ChildResult<T>>, Error> {
    wait_all(h, children, None).map(|r| r.expect("wasmflow: child_await timed out without a timeout"))
}

fn wait_any<T: FromJson>(h: &mut impl Host, children: &[Child], timeout: Option<Duration>) -> Result<Option<(usize, ChildResult<T>)>, Error> {
    if children.is_empty() {
        panic!("wasmflow: await_any needs at least one child");
    }
    let ms = timeout.map(millis).unwrap_or(-1);
    match h.child_await(&ids(children), sys::AWAIT_ANY, ms) {
        (sys::CHILDREN_TIMED_OUT, _) if ms >= 0 => Ok(None),
        (sys::CHILDREN_READY, reg) => {
            let results = answer(&reg)?;
            let v = match results.as_slice() {
                [v] => v,
                _ => return Err(Error::new(format!("wasmflow: child_await (any) answered {} results, not 1", results.len()))),
            };
            let id = v.get("id").and_then(Json::as_str).unwrap_or("");
            let i = match children.iter().position(|c| c.id == id) {
                Some(i) => i,
                None => return Err(Error::new(format!("wasmflow: child_await (any) answered for run {:?}, which was not awaited", id))),
            };
            Ok(Some((i, decode(&children[i], v)?)))
        }
        (r, _) => unlisted("child_await", r),
    }
}

fn run_parallel<T: FromJson>(h: &mut impl Host, branches: &[Branch]) -> Result<Vec<ChildResult<T>>, Error> {
    let mut children = Vec::with_capacity(branches.len());
    for b in branches {
        children.push(start(h, &b.workflow, b.input.clone(), &ChildOptions::new())?);
    }
    wait_all_forever(h, &children)
}

/// Encodes the ids of `children` as the JSON array child_await takes.
fn ids(children: &[Child]) -> Vec<u8> {
    let ids: Vec<&str> = children.iter().map(|c| c.id.as_str()).collect();
    json::to_string(&ids).into_bytes()
}

fn answer(reg: &[u8]) -> Result<Vec<Json>, Error> {
    match Json::parse(reg) {
        Ok(Json::Array(a)) => Ok(a),
        Ok(_) => Err(Error::new("wasmflow: child_await answered something other than an array")),
        Err(e) => Err(Error::new(format!("wasmflow: child_await answered invalid JSON: {}", e))),
    }
}

/// Decodes one result of child_await, which must be `c`'s.
fn decode<T: FromJson>(c: &Child, v: &Json) -> Result<ChildResult<T>, Error> {
    let id = v.get("id").and_then(Json::as_str).unwrap_or("");
    if id != c.id {
        return Err(Error::new(format!("wasmflow: child_await answered for run {:?} where child {:?} was expected", id, c.id)));
    }
    let message = || v.get("error").and_then(Json::as_str).unwrap_or("").to_string();
    match v.get("status").and_then(Json::as_str) {
        Some("completed") => T::from_json(v.get("output").unwrap_or(&Json::Null))
            .map(ChildResult::Completed)
            .map_err(|e| Error::new(format!("wasmflow: the output of child run {} (workflow {:?}) does not decode: {}", c.id, c.workflow, e))),
        Some("failed") => Ok(ChildResult::Failed(message())),
        Some("cancelled") => Ok(ChildResult::Cancelled(message())),
        s => Err(Error::new(format!("wasmflow: child run {} ended with status {:?}, which ABI version 1 does not list", c.id, s.unwrap_or("")))),
    }
}

/// A status the ABI does not list for the function: this SDK never exports
/// wasmflow_resume, so even Park (255) is one. The panic fails the run.
fn unlisted<T>(function: &str, r: u32) -> T {
    panic!("wasmflow: {} answered {}, which ABI version 1 does not list for a guest that cannot park", function, r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Fake is a host with a journal of one parent's children: it starts
    /// children of the workflows it knows, and answers awaits from the
    /// outcomes the test gives them.
    #[derive(Default)]
    struct Fake {
        workflows: Vec<&'static str>,
        requests: Vec<Json>,
        awaits: Vec<(Json, u32, i64)>,
        /// Outcomes by child id, in the order the children end.
        ended: Vec<(String, Json)>,
    }

    impl Fake {
        fn new(workflows: &[&'static str]) -> Fake {
            Fake { workflows: workflows.to_vec(), ..Default::default() }
        }

        fn end(&mut self, id: &str, result: &str) {
            let mut v = Json::parse(result.as_bytes()).unwrap();
            v.set("id", id.to_json());
            self.ended.push((id.to_string(), v));
        }
    }

    impl Host for Fake {
        fn child_start(&mut self, req: &[u8]) -> (u32, Vec<u8>) {
            let req = Json::parse(req).expect("the request is JSON");
            let workflow = req.get("workflow").and_then(Json::as_str).unwrap().to_string();
            self.requests.push(req);
            if !self.workflows.contains(&workflow.as_str()) {
                return (sys::CHILD_REFUSED, format!("module has no workflow {:?}", workflow).into_bytes());
            }
            (sys::CHILD_STARTED, format!("child-{}", self.requests.len()).into_bytes())
        }

        fn child_await(&mut self, ids: &[u8], mode: u32, timeout_ms: i64) -> (u32, Vec<u8>) {
            let ids = Json::parse(ids).expect("the ids are JSON");
            self.awaits.push((ids.clone(), mode, timeout_ms));
            let ids: Vec<String> = FromJson::from_json(&ids).unwrap();
            let by_id: HashMap<&str, &Json> = self.ended.iter().map(|(id, v)| (id.as_str(), v)).collect();
            let out = if mode == sys::AWAIT_ALL {
                match ids.iter().map(|id| by_id.get(id.as_str()).cloned().cloned()).collect::<Option<Vec<Json>>>() {
                    Some(all) => all,
                    None => return (sys::CHILDREN_TIMED_OUT, Vec::new()),
                }
            } else {
                match self.ended.iter().find(|(id, _)| ids.contains(id)) {
                    Some((_, v)) => vec![v.clone()],
                    None => return (sys::CHILDREN_TIMED_OUT, Vec::new()),
                }
            };
            (sys::CHILDREN_READY, Json::Array(out).to_json_string().into_bytes())
        }
    }

    crate::json_struct! {
        #[derive(Debug, PartialEq)]
        struct Square {
            square: i64,
        }
    }

    #[test]
    fn encodes_requests_leaving_out_defaults() {
        let opts = ChildOptions::new();
        assert_eq!(opts.request("square", Json::object().with("i", &1)), br#"{"workflow":"square","input":{"i":1}}"#.to_vec());
        let opts = ChildOptions::new().module("other").version("1.0.0").on_parent_end(OnParentEnd::Abandon);
        assert_eq!(
            String::from_utf8(opts.request("w", Json::Null)).unwrap(),
            r#"{"workflow":"w","input":null,"module":"other","version":"1.0.0","on_parent_end":"abandon"}"#
        );
        let opts = ChildOptions::new().on_parent_end(OnParentEnd::Cancel);
        assert_eq!(String::from_utf8(opts.request("w", Json::Null)).unwrap(), r#"{"workflow":"w","input":null,"on_parent_end":"cancel"}"#);
    }

    #[test]
    #[should_panic(expected = "needs ChildOptions::module")]
    fn refuses_a_version_without_a_module() {
        ChildOptions::new().version("2").request("w", Json::Null);
    }

    #[test]
    fn starts_children_and_awaits_all_in_order() {
        let mut h = Fake::new(&["square"]);
        let a = start(&mut h, "square", Json::object().with("i", &1), &ChildOptions::new()).unwrap();
        let b = start(&mut h, "square", Json::object().with("i", &2), &ChildOptions::new()).unwrap();
        assert_eq!((a.id(), a.workflow()), ("child-1", "square"));
        assert_eq!(b.id(), "child-2");
        // b ends before a: the results still come in the order given.
        h.end("child-2", r#"{"status":"completed","output":{"square":4}}"#);
        h.end("child-1", r#"{"status":"completed","output":{"square":1}}"#);
        let got: Vec<ChildResult<Square>> = wait_all_forever(&mut h, &[a, b]).unwrap();
        assert_eq!(got, vec![ChildResult::Completed(Square { square: 1 }), ChildResult::Completed(Square { square: 4 })]);
        assert_eq!(h.awaits, vec![(Json::parse(br#"["child-1","child-2"]"#).unwrap(), sys::AWAIT_ALL, -1)]);
    }

    #[test]
    fn a_failed_or_cancelled_child_is_a_value() {
        let mut h = Fake::new(&["fails", "square"]);
        let f = start(&mut h, "fails", Json::Null, &ChildOptions::new()).unwrap();
        let c = start(&mut h, "square", Json::Null, &ChildOptions::new()).unwrap();
        h.end(f.id(), r#"{"status":"failed","error":"child failed on purpose"}"#);
        h.end(c.id(), r#"{"status":"cancelled","error":"run cancelled"}"#);
        let got: Vec<ChildResult<Json>> = wait_all_forever(&mut h, &[f, c]).unwrap();
        assert_eq!(got[0], ChildResult::Failed("child failed on purpose".into()));
        assert_eq!(got[0].error(), Some("child failed on purpose"));
        assert!(!got[0].is_completed());
        assert_eq!(got[1], ChildResult::Cancelled("run cancelled".into()));
        let err = got[0].clone().into_result().unwrap_err();
        assert_eq!(err.to_string(), "child run failed: child failed on purpose");
    }

    #[test]
    fn a_refused_start_is_an_error_value() {
        let mut h = Fake::new(&["square"]);
        let err = start(&mut h, "nosuch", Json::Null, &ChildOptions::new()).unwrap_err();
        assert_eq!(err.refused_child(), Some("nosuch"));
        assert_eq!(err.message(), "module has no workflow \"nosuch\"");
        assert_eq!(err.to_string(), "child run of workflow \"nosuch\" refused: module has no workflow \"nosuch\"");
        assert_eq!(err.step(), None);
    }

    #[test]
    fn awaits_any_with_its_index_or_a_timeout() {
        let mut h = Fake::new(&["sleeper", "square"]);
        let s = start(&mut h, "sleeper", Json::Null, &ChildOptions::new()).unwrap();
        let q = start(&mut h, "square", Json::Null, &ChildOptions::new()).unwrap();
        let children = [s, q];
        let none: Option<(usize, ChildResult<Json>)> = wait_any(&mut h, &children, Some(Duration::from_millis(50))).unwrap();
        assert_eq!(none, None);
        h.end("child-2", r#"{"status":"completed","output":{"square":49}}"#);
        let got: Option<(usize, ChildResult<Square>)> = wait_any(&mut h, &children, None).unwrap();
        assert_eq!(got, Some((1, ChildResult::Completed(Square { square: 49 }))));
        let modes: Vec<(u32, i64)> = h.awaits.iter().map(|(_, m, t)| (*m, *t)).collect();
        assert_eq!(modes, vec![(sys::AWAIT_ANY, 50), (sys::AWAIT_ANY, -1)]);
    }

    #[test]
    fn awaits_all_of_none_through_the_host() {
        // The host journals the wait and answers [] at once; the SDK asks it
        // rather than skip the call, so that replay sees the same journal.
        let mut h = Fake::new(&[]);
        let got: Vec<ChildResult<Json>> = wait_all_forever(&mut h, &[]).unwrap();
        assert!(got.is_empty());
        assert_eq!(h.awaits, vec![(Json::Array(Vec::new()), sys::AWAIT_ALL, -1)]);
        let got: Vec<ChildResult<Json>> = run_parallel(&mut h, &[]).unwrap();
        assert!(got.is_empty());
        assert_eq!(h.awaits.len(), 2);
    }

    #[test]
    fn awaits_all_within_a_timeout() {
        let mut h = Fake::new(&["square"]);
        let a = start(&mut h, "square", Json::Null, &ChildOptions::new()).unwrap();
        let b = start(&mut h, "square", Json::Null, &ChildOptions::new()).unwrap();
        let children = [a, b];
        h.end("child-1", r#"{"status":"completed","output":{"square":1}}"#);
        // One of two has ended: not all of them.
        let none = wait_all::<Square>(&mut h, &children, Some(Duration::ZERO)).unwrap();
        assert_eq!(none, None);
        h.end("child-2", r#"{"status":"completed","output":{"square":4}}"#);
        let all = wait_all::<Square>(&mut h, &children, Some(Duration::from_micros(1500))).unwrap().unwrap();
        assert_eq!(all[1], ChildResult::Completed(Square { square: 4 }));
        // Timeouts round up to whole milliseconds, so 1.5 ms is not 1.
        let modes: Vec<(u32, i64)> = h.awaits.iter().map(|(_, m, t)| (*m, *t)).collect();
        assert_eq!(modes, vec![(sys::AWAIT_ALL, 0), (sys::AWAIT_ALL, 2)]);
    }

    #[test]
    #[should_panic(expected = "child_await answered 1")]
    fn a_timeout_without_one_breaks_the_contract() {
        let mut h = Fake::new(&["square"]);
        let a = start(&mut h, "square", Json::Null, &ChildOptions::new()).unwrap();
        let _ = wait_all_forever::<Json>(&mut h, &[a]);
    }

    #[test]
    #[should_panic(expected = "at least one child")]
    fn await_any_of_nothing_panics() {
        let _ = wait_any::<Json>(&mut Fake::new(&[]), &[], None);
    }

    #[test]
    fn an_output_that_does_not_decode_is_an_error() {
        let mut h = Fake::new(&["square"]);
        let c = start(&mut h, "square", Json::Null, &ChildOptions::new()).unwrap();
        h.end(c.id(), r#"{"status":"completed","output":{"square":"four"}}"#);
        let err = wait_all_forever::<Square>(&mut h, &[c]).unwrap_err();
        assert!(err.to_string().contains("the output of child run child-1 (workflow \"square\") does not decode"), "{}", err);
    }

    #[test]
    fn answers_that_break_the_contract_are_errors() {
        let c = Child { id: "a".into(), workflow: "w".into() };
        for (reg, want) in [
            (r#"[{"id":"b","status":"completed"}]"#, "where child \"a\" was expected"),
            (r#"[{"id":"a","status":"running"}]"#, "ended with status \"running\""),
            (r#"[]"#, "answered 0 results for 1 children"),
            (r#"{}"#, "other than an array"),
        ] {
            struct Canned(&'static str);
            impl Host for Canned {
                fn child_start(&mut self, _: &[u8]) -> (u32, Vec<u8>) {
                    unreachable!()
                }
                fn child_await(&mut self, _: &[u8], _: u32, _: i64) -> (u32, Vec<u8>) {
                    (sys::CHILDREN_READY, self.0.as_bytes().to_vec())
                }
            }
            let err = wait_all_forever::<Json>(&mut Canned(reg), std::slice::from_ref(&c)).unwrap_err();
            assert!(err.to_string().contains(want), "{}: {}", reg, err);
        }
    }

    #[test]
    fn parallel_returns_results_in_the_order_of_its_branches() {
        let mut h = Fake::new(&["square", "fails"]);
        for (id, r) in [
            ("child-3", r#"{"status":"completed","output":{"square":9}}"#),
            ("child-2", r#"{"status":"failed","error":"no"}"#),
            ("child-1", r#"{"status":"completed","output":{"square":1}}"#),
        ] {
            h.end(id, r);
        }
        let branches = [Branch::new("square", &Json::object().with("i", &1)), Branch::new("fails", &()), Branch::new("square", &Json::object().with("i", &3))];
        let got: Vec<ChildResult<Json>> = run_parallel(&mut h, &branches).unwrap();
        let want: Vec<ChildResult<Json>> = vec![
            ChildResult::Completed(Json::object().with("square", &1)),
            ChildResult::Failed("no".into()),
            ChildResult::Completed(Json::object().with("square", &9)),
        ];
        assert_eq!(got, want);
        let inputs: Vec<String> = h.requests.iter().map(|r| r.to_json_string()).collect();
        assert_eq!(
            inputs,
            vec![r#"{"workflow":"square","input":{"i":1}}"#, r#"{"workflow":"fails","input":null}"#, r#"{"workflow":"square","input":{"i":3}}"#]
        );
        // A refused branch stops parallel before it awaits anything.
        let mut h = Fake::new(&["square"]);
        let err = run_parallel::<Json>(&mut h, &[Branch::new("square", &()), Branch::new("nosuch", &())]).unwrap_err();
        assert_eq!(err.refused_child(), Some("nosuch"));
        assert!(h.awaits.is_empty());
    }

    #[test]
    #[should_panic(expected = "child_await answered 255")]
    fn park_is_not_an_answer_for_this_sdk() {
        struct Parks;
        impl Host for Parks {
            fn child_start(&mut self, _: &[u8]) -> (u32, Vec<u8>) {
                unreachable!()
            }
            fn child_await(&mut self, _: &[u8], _: u32, _: i64) -> (u32, Vec<u8>) {
                (255, Vec::new())
            }
        }
        let _ = wait_all_forever::<Json>(&mut Parks, &[Child { id: "a".into(), workflow: "w".into() }]);
    }
}
