//! Process CPU time from `/proc/<pid>/stat` (user + system, all threads).

use std::time::Duration;

/// CPU time consumed so far by process `pid` (`"self"` for this process).
pub fn cpu_time(pid: &str) -> std::io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    parse_cpu_ticks(&stat)
        .map(|ticks| Duration::from_secs_f64(ticks as f64 / clock_ticks_per_sec()))
        .ok_or_else(|| std::io::Error::other(format!("unparsable /proc/{pid}/stat")))
}

/// utime + stime, in clock ticks. Fields are counted after the `)` closing the command name, which may contain
/// spaces: there, utime and stime are the 12th and 13th fields (14 and 15 in `proc(5)` numbering).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fields_after_command_name() {
        let stat = "42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
    }

    #[test]
    fn reads_own_cpu_time() {
        assert!(cpu_time("self").is_ok());
    }
}
