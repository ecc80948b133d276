//! Installing blkscope as `./x install` and `./x package` do (scripts/install.sh and
//! scripts/package.sh, here with the test build of the binary): every drop-in name answers
//! `--help` through its link, every man page renders with `man -l`, the bash completion
//! loads, the exporter's unit names the installed binary; the Debian package holds the same
//! files, declares its dependencies, and installs with dpkg (into a private root).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use blkscope_tests::{Scratch, blkscope_binary};

/// The drop-in names and the help flag of each (`-h` is help only where the stock tool says so).
const DROP_INS: [(&str, &str); 12] = [
    ("iostat", "--help"),
    ("blkparse", "--help"),
    ("btt", "-h"),
    ("blktrace", "-h"),
    ("biosnoop", "--help"),
    ("biotop", "--help"),
    ("biolatency", "--help"),
    ("bitesize", "--help"),
    ("biopattern", "--help"),
    ("biostacks", "--help"),
    ("ext4slower", "--help"),
    ("ext4dist", "--help"),
];

const PAGES: [&str; 16] = [
    "blkscope",
    "iostat",
    "parse",
    "btt",
    "record",
    "biosnoop",
    "biotop",
    "biolatency",
    "bitesize",
    "biopattern",
    "biostacks",
    "ext4slower",
    "ext4dist",
    "exporter",
    "trace",
    "report",
];

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("running a command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn page_file(page: &str) -> String {
    if page == "blkscope" {
        "blkscope.8".to_owned()
    } else {
        format!("blkscope-{page}.8")
    }
}

#[test]
fn an_installed_prefix_has_every_name_page_and_completion() {
    let work = Scratch::new("install");
    let prefix = work.path().join("prefix");
    run(Command::new("bash")
        .arg(repository().join("scripts/install.sh"))
        .arg(blkscope_binary())
        .arg(&prefix));
    let links = prefix.join("lib/blkscope/bin");
    for (name, help) in DROP_INS {
        let out = Command::new(links.join(name))
            .arg(help)
            .output()
            .expect(name);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("Usage") || text.contains("usage"),
            "{name} {help}: {text}"
        );
    }
    let man = prefix.join("share/man/man8");
    for page in PAGES {
        let out = run(Command::new("man")
            .arg("-l")
            .arg(man.join(page_file(page)))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("NAME") && text.len() > 400, "{page}: {text}");
    }
    let bash = prefix.join("share/bash-completion/completions/blkscope");
    let out = run(Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p blkscope", bash.display())));
    assert!(String::from_utf8_lossy(&out.stdout).contains("blkscope"));
    assert!(
        prefix
            .join("share/zsh/vendor-completions/_blkscope")
            .is_file()
    );
    assert!(
        prefix
            .join("share/fish/vendor_completions.d/blkscope.fish")
            .is_file()
    );
    let unit = std::fs::read_to_string(prefix.join("lib/systemd/system/blkscope-exporter.service"))
        .expect("the unit");
    let exec = format!("ExecStart={}/bin/blkscope exporter", prefix.display());
    assert!(unit.contains(&exec), "{unit}");
}

#[test]
fn the_debian_package_holds_the_install_and_installs_with_dpkg() {
    let work = Scratch::new("package");
    let out = run(Command::new("bash")
        .arg(repository().join("scripts/package.sh"))
        .arg(blkscope_binary())
        .arg(work.path()));
    let deb = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(deb.is_file(), "{}", deb.display());
    let listing =
        String::from_utf8_lossy(&run(Command::new("dpkg-deb").arg("-c").arg(&deb)).stdout)
            .into_owned();
    let mut expected = vec![
        "./usr/bin/blkscope".to_owned(),
        "./usr/lib/systemd/system/blkscope-exporter.service".to_owned(),
        "./usr/share/bash-completion/completions/blkscope".to_owned(),
        "./usr/share/doc/blkscope/copyright".to_owned(),
        "./usr/share/doc/blkscope/changelog.gz".to_owned(),
        "./usr/share/doc/blkscope/LICENSE-MIT".to_owned(),
        "./usr/share/doc/blkscope/LICENSE-APACHE".to_owned(),
    ];
    expected.extend(
        DROP_INS
            .iter()
            .map(|(n, _)| format!("./usr/lib/blkscope/bin/{n} -> ")),
    );
    expected.extend(
        PAGES
            .iter()
            .map(|p| format!("./usr/share/man/man8/{}.gz", page_file(p))),
    );
    for path in &expected {
        assert!(
            listing.contains(path.as_str()),
            "{path} missing from\n{listing}"
        );
    }
    let depends = run(Command::new("dpkg-deb")
        .args(["-f"])
        .arg(&deb)
        .arg("Depends"));
    assert!(String::from_utf8_lossy(&depends.stdout).contains("libc6"));

    // Installed with dpkg into a root of its own (not this machine's /usr).
    let root = work.path().join("root");
    let admin = root.join("var/lib/dpkg");
    std::fs::create_dir_all(admin.join("info")).unwrap();
    std::fs::create_dir_all(admin.join("updates")).unwrap();
    std::fs::write(admin.join("status"), "").unwrap();
    run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .arg("--force-depends")
        .arg("-i")
        .arg(&deb));
    let version = run(Command::new(root.join("usr/lib/blkscope/bin/blkparse")).arg("-V"));
    assert!(String::from_utf8_lossy(&version.stdout).contains("blkparse version"));
    let status = run(Command::new("dpkg")
        .arg(format!("--root={}", root.display()))
        .args(["-s", "blkscope"]));
    assert!(String::from_utf8_lossy(&status.stdout).contains("install ok installed"));
}
