//! The steps test guest in Rust, as modules/go/testguests/steps: workflow
//! "abc" runs steps a, b and c. Built with the feature "reordered" (plain
//! rustc: `--cfg 'feature="reordered"'`) it runs a, c, b instead: the same
//! workflow with changed code, which must fail a replayed run with a
//! nondeterminism error. modules/TESTGUESTS.md is the contract.

use wasmflow::{step, Context, Error, StepOptions};

wasmflow::workflows! {
    "abc" => abc,
}

#[cfg(not(feature = "reordered"))]
const ORDER: [&str; 3] = ["a", "b", "c"];
#[cfg(feature = "reordered")]
const ORDER: [&str; 3] = ["a", "c", "b"];

fn abc(ctx: &Context, _: ()) -> Result<Vec<String>, Error> {
    let mut done = Vec::new();
    for name in ORDER {
        let out: String = step(ctx, name, StepOptions::new(), |_| Ok(name.to_string()))?;
        done.push(out);
    }
    Ok(done)
}
