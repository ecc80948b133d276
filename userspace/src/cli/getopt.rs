//! GNU getopt_long, as glibc parses: clustered short options (`-qsi FILE`), `--long=value` or
//! `--long value`, unique prefixes of long names, operands anywhere, `--` ends the options.
//! blkparse, btt and blktrace read their command lines this way (clap's grammar differs: `-h`
//! is not help there), so their drop-ins parse with this and word errors as glibc does.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// How a long or short option takes its value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    None,
    Required,
}

/// One option of a GNU-style command line.
pub struct OptSpec {
    pub short: char,
    pub long: &'static str,
    pub arg: Arg,
}

/// A parsed option or operand, in command-line order. Values stay as the OS gave them: a
/// file name need not be UTF-8 (`text` turns the value of an option that takes words or
/// numbers into a `&str`).
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Opt(char, Option<OsString>),
    Operand(OsString),
}

/// A command-line error, worded as glibc's getopt words it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OptError {
    #[error("invalid option -- '{0}'")]
    Invalid(char),
    #[error("unrecognized option '{0}'")]
    Unrecognized(String),
    #[error("option requires an argument -- '{0}'")]
    MissingShort(char),
    #[error("option '--{0}' requires an argument")]
    MissingLong(String),
    #[error("option '--{0}' doesn't allow an argument")]
    Unexpected(String),
    #[error("option '{0}' is ambiguous; possibilities:{1}")]
    Ambiguous(String, String),
    /// Not glibc's: a word or number that is not text (file names may be any bytes).
    #[error("option -{0}: '{1}' is not valid UTF-8")]
    NotText(char, String),
}

/// The value of option `c` as text, for options that take words or numbers.
pub fn text(c: char, value: &OsStr) -> Result<&str, OptError> {
    value
        .to_str()
        .ok_or_else(|| OptError::NotText(c, value.to_string_lossy().into_owned()))
}

/// Splits `args` (without the program name) into options and operands, GNU style.
pub fn getopt_long(args: &[OsString], specs: &[OptSpec]) -> Result<Vec<Parsed>, OptError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = args[i].as_bytes();
        i += 1;
        if arg == b"--" {
            out.extend(args[i..].iter().cloned().map(Parsed::Operand));
            break;
        }
        if let Some(long) = arg.strip_prefix(b"--") {
            let (name, inline) = match long.iter().position(|&b| b == b'=') {
                Some(at) => (&long[..at], Some(os(&long[at + 1..]))),
                None => (long, None),
            };
            let spec = find_long(specs, &String::from_utf8_lossy(name), arg)?;
            let value = match (spec.arg, inline) {
                (Arg::None, Some(_)) => return Err(OptError::Unexpected(spec.long.into())),
                (Arg::None, None) => None,
                (Arg::Required, Some(v)) => Some(v),
                (Arg::Required, None) => {
                    let v = args
                        .get(i)
                        .cloned()
                        .ok_or_else(|| OptError::MissingLong(spec.long.into()))?;
                    i += 1;
                    Some(v)
                }
            };
            out.push(Parsed::Opt(spec.short, value));
        } else if arg.len() > 1 && arg[0] == b'-' {
            // Option letters are ASCII; the bytes after the one that takes a value are the value.
            let mut k = 1;
            while k < arg.len() {
                let c = letter(&arg[k..]);
                k += 1;
                let spec = specs
                    .iter()
                    .find(|s| s.short == c)
                    .ok_or(OptError::Invalid(c))?;
                if spec.arg == Arg::None {
                    out.push(Parsed::Opt(c, None));
                    continue;
                }
                let value = if k < arg.len() {
                    os(&arg[k..])
                } else {
                    let v = args.get(i).cloned().ok_or(OptError::MissingShort(c))?;
                    i += 1;
                    v
                };
                out.push(Parsed::Opt(c, Some(value)));
                break;
            }
        } else {
            out.push(Parsed::Operand(args[i - 1].clone()));
        }
    }
    Ok(out)
}

fn os(bytes: &[u8]) -> OsString {
    OsString::from_vec(bytes.to_vec())
}

