//! Local time as sysstat and bcc print it: strftime(3) in the user's LC_TIME, and iostat's
//! S_TIME_FORMAT=ISO switch.

/// Whether S_TIME_FORMAT asks for ISO 8601 dates.
pub fn iso_dates() -> bool {
    std::env::var("S_TIME_FORMAT").is_ok_and(|v| v == "ISO")
}

/// Now, formatted by strftime(3) in the user's LC_TIME (sysstat prints `%x` dates).
pub fn strftime_now(format: &str) -> String {
    // SAFETY: setlocale with an empty string reads the environment; called before any thread
    // that formats times is started.
    unsafe {
        libc::setlocale(libc::LC_TIME, c"".as_ptr());
    }
    let mut now: libc::time_t = 0;
    // SAFETY: time(2) and localtime_r(3) write into the locals passed by pointer.
    let tm = unsafe {
        libc::time(&mut now);
        let mut tm: libc::tm = std::mem::zeroed();
        libc::localtime_r(&now, &mut tm);
        tm
    };
    let Ok(format) = std::ffi::CString::new(format) else {
        return String::new();
    };
    let mut buffer = [0u8; 128];
    // SAFETY: strftime writes at most buffer.len() bytes and returns how many it wrote.
    let written = unsafe {
        libc::strftime(
            buffer.as_mut_ptr().cast(),
            buffer.len(),
            format.as_ptr(),
            &tm,
        )
    };
    String::from_utf8_lossy(&buffer[..written]).into_owned()
}
