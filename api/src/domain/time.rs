//! The one rule for every timestamp a client records (README, "Input rules"): not before
//! 1970-01-01T00:00:00Z, and not more than [`CLOCK_SKEW`] after the server's clock. Bodies
//! outside it are refused (422 naming the field); webhook payload times are clamped into it
//! (`payload_time`). Query filters (`since`, `from`, …) only select and are not held to it.

use chrono::{DateTime, Duration, Utc};

/// How far in the future a client clock may be.
pub const CLOCK_SKEW: Duration = Duration::minutes(5);

/// The earliest instant recorded: the Unix epoch.
pub const EARLIEST: DateTime<Utc> = DateTime::UNIX_EPOCH;

/// `Ok(t)` when `t` is within the bounds as of `now`; the message names the bound.
pub fn check_instant(t: DateTime<Utc>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if t < EARLIEST {
        Err("must not be before 1970-01-01T00:00:00Z".to_owned())
    } else if t > now + CLOCK_SKEW {
        Err(format!(
            "must not be in the future (more than {} minutes after the server's clock)",
            CLOCK_SKEW.num_minutes()
        ))
    } else {
        Ok(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds() {
        let now = DateTime::from_timestamp(1_796_000_000, 0).unwrap();
        assert!(check_instant(EARLIEST, now).is_ok());
        assert!(check_instant(EARLIEST - Duration::seconds(1), now).is_err());
        assert!(check_instant(now + CLOCK_SKEW, now).is_ok());
        assert!(check_instant(now + CLOCK_SKEW + Duration::seconds(1), now).is_err());
        let year0: DateTime<Utc> = "0000-01-01T00:00:00Z".parse().unwrap();
        assert!(check_instant(year0, now).is_err());
    }
}
