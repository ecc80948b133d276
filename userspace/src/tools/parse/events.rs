//! One event as blkparse prints it: the default line of each action (blkparse_fmt.c's
//! `process_default`) and the `-f`/`-F` format strings.

use std::io::Write;

use crate::blktrace::format::{CgroupId, Trace, category, major, minor, rwbs};

use super::options::VALID_SPECS;

/// What an event line is made of besides the record.
pub struct EventLine<'a> {
    /// The action letters ("Q", "UT", ...).
    pub act: &'a str,
    pub cpu: u32,
    pub trace: &'a Trace,
    /// `-t`: nanoseconds since the previous stage of this I/O.
    pub elapsed: Option<u64>,
    /// The payload shown for PC commands (`%P`).
    pub pdu: Option<&'a [u8]>,
    /// The issuing process's name, when known.
    pub name: Option<&'a [u8]>,
    pub cgroup: Option<CgroupId>,
    /// The wall clock of trace time 0 (from the timestamp notify), for `%z`.
    pub wall_start: (i64, i64),
}

/// A bad format string, found while printing (as blkparse finds it).
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("Invalid escape char in format {0}")]
    BadEscape(char),
    #[error("Expecting elapsed value")]
    NoElapsed,
}

/// The per-action formats from `-f`/`-F`.
#[derive(Debug, Default, Clone)]
pub struct Formats {
    by_letter: Vec<Option<Vec<u8>>>,
}

impl Formats {
    /// Applies `-f` (every letter still without a format) and `-F X,fmt` in command-line order.
    pub fn new(specs: &[(Option<char>, String)]) -> Formats {
        let mut by_letter = vec![None; 128];
        for (letter, format) in specs {
            match letter {
                Some(c) => by_letter[*c as usize % 128] = Some(format.as_bytes().to_vec()),
                None => {
                    for c in VALID_SPECS.chars() {
                        by_letter[c as usize].get_or_insert_with(|| format.as_bytes().to_vec());
                    }
                }
            }
        }
        Formats { by_letter }
    }

    fn of(&self, act: &str) -> Option<&[u8]> {
        let c = *act.as_bytes().first()? as usize;
        self.by_letter.get(c)?.as_deref()
    }
}

/// Writes one event line.
pub fn write_event(out: &mut Vec<u8>, formats: &Formats, e: &EventLine) -> Result<(), FormatError> {
    match formats.of(e.act) {
        Some(f) => write_formatted(out, f, e),
        None => {
            write_default(out, e);
            Ok(())
        }
    }
}

const NULL_NAME: &[u8] = b"(null)";

/// Widest field a format string may ask for.
const MAX_WIDTH: usize = 4096;

fn name_of<'a>(e: &EventLine<'a>) -> &'a [u8] {
    e.name.unwrap_or(NULL_NAME)
}

/// blkparse's `dump_pdu`: hex bytes, " .." once only zeros are left.
pub fn dump_pdu(pdu: &[u8]) -> Option<String> {
    if pdu.is_empty() {
        return None;
    }
    let mut s = String::new();
    for (i, &b) in pdu.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&format!("{b:02x}"));
        if b == 0 && pdu[i..].iter().all(|&x| x == 0) {
            s.push_str(" ..");
            break;
        }
    }
    Some(s)
}

