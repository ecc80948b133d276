//! `blkscope iostat` against sysstat's iostat 12.6.1 on the same counters: every captured case
//! in ../shared/fixtures/iostat/ (samples A and B, the command, and what iostat printed) is
//! replayed through the report code and must come out byte for byte.

use std::path::{Path, PathBuf};

use blkscope::host::stat_files::StatFiles;
use blkscope::tools::iostat::{
    format::Printer,
    naming::Naming,
    options::{ArgNames, Invocation, parse},
    report::{Host, IostatReport},
    run::{Replay, run_reports},
};

fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/iostat");
    assert!(
        dir.is_dir(),
        "the iostat fixtures are missing: expected {} (the shared folder beside the repository)",
        dir.display()
    );
    dir
}

/// Names as iostat resolves them, without looking at this machine's /dev.
struct PlainNames;

impl ArgNames for PlainNames {
    fn device_name(&self, arg: &str) -> String {
        arg.trim_start_matches("/dev/").replace('/', "!")
    }
    fn persistent_type_exists(&self, _: &str) -> bool {
        false
    }
    fn device_of_persistent(&self, _: &str, _: &str) -> Option<String> {
        None
    }
}

fn sample(dir: &Path) -> StatFiles {
    StatFiles {
        proc_dir: dir.to_owned(),
        sys_dir: dir.join("sys"),
        dev_dir: PathBuf::from("/nonexistent"),
        alternate: None,
    }
}

/// The machine and date of the capture, from the expected output's banner.
fn host_and_date(expected: &str) -> (Host, String) {
    if expected.starts_with('{') {
        let field = |key: &str| {
            let start = expected.find(&format!("\"{key}\": ")).unwrap() + key.len() + 4;
            let rest = &expected[start..];
            rest[..rest.find([',', '\n']).unwrap()]
                .trim_matches('"')
                .to_owned()
        };
        let host = Host {
            sysname: field("sysname"),
            release: field("release"),
            nodename: field("nodename"),
            machine: field("machine"),
            cpus: field("number-of-cpus").parse().unwrap(),
        };
        return (host, field("date"));
    }
    // Linux 6.18.44-fc-v657 (vm) \t11/24/26 \t_x86_64_\t(2 CPU)
    let line = expected.lines().next().unwrap();
    let parts: Vec<&str> = line.split('\t').collect();
    let words: Vec<&str> = parts[0].split_whitespace().collect();
    let host = Host {
        sysname: words[0].to_owned(),
        release: words[1].to_owned(),
        nodename: words[2].trim_matches(|c| c == '(' || c == ')').to_owned(),
        machine: parts[2].trim_matches('_').to_owned(),
        cpus: parts[3]
            .trim_matches(|c| c == '(' || c == ')')
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap(),
    };
    (host, parts[1].trim().to_owned())
}

fn replay(case_dir: &Path, command: &str, expected: &str) -> String {
    let args: Vec<String> = command
        .split_whitespace()
        .skip(1)
        .map(str::to_owned)
        .collect();
    let Ok(Invocation::Report(options)) = parse(&args, &PlainNames) else {
        panic!("{command}: not a report");
    };
    let (host, date) = host_and_date(expected);
    let printer = Printer {
        colors: Default::default(),
        decimals: options.decimals,
    };
    let a = sample(&case_dir.join("A"));
    let mut report = IostatReport::new(
        *options,
        printer,
        Naming::new("/nonexistent", case_dir.join("A/sys"), case_dir.join("A")),
        &a,
    );
    let mut clock = Replay {
        samples: vec![a, sample(&case_dir.join("B"))],
        timestamp: String::new(),
        position: 0,
    };
    let mut out = Vec::new();
    run_reports(
        &mut report,
        &host,
        &date,
        &mut clock,
        &mut blkscope::run::interval::ReplayClock,
        &mut out,
    )
    .unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn every_captured_case_matches_sysstat_byte_for_byte() {
    let mut checked = 0;
    let mut failures = Vec::new();
    for folder in std::fs::read_dir(fixtures()).unwrap() {
        let folder = folder.unwrap().path();
        if !folder.is_dir() {
            continue;
        }
        let mut cases: Vec<PathBuf> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "cmd"))
            .collect();
        cases.sort();
        for cmd in cases {
            let command = std::fs::read_to_string(&cmd).unwrap();
            let expected = std::fs::read_to_string(cmd.with_extension("out")).unwrap();
            let actual = replay(&folder, command.trim(), &expected);
            checked += 1;
            if std::env::var("IOSTAT_DUMP").is_ok() {
                eprintln!("{}\n{actual}", cmd.display());
            }
            if actual != expected {
                failures.push(format!(
                    "{} ({}):\n--- iostat\n{expected}\n--- blkscope\n{actual}",
                    cmd.display(),
                    command.trim()
                ));
            }
        }
    }
    assert!(checked >= 28, "only {checked} cases found");
    assert!(
        failures.is_empty(),
        "{} of {checked} cases differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
