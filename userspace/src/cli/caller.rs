//! How a tool with a grammar of its own (iostat, blktrace, blkparse, btt) was started, which
//! decides its conventions. As `blkscope COMMAND`, blkscope's: help on stdout and exit 0, usage
//! errors exit 2, as for every clap view. Under the stock tool's name (a drop-in link), the
//! stock tool's streams and exit codes, so that the scripts written for it see no difference.

/// The exit code of a usage error under blkscope's own names (clap's too).
pub const USAGE_ERROR: u8 = 2;

/// What the stock tool does when asked for help (most print their usage on stderr and exit 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StockHelp {
    pub exit_code: u8,
}

/// The name a tool was started under.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    program: String,
    drop_in: bool,
}

impl Caller {
    /// Started as `blkscope COMMAND`.
    pub fn blkscope(command: &str) -> Caller {
        Caller {
            program: format!("blkscope {command}"),
            drop_in: false,
        }
    }

    /// Started through a link named after the stock tool (`blkparse`).
    pub fn drop_in(name: &str) -> Caller {
        Caller {
            program: name.to_owned(),
            drop_in: true,
        }
    }

    /// What the tool calls itself in messages.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// The exit code of a usage error: the stock tool's (`stock`) under its name, 2 otherwise.
    pub fn usage_error(&self, stock: u8) -> u8 {
        if self.drop_in { stock } else { USAGE_ERROR }
    }

    /// Prints `text` as help: on stdout with exit code 0 as `blkscope COMMAND`; on stderr with
    /// the stock tool's code under its name.
    pub fn help(&self, text: &str, stock: StockHelp) -> u8 {
        if self.drop_in {
            eprint!("{text}");
            stock.exit_code
        } else {
            print!("{text}");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_ins_keep_the_stock_codes() {
        let stock = StockHelp { exit_code: 1 };
        assert_eq!(Caller::blkscope("parse").program(), "blkscope parse");
        assert_eq!(Caller::blkscope("parse").usage_error(1), 2);
        assert_eq!(Caller::drop_in("blkparse").usage_error(1), 1);
        assert_eq!(Caller::blkscope("btt").help("", stock), 0);
        assert_eq!(Caller::drop_in("btt").help("", stock), 1);
    }
}
