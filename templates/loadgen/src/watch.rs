//! Resource use of the processes under load, sampled from Linux's `/proc` while requests are
//! sent: resident memory (`VmRSS` of `/proc/<pid>/status`) and CPU (user + system time of
//! `/proc/<pid>/stat`, in clock ticks of 1/100 s, Linux's `USER_HZ`) as a percentage of one
//! core over each interval. The load generator always watches itself too, so a report shows
//! whether it, not the system, was the bottleneck.

use std::fs;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::error::Error;
use crate::flags::Watch;

/// Time between samples.
const INTERVAL: Duration = Duration::from_millis(500);
/// `USER_HZ`: the unit of the times in `/proc/<pid>/stat`, 100 on every Linux architecture.
const TICKS_PER_SECOND: f64 = 100.0;

/// A process to sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub name: String,
    pub pid: u32,
}

/// One sample of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Seconds since sampling began.
    pub t: f64,
    pub rss_bytes: u64,
    /// CPU used since the previous sample, in percent of one core.
    pub cpu_percent: f64,
}

/// A process and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Samples {
    pub target: Target,
    pub samples: Vec<Sample>,
}

/// The processes `watch` names, and this one as `loadgen`; refuses names and ids that match
/// no running process.
pub fn resolve(watch: &[Watch]) -> Result<Vec<Target>, Error> {
    let mut targets = vec![Target {
        name: "loadgen".to_owned(),
        pid: std::process::id(),
    }];
    if !watch.is_empty() && !std::path::Path::new("/proc/self/stat").exists() {
        return Err(bad(
            "--watch",
            "sampling resource use reads /proc, which only Linux has",
        ));
    }
    for w in watch {
        match w {
            Watch::Pid { name, pid } => {
                if read_cpu_ticks(*pid).is_none() {
                    return Err(bad(&format!("--watch-pid {name}={pid}"), "no such process"));
                }
                targets.push(Target {
                    name: name.clone(),
                    pid: *pid,
                });
            }
            Watch::Name(name) => {
                let found = processes_named(name);
                if found.is_empty() {
                    return Err(bad(
                        &format!("--watch {name}"),
                        "no running process has that name (names are cut at 15 characters)",
                    ));
                }
                targets.extend(found.into_iter().map(|pid| Target {
                    name: name.clone(),
                    pid,
                }));
            }
        }
    }
    Ok(targets)
}

fn bad(flag: &str, reason: &str) -> Error {
    Error::BadFlag {
        flag: flag.to_owned(),
        reason: reason.to_owned(),
    }
}

/// Sampling in the background until [`Sampler::stop`].
pub struct Sampler {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Vec<Samples>>,
}

impl Sampler {
    /// Starts sampling `targets` every [`INTERVAL`].
    #[must_use]
    pub fn start(targets: Vec<Target>) -> Self {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let start = Instant::now();
            let mut last: Vec<Option<(Instant, u64)>> = targets
                .iter()
                .map(|t| read_cpu_ticks(t.pid).map(|ticks| (Instant::now(), ticks)))
                .collect();
            let mut all: Vec<Samples> = targets
                .into_iter()
                .map(|target| Samples {
                    target,
                    samples: Vec::new(),
                })
                .collect();
            loop {
                tokio::select! {
                    _ = &mut stopped => return all,
                    () = tokio::time::sleep(INTERVAL) => {}
                }
                let now = Instant::now();
                for (process, previous) in all.iter_mut().zip(&mut last) {
                    let pid = process.target.pid;
                    let (Some((then, before)), Some(ticks), Some(rss_bytes)) =
                        (*previous, read_cpu_ticks(pid), read_rss_bytes(pid))
                    else {
                        continue;
                    };
                    process.samples.push(Sample {
                        t: (now - start).as_secs_f64(),
                        rss_bytes,
                        cpu_percent: cpu_percent(ticks.saturating_sub(before), now - then),
                    });
                    *previous = Some((now, ticks));
                }
            }
        });
        Self { stop, task }
    }

    /// Stops sampling; answers every process's samples.
    pub async fn stop(self) -> Vec<Samples> {
        let _ = self.stop.send(());
        self.task.await.expect("the sampler never panics")
    }
}

/// `ticks` of CPU over `elapsed` wall time, in percent of one core.
#[must_use]
pub fn cpu_percent(ticks: u64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss, reason = "CPU ticks stay far below 2^52")]
    let cpu = ticks as f64 / TICKS_PER_SECOND;
    cpu / seconds * 100.0
}

/// The pids whose `/proc/<pid>/comm` is `name`.
fn processes_named(name: &str) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|pid| {
            fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.trim_end() == name)
        })
        .collect();
    pids.sort_unstable();
    pids
}

fn read_cpu_ticks(pid: u32) -> Option<u64> {
    parse_cpu_ticks(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

fn read_rss_bytes(pid: u32) -> Option<u64> {
    parse_rss_bytes(&fs::read_to_string(format!("/proc/{pid}/status")).ok()?)
}

/// utime + stime of a `/proc/<pid>/stat` line: fields 14 and 15, counted after the command
/// name, which is in parentheses and may itself hold spaces and parentheses.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (the state), so field n is at index n - 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// `VmRSS` of a `/proc/<pid>/status`, in bytes.
fn parse_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_are_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) w) S 1 4242 4242 0 -1 4194560 9 0 0 0 250 50 0 0 20 0 9 0";
        assert_eq!(parse_cpu_ticks(stat), Some(300));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn rss_is_read_from_vmrss_in_kibibytes() {
        let status = "Name:\tdevstack\nVmPeak:\t  90000 kB\nVmRSS:\t   20480 kB\nThreads:\t9\n";
        assert_eq!(parse_rss_bytes(status), Some(20 * 1024 * 1024));
        assert_eq!(parse_rss_bytes("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn cpu_percent_is_of_one_core_and_may_exceed_a_hundred() {
        assert!((cpu_percent(50, Duration::from_secs(1)) - 50.0).abs() < 1e-9);
        assert!((cpu_percent(150, Duration::from_secs(1)) - 150.0).abs() < 1e-9);
        assert!(cpu_percent(10, Duration::ZERO).abs() < f64::EPSILON);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_always_watched_and_found_by_pid() {
        let targets = resolve(&[]).unwrap();
        assert_eq!(targets[0].name, "loadgen");
        assert!(read_cpu_ticks(targets[0].pid).is_some());
        assert!(read_rss_bytes(targets[0].pid).unwrap() > 0);
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_name_or_pid_that_matches_nothing_is_refused() {
        let line = resolve(&[Watch::Name("no-such-process".into())])
            .unwrap_err()
            .line();
        assert!(line.contains("no running process has that name"), "{line}");
        let gone = Watch::Pid {
            name: "gone".into(),
            pid: u32::MAX,
        };
        assert!(
            resolve(&[gone])
                .unwrap_err()
                .line()
                .contains("no such process")
        );
    }
}
