//! A task's name as the kernel keeps it (`comm`: at most 15 bytes), held inline: every block
//! event carries one, and an allocation per event is what the collector can least afford at
//! millions of events per second. Kept as small as the kernel's: a name that is not UTF-8
//! (rare) has U+FFFD for its bad bytes and is cut at 16 bytes.

use std::{fmt, ops::Deref};

use serde::{Serialize, Serializer};

/// The kernel's `TASK_COMM_LEN`.
const CAPACITY: usize = 16;

/// The top bit of each byte: set in every byte that is not ASCII.
const HIGH_BITS: u128 = u128::from_le_bytes([0x80; CAPACITY]);

/// The index of the first zero byte of `word` (little-endian), `CAPACITY` when none is.
fn first_zero_byte(word: u128) -> usize {
    const LOW_BITS: u128 = u128::from_le_bytes([0x01; CAPACITY]);
    // The classic has-zero-byte test: exact for the lowest zero byte, which is all we need.
    let zeros = word.wrapping_sub(LOW_BITS) & !word & HIGH_BITS;
    (zeros.trailing_zeros() / 8) as usize
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Comm {
    len: u8,
    bytes: [u8; CAPACITY],
}

impl Comm {
    /// The kernel's NUL-padded `comm`; bytes that are not UTF-8 become U+FFFD.
    pub fn from_kernel(raw: &[u8]) -> Comm {
        let mut comm = Comm::default();
        if let Ok(whole) = <[u8; CAPACITY]>::try_from(raw) {
            // The usual case, every event's: one 16-byte copy, and the NUL and non-ASCII bytes
            // found with word arithmetic rather than byte by byte.
            let word = u128::from_le_bytes(whole);
            let len = first_zero_byte(word);
            let below = if len == CAPACITY {
                u128::MAX
            } else {
                (1u128 << (len * 8)) - 1
            };
            if word & below & HIGH_BITS == 0 {
                comm.bytes = whole;
                comm.bytes[len..].fill(0);
                comm.len = len as u8;
                return comm;
            }
        }
        let raw = &raw[..raw.len().min(CAPACITY)];
        let len = raw.iter().position(|&b| b == 0).unwrap_or(raw.len());
        match std::str::from_utf8(&raw[..len]) {
            Ok(text) => Comm::from(text),
            Err(_) => Comm::from(String::from_utf8_lossy(&raw[..len]).as_ref()),
        }
    }

    pub fn as_str(&self) -> &str {
        // Only whole UTF-8 characters are ever stored (`From<&str>`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }
}

impl Default for Comm {
    fn default() -> Self {
        Comm {
            len: 0,
            bytes: [0; CAPACITY],
        }
    }
}

impl From<&str> for Comm {
    /// At most `CAPACITY` bytes, cut at a character boundary.
    fn from(text: &str) -> Comm {
        let mut end = text.len().min(CAPACITY);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let mut comm = Comm::default();
        comm.bytes[..end].copy_from_slice(&text.as_bytes()[..end]);
        comm.len = end as u8;
        comm
    }
}

impl Deref for Comm {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that width and precision (`{:<14.14}`) apply as to a str.
        f.pad(self.as_str())
    }
}

impl fmt::Debug for Comm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl PartialEq<str> for Comm {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Comm {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Comm {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_names_inline() {
        let mut raw = [0u8; 16];
        raw[..7].copy_from_slice(b"kworker");
        let comm = Comm::from_kernel(&raw);
        assert_eq!(comm, "kworker");
        assert_eq!(format!("[{comm:<9}]"), "[kworker  ]");
        assert_eq!(format!("{comm:.3}"), "kwo");
        let full = Comm::from_kernel(b"0123456789abcdef");
        assert_eq!(full.as_str(), "0123456789abcdef");
        let latin1 = Comm::from_kernel(&[b'a', 0xe9, b'b', 0]);
        assert_eq!(latin1.as_str(), "a\u{fffd}b");
        let long = "é".repeat(30);
        assert_eq!(
            Comm::from(long.as_str()).len(),
            16,
            "cut at a character boundary"
        );
        let bad = Comm::from_kernel(&[0xff; 16]);
        assert_eq!(
            bad.as_str(),
            "\u{fffd}".repeat(5),
            "whole replacement characters only"
        );
        assert_eq!(serde_json::to_string(&comm).unwrap(), "\"kworker\"");
    }

    #[test]
    fn bytes_after_the_nul_are_not_the_name() {
        // The kernel leaves an old, longer name's tail after the NUL of a renamed task's.
        let mut raw = *b"fio\0stale-tail\xff\xff";
        assert_eq!(Comm::from_kernel(&raw), Comm::from("fio"));
        raw[0] = 0;
        assert_eq!(Comm::from_kernel(&raw), Comm::default());
        // Every length from 0 to 16 is found.
        for len in 0..=16 {
            let mut raw = [0u8; 16];
            raw[..len].fill(b'x');
            assert_eq!(Comm::from_kernel(&raw).len(), len);
        }
        let mut accented = [0u8; 16];
        accented[..3].copy_from_slice("dé".as_bytes());
        assert_eq!(Comm::from_kernel(&accented).as_str(), "dé");
    }
}
