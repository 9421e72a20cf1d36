//! The command line: what the user typed, parsed into [`Flags`] or refused with the flag that
//! is wrong. Nothing here touches the network or the disk.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::Url;

use crate::error::Error;
use crate::mix::{DEFAULT_TARGET, ENTRIES, ORDER_CONFIRMED_ALL_MS};

/// `loadgen --help`.
pub const HELP: &str = "\
loadgen: an open-loop load run of the model's journey mix against the gateway

Usage: loadgen [FLAGS]

Requests start at fixed intended times (the rate), whatever the answers; each latency is
measured from its intended start, so a slow answer also delays the ones queued behind it.

  --target URL          the gateway [default: the model's, on 127.0.0.1]
  --rate N              requests per second, all entry paths together [default: 50]
  --duration TIME       how long requests are started, e.g. 30s, 2m; at most 10m, as the
                        access tokens setup gets last 15 minutes [default: 10s]
  --mix NAME=W,...      weigh the entry paths yourself, e.g. `checkout=1` for checkouts
                        only (`add-to-cart` for `add to cart`); paths not named get none
                        [default: the model's peak rates]
  --max-in-flight N     requests outstanding at once; later ones wait [default: 256]
  --timeout TIME        one request's time limit [default: 10s]
  --settle-timeout TIME how long placed orders may take to become final [default: the
                        model's `order confirmed` bound for all orders]
  --products N          products created for the run [default: 10]
  --admin-email EMAIL   account that creates them: a verified admin, e.g. the devstack's
                        DEVSTACK_ADMIN_EMAIL [default: loadgen-admin@example.com]
  --watch-pid NAME=PID  sample a process's RSS and CPU from /proc (repeatable)
  --watch NAME          the same for every process whose name is NAME (repeatable)
  --wait TIME           wait this long for the target to become ready [default: 0s]
  --out DIR             where report.md, report.json and report.svg go
                        [default: target/loadgen]
  --allow-remote        allow a target that is not on this machine
  -h, --help            this text

The admin's password comes from DEVSTACK_ADMIN_PASSWORD (the variable the devstack creates
its admin with), never from a flag.

Exit codes: 0 the run finished, every order settled and every invariant held; 1 the run
could not be done (target unreachable, setup refused, report not written); 2 bad flags;
3 the run finished but orders did not settle or an invariant broke (see the report).
";

/// The variable holding the password of `--admin-email`.
pub const ADMIN_PASSWORD: &str = "DEVSTACK_ADMIN_PASSWORD";

/// The longest run: the platform's access tokens, taken once at setup, last 15 minutes.
const MAX_DURATION: Duration = Duration::from_secs(600);

/// A process whose resource use is sampled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Watch {
    /// One process, labelled.
    Pid { name: String, pid: u32 },
    /// Every process with this name (`/proc/<pid>/comm`).
    Name(String),
}

/// Everything the run is told.
#[derive(Debug, Clone, PartialEq)]
pub struct Flags {
    pub target: Url,
    pub rate: u32,
    pub duration: Duration,
    /// Weights by entry path name, overriding the model's; empty: the model's.
    pub mix: Vec<(&'static str, u64)>,
    pub max_in_flight: usize,
    pub timeout: Duration,
    pub settle_timeout: Duration,
    pub products: u32,
    pub admin_email: String,
    /// The admin's password: `DEVSTACK_ADMIN_PASSWORD`, read by `main`, never a flag.
    pub admin_password: Option<String>,
    pub watch: Vec<Watch>,
    pub wait: Duration,
    pub out: PathBuf,
    pub allow_remote: bool,
}

impl Default for Flags {
    fn default() -> Self {
        Self {
            target: Url::parse(DEFAULT_TARGET).expect("the model's gateway address is a URL"),
            rate: 50,
            duration: Duration::from_secs(10),
            mix: Vec::new(),
            max_in_flight: 256,
            timeout: Duration::from_secs(10),
            settle_timeout: Duration::from_millis(ORDER_CONFIRMED_ALL_MS),
            products: 10,
            admin_email: "loadgen-admin@example.com".to_owned(),
            admin_password: None,
            watch: Vec::new(),
            wait: Duration::ZERO,
            out: PathBuf::from("target/loadgen"),
            allow_remote: false,
        }
    }
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Command {
    /// Print [`HELP`].
    Help,
    /// Run with these flags.
    Run(Box<Flags>),
}

impl Flags {
    /// Parses the arguments after the program name: `--flag value` or `--flag=value`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, Error> {
        let mut flags = Self::default();
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (name, inline) = match arg.split_once('=') {
                Some((name, value)) if name.starts_with("--") => (name.to_owned(), Some(value)),
                _ => (arg.clone(), None),
            };
            let mut value = || -> Result<String, Error> {
                inline
                    .map(str::to_owned)
                    .or_else(|| args.next())
                    .ok_or_else(|| bad(&name, "needs a value"))
            };
            match name.as_str() {
                "-h" | "--help" => return Ok(Command::Help),
                "--allow-remote" => flags.allow_remote = true,
                "--target" => flags.target = target(&name, &value()?)?,
                "--rate" => flags.rate = positive(&name, &value()?)?,
                "--duration" => flags.duration = duration(&name, &value()?)?,
                "--mix" => flags.mix = mix(&name, &value()?)?,
                "--max-in-flight" => flags.max_in_flight = positive(&name, &value()?)?,
                "--timeout" => flags.timeout = duration(&name, &value()?)?,
                "--settle-timeout" => flags.settle_timeout = duration(&name, &value()?)?,
                "--products" => flags.products = positive(&name, &value()?)?,
                "--admin-email" => flags.admin_email = value()?,
                "--watch-pid" => flags.watch.push(watch_pid(&name, &value()?)?),
                "--watch" => flags.watch.push(Watch::Name(value()?)),
                "--wait" => flags.wait = wait(&name, &value()?)?,
                "--out" => flags.out = PathBuf::from(value()?),
                _ => return Err(bad(&arg, "unknown flag")),
            }
        }
        if flags.duration > MAX_DURATION {
            return Err(bad(
                &format!("--duration {}s", flags.duration.as_secs()),
                "must be at most 10m: the access tokens setup gets last 15 minutes",
            ));
        }
        if !flags.allow_remote && !is_local(&flags.target) {
            return Err(bad(
                &format!("--target {}", flags.target),
                "is not on this machine; add `--allow-remote` to load it anyway",
            ));
        }
        Ok(Command::Run(Box::new(flags)))
    }
}

impl Flags {
    /// The weight of each of the model's entry paths, in [`ENTRIES`] order: `--mix` where
    /// given, the model's peak rates otherwise.
    #[must_use]
    pub fn weights(&self) -> Vec<u64> {
        ENTRIES
            .iter()
            .map(|entry| {
                if self.mix.is_empty() {
                    entry.weight
                } else {
                    self.mix
                        .iter()
                        .find(|(name, _)| *name == entry.name)
                        .map_or(0, |(_, weight)| *weight)
                }
            })
            .collect()
    }
}

/// `NAME=WEIGHT,...` over the model's entry path names (a `-` may stand for a space).
fn mix(flag: &str, raw: &str) -> Result<Vec<(&'static str, u64)>, Error> {
    let names = || {
        ENTRIES
            .iter()
            .map(|entry| entry.name.replace(' ', "-"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut weights = Vec::new();
    for part in raw.split(',') {
        let (name, weight) = part.split_once('=').ok_or_else(|| {
            bad(
                &format!("{flag} {raw}"),
                "must be NAME=WEIGHT pairs separated by commas, e.g. checkout=1,browse=4",
            )
        })?;
        let wanted = name.trim().replace('-', " ");
        let entry = ENTRIES
            .iter()
            .find(|entry| entry.name == wanted)
            .ok_or_else(|| {
                bad(
                    &format!("{flag} {raw}"),
                    &format!("`{name}` is not an entry path; one of: {}", names()),
                )
            })?;
        let weight: u64 = weight.trim().parse().map_err(|_| {
            bad(
                &format!("{flag} {raw}"),
                &format!("the weight of `{name}` must be a whole number"),
            )
        })?;
        weights.push((entry.name, weight));
    }
    if weights.iter().all(|(_, weight)| *weight == 0) {
        return Err(bad(
            &format!("{flag} {raw}"),
            "gives every entry path a weight of 0",
        ));
    }
    Ok(weights)
}

fn bad(flag: &str, reason: &str) -> Error {
    Error::BadFlag {
        flag: flag.to_owned(),
        reason: reason.to_owned(),
    }
}

fn target(flag: &str, raw: &str) -> Result<Url, Error> {
    let url = Url::parse(raw).map_err(|err| bad(&format!("{flag} {raw}"), &err.to_string()))?;
    if url.scheme() != "http" || url.host_str().is_none() {
        return Err(bad(
            &format!("{flag} {raw}"),
            "must be an http:// URL with a host",
        ));
    }
    Ok(url)
}

fn positive<T: std::str::FromStr + Default + PartialEq>(flag: &str, raw: &str) -> Result<T, Error> {
    match raw.parse::<T>() {
        Ok(n) if n != T::default() => Ok(n),
        _ => Err(bad(
            &format!("{flag} {raw}"),
            "must be a whole number of at least 1",
        )),
    }
}

fn watch_pid(flag: &str, raw: &str) -> Result<Watch, Error> {
    raw.split_once('=')
        .and_then(|(name, pid)| {
            let pid = pid.parse().ok()?;
            (!name.is_empty()).then(|| Watch::Pid {
                name: name.to_owned(),
                pid,
            })
        })
        .ok_or_else(|| {
            bad(
                &format!("{flag} {raw}"),
                "must be NAME=PID, e.g. devstack=4242",
            )
        })
}

/// A time that must not be zero.
fn duration(flag: &str, raw: &str) -> Result<Duration, Error> {
    match parse_duration(raw) {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(bad(
            &format!("{flag} {raw}"),
            "must be a time above zero, e.g. 500ms, 10s or 2m",
        )),
    }
}

/// A time that may be zero.
fn wait(flag: &str, raw: &str) -> Result<Duration, Error> {
    parse_duration(raw).ok_or_else(|| {
        bad(
            &format!("{flag} {raw}"),
            "must be a time, e.g. 0s, 500ms or 30s",
        )
    })
}

/// `500ms`, `10s`, `2m` or a bare number of seconds.
fn parse_duration(raw: &str) -> Option<Duration> {
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let n: u64 = number.parse().ok()?;
    match unit {
        "ms" => Some(Duration::from_millis(n)),
        "" | "s" => Some(Duration::from_secs(n)),
        "m" => Some(Duration::from_secs(n.checked_mul(60)?)),
        _ => None,
    }
}

/// Whether `url` names this machine: `localhost`, 127.0.0.0/8 or `[::1]`.
fn is_local(url: &Url) -> bool {
    match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, Error> {
        Flags::parse(args.iter().map(|a| (*a).to_owned()))
    }

    #[track_caller]
    fn flags(args: &[&str]) -> Flags {
        match parse(args).unwrap() {
            Command::Run(flags) => *flags,
            Command::Help => panic!("asked for help"),
        }
    }

    #[track_caller]
    fn refused(args: &[&str]) -> String {
        parse(args).unwrap_err().line()
    }

    #[test]
    fn no_flags_run_the_defaults_against_the_models_gateway() {
        let flags = flags(&[]);
        assert_eq!(flags, Flags::default());
        assert_eq!(flags.target.as_str().trim_end_matches('/'), DEFAULT_TARGET);
    }

    #[test]
    fn flags_take_their_value_after_a_space_or_an_equals_sign() {
        let flags = flags(&[
            "--rate=200",
            "--duration",
            "2m",
            "--timeout",
            "500ms",
            "--watch-pid",
            "devstack=42",
            "--watch",
            "postgres",
            "--target",
            "http://localhost:9000",
        ]);
        assert_eq!(flags.rate, 200);
        assert_eq!(flags.duration, Duration::from_secs(120));
        assert_eq!(flags.timeout, Duration::from_millis(500));
        assert_eq!(
            flags.watch,
            [
                Watch::Pid {
                    name: "devstack".into(),
                    pid: 42
                },
                Watch::Name("postgres".into())
            ]
        );
        assert_eq!(flags.target.host_str(), Some("localhost"));
    }

    #[test]
    fn help_wins_over_everything_else() {
        assert_eq!(parse(&["--rate", "5", "--help"]).unwrap(), Command::Help);
    }

    #[test]
    fn bad_values_are_refused_with_the_flag_and_how_to_fix_it() {
        assert_eq!(
            refused(&["--rate", "0"]),
            "`--rate 0`: must be a whole number of at least 1 (see `loadgen --help`)"
        );
        assert!(refused(&["--duration", "10h"]).contains("e.g. 500ms, 10s or 2m"));
        assert!(refused(&["--duration", "0s"]).contains("above zero"));
        assert!(refused(&["--duration", "11m"]).contains("at most 10m"));
        assert_eq!(flags(&["--duration", "10m"]).duration, MAX_DURATION);
        assert!(refused(&["--watch-pid", "42"]).contains("NAME=PID"));
        assert!(refused(&["--rate"]).contains("needs a value"));
        assert!(refused(&["--burst", "3"]).starts_with("`--burst`: unknown flag"));
        assert!(refused(&["--target", "ftp://127.0.0.1"]).contains("http://"));
    }

    #[test]
    fn only_targets_on_this_machine_are_loaded_unless_allowed() {
        for local in [
            "http://127.0.0.1:8080",
            "http://127.0.0.2",
            "http://[::1]:8080",
        ] {
            assert_eq!(flags(&["--target", local]).target.scheme(), "http");
        }
        assert!(refused(&["--target", "http://10.0.0.1:8080"]).contains("--allow-remote"));
        assert!(refused(&["--target", "http://example.com"]).contains("not on this machine"));
        let allowed = flags(&["--target", "http://10.0.0.1:8080", "--allow-remote"]);
        assert_eq!(allowed.target.host_str(), Some("10.0.0.1"));
    }

    #[test]
    fn a_mix_weighs_the_named_entry_paths_and_leaves_the_others_out() {
        let model = flags(&[]);
        assert_eq!(
            model.weights(),
            ENTRIES.iter().map(|e| e.weight).collect::<Vec<_>>()
        );
        let checkout = flags(&["--mix", "checkout=1"]);
        let weights = checkout.weights();
        for (entry, weight) in ENTRIES.iter().zip(&weights) {
            assert_eq!(
                *weight,
                u64::from(entry.name == "checkout"),
                "{}",
                entry.name
            );
        }
        let spaced = flags(&["--mix", "add-to-cart=3,checkout=1"]);
        assert!(spaced.weights().contains(&3));
        assert!(refused(&["--mix", "refund=1"]).contains("is not an entry path; one of: checkout"));
        assert!(refused(&["--mix", "checkout"]).contains("NAME=WEIGHT"));
        assert!(refused(&["--mix", "checkout=x"]).contains("whole number"));
        assert!(refused(&["--mix", "checkout=0"]).contains("weight of 0"));
    }

    #[test]
    fn a_wait_may_be_zero_but_a_duration_may_not() {
        assert_eq!(flags(&["--wait", "0s"]).wait, Duration::ZERO);
        assert_eq!(flags(&["--wait", "30"]).wait, Duration::from_secs(30));
    }
}
