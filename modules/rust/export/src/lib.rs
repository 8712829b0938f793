//! The export example in Rust, behaving as modules/go/export does (seed 002,
//! resumable jobs): a long export that writes many files, zips them and
//! uploads the archive. write_files saves a cursor after each item, so a
//! shutdown, a deploy or a crash costs at most the item in progress: the
//! step resumes from the last saved cursor, in this process or another. The
//! upload is an isolated step, which starts in a fresh activation with a
//! whole time budget to itself.
//!
//! Input (both optional):
//!
//!     {"items": 10000, "delay_ms": 0}
//!
//! delay_ms is slept for each item, to make the export slow enough to
//! interrupt by hand.

use std::time::Duration;
use wasmflow::{json_struct, step, Context, Error, Json, StepOptions};

json_struct! {
    /// The workflow's input.
    pub struct Input {
        pub items: Option<i64>,
        pub delay_ms: Option<u64>,
    }
}

json_struct! {
    /// write_files' cursor: the index of the next item to process and the
    /// sum of the indices processed so far (the "work" of each item).
    #[derive(Default)]
    pub struct Cursor {
        pub next: i64,
        pub sum: i64,
    }
}

json_struct! {
    /// The outcome of zip_files.
    pub struct Archive {
        pub name: String,
        pub size: i64,
    }
}

json_struct! {
    /// Summarises the export.
    pub struct Output {
        pub processed: i64,
        pub sum: i64,
        pub archive: String,
        pub size: i64,
        pub url: String,
    }
}

wasmflow::workflows! {
    "export" => export,
}

fn export(ctx: &Context, input: Input) -> Result<Output, Error> {
    let items = input.items.unwrap_or(10000);
    let delay = Duration::from_millis(input.delay_ms.unwrap_or(0));

    let written: Cursor = step(ctx, "write_files", StepOptions::new(), |s| {
        let mut cur = s.cursor::<Cursor>().unwrap_or_default();
        if cur.next > 0 {
            ctx.info(format!("resuming write_files at item {} of {}", cur.next, items));
        }
        for i in cur.next..items {
            if delay > Duration::ZERO {
                std::thread::sleep(delay);
            }
            cur.sum += i;
            cur.next = i + 1;
            if cur.next % 100 == 0 || cur.next == items {
                ctx.progress(&Json::object().with("items", &items).with("written", &cur.next));
            }
            // One save per item, after the item is done: a resumed step
            // starts at the first item not yet saved.
            s.set(&cur);
        }
        Ok(cur)
    })?;

    let archive: Archive = step(ctx, "zip_files", StepOptions::new(), |_| {
        Ok(Archive { name: format!("export-{}.zip", ctx.run_id()), size: written.next * 512 })
    })?;

    let url: String = step(ctx, "upload_files", StepOptions::new().isolated(), |_| {
        Ok(format!("https://files.example.com/{}", archive.name))
    })?;

    Ok(Output { processed: written.next, sum: written.sum, archive: archive.name, size: archive.size, url })
}