/// The option letter at the start of `rest`: a non-ASCII byte is no option, shown as the
/// character it starts (or U+FFFD).
fn letter(rest: &[u8]) -> char {
    if rest[0].is_ascii() {
        return char::from(rest[0]);
    }
    String::from_utf8_lossy(rest)
        .chars()
        .next()
        .unwrap_or(char::REPLACEMENT_CHARACTER)
}

fn find_long<'a>(specs: &'a [OptSpec], name: &str, arg: &[u8]) -> Result<&'a OptSpec, OptError> {
    if let Some(exact) = specs.iter().find(|s| s.long == name) {
        return Ok(exact);
    }
    let arg = String::from_utf8_lossy(arg);
    let shown = arg.split('=').next().unwrap_or(&arg).to_string();
    let matches: Vec<&OptSpec> = specs
        .iter()
        .filter(|s| !name.is_empty() && s.long.starts_with(name))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(OptError::Unrecognized(shown)),
        many => {
            let list: String = many.iter().map(|s| format!(" '--{}'", s.long)).collect();
            Err(OptError::Ambiguous(shown, list))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: &[OptSpec] = &[
        OptSpec {
            short: 'i',
            long: "input",
            arg: Arg::Required,
        },
        OptSpec {
            short: 'o',
            long: "output",
            arg: Arg::Required,
        },
        OptSpec {
            short: 'q',
            long: "quiet",
            arg: Arg::None,
        },
        OptSpec {
            short: 's',
            long: "per-program-stats",
            arg: Arg::None,
        },
        OptSpec {
            short: 'n',
            long: "no-text-output",
            arg: Arg::None,
        },
        OptSpec {
            short: 'N',
            long: "no-msgs",
            arg: Arg::None,
        },
    ];

    fn s(v: &[&str]) -> Vec<OsString> {
        v.iter().map(OsString::from).collect()
    }

    #[test]
    fn gnu_grammar() {
        let p = getopt_long(
            &s(&["-qsi", "foo", "--out=x", "--input", "bar", "baz"]),
            SPECS,
        )
        .unwrap();
        assert_eq!(
            p,
            vec![
                Parsed::Opt('q', None),
                Parsed::Opt('s', None),
                Parsed::Opt('i', Some("foo".into())),
                Parsed::Opt('o', Some("x".into())),
                Parsed::Opt('i', Some("bar".into())),
                Parsed::Operand("baz".into()),
            ]
        );
        assert_eq!(getopt_long(&s(&["-x"]), SPECS), Err(OptError::Invalid('x')));
        assert_eq!(
            getopt_long(&s(&["-i"]), SPECS),
            Err(OptError::MissingShort('i'))
        );
        assert!(matches!(
            getopt_long(&s(&["--no"]), SPECS),
            Err(OptError::Ambiguous(..))
        ));
        assert_eq!(
            getopt_long(&s(&["--quiet=1"]), SPECS),
            Err(OptError::Unexpected("quiet".into()))
        );
        assert_eq!(
            getopt_long(&s(&["--", "-q"]), SPECS),
            Ok(vec![Parsed::Operand("-q".into())])
        );
    }

    #[test]
    fn values_keep_their_bytes() {
        let name = OsString::from_vec(b"trace-\xff".to_vec());
        let cluster = OsString::from_vec(b"-qi\xfe\xff".to_vec());
        let long = OsString::from_vec(b"--input=\xfd".to_vec());
        let p = getopt_long(&[name.clone(), cluster, long], SPECS).unwrap();
        assert_eq!(
            p,
            vec![
                Parsed::Operand(name),
                Parsed::Opt('q', None),
                Parsed::Opt('i', Some(os(b"\xfe\xff"))),
                Parsed::Opt('i', Some(os(b"\xfd"))),
            ]
        );
        assert_eq!(
            text('o', &os(b"x\xff")),
            Err(OptError::NotText('o', "x\u{fffd}".into()))
        );
        assert_eq!(
            getopt_long(&[os(b"-\xc3\xa9")], SPECS),
            Err(OptError::Invalid('é'))
        );
    }
}
