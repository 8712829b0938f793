//! The receipt example in Rust, behaving as modules/go/receipt does (seed
//! 001, queues give at-least-once, not correctness): charge an order and
//! email its receipt, where a worker that crashes after sending and before
//! recording would send it twice. Each side effect is an effect: the host
//! records that it started and what it returned, and hands it a stable
//! idempotency key. A repeated execution after a crash reuses the key (the
//! fake payment provider below derives the charge id from it, as a real one
//! deduplicates on it) and the timeline marks the effect uncertain.
//!
//! Input:
//!
//!     {"order_id": "ord_1", "amount_cents": 1999, "email": "ada@example.com"}

mod sha256;

use std::time::SystemTime;
use wasmflow::{effect, json_struct, step, Context, Error, StepOptions};

json_struct! {
    /// The workflow's input.
    pub struct Input {
        pub order_id: String,
        pub amount_cents: i64,
        pub email: String,
    }
}

json_struct! {
    /// The outcome of charge_payment.
    pub struct Charge {
        pub charge_id: String,
        pub key: String,
    }
}

json_struct! {
    /// The outcome of send_receipt.
    pub struct Receipt {
        pub message_id: String,
        pub key: String,
    }
}

json_struct! {
    /// Summarises what happened, with the keys the effects ran with.
    pub struct Output {
        pub order_id: String,
        pub charge_id: String,
        pub charge_key: String,
        pub message_id: String,
        pub email_key: String,
        pub sent_at: SystemTime,
    }
}

wasmflow::workflows! {
    "receipt" => receipt,
}

fn receipt(ctx: &Context, input: Input) -> Result<Output, Error> {
    if input.order_id.is_empty() || input.amount_cents <= 0 || input.email.is_empty() {
        return Err(Error::new("receipt: order_id, a positive amount_cents and email are required"));
    }

    let charge: Charge = step(ctx, "charge_payment", StepOptions::new(), |s| {
        effect(s, "charge", |key| {
            // A real provider is sent the key (an Idempotency-Key header) and
            // answers a repeat with the first charge; the fake derives it.
            ctx.info(format!(
                "charging order_id={} amount_cents={} idempotency_key={}",
                input.order_id, input.amount_cents, key
            ));
            Ok(Charge { charge_id: format!("ch_{}", digest(key)), key: key.to_string() })
        })
    })?;

    let sent: Receipt = step(ctx, "send_receipt", StepOptions::new(), |s| {
        effect(s, "email", |key| {
            ctx.info(format!("emailing receipt to={} charge_id={} idempotency_key={}", input.email, charge.charge_id, key));
            Ok(Receipt { message_id: format!("msg_{}", digest(key)), key: key.to_string() })
        })
    })?;

    let sent_at: SystemTime = step(ctx, "mark_sent", StepOptions::new(), |s| Ok(s.context().now()))?;

    Ok(Output {
        order_id: input.order_id,
        charge_id: charge.charge_id,
        charge_key: charge.key,
        message_id: sent.message_id,
        email_key: sent.key,
        sent_at,
    })
}

/// Returns the first 8 bytes of the key's SHA-256, in hex, as the Go
/// example does.
fn digest(key: &str) -> String {
    sha256::sum(key.as_bytes())[..8].iter().map(|b| format!("{:02x}", b)).collect()
}