fn write_default(out: &mut Vec<u8>, e: &EventLine) {
    let h = &e.trace.header;
    let t = e.trace;
    let mut device = h.device;
    if e.act.starts_with('A')
        && let Some(r) = t.remap()
    {
        device = r.device_to;
    }
    // The header is printed for every event: by hand and in place, since formatting is most
    // of a parse's time.
    let mut head = LineHead::default();
    head.num(u64::from(major(device)), 3, false);
    head.byte(b',');
    head.num(u64::from(minor(device)), 3, true);
    head.byte(b' ');
    head.num(u64::from(e.cpu), 2, false);
    head.byte(b' ');
    head.int(i64::from(h.sequence as i32), 8);
    head.byte(b' ');
    head.int(i64::from((h.time / 1_000_000_000) as i32), 5);
    head.byte(b'.');
    head.zero_padded(h.time % 1_000_000_000, 9);
    head.byte(b' ');
    head.num(u64::from(h.pid), 5, false);
    head.byte(b' ');
    if let Some(cg) = e.cgroup {
        out.extend_from_slice(head.as_bytes());
        let _ = write!(out, "{:x},{:x} ", cg.ino, cg.generation);
        head = LineHead::default();
    }
    head.text(e.act.as_bytes(), 2);
    head.byte(b' ');
    head.text(rwbs(h).as_bytes(), 3);
    head.byte(b' ');
    let sectors = h.sectors();
    let pc = h.is(category::PC);
    // The common lines end in the same buffer.
    match e.act.as_bytes().first() {
        Some(b'R' | b'C') if !pc => {
            head.num(h.sector, 0, false);
            if sectors != 0 {
                head.bytes(b" + ");
                head.num(u64::from(sectors), 0, false);
            }
            if let Some(el) = e.elapsed {
                head.bytes(b" (");
                head.num(el, 8, false);
                head.byte(b')');
            }
            head.bytes(b" [");
            head.num(u64::from(h.error), 0, false);
            head.bytes(b"]\n");
            out.extend_from_slice(head.as_bytes());
            return;
        }
        Some(&letter @ (b'D' | b'I' | b'Q' | b'B' | b'M' | b'F' | b'G' | b'S')) if !pc => {
            if sectors != 0 {
                head.num(h.sector, 0, false);
                head.bytes(b" + ");
                head.num(u64::from(sectors), 0, false);
                head.byte(b' ');
            }
            if let Some(el) = e.elapsed
                && matches!(letter, b'D' | b'I' | b'Q' | b'B')
            {
                head.byte(b'(');
                head.num(el, 8, false);
                head.bytes(b") ");
            }
            let name = name_of(e);
            if head.len + name.len() + 3 <= head.buf.len() {
                head.byte(b'[');
                head.bytes(name);
                head.bytes(b"]\n");
                out.extend_from_slice(head.as_bytes());
            } else {
                out.extend_from_slice(head.as_bytes());
                bracketed(out, name);
            }
            return;
        }
        _ => {}
    }
    out.extend_from_slice(head.as_bytes());
    match e.act.as_bytes()[0] {
        b'R' | b'C' => {
            if let Some(p) = e.pdu.and_then(dump_pdu) {
                let _ = write!(out, "({p}) ");
            }
            let _ = writeln!(out, "[{}]", h.error);
        }
        b'D' | b'I' | b'Q' | b'B' => {
            let _ = write!(out, "{} ", h.bytes);
            if let Some(p) = e.pdu.and_then(dump_pdu) {
                let _ = write!(out, "({p}) ");
            }
            bracketed(out, name_of(e));
        }
        b'M' | b'F' | b'G' | b'S' => {
            if sectors != 0 {
                sector_plus(out, h.sector, sectors);
            }
            bracketed(out, name_of(e));
        }
        b'P' => bracketed(out, name_of(e)),
        b'U' | b'T' => {
            out.push(b'[');
            out.extend_from_slice(name_of(e));
            out.extend_from_slice(b"] ");
            uint(out, u64::from(t.payload_u64() as u32), None, false);
            out.push(b'\n');
        }
        b'A' => {
            let r = t.remap();
            let (from, from_sector) = r.map_or((0, 0), |r| (r.device_from, r.sector_from));
            let _ = writeln!(
                out,
                "{} + {sectors} <- ({},{}) {from_sector}",
                h.sector,
                major(from),
                minor(from)
            );
        }
        b'X' => {
            let _ = write!(out, "{} / {} ", h.sector, t.payload_u64() as u32);
            bracketed(out, name_of(e));
        }
        _ => {}
    }
}

/// A default line up to its process name, built in a stack buffer: each field is written
/// where it goes (digits from the right), so the line costs one copy into the output.
struct LineHead {
    buf: [u8; LINE_HEAD_LEN],
    len: usize,
}

