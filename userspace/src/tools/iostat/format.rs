//! Number printing as sysstat's common.c does it: fixed widths, `--dec`, human units
//! (`12.3k`), and the S_COLORS colour codes around each value.

use std::fmt::Write as _;

/// Units of `--human` values, by power of 1024 from sectors.
const UNITS: [char; 8] = ['s', 'B', 'k', 'M', 'G', 'T', 'P', '?'];

/// The unit a human value starts from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Plain number, no suffix.
    None,
    /// A number of 512-byte sectors (printed as kB and up).
    Sector,
    /// A number of kilobytes.
    Kilobyte,
}

/// The colour codes of S_COLORS / S_COLORS_SGR; all empty when colours are off.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Colors {
    pub percent_high: String,
    pub percent_low: String,
    pub zero: String,
    pub value: String,
    pub item: String,
    pub normal: String,
}

impl Colors {
    /// sysstat's init_colors: S_COLORS=never|always|auto (unset is auto), defaults replaced
    /// by S_COLORS_SGR entries like `H=31;1:Z=34`.
    pub fn from_env(colors: Option<&str>, sgr: Option<&str>, stdout_is_tty: bool) -> Self {
        let enabled = match colors {
            None => stdout_is_tty,
            Some("never") => false,
            Some("always") => true,
            Some(_) => stdout_is_tty,
        };
        if !enabled {
            return Self::default();
        }
        let mut c = Self {
            percent_high: "\x1b[31;1m".into(),
            percent_low: "\x1b[35;1m".into(),
            zero: "\x1b[34;22m".into(),
            value: "\x1b[34;1m".into(),
            item: "\x1b[32;22m".into(),
            normal: "\x1b[0m".into(),
        };
        for code in sgr.unwrap_or("").split(':') {
            let bytes = code.as_bytes();
            let well_formed = (3..=7).contains(&bytes.len())
                && bytes[1] == b'='
                && bytes[2..].iter().all(|b| b.is_ascii_digit() || *b == b';');
            if !well_formed {
                continue;
            }
            let escape = format!("\x1b[{}m", &code[2..]);
            match bytes[0] {
                b'H' => c.percent_high = escape,
                b'M' => c.percent_low = escape,
                b'Z' => c.zero = escape,
                b'N' => c.value = escape,
                b'I' => c.item = escape,
                _ => {}
            }
        }
        c
    }
}

/// Prints values into a report line.
#[derive(Clone, Debug, Default)]
pub struct Printer {
    pub colors: Colors,
    /// `--dec=N`; None keeps each column's own.
    pub decimals: Option<u8>,
}

impl Printer {
    /// cprintf_f: ` %*.*f` per value, or a human value when `unit` is not None.
    pub fn float(&self, out: &mut String, unit: Unit, width: usize, places: usize, value: f64) {
        let places = self.places(places);
        let limit = if places == 1 { 0.05 } else { 0.005 };
        let zero = if places > 0 {
            value < limit && value > -limit
        } else {
            (-0.5..=0.5).contains(&value)
        };
        out.push_str(if zero {
            &self.colors.zero
        } else {
            &self.colors.value
        });
        match unit {
            Unit::None => {
                let _ = write!(out, " {value:width$.places$}");
                out.push_str(&self.colors.normal);
            }
            _ => self.human(out, unit, width, value),
        }
    }

    /// cprintf_u64: ` %*llu`, or a human value.
    pub fn integer(&self, out: &mut String, unit: Unit, width: usize, value: u64) {
        out.push_str(if value == 0 {
            &self.colors.zero
        } else {
            &self.colors.value
        });
        match unit {
            Unit::None => {
                let _ = write!(out, " {value:width$}");
                out.push_str(&self.colors.normal);
            }
            _ => self.human(out, unit, width, value as f64),
        }
    }

    /// cprintf_pc: a percentage, with a `%` sign in human mode.
    pub fn percent(&self, out: &mut String, human: bool, width: usize, places: usize, value: f64) {
        let mut places = self.places(places);
        let mut width = width;
        if human {
            width = width.max(4) - 1;
            if places > 1 {
                places -= 1;
            }
        }
        let limit = if places == 1 { 0.05 } else { 0.005 };
        let color = if value >= 75.0 {
            &self.colors.percent_high
        } else if value >= 50.0 {
            &self.colors.percent_low
        } else if (places > 0 && value < limit) || (places == 0 && value <= 0.5) {
            &self.colors.zero
        } else {
            &self.colors.value
        };
        out.push_str(color);
        let _ = write!(out, " {value:width$.places$}");
        out.push_str(&self.colors.normal);
        if human {
            out.push('%');
        }
    }

    /// cprintf_in: a device name in the item colour.
    pub fn item(&self, out: &mut String, text: &str) {
        out.push_str(&self.colors.item);
        out.push_str(text);
        out.push_str(&self.colors.normal);
    }

    /// cprintf_unit: scaled by 1024 until below 1024, one decimal unless `--dec=0`.
    fn human(&self, out: &mut String, unit: Unit, width: usize, value: f64) {
        let width = width.max(4);
        let (mut value, mut unit) = match unit {
            Unit::Sector => (value / 2.0, 2),
            _ => (value, 2),
        };
        while value >= 1024.0 {
            value /= 1024.0;
            unit += 1;
        }
        let places = usize::from(self.decimals != Some(0));
        let _ = write!(out, " {value:w$.places$}", w = width - 1);
        out.push_str(&self.colors.normal);
        out.push(UNITS[unit.min(UNITS.len() - 1)]);
    }

    fn places(&self, places: usize) -> usize {
        match self.decimals {
            Some(d) if places > 0 => usize::from(d),
            _ => places,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_units_and_decimals() {
        let p = Printer::default();
        let mut s = String::new();
        p.float(&mut s, Unit::None, 8, 2, 1752.594);
        p.float(&mut s, Unit::Sector, 12, 2, 13994.62);
        p.integer(&mut s, Unit::Sector, 10, 144354176);
        p.percent(&mut s, true, 6, 2, 17.4);
        assert_eq!(s, "  1752.59         6.8M      68.8G  17.4%");
        let p = Printer {
            decimals: Some(0),
            ..Printer::default()
        };
        let mut s = String::new();
        p.float(&mut s, Unit::None, 7, 2, 2.5);
        p.float(&mut s, Unit::Kilobyte, 8, 2, 4.0);
        assert_eq!(s, "       2       4k");
    }

    #[test]
    fn colours_follow_the_environment() {
        assert_eq!(Colors::from_env(None, None, false), Colors::default());
        assert_eq!(
            Colors::from_env(Some("never"), None, true),
            Colors::default()
        );
        let c = Colors::from_env(Some("always"), Some("Z=33:bad:H=1"), false);
        assert_eq!(
            (c.zero.as_str(), c.percent_high.as_str()),
            ("\x1b[33m", "\x1b[1m")
        );
        let p = Printer {
            colors: c,
            decimals: None,
        };
        let mut s = String::new();
        p.float(&mut s, Unit::None, 4, 2, 0.0);
        assert_eq!(s, "\x1b[33m 0.00\x1b[0m");
    }
}
