//! Patch markers (abi/ABI.md, section 5.10): code that changes what a
//! workflow does while runs of the old code are in flight.

use crate::{sys, Context};

impl Context {
    /// A patch marker: returns true when the run takes the new code of the
    /// change `id`. A run that reaches the call for the first time (a new
    /// run, or a run past this point of its journal) takes it, and the host
    /// records the marker in its journal, so that its replays take it too.
    /// It returns false when the run replays a journal written by the code
    /// before the change, which made no call here: that run keeps the old
    /// code. Only in workflow code, never inside a step body.
    ///
    /// ```ignore
    /// if ctx.changed("fix-123") {
    ///     // new code
    /// } else {
    ///     // old code
    /// }
    /// ```
    ///
    /// Once no run in flight can still need the old code, replace the call
    /// with [`Context::deprecated`] and remove the old code; once no run has
    /// the marker in its journal, remove the call too.
    pub fn changed(&self, id: &str) -> bool {
        sys::changed(id, sys::CHANGE_ASK) == sys::CHANGE_NEW
    }

    /// Declares that the old code of change `id` is gone: the code after it
    /// is the new code only. It records nothing. A run whose journal has
    /// the marker goes on replaying; a run that took the old code fails at
    /// its next journaled call with a nondeterminism error naming both
    /// calls, as for any other change of code under a run. Only in workflow
    /// code, never inside a step body.
    pub fn deprecated(&self, id: &str) {
        sys::changed(id, sys::CHANGE_DEPRECATED);
    }
}