/// Room for every field of a line at its widest (about 140 bytes: a u64 sector and `-t`
/// time, u32 pid and sequence...); the name goes in only when it fits.
const LINE_HEAD_LEN: usize = 192;

impl Default for LineHead {
    fn default() -> LineHead {
        LineHead {
            buf: [b' '; LINE_HEAD_LEN],
            len: 0,
        }
    }
}

impl LineHead {
    #[inline(always)]
    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    #[inline(always)]
    fn bytes(&mut self, s: &[u8]) {
        self.buf[self.len..self.len + s.len()].copy_from_slice(s);
        self.len += s.len();
    }

    /// printf's `%[-]Nu` (the buffer starts as spaces, so padding is just skipping).
    #[inline(always)]
    fn num(&mut self, v: u64, width: usize, left: bool) {
        let n = decimal_len(v);
        let pad = width.saturating_sub(n);
        let start = if left { self.len } else { self.len + pad };
        self.put_digits(v, start, n);
        self.len += n + pad;
    }

    /// printf's `%Nd`.
    #[inline(always)]
    fn int(&mut self, v: i64, width: usize) {
        let digits = decimal_len(v.unsigned_abs());
        let n = digits + usize::from(v < 0);
        let pad = width.saturating_sub(n);
        let mut at = self.len + pad;
        if v < 0 {
            self.buf[at] = b'-';
            at += 1;
        }
        self.put_digits(v.unsigned_abs(), at, digits);
        self.len += n + pad;
    }

    /// printf's `%0Nlu`.
    #[inline(always)]
    fn zero_padded(&mut self, v: u64, width: usize) {
        let n = decimal_len(v).max(width);
        self.put_digits(v, self.len, n);
        self.len += n;
    }

    /// printf's `%Ns` (right-aligned).
    #[inline(always)]
    fn text(&mut self, s: &[u8], width: usize) {
        self.len += width.saturating_sub(s.len());
        self.bytes(s);
    }

    /// Writes `v` as exactly `n` digits (leading zeros) at `at`, two digits at a time.
    #[inline(always)]
    fn put_digits(&mut self, mut v: u64, at: usize, n: usize) {
        let Some(dst) = self.buf.get_mut(at..at + n) else {
            return;
        };
        let mut i = dst.len();
        while i >= 2 {
            let p = (v % 100) as usize * 2;
            v /= 100;
            dst[i - 2] = PAIRS[p];
            dst[i - 1] = PAIRS[p + 1];
            i -= 2;
        }
        if i == 1 {
            dst[0] = b'0' + (v % 10) as u8;
        }
    }
}

#[inline(always)]
fn decimal_len(v: u64) -> usize {
    v.checked_ilog10().map_or(1, |l| l as usize + 1)
}

/// "SECTOR + N " of most actions.
fn sector_plus(out: &mut Vec<u8>, sector: u64, sectors: u32) {
    uint(out, sector, None, false);
    out.extend_from_slice(b" + ");
    uint(out, u64::from(sectors), None, false);
    out.push(b' ');
}

/// Two-digit decimal pairs "00" to "99".
const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// The decimal digits of `v`, most significant first, in a fixed buffer.
fn digits(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    // Two digits per division: the header's numbers are most of what a parse prints.
    let mut i = buf.len();
    while v >= 100 {
        let p = (v % 100) as usize * 2;
        v /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[p..p + 2]);
    }
    if v >= 10 {
        let p = v as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[p..p + 2]);
    } else {
        i -= 1;
        buf[i] = b'0' + v as u8;
    }
    &buf[i..]
}

/// printf's `%[-][N]u`.
fn uint(out: &mut Vec<u8>, v: u64, width: Option<usize>, left: bool) {
    let mut buf = [0u8; 20];
    padded(out, digits(v, &mut buf), width, left);
}

