//! btt's two ways of turning nanoseconds into seconds, and C's printf for the floats it prints.
//! Both conversions are kept because they round differently in the last digit.

/// `BIT_TIME`: whole seconds plus the nanoseconds divided separately.
pub fn bit_time(ns: u64) -> f64 {
    (ns / 1_000_000_000) as f64 + (ns % 1_000_000_000) as f64 / 1.0e9
}

/// `TO_SEC`: the nanoseconds divided at once.
pub fn to_sec(ns: u64) -> f64 {
    ns as f64 / 1.0e9
}

/// C's `%W.Pf` (`%W.Plf`): Rust's formatting rounds the same way; only infinities and NaN are
/// spelled differently (`inf`, `-nan`).
pub fn fixed(v: f64, width: usize, precision: usize) -> String {
    if v.is_finite() {
        format!("{v:width$.precision$}")
    } else {
        let text = match (v.is_nan(), v.is_sign_negative()) {
            (true, true) => "-nan",
            (true, false) => "nan",
            (false, true) => "-inf",
            (false, false) => "inf",
        };
        format!("{text:>width$}")
    }
}

/// The `SECONDS.NANOSECONDS` stamp btt prints with `%5d.%09lu`.
pub fn stamp(ns: u64) -> String {
    format!("{:5}.{:09}", ns / 1_000_000_000, ns % 1_000_000_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bit_time_splits_seconds() {
        assert_eq!(bit_time(1_500_000_000), 1.5);
        assert_eq!(to_sec(1_500_000_000), 1.5);
    }

    #[test]
    fn fixed_spells_non_finite_like_c() {
        assert_eq!(fixed(1.25, 8, 3), "   1.250");
        assert_eq!(fixed(f64::INFINITY, 6, 2), "   inf");
        assert_eq!(fixed(-f64::NAN, 6, 2), "  -nan");
    }

    #[test]
    fn stamp_pads_like_btt() {
        assert_eq!(stamp(3_000_000_042), "    3.000000042");
    }
}
