//! Process metrics read from `/proc` at scrape time: memory, CPU time, file
//! descriptors, memory maps and their limit. Linux only; on a system
//! without `/proc` every value is absent and the families are left out.
//! Parsing is separate from reading so it can be tested on fixed text.

use std::fs;
use std::io::Read as _;

/// What `/proc` says about this process. `None` where a file could not be
/// read or parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident set size.
    pub resident_bytes: Option<u64>,
    /// Virtual memory size.
    pub virtual_bytes: Option<u64>,
    /// User plus system CPU time.
    pub cpu_seconds: Option<f64>,
    /// Process start, seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors.
    pub max_fds: Option<u64>,
    /// Memory maps (lines of `/proc/self/maps`).
    pub memory_maps: Option<u64>,
    /// `vm.max_map_count`.
    pub memory_maps_limit: Option<u64>,
}

/// Fields of `/proc/self/stat` that the metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// User CPU time, in clock ticks.
    pub utime: u64,
    /// System CPU time, in clock ticks.
    pub stime: u64,
    /// Start time after boot, in clock ticks.
    pub starttime: u64,
    /// Virtual memory size in bytes.
    pub vsize: u64,
    /// Resident set size in pages.
    pub rss_pages: u64,
}

/// Reads everything; blocking file I/O, for a blocking thread.
pub fn read() -> ProcessStats {
    let ticks = rustix::param::clock_ticks_per_second();
    let page = rustix::param::page_size() as u64;
    let stat = fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| parse_stat(&s));
    let boot_time = fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| parse_boot_time(&s));
    #[allow(clippy::cast_precision_loss)] // tick counts are far below 2^52
    let seconds = |t: u64| (ticks > 0).then(|| t as f64 / ticks as f64);
    ProcessStats {
        resident_bytes: stat.map(|s| s.rss_pages.saturating_mul(page)),
        virtual_bytes: stat.map(|s| s.vsize),
        cpu_seconds: stat.and_then(|s| seconds(s.utime.saturating_add(s.stime))),
        #[allow(clippy::cast_precision_loss)]
        start_time_seconds: stat
            .zip(boot_time)
            .and_then(|(s, boot)| seconds(s.starttime).map(|t| boot as f64 + t)),
        open_fds: fs::read_dir("/proc/self/fd")
            .ok()
            .map(|dir| dir.count() as u64),
        max_fds: fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|s| parse_max_open_files(&s)),
        memory_maps: count_lines("/proc/self/maps"),
        memory_maps_limit: fs::read_to_string("/proc/sys/vm/max_map_count")
            .ok()
            .and_then(|s| s.trim().parse().ok()),
    }
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses
/// and may itself hold spaces and parentheses, so fields are counted from
/// the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = text.get(text.rfind(')')? + 1..)?;
    // After the name: field 3 (state) is index 0.
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(Stat {
        utime: field(14)?,
        stime: field(15)?,
        starttime: field(22)?,
        vsize: field(23)?,
        rss_pages: field(24)?,
    })
}

/// The `btime` line of `/proc/stat`: boot time, seconds since the epoch.
pub fn parse_boot_time(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// The soft limit of the `Max open files` line of `/proc/<pid>/limits`;
/// `None` when it is `unlimited`.
pub fn parse_max_open_files(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|soft| soft.parse().ok())
}

/// Counts newlines without holding the file in memory (a process with many
/// maps has a `/proc/self/maps` of megabytes).
fn count_lines(path: &str) -> Option<u64> {
    let mut file = fs::File::open(path).ok()?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf).ok()?;
        if n == 0 {
            return Some(lines);
        }
        // Once per scrape: not worth a dependency for a faster count.
        #[allow(clippy::naive_bytecount)]
        let found = buf.get(..n)?.iter().filter(|&&b| b == b'\n').count();
        lines += found as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        // The command name holds a space and a parenthesis.
        let text = "4242 (runnel (x) b) S 1 4242 4242 0 -1 4194560 1000 0 0 0 \
                    250 50 0 0 20 0 9 0 123456 987654321 2048 18446744073709551615";
        assert_eq!(
            parse_stat(text),
            Some(Stat {
                utime: 250,
                stime: 50,
                starttime: 123_456,
                vsize: 987_654_321,
                rss_pages: 2048,
            })
        );
    }

    #[test]
    fn a_truncated_stat_line_is_none() {
        assert_eq!(parse_stat("4242 (runnel) S 1 2 3"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn boot_time_comes_from_the_btime_line() {
        let text = "cpu  1 2 3 4\nintr 5\nbtime 1700000000\nprocesses 9\n";
        assert_eq!(parse_boot_time(text), Some(1_700_000_000));
        assert_eq!(parse_boot_time("cpu 1\n"), None);
    }

    #[test]
    fn the_soft_open_files_limit_is_read_and_unlimited_is_none() {
        let text = "Limit                     Soft Limit           Hard Limit           Units\n\
                    Max cpu time              unlimited            unlimited            seconds\n\
                    Max open files            1024                 524288               files\n";
        assert_eq!(parse_max_open_files(text), Some(1024));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_max_open_files(unlimited), None);
    }

    #[test]
    fn reading_this_process_finds_plausible_values() {
        let stats = read();
        if std::path::Path::new("/proc/self/stat").exists() {
            assert!(stats.resident_bytes.is_some_and(|b| b > 0));
            assert!(stats.open_fds.is_some_and(|n| n >= 3));
            assert!(stats.memory_maps.is_some_and(|n| n > 0));
            assert!(stats.cpu_seconds.is_some());
        }
    }
}
