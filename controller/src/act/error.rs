//! Errors of acting on verdicts.

/// What went wrong handling a verdict.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The report's revision is not a number; the sidecar sent a bad report, do not retry.
    #[error("report names revision {revision:?}, which is not a number")]
    BadRevision {
        /// The revision as sent.
        revision: String,
    },
    /// A call to the API server failed; retry with backoff.
    #[error("cannot {action} {name}: {source}")]
    Kube {
        /// What was being done.
        action: &'static str,
        /// The object.
        name: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// The API server refused a write (409, 422) although the object had not changed when read
    /// again: not a race but a write it will not take (an invalid template, an admission
    /// policy). Give up; its answer says why.
    #[error(
        "the API server refused the patch of {name} though it had not changed: {source}; give up: fix the object or the policy that refuses it"
    )]
    Refused {
        /// The object.
        name: String,
        /// The server's answer.
        #[source]
        source: kube::Error,
    },
    /// Other writers kept winning the race for this object; retry later.
    #[error("{name} kept changing under concurrent writers; gave up for now")]
    Contended {
        /// The object.
        name: String,
    },
    /// The ReleaseCheck acted on was deleted (and maybe recreated) before its outcome was
    /// written; the records went to the log, Events and notification instead. Do not retry.
    #[error("{name} was deleted while acting on it; its outcome was not recorded there")]
    Replaced {
        /// The object.
        name: String,
    },
    /// A status patch could not be built; a bug, do not retry.
    #[error(transparent)]
    Status(#[from] crate::crd::Error),
    /// The rollback could not be planned from the objects read; wait for them to change.
    #[error(transparent)]
    Plan(#[from] crate::rollback::Error),
}

impl Error {
    /// Whether trying again may succeed: the API server overloaded, failing or not answering
    /// (see [`super::outcome::transient`]), or other writers kept winning a race.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Kube { source, .. } => super::outcome::transient(source),
            Error::Contended { .. } => true,
            Error::BadRevision { .. }
            | Error::Refused { .. }
            | Error::Replaced { .. }
            | Error::Status(_)
            | Error::Plan(_) => false,
        }
    }

    /// A mapper from a client error to [`Error::Kube`] for `action` on `name`.
    pub(crate) fn kube(action: &'static str, name: &str) -> impl FnOnce(kube::Error) -> Error {
        let name = name.to_string();
        move |source| Error::Kube {
            action,
            name,
            source,
        }
    }
}

/// Result alias of the act module.
pub type Result<T, E = Error> = std::result::Result<T, E>;
