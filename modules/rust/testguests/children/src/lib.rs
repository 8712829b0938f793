//! The children test guest in Rust, as modules/go/testguests/children:
//! workflows that start child runs of this module and await them, one per
//! behaviour the host's conformance suite checks (fan-out, a failing child,
//! the first of two, compensation, cancellation, a timeout, a refused
//! start). modules/TESTGUESTS.md is their contract.

use std::time::Duration;
use wasmflow::{await_all, await_all_within, await_any, json_struct, sleep, step, ChildOptions, ChildResult, Context, Error, Json, OnParentEnd, StepOptions};

wasmflow::workflows! {
    "square" => square,
    "fanout" => fanout,
    "sleeper" => sleeper,
    "fails" => fails,
    "first" => first,
    "compensate" => compensate,
    "waiter" => waiter,
    "timeout" => timeout,
    "refused" => refused,
}

json_struct! {
    pub struct SquareInput {
        pub i: i64,
        pub ms: i64,
    }
}

json_struct! {
    #[derive(Clone, Debug, PartialEq)]
    pub struct Square {
        pub square: i64,
    }
}

/// square returns {"square": i*i} from its step "square", whose body first
/// sleeps ms milliseconds (default 0), holding its activation as real work
/// would.
fn square(ctx: &Context, input: SquareInput) -> Result<Square, Error> {
    step(ctx, "square", StepOptions::new(), |_| {
        if input.ms > 0 {
            std::thread::sleep(Duration::from_millis(input.ms as u64));
        }
        Ok(Square { square: input.i * input.i })
    })
}

json_struct! {
    pub struct CountInput {
        pub n: Option<i64>,
        pub ms: i64,
    }
}

/// fanout starts n children of square (default 3), with i from 1 to n and
/// the input's ms (default 0), and sums their squares.
fn fanout(ctx: &Context, input: CountInput) -> Result<Json, Error> {
    let n = input.n.unwrap_or(3);
    let mut children = Vec::new();
    for i in 1..=n {
        children.push(ctx.start_child("square", &Json::object().with("i", &i).with("ms", &input.ms))?);
    }
    let mut sum = 0;
    for (c, r) in children.iter().zip(await_all::<Square>(ctx, &children)?) {
        match r {
            ChildResult::Completed(s) => sum += s.square,
            other => return Err(Error::new(format!("fanout: child {} did not complete: {:?}", c.id(), other))),
        }
    }
    Ok(Json::object().with("sum", &sum).with("children", &n))
}

json_struct! {
    pub struct SleeperInput {
        pub ms: Option<i64>,
    }
}

/// sleeper sleeps ms milliseconds (default 200) on timer "nap".
fn sleeper(ctx: &Context, input: SleeperInput) -> Result<Json, Error> {
    let ms = input.ms.unwrap_or(200).max(0);
    sleep(ctx, "nap", Duration::from_millis(ms as u64));
    Ok(Json::object().with("slept", &ms))
}

fn fails(_ctx: &Context, _: ()) -> Result<(), Error> {
    Err(Error::new("child failed on purpose"))
}

/// A sleeper that outlives any test unless something ends it.
fn long_sleeper() -> Json {
    Json::object().with("ms", &60000)
}

/// first starts a long sleeper and a square of 7 and takes whichever ends
/// first, which must be the square; the sleeper is cancelled when the run
/// completes.
fn first(ctx: &Context, _: ()) -> Result<Json, Error> {
    let sleeper = ctx.start_child("sleeper", &long_sleeper())?;
    let square = ctx.start_child("square", &Json::object().with("i", &7))?;
    let children = [sleeper, square];
    match await_any::<Json>(ctx, &children, None)? {
        Some((1, ChildResult::Completed(out))) => Ok(Json::object().with("first", &out)),
        Some((i, r)) => Err(Error::new(format!("first: child {} ({}) ended first: {:?}", children[i].id(), children[i].workflow(), r))),
        None => Err(Error::new("first: the await without a timeout timed out")),
    }
}

/// compensate awaits a child that fails and, since it failed, runs the
/// compensating step "undo".
fn compensate(ctx: &Context, _: ()) -> Result<Json, Error> {
    let child = ctx.start_child("fails", &())?;
    let r = child.wait::<Json>(ctx)?;
    let error = match &r {
        ChildResult::Failed(e) => e.clone(),
        other => return Err(Error::new(format!("compensate: the child did not fail: {:?}", other))),
    };
    let undo: String = step(ctx, "undo", StepOptions::new(), |_| Ok("undone".to_string()))?;
    Ok(Json::object().with("child", "failed").with("error", &error).with("undo", &undo))
}

/// waiter starts n long sleepers and awaits them all: the test cancels it.
fn waiter(ctx: &Context, input: CountInput) -> Result<Json, Error> {
    let n = input.n.unwrap_or(2);
    let mut children = Vec::new();
    for _ in 0..n {
        children.push(ctx.start_child("sleeper", &long_sleeper())?);
    }
    let results = await_all::<Json>(ctx, &children)?;
    Ok(Json::object().with("children", &(results.len() as i64)))
}

/// timeout awaits an abandoned long sleeper for 50 ms; the sleeper goes on.
fn timeout(ctx: &Context, _: ()) -> Result<Json, Error> {
    let opts = ChildOptions::new().on_parent_end(OnParentEnd::Abandon);
    let child = ctx.start_child_with("sleeper", &long_sleeper(), &opts)?;
    let r = await_all_within::<Json>(ctx, &[child], Some(Duration::from_millis(50)))?;
    Ok(Json::object().with("timed_out", &r.is_none()))
}

/// refused starts a child of a workflow this module does not have.
fn refused(ctx: &Context, _: ()) -> Result<Json, Error> {
    match ctx.start_child("nosuch", &()) {
        Err(e) if e.refused_child() == Some("nosuch") => Ok(Json::object().with("refused", e.message())),
        Err(e) => Err(e),
        Ok(c) => Err(Error::new(format!("refused: the host started child {} of workflow nosuch", c.id()))),
    }
}
