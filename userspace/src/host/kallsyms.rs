//! Kernel addresses to function names, from /proc/kallsyms (what the kernel stacks that
//! biostacks takes are made of). Root sees the addresses; other users see zeros, and get no
//! names.

use std::path::Path;

use super::bounded::read_text;

/// /proc/kallsyms is some 10 MiB on a distribution kernel with its modules.
const KALLSYMS_LIMIT: u64 = 128 << 20;

/// The kernel's symbols, by address.
#[derive(Debug, Default)]
pub struct KernelSymbols {
    /// Sorted by address.
    symbols: Vec<(u64, String)>,
}

impl KernelSymbols {
    /// The running kernel's symbols.
    pub fn load() -> std::io::Result<KernelSymbols> {
        let text = read_text(Path::new("/proc/kallsyms"), KALLSYMS_LIMIT)?;
        Ok(KernelSymbols::parse(&text))
    }

    /// `ADDRESS TYPE NAME [MODULE]` lines; lines that are not are skipped, zero addresses too.
    pub fn parse(text: &str) -> KernelSymbols {
        let mut symbols: Vec<(u64, String)> = text
            .lines()
            .filter_map(|line| {
                let mut words = line.split_whitespace();
                let address = u64::from_str_radix(words.next()?, 16).ok()?;
                let _kind = words.next()?;
                let name = words.next()?;
                (address != 0).then(|| (address, name.to_owned()))
            })
            .collect();
        symbols.sort_unstable();
        KernelSymbols { symbols }
    }

    /// The function `address` is in: the symbol at or below it.
    pub fn name_of(&self, address: u64) -> Option<&str> {
        let after = self.symbols.partition_point(|(a, _)| *a <= address);
        let (_, name) = self.symbols.get(after.checked_sub(1)?)?;
        Some(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_name_the_function_they_are_in() {
        let symbols = KernelSymbols::parse(
            "ffffffff81000000 T _stext\n\
             ffffffff81200000 T submit_bio\n\
             ffffffff81100000 t blkdev_read_iter\n\
             0000000000000000 T hidden\n\
             not a line\n",
        );
        assert_eq!(symbols.name_of(0xffffffff81200010), Some("submit_bio"));
        assert_eq!(
            symbols.name_of(0xffffffff81100000),
            Some("blkdev_read_iter")
        );
        assert_eq!(symbols.name_of(0xffffffff810fffff), Some("_stext"));
        assert_eq!(symbols.name_of(0x1000), None);
    }
}
