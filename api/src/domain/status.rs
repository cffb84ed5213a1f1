//! Deployment statuses: GitHub's state words and how each one moves the canonical
//! deployment record that the metrics read.

use super::Status;

/// The state of one deployment status (GitHub's vocabulary).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusState {
    Queued,
    Pending,
    InProgress,
    Success,
    Failure,
    Error,
    Inactive,
}

/// GitHub limits a status description to 140 characters.
pub const MAX_STATUS_DESCRIPTION: usize = 140;

impl StatusState {
    pub fn as_str(self) -> &'static str {
        match self {
            StatusState::Queued => "queued",
            StatusState::Pending => "pending",
            StatusState::InProgress => "in_progress",
            StatusState::Success => "success",
            StatusState::Failure => "failure",
            StatusState::Error => "error",
            StatusState::Inactive => "inactive",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        Some(match word {
            "queued" => StatusState::Queued,
            "pending" => StatusState::Pending,
            "in_progress" => StatusState::InProgress,
            "success" => StatusState::Success,
            "failure" => StatusState::Failure,
            "error" => StatusState::Error,
            "inactive" => StatusState::Inactive,
            _ => return None,
        })
    }

    /// The state a history row records for a deployment status set directly (PATCH, admin
    /// replace). `canceled` has no GitHub state, so it records none.
    pub fn of_status(status: Status) -> Option<StatusState> {
        match status {
            Status::Queued => Some(StatusState::Queued),
            Status::InProgress => Some(StatusState::InProgress),
            Status::Success => Some(StatusState::Success),
            Status::Failure => Some(StatusState::Failure),
            Status::Error => Some(StatusState::Error),
            Status::Inactive => Some(StatusState::Inactive),
            Status::Canceled => None,
        }
    }

    /// The canonical status word: `pending` is stored as `queued` in `deployments.status`
    /// (the history keeps `pending`).
    pub fn canonical(self) -> Status {
        match self {
            StatusState::Queued | StatusState::Pending => Status::Queued,
            StatusState::InProgress => Status::InProgress,
            StatusState::Success => Status::Success,
            StatusState::Failure => Status::Failure,
            StatusState::Error => Status::Error,
            StatusState::Inactive => Status::Inactive,
        }
    }

    /// The deployment's canonical status after this status, given its current one.
    /// `inactive` means "superseded", not an outcome: it never hides a failure, error or
    /// cancellation, so the metrics keep counting those as what they were.
    pub fn next_status(self, current: Status) -> Status {
        match (self, current) {
            (StatusState::Inactive, Status::Failure | Status::Error | Status::Canceled) => current,
            _ => self.canonical(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for word in [
            "queued",
            "pending",
            "in_progress",
            "success",
            "failure",
            "error",
            "inactive",
        ] {
            assert_eq!(
                StatusState::parse(word).map(StatusState::as_str),
                Some(word)
            );
        }
        assert_eq!(StatusState::parse("canceled"), None);
        assert_eq!(StatusState::Pending.canonical(), Status::Queued);
    }

    #[test]
    fn inactive_keeps_failures() {
        assert_eq!(
            StatusState::Inactive.next_status(Status::Failure),
            Status::Failure
        );
        assert_eq!(
            StatusState::Inactive.next_status(Status::Success),
            Status::Inactive
        );
        assert_eq!(
            StatusState::Success.next_status(Status::Failure),
            Status::Success
        );
    }
}