/// printf's `%[-][N]d`.
fn int(out: &mut Vec<u8>, v: i64, width: Option<usize>, left: bool) {
    if v >= 0 {
        return uint(out, v as u64, width, left);
    }
    let mut buf = [0u8; 21];
    let mut d = [0u8; 20];
    let digits = digits(v.unsigned_abs(), &mut d);
    buf[0] = b'-';
    buf[1..=digits.len()].copy_from_slice(digits);
    padded(out, &buf[..=digits.len()], width, left);
}

/// printf's `%0Nlu`.
fn zero_padded(out: &mut Vec<u8>, v: u64, width: usize) {
    let mut buf = [0u8; 20];
    let d = digits(v, &mut buf);
    out.extend(std::iter::repeat_n(b'0', width.saturating_sub(d.len())));
    out.extend_from_slice(d);
}

fn bracketed(out: &mut Vec<u8>, name: &[u8]) {
    out.push(b'[');
    out.extend_from_slice(name);
    out.extend_from_slice(b"]\n");
}

/// printf's `%[-][width]s` on bytes.
fn padded(out: &mut Vec<u8>, s: &[u8], width: Option<usize>, left: bool) {
    let pad = width.unwrap_or(0).saturating_sub(s.len());
    if pad == 0 {
        out.extend_from_slice(s);
        return;
    }
    if !left {
        out.extend(std::iter::repeat_n(b' ', pad));
    }
    out.extend_from_slice(s);
    if left {
        out.extend(std::iter::repeat_n(b' ', pad));
    }
}

