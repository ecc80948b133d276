//! Where a tool's lines go: buffered stdout, flushed per batch so that a reader sees lines as
//! they happen. A reader that goes away (`| head`) ends the run quietly: every write says
//! whether to go on, and only a real write error is an error.

use std::io::{BufWriter, Stdout, Write};

#[derive(Debug, thiserror::Error)]
#[error("writing to stdout: {0}")]
pub struct OutputError(#[from] std::io::Error);

/// Buffered stdout that knows when its reader has gone.
pub struct Output {
    out: BufWriter<Stdout>,
}

impl Default for Output {
    fn default() -> Self {
        Output::stdout()
    }
}

impl Output {
    pub fn stdout() -> Output {
        Output {
            out: BufWriter::new(std::io::stdout()),
        }
    }

    /// Writes `line` and a newline; false once the reader has gone.
    pub fn line(&mut self, line: &str) -> Result<bool, OutputError> {
        let written = self
            .out
            .write_all(line.as_bytes())
            .and_then(|()| self.out.write_all(b"\n"));
        still_read(written)
    }

    /// Writes `text` as it is; false once the reader has gone.
    pub fn text(&mut self, text: &str) -> Result<bool, OutputError> {
        still_read(self.out.write_all(text.as_bytes()))
    }

    /// Hands what is buffered to the reader; false once the reader has gone.
    pub fn flush(&mut self) -> Result<bool, OutputError> {
        still_read(self.out.flush())
    }

    /// Writes `text` and flushes: a report printed whole.
    pub fn report(&mut self, text: &str) -> Result<bool, OutputError> {
        Ok(self.text(text)? && self.flush()?)
    }
}

/// A live view's first words once its probes are attached ("Tracing ... Hit Ctrl-C to end."),
/// on stderr: they tell a person the view is running, and leave stdout to the view's output
/// for whatever reads it. A closed stderr loses them, and nothing else.
pub fn banner(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Makes stdout ready for a tool that prints to it, before anything is written:
/// - a reader that goes away (`| head -1`) ends the process by SIGPIPE, quietly (exit 141, as
///   cat and blkparse end), whatever path was writing; the probes are released with the
///   process's file descriptors;
/// - a closed stdout (`>&-`) is an error up front, not output lost without a word.
pub fn claim_stdout() -> Result<(), OutputError> {
    if stdout_was_closed() {
        return Err(OutputError(std::io::Error::other(
            "stdout is closed: there is nowhere to write the output",
        )));
    }
    // SAFETY: restores the default action of a signal; no handler runs Rust code.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    Ok(())
}

/// Whether the process was started with stdout closed. Rust's runtime opens /dev/null
/// read-write on a standard descriptor that is closed at start, so that is what a closed
/// stdout looks like by now (a shell's `> /dev/null` opens it write-only).
fn stdout_was_closed() -> bool {
    // SAFETY: fcntl(F_GETFL) and fstat only read the descriptor's state into locals.
    unsafe {
        let flags = libc::fcntl(libc::STDOUT_FILENO, libc::F_GETFL);
        if flags == -1 {
            return true;
        }
        if flags & libc::O_ACCMODE != libc::O_RDWR {
            return false;
        }
        let mut stat: libc::stat = std::mem::zeroed();
        libc::fstat(libc::STDOUT_FILENO, &mut stat) == 0
            && stat.st_mode & libc::S_IFMT == libc::S_IFCHR
            && stat.st_rdev == libc::makedev(1, 3)
    }
}

/// `Ok(false)` for a closed pipe, the error for anything else.
pub fn still_read(written: std::io::Result<()>) -> Result<bool, OutputError> {
    match written {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(err) => Err(OutputError(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_the_end_not_an_error() {
        let closed = std::io::Error::from(std::io::ErrorKind::BrokenPipe);
        assert!(!still_read(Err(closed)).unwrap());
        assert!(still_read(Ok(())).unwrap());
        let full = std::io::Error::from_raw_os_error(libc::ENOSPC);
        assert!(still_read(Err(full)).is_err());
    }
}
