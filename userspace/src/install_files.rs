//! `blkscope install-files` (hidden; run by `./x install` and `./x package`): the man pages,
//! the shell completions and the list of drop-in names, made from the same definitions as
//! `--help` and the multi-call dispatch. The clap tools' pages come from their clap
//! definitions; the tools with a grammar of their own (iostat, record, parse, btt) get a page
//! around the help text they print themselves.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command as Process;

use anyhow::{Context as _, bail};
use clap::{Args, Command};
use clap_complete::Shell;

#[derive(Args, Debug)]
pub struct InstallFilesArgs {
    /// Write the man pages (section 8) into this directory
    #[arg(long, value_name = "DIR")]
    pub man: Option<PathBuf>,
    /// Write bash, zsh and fish completions below this directory (bash/, zsh/, fish/)
    #[arg(long, value_name = "DIR")]
    pub completions: Option<PathBuf>,
    /// Print the names blkscope answers to as a drop-in (one per line)
    #[arg(long)]
    pub list_drop_ins: bool,
}

pub fn run(args: &InstallFilesArgs, cli: Command) -> anyhow::Result<()> {
    if args.man.is_none() && args.completions.is_none() && !args.list_drop_ins {
        bail!("--man DIR, --completions DIR, --list-drop-ins: give at least one");
    }
    if args.list_drop_ins {
        let stock = crate::GETOPT_TOOLS.iter().map(|(_, name, _)| *name);
        for name in stock.chain(crate::CLAP_TOOLS) {
            println!("{name}");
        }
    }
    if let Some(dir) = &args.man {
        man_pages(dir, &cli)?;
    }
    if let Some(dir) = &args.completions {
        completions(dir, cli)?;
    }
    Ok(())
}

fn man_pages(dir: &Path, cli: &Command) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("--man {}", dir.display()))?;
    render(dir, "blkscope", cli.clone())?;
    for sub in cli.get_subcommands() {
        let name = sub.get_name();
        if name == "help" || sub.is_hide_set() {
            continue;
        }
        let page = format!("blkscope-{name}");
        match crate::GETOPT_TOOLS
            .iter()
            .find(|(command, ..)| *command == name)
        {
            Some(&(command, stock, _)) => {
                let summary = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
                own_grammar_page(dir, &page, command, stock, &summary)?
            }
            None => {
                let command = sub
                    .clone()
                    .display_name(page.clone())
                    .bin_name(format!("blkscope {name}"));
                render(dir, &page, command)?
            }
        }
    }
    Ok(())
}

/// A clap command's page, as clap_mangen writes it.
fn render(dir: &Path, page: &str, command: Command) -> anyhow::Result<()> {
    let path = dir.join(format!("{page}.8"));
    let mut out = Vec::new();
    clap_mangen::Man::new(command)
        .section("8")
        .manual("blkscope")
        .render(&mut out)
        .with_context(|| format!("rendering {page}"))?;
    fs::write(&path, out).with_context(|| path.display().to_string())
}

/// The page of a tool with its own grammar: its help text as it prints it, verbatim.
fn own_grammar_page(
    dir: &Path,
    page: &str,
    command: &str,
    stock: &str,
    summary: &str,
) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("finding blkscope's own binary")?;
    let out = Process::new(&exe)
        .args([command, "--help"])
        .output()
        .with_context(|| format!("running {} {command} --help", exe.display()))?;
    let help = String::from_utf8_lossy(&out.stdout);
    let path = dir.join(format!("{page}.8"));
    let mut f = fs::File::create(&path).with_context(|| path.display().to_string())?;
    let version = env!("CARGO_PKG_VERSION");
    writeln!(
        f,
        ".TH {} 8 \"\" \"blkscope {version}\" \"blkscope\"",
        page.to_uppercase()
    )?;
    writeln!(f, ".SH NAME\n{page} \\- {summary}")?;
    writeln!(
        f,
        ".SH SYNOPSIS\n\\fBblkscope {command}\\fR [\\fIOPTIONS\\fR]\n.br\n\\fB{stock}\\fR \
         [\\fIOPTIONS\\fR] (through the drop-in name in /usr/lib/blkscope/bin or \
         PREFIX/lib/blkscope/bin)"
    )?;
    writeln!(
        f,
        ".SH DESCRIPTION\nThe same options, output and exit codes as {stock}; what blkscope adds \
         is listed in its help. The help, as \\fBblkscope {command} --help\\fR prints it:"
    )?;
    writeln!(f, ".PP\n.nf\n{}\n.fi", roff_text(&help))?;
    writeln!(f, ".SH SEE ALSO\n\\fBblkscope\\fR(8), \\fB{stock}\\fR(8)")?;
    Ok(())
}

/// Plain text safe in a roff no-fill block: backslashes doubled, a leading `.` or `'` escaped.
fn roff_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('\\', "\\e");
            if line.starts_with('.') || line.starts_with('\'') {
                format!("\\&{line}")
            } else {
                line
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn completions(dir: &Path, mut cli: Command) -> anyhow::Result<()> {
    for (shell, sub) in [
        (Shell::Bash, "bash"),
        (Shell::Zsh, "zsh"),
        (Shell::Fish, "fish"),
    ] {
        let target = dir.join(sub);
        fs::create_dir_all(&target).with_context(|| target.display().to_string())?;
        clap_complete::generate_to(shell, &mut cli, "blkscope", &target)
            .with_context(|| format!("{sub} completion in {}", target.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_lines_are_escaped() {
        assert_eq!(roff_text(".x\n'y\na\\b"), "\\&.x\n\\&'y\na\\eb");
    }
}
