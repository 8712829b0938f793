//! The fanout example in Rust, behaving as modules/go/fanout does: child
//! runs for fan-out and fan-in. Workflow "fanout" runs N child runs of
//! workflow "square" of this module at the same time, on whichever host
//! processes claim them, waits for all of them at no cost, and sums their
//! squares. Each start is journaled, so a parent that crashes in the middle
//! of the fan-out and runs again never starts a child twice.
//!
//! Input of fanout (n from 0 to 10000, default 10), and its output:
//!
//!     {"n": 3}
//!     {"sum": 14, "children": 3}
//!
//! Input of square, and its output:
//!
//!     {"i": 3}
//!     {"square": 9}

use wasmflow::{json_struct, parallel, step, Branch, ChildResult, Context, Error, StepOptions};

wasmflow::workflows! {
    "fanout" => fanout,
    "square" => square,
}

json_struct! {
    /// The input of fanout.
    pub struct FanoutInput {
        pub n: Option<i64>,
    }
}

json_struct! {
    /// The output of fanout.
    pub struct FanoutOutput {
        pub sum: i64,
        pub children: i64,
    }
}

json_struct! {
    /// The input of square.
    pub struct SquareInput {
        pub i: i64,
    }
}

json_struct! {
    /// The output of square.
    pub struct Square {
        pub square: i64,
    }
}

/// The most children one fan-out starts.
const MAX_CHILDREN: i64 = 10000;

fn fanout(ctx: &Context, input: FanoutInput) -> Result<FanoutOutput, Error> {
    let n = input.n.unwrap_or(10);
    if !(0..=MAX_CHILDREN).contains(&n) {
        return Err(Error::new(format!("n is {}; it is 0 to {}", n, MAX_CHILDREN)));
    }
    let branches: Vec<Branch> = (1..=n).map(|i| Branch::new("square", &SquareInput { i })).collect();
    let mut sum = 0;
    for (i, r) in parallel::<Square>(ctx, &branches)?.into_iter().enumerate() {
        match r {
            ChildResult::Completed(s) => sum += s.square,
            // A child's failure is a value; this workflow cannot do without
            // any square, so it fails in turn.
            failed => return Err(Error::new(format!("fanout: square {} did not complete: {}", i + 1, failed.error().unwrap_or("")))),
        }
    }
    Ok(FanoutOutput { sum, children: n })
}

/// square computes i*i in a step, so that the child's result is recorded.
fn square(ctx: &Context, input: SquareInput) -> Result<Square, Error> {
    step(ctx, "square", StepOptions::new(), |_| Ok(Square { square: input.i * input.i }))
}
