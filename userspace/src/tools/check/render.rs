//! The check report as text (aligned sections, one line per fact) or as one JSON object.

use std::fmt::Write as _;

use super::report::CheckReport;

pub fn json(report: &CheckReport) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(report)?;
    text.push('\n');
    Ok(text)
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

pub fn text(report: &CheckReport) -> String {
    let mut out = String::new();
    let k = &report.kernel;
    let which = match (&k.release, k.running) {
        (Some(release), true) => format!("Linux {release} (running)"),
        (Some(release), false) => format!("Linux {release}"),
        (None, true) => "the running kernel".to_owned(),
        (None, false) => "the kernel of this BTF file".to_owned(),
    };
    let _ = writeln!(out, "Kernel: {which}, BTF from {}", k.btf);

    let _ = writeln!(out, "\nFeatures");
    for f in &report.features {
        let _ = writeln!(
            out,
            "  {:<28} {:<4} {}",
            f.title,
            yes_no(f.present),
            f.since
        );
    }

    if let Some(p) = &report.privileges {
        let _ = writeln!(out, "\nPrivileges");
        let held = if p.capabilities.is_empty() {
            "none of CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN".to_owned()
        } else {
            p.capabilities.join(" ")
        };
        let _ = writeln!(out, "  held: {held}");
        if let Some(problem) = &p.problem {
            let _ = writeln!(out, "  {problem}");
        }
    }

    let _ = writeln!(out, "\nTracepoints (prototype; argument the probes read)");
    for t in &report.tracepoints {
        let prototype = t.prototype.as_deref().unwrap_or("missing");
        let read = match (t.object_argument, &t.error) {
            (Some(n), _) => format!("argument {n}"),
            (None, Some(e)) => format!("refused: {e}"),
            (None, None) => "refused".to_owned(),
        };
        let _ = writeln!(out, "  {:<22} {prototype}; {read}", t.tracepoint);
    }

    let _ = writeln!(out, "\nStruct members (byte offset)");
    for m in &report.members {
        let offset = m
            .offset
            .map_or_else(|| "missing".to_owned(), |o| o.to_string());
        let _ = writeln!(out, "  {:<28} {offset}", m.member);
    }

    let _ = writeln!(out, "\nViews");
    for v in &report.views {
        let probes = if v.probes.is_empty() {
            "no probes".to_owned()
        } else {
            v.probes.join(", ")
        };
        let verdict = if v.runs {
            "runs".to_owned()
        } else {
            format!("cannot run: {}", v.reasons.join("; "))
        };
        let _ = writeln!(out, "  {:<18} {verdict} ({probes})", v.view);
    }
    out
}
