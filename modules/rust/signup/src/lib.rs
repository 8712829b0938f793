//! The signup example in Rust, behaving as modules/go/signup does (seed
//! 000, foreground vs background is the wrong split): a user signs up, gets
//! an account, is sent an activation email and is activated once they
//! confirm it (the signal "email-confirmed"). The whole story reads top to
//! bottom in one function, although part of it may run inside the HTTP
//! request, part in the background, and part days later.
//!
//! It is also a saga: if the activation email cannot be sent after all its
//! retries, the account and the user are deleted again, in reverse order,
//! by compensation steps, and the run fails.
//!
//! Input:
//!
//!     {"email": "ada@example.com", "fail_email": false, "confirm_timeout_ms": 86400000}
//!
//! fail_email makes the email effect fail every time; confirm_timeout_ms
//! (default one day) bounds the wait for the confirmation.

use std::time::{Duration, SystemTime};
use wasmflow::{await_signal, effect, json_struct, step, Context, Error, Json, StepContext, StepOptions, ToJson};

json_struct! {
    /// The workflow's input.
    pub struct Input {
        pub email: String,
        pub fail_email: bool,
        pub confirm_timeout_ms: Option<u64>,
    }
}

/// Summarises the signup.
#[derive(Default)]
pub struct Output {
    pub user_id: String,
    pub account_id: String,
    pub email_id: String,
    pub confirmed: bool,
    pub activated_at: Option<SystemTime>,
}

impl ToJson for Output {
    /// As the Go example's, activated_at is left out until there is one.
    fn to_json(&self) -> Json {
        let o = Json::object()
            .with("user_id", &self.user_id)
            .with("account_id", &self.account_id)
            .with("email_id", &self.email_id)
            .with("confirmed", &self.confirmed);
        match &self.activated_at {
            Some(t) => o.with("activated_at", t),
            None => o,
        }
    }
}

json_struct! {
    /// The payload of the "email-confirmed" signal.
    pub struct Confirmation {
        pub token: String,
    }
}

wasmflow::workflows! {
    "signup" => signup,
}

fn signup(ctx: &Context, input: Input) -> Result<Output, Error> {
    if !input.email.contains('@') {
        return Err(Error::new(format!("signup: {:?} is not an email address", input.email)));
    }
    let mut out = Output::default();

    out.user_id = step(ctx, "create_user", StepOptions::new(), |s| Ok(new_id(s, "usr_")))?;
    let user_id = out.user_id.clone();
    ctx.compensate("delete_user", StepOptions::new(), move |s| {
        s.context().warn(format!("deleting user user_id={}", user_id));
        Ok(())
    });

    out.account_id = step(ctx, "create_account", StepOptions::new(), |s| Ok(new_id(s, "acc_")))?;
    let account_id = out.account_id.clone();
    ctx.compensate("delete_account", StepOptions::new(), move |s| {
        s.context().warn(format!("deleting account account_id={}", account_id));
        Ok(())
    });

    // The email is an effect: recorded once sent, and sent again with the
    // same idempotency key only if a crash hid whether it went out.
    let email_opts = StepOptions::new().max_attempts(3).backoff(Duration::from_millis(100), Duration::from_secs(1));
    // On error, compensation (delete_account, then delete_user) runs before
    // the run fails with it.
    out.email_id = step(ctx, "send_activation_email", email_opts, |s| {
        effect(s, "email", |key| {
            if input.fail_email {
                return Err(Error::new("smtp: 550 mailbox unavailable"));
            }
            ctx.info(format!("sending activation email to={} idempotency_key={}", input.email, key));
            Ok(format!("msg_{}", key.replace('/', "_")))
        })
    })?;

    let timeout = Duration::from_millis(input.confirm_timeout_ms.unwrap_or(24 * 60 * 60 * 1000));
    let confirmation: Option<Confirmation> = await_signal(ctx, "email-confirmed", Some(timeout))?;
    if confirmation.is_none() {
        ctx.info(format!("email of user {} was not confirmed within {:?}", out.user_id, timeout));
        return Ok(out);
    }
    out.confirmed = true;

    out.activated_at = Some(step(ctx, "activate", StepOptions::new(), |s| Ok(s.context().now()))?);
    Ok(out)
}

/// Makes an id from fresh random bytes (inside a step the host's random
/// source is real; the id is recorded with the step's output).
fn new_id(s: &StepContext<'_>, prefix: &str) -> String {
    let mut b = [0u8; 8];
    s.context().random(&mut b);
    let hex: String = b.iter().map(|x| format!("{:02x}", x)).collect();
    format!("{}{}", prefix, hex)
}
