use std::fmt;

/// Error is what workflow code, step bodies and effects return when they
/// fail. It carries a message (only the message survives the journal) and
/// whether it is permanent.
///
/// Any `std::error::Error` converts into it, so `?` works on the errors of
/// other libraries. `Error` itself does not implement `std::error::Error`,
/// which keeps that conversion possible (as `anyhow::Error` does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    message: String,
    kind: Kind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Kind {
    Plain,
    Permanent,
    UnadvanceableCursor, // permanent too
    Step(String),
    /// The host refused to start a child run of this workflow.
    ChildRefused(String),
}

impl Error {
    /// Returns an error with this message. Returned from a step body, the
    /// step is retried per its options.
    pub fn new(message: impl Into<String>) -> Error {
        Error { message: message.into(), kind: Kind::Plain }
    }

    /// Returns an error that must not be retried: a step body (or an effect)
    /// that returns it fails at once, whatever attempts are left.
    pub fn permanent(message: impl Into<String>) -> Error {
        Error { message: message.into(), kind: Kind::Permanent }
    }

    /// Returns the error marked permanent (see [`Error::permanent`]).
    pub fn into_permanent(self) -> Error {
        Error { message: self.to_string(), kind: Kind::Permanent }
    }

    pub(crate) fn step_failed(step: &str, message: impl Into<String>) -> Error {
        Error { message: message.into(), kind: Kind::Step(step.to_string()) }
    }

    pub(crate) fn child_refused(workflow: &str, reason: impl Into<String>) -> Error {
        Error { message: reason.into(), kind: Kind::ChildRefused(workflow.to_string()) }
    }

    pub(crate) fn unadvanceable_cursor(message: impl Into<String>) -> Error {
        Error { message: message.into(), kind: Kind::UnadvanceableCursor }
    }

    /// Reports whether the error is permanent.
    pub fn is_permanent(&self) -> bool {
        self.kind == Kind::Permanent || self.kind == Kind::UnadvanceableCursor
    }

    /// Reports whether this is the error [`StepContext::advance`](crate::StepContext::advance)
    /// returns for a cursor that cannot advance (it is permanent).
    pub fn is_unadvanceable_cursor(&self) -> bool {
        self.kind == Kind::UnadvanceableCursor
    }

    /// Returns the name of the step, when this is the error [`step`](crate::step)
    /// returns for a step that failed for good (live or on replay).
    pub fn step(&self) -> Option<&str> {
        match &self.kind {
            Kind::Step(s) => Some(s),
            _ => None,
        }
    }

    /// Returns the workflow of the child run, when this is the error
    /// [`Context::start_child`](crate::Context::start_child) returns
    /// because the host refused to start it (live or on replay); the
    /// message is then the host's reason.
    pub fn refused_child(&self) -> Option<&str> {
        match &self.kind {
            Kind::ChildRefused(w) => Some(w),
            _ => None,
        }
    }

    /// Returns the message; for a step's error, the message of the error
    /// that ended its last attempt.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    /// Formats the message; a step's error reads `step "NAME" failed:
    /// MESSAGE`, a refused child `child run of workflow "NAME" refused:
    /// REASON`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Step(s) => write!(f, "step {:?} failed: {}", s, self.message),
            Kind::ChildRefused(w) => write!(f, "child run of workflow {:?} refused: {}", w, self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl<E: std::error::Error> From<E> for Error {
    fn from(e: E) -> Error {
        Error::new(e.to_string())
    }
}
