//! GNU getopt_long, as glibc parses: clustered short options (`-qsi FILE`), `--long=value` or
//! `--long value`, unique prefixes of long names, operands anywhere, `--` ends the options.
//! blkparse, btt and blktrace read their command lines this way (clap's grammar differs: `-h`
//! is not help there), so their drop-ins parse with this and word errors as glibc does.

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

/// A parsed option or operand, in command-line order.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Opt(char, Option<String>),
    Operand(String),
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
}

/// Splits `args` (without the program name) into options and operands, GNU style.
pub fn getopt_long(args: &[String], specs: &[OptSpec]) -> Result<Vec<Parsed>, OptError> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            out.extend(args[i..].iter().cloned().map(Parsed::Operand));
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let spec = find_long(specs, name, arg)?;
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
        } else if arg.len() > 1 && arg.starts_with('-') {
            let chars: Vec<char> = arg[1..].chars().collect();
            let mut k = 0;
            while k < chars.len() {
                let c = chars[k];
                k += 1;
                let spec = specs
                    .iter()
                    .find(|s| s.short == c)
                    .ok_or(OptError::Invalid(c))?;
                if spec.arg == Arg::None {
                    out.push(Parsed::Opt(c, None));
                    continue;
                }
                let value = if k < chars.len() {
                    chars[k..].iter().collect()
                } else {
                    let v = args.get(i).cloned().ok_or(OptError::MissingShort(c))?;
                    i += 1;
                    v
                };
                out.push(Parsed::Opt(c, Some(value)));
                break;
            }
        } else {
            out.push(Parsed::Operand(arg.clone()));
        }
    }
    Ok(out)
}

fn find_long<'a>(specs: &'a [OptSpec], name: &str, arg: &str) -> Result<&'a OptSpec, OptError> {
    if let Some(exact) = specs.iter().find(|s| s.long == name) {
        return Ok(exact);
    }
    let shown = arg.split('=').next().unwrap_or(arg).to_string();
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

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
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
}
