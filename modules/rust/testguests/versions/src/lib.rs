//! The versions test guest in Rust, as modules/go/testguests/versions:
//! workflow "order" in four versions of its code, built from this one
//! source with the feature v2, v3 or v4 (plain rustc: `--cfg
//! 'feature="v2"'`; none is version 1). Version 2 changes step b to b2
//! behind the patch marker "fix-b", version 3 changes it to x without one,
//! and version 4 deprecates the marker. Workflow "in_step" calls
//! `changed` where it must not be called. modules/TESTGUESTS.md is the
//! contract.

use wasmflow::{await_signal, json_struct, step, Context, Error, Json, StepOptions};

wasmflow::workflows! {
    "order" => order,
    "in_step" => in_step,
}

#[cfg(not(any(feature = "v2", feature = "v3", feature = "v4")))]
const VERSION: i64 = 1;
#[cfg(feature = "v2")]
const VERSION: i64 = 2;
#[cfg(feature = "v3")]
const VERSION: i64 = 3;
#[cfg(feature = "v4")]
const VERSION: i64 = 4;

json_struct! {
    pub struct Output {
        pub steps: Vec<String>,
        pub version: i64,
    }
}

fn order(ctx: &Context, _: ()) -> Result<Output, Error> {
    let mut out = Output { steps: Vec::new(), version: VERSION };
    let mut run = |name: &str| -> Result<(), Error> {
        let name = name.to_string();
        let got: String = step(ctx, &name.clone(), StepOptions::new(), move |_| Ok(format!("{}@{}", name, VERSION)))?;
        out.steps.push(got);
        Ok(())
    };
    run("a")?;
    let second = match VERSION {
        2 if ctx.changed("fix-b") => "b2",
        3 => "x",
        4 => {
            ctx.deprecated("fix-b");
            "b2"
        }
        _ => "b",
    };
    run(second)?;
    await_signal::<Json>(ctx, "go", None)?;
    run("c")?;
    Ok(out)
}

/// Calls `changed` inside a step body: a guest fault.
fn in_step(ctx: &Context, _: ()) -> Result<String, Error> {
    step(ctx, "a", StepOptions::new(), |_| Ok(if ctx.changed("fix-b") { "new" } else { "old" }.to_string()))
}