fn write_formatted(out: &mut Vec<u8>, f: &[u8], e: &EventLine) -> Result<(), FormatError> {
    let mut i = 0;
    while i < f.len() {
        match f[i] {
            b'%' => {
                i += 1;
                if i >= f.len() {
                    out.push(b'%');
                } else if f[i] == b'%' {
                    out.push(b'%');
                    i += 1;
                } else {
                    i = field(out, f, i, e)?;
                }
            }
            b'\\' => {
                let c = f.get(i + 1).copied().unwrap_or(0);
                match c {
                    b'b' => out.push(8),
                    b'n' => out.push(b'\n'),
                    b'r' => out.push(b'\r'),
                    b't' => out.push(b'\t'),
                    _ => return Err(FormatError::BadEscape(c as char)),
                }
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(())
}

/// One `%[-][width]X` field starting at `f[i]` (after the '%'); returns the index after it.
fn field(out: &mut Vec<u8>, f: &[u8], mut i: usize, e: &EventLine) -> Result<usize, FormatError> {
    let left = f[i] == b'-';
    if left {
        i += 1;
    }
    let mut width = None;
    while i < f.len() && f[i].is_ascii_digit() {
        // printf fails beyond INT_MAX; a bound keeps a typo from filling the disk.
        width = Some((width.unwrap_or(0) * 10 + usize::from(f[i] - b'0')).min(MAX_WIDTH));
        i += 1;
    }
    let Some(&c) = f.get(i) else {
        return Ok(i);
    };
    let h = &e.trace.header;
    match c {
        b'a' => padded(out, e.act.as_bytes(), width, left),
        b'c' => uint(out, e.cpu.into(), width, left),
        b'C' => padded(out, name_of(e), width, left),
        b'd' => padded(out, rwbs(h).as_bytes(), width, left),
        b'D' => {
            let _ = write!(out, "{:3},{:<3}", h.major(), h.minor());
        }
        b'e' => uint(out, h.error.into(), width, left),
        b'g' => {
            let cg = e.cgroup.unwrap_or_default();
            padded(
                out,
                format!("{:x},{:x}", cg.ino, cg.generation).as_bytes(),
                width,
                left,
            );
        }
        b'M' => uint(out, h.major().into(), width, left),
        b'm' => uint(out, h.minor().into(), width, left),
        b'n' => uint(out, h.sectors().into(), width, left),
        b'N' => uint(out, h.bytes.into(), width, left),
        b'p' => uint(out, h.pid.into(), width, left),
        b'P' => {
            if let Some(p) = e.pdu.and_then(dump_pdu) {
                out.extend_from_slice(p.as_bytes());
            }
        }
        b's' => int(out, (h.sequence as i32).into(), width, left),
        b'S' => uint(out, h.sector, width, left),
        b't' => zero_padded(out, h.time % 1_000_000_000, width.unwrap_or(9)),
        b'T' => int(out, ((h.time / 1_000_000_000) as i32).into(), width, left),
        b'u' => {
            let el = e.elapsed.ok_or(FormatError::NoElapsed)?;
            uint(out, el / 1000, width, left);
        }
        b'U' => uint(out, (e.trace.payload_u64() as u32).into(), width, left),
        b'z' => padded(out, wall_time(e.wall_start, h.time).as_bytes(), width, left),
        other => padded(out, &[other], width, left),
    }
    Ok(i + 1)
}

/// `%z`: HH:MM:SS.micro local time of a trace time.
fn wall_time(start: (i64, i64), time: u64) -> String {
    let mut sec = start.0 + (time / 1_000_000_000) as i64;
    let mut nsec = start.1 + (time % 1_000_000_000) as i64;
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        sec += 1;
    }
    let t: libc::time_t = sec as libc::time_t;
    // SAFETY: localtime_r only writes the tm we own.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return String::new();
    }
    format!(
        "{:02}:{:02}:{:02}.{:06}",
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        nsec / 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blktrace::format::{MAGIC, TraceHeader, VERSION, act, category, make_dev};

    fn queued(name: &[u8], elapsed: Option<u64>) -> String {
        let trace = Trace {
            header: TraceHeader {
                magic: MAGIC | VERSION,
                sequence: 12,
                time: 3_000_000_042,
                sector: 2048,
                bytes: 4096,
                action: act::QUEUE | (category::WRITE << category::SHIFT),
                pid: 77,
                device: make_dev(7, 1),
                ..Default::default()
            },
            pdu: Vec::new(),
        };
        let line = EventLine {
            act: "Q",
            cpu: 1,
            trace: &trace,
            elapsed,
            pdu: None,
            name: Some(name),
            cgroup: None,
            wall_start: (0, 0),
        };
        let mut out = b"before\n".to_vec();
        write_event(&mut out, &Formats::default(), &line).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn default_lines_take_names_of_any_length() {
        let head = "before\n  7,1    1       12     3.000000042    77  Q   W 2048 + 8 ";
        assert_eq!(queued(b"dd", None), format!("{head}[dd]\n"));
        assert_eq!(
            queued(b"dd", Some(1234)),
            format!("{head}(    1234) [dd]\n")
        );
        // Longer than the line buffer: the same line, written in two pieces.
        let long = "n".repeat(500);
        assert_eq!(queued(long.as_bytes(), None), format!("{head}[{long}]\n"));
    }

    #[test]
    fn the_widest_fields_fit_the_line_buffer() {
        // Every number at its widest (a damaged or hostile trace), with -t times.
        let trace = Trace {
            header: TraceHeader {
                magic: MAGIC | VERSION,
                sequence: u32::MAX,
                time: u64::MAX,
                sector: u64::MAX,
                bytes: u32::MAX,
                action: act::COMPLETE
                    | ((category::WRITE
                        | category::FLUSH
                        | category::FUA
                        | category::AHEAD
                        | category::SYNC
                        | category::META)
                        << category::SHIFT),
                pid: u32::MAX,
                device: u32::MAX,
                cpu: 65535,
                error: u16::MAX,
                ..Default::default()
            },
            pdu: Vec::new(),
        };
        for act in ["C", "D"] {
            let line = EventLine {
                act,
                cpu: 65535,
                trace: &trace,
                elapsed: Some(u64::MAX),
                pdu: None,
                name: Some(b"a-fifteen-bytes"),
                cgroup: None,
                wall_start: (0, 0),
            };
            let mut out = Vec::new();
            write_event(&mut out, &Formats::default(), &line).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(
                text.contains("18446744073709551615 + 8388607") && text.ends_with("]\n"),
                "{act}: {text}"
            );
        }
    }
}
