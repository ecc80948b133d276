//! Durations given on a command line as seconds (`-w 2.5`, `--interval 15`): a positive,
//! finite number of seconds that a `Duration` can hold, or a clear error naming the value.

use std::time::Duration;

/// The longest duration accepted: a hundred years, past any real run and far inside what
/// timers and `Instant` arithmetic can hold.
pub const MAX_SECONDS: f64 = 100.0 * 365.0 * 86_400.0;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{value}: expected a number of seconds above 0 and at most {max} (100 years)", max = MAX_SECONDS)]
pub struct DurationError {
    pub value: String,
}

/// Parses `text` as seconds.
pub fn parse_seconds(text: &str) -> Result<Duration, DurationError> {
    let error = || DurationError {
        value: text.to_owned(),
    };
    let seconds: f64 = text.trim().parse().map_err(|_| error())?;
    seconds_value(seconds).ok_or_else(error)
}

/// `seconds` as a Duration, if it is a positive, finite number of seconds up to `MAX_SECONDS`.
pub fn seconds_value(seconds: f64) -> Option<Duration> {
    if !(seconds > 0.0 && seconds <= MAX_SECONDS) {
        return None;
    }
    Duration::try_from_secs_f64(seconds).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_in_range_only() {
        assert_eq!(parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
        assert_eq!(parse_seconds(" 1 "), Ok(Duration::from_secs(1)));
        for bad in ["0", "-1", "1e300", "inf", "NaN", "x", ""] {
            let err = parse_seconds(bad).unwrap_err();
            assert_eq!(err.value, bad);
            assert!(err.to_string().contains("seconds above 0"), "{err}");
        }
    }
}
