//! btt's MIN/AVG/MAX/N accumulators: one per latency span (Q2Q, Q2G, ... Q2C), kept for the
//! whole system, per device and per process.

use super::time::bit_time;

/// One span's statistics over nanosecond samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Avg {
    pub min: u64,
    pub max: u64,
    pub total: u64,
    pub n: i32,
}

impl Avg {
    /// Adds one sample. As btt does, a new minimum is not also checked as a new maximum.
    pub fn add(&mut self, t: u64) {
        if self.n == 0 {
            self.min = t;
            self.max = t;
            self.total = t;
        } else {
            if t < self.min {
                self.min = t;
            } else if t > self.max {
                self.max = t;
            }
            self.total = self.total.wrapping_add(t);
        }
        self.n = self.n.wrapping_add(1);
    }

    /// The mean in seconds (only meaningful when `n > 0`).
    pub fn mean_secs(&self) -> f64 {
        bit_time(self.total) / f64::from(self.n)
    }
}

/// The latency spans btt reports. `*dm` spans are those of device-mapper and md devices
/// (majors 9, 253, 254), kept apart so that stacked devices are not counted twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Span {
    Q2Qdm,
    Q2Adm,
    Q2Cdm,
    Q2Q,
    Q2A,
    Q2G,
    S2G,
    G2I,
    Q2M,
    I2D,
    M2D,
    D2C,
    Q2C,
}

impl Span {
    pub const COUNT: usize = 13;

    /// The label btt prints.
    pub fn label(self) -> &'static str {
        match self {
            Span::Q2Qdm => "Q2Qdm",
            Span::Q2Adm => "Q2Adm",
            Span::Q2Cdm => "Q2Cdm",
            Span::Q2Q => "Q2Q",
            Span::Q2A => "Q2A",
            Span::Q2G => "Q2G",
            Span::S2G => "S2G",
            Span::G2I => "G2I",
            Span::Q2M => "Q2M",
            Span::I2D => "I2D",
            Span::M2D => "M2D",
            Span::D2C => "D2C",
            Span::Q2C => "Q2C",
        }
    }
}

/// Every span's statistics for one scope (system, device or process), plus the sizes of
/// completed I/Os in blocks.
#[derive(Debug, Clone, Default)]
pub struct Spans {
    spans: [Avg; Span::COUNT],
    pub blocks: Avg,
}

impl Spans {
    pub fn get(&self, span: Span) -> &Avg {
        &self.spans[span as usize]
    }

    pub fn add(&mut self, span: Span, t: u64) {
        self.spans[span as usize].add(t);
    }
}
