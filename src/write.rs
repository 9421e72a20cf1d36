//! `FilePlan`s → disk. The target is checked first (and, before any question, that its place
//! can be written); the files are written into a staging directory beside it, in one or more
//! batches, then renamed into place, so a failure or an interrupt never leaves a half-written
//! project, and a later run sweeps the staging a `kill -9` left. Optionally `git init` and a
//! first commit.

use std::collections::HashSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::Error;
use crate::plan::FilePlan;

/// What to do with a target directory that already has files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overwrite {
    /// Refuse, writing nothing.
    Refuse,
    /// Write over files with the same paths; leave other files alone.
    Force,
}

/// Whether to make the new project a git repository with a first commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Git {
    InitAndCommit,
    Skip,
}

/// What `write` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) files: usize,
    pub(crate) git: GitOutcome,
}

/// How the git step went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum GitOutcome {
    Committed,
    Skipped,
    /// Git is missing or failed; the files are written regardless. Holds the reason.
    Unavailable(String),
    /// The target was already inside a git work tree, which is left to its owner.
    AlreadyRepository,
}

/// Checks that `target` can receive the plan: absent, an empty directory, or (with `Force`)
/// any directory.
pub(crate) fn check_target(target: &Path, overwrite: Overwrite) -> Result<(), Error> {
    match fs::metadata(target) {
        Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
        Err(err) if err.kind() == ErrorKind::NotADirectory => Err(Error::TargetNotDirectory {
            path: target.to_owned(),
        }),
        Err(source) => Err(io("inspect", target, source)),
        Ok(meta) if !meta.is_dir() => Err(Error::TargetNotDirectory {
            path: target.to_owned(),
        }),
        Ok(_) => {
            let mut entries = fs::read_dir(target).map_err(|source| io("read", target, source))?;
            if entries.next().is_none() || overwrite == Overwrite::Force {
                Ok(())
            } else {
                Err(Error::TargetNotEmpty {
                    path: target.to_owned(),
                })
            }
        }
    }
}

/// Checks that the project can be staged where `write` will stage it: in an existing target,
/// or else in its nearest existing ancestor (the missing directories are created there). The
/// check creates this run's staging directory and removes it again, so it asks the file
/// system itself (read-only mounts, permissions, quotas) rather than guessing from modes.
pub(crate) fn check_writable(target: &Path) -> Result<(), Error> {
    let start = if target.is_dir() {
        target.to_owned()
    } else {
        parent_of(target)
    };
    let dir = start
        .ancestors()
        .find(|dir| !dir.as_os_str().is_empty() && dir.exists())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let probe = staging_path(&dir, target);
    fs::create_dir(&probe)
        .and_then(|()| fs::remove_dir(&probe))
        .map_err(|err| Error::TargetNotWritable {
            path: dir,
            reason: err.to_string(),
        })
}

/// Writes `plan` into `target` (see the module docs), then runs the git step.
pub(crate) fn write(
    plan: &FilePlan,
    target: &Path,
    overwrite: Overwrite,
    git: Git,
) -> Result<Written, Error> {
    let mut writer = Writer::begin(target, overwrite)?;
    writer.stage(plan)?;
    writer.finish(git)
}

/// A project being written: its target checked and a staging directory open for it, filled
/// by one or more `stage` calls (from any one thread at a time), then moved into place by
/// `finish`. Dropped unfinished, it removes the staging directory and leaves the target alone.
#[derive(Debug)]
pub(crate) struct Writer {
    dest: PathBuf,
    existing: bool,
    staging: Staging,
    /// Directories made in the staging directory so far.
    created: HashSet<PathBuf>,
    files: usize,
}

impl Writer {
    /// Checks `target` and opens the staging directory for it.
    pub(crate) fn begin(target: &Path, overwrite: Overwrite) -> Result<Self, Error> {
        check_target(target, overwrite)?;
        // An existing directory (or a link to one) is written into where it really is, staged
        // inside itself: same filesystem for the renames, and the directory a shell may be
        // standing in is never replaced. A new target is staged beside it and renamed.
        let existing = target.exists();
        let (dest, staging_parent) = if existing {
            let real = fs::canonicalize(target).map_err(|source| io("resolve", target, source))?;
            (real.clone(), real)
        } else {
            let parent = parent_of(target);
            fs::create_dir_all(&parent).map_err(|source| io("create", &parent, source))?;
            (target.to_owned(), parent)
        };
        let staging = Staging::create(&staging_parent, target)?;
        Ok(Self {
            dest,
            existing,
            staging,
            created: HashSet::new(),
            files: 0,
        })
    }

    /// Writes the files of `plan` into the staging directory; none may be staged already.
    pub(crate) fn stage(&mut self, plan: &FilePlan) -> Result<(), Error> {
        // Paths are sorted, so a directory's files come together: create each directory once.
        for (path, file) in plan.iter() {
            let file_path = self.staging.path.join(path);
            if let Some(dir) = file_path.parent() {
                if !self.created.contains(dir) {
                    fs::create_dir_all(dir).map_err(|source| io("create", dir, source))?;
                    self.created.insert(dir.to_owned());
                }
            }
            create_file(&file_path, &file.contents, file.mode.bits())
                .map_err(|source| io("write", &file_path, source))?;
        }
        self.files += plan.len();
        Ok(())
    }

    /// Moves the staged files into place, then runs the git step.
    pub(crate) fn finish(self, git: Git) -> Result<Written, Error> {
        let in_repository = self.existing && inside_work_tree(&self.dest);
        self.staging.move_into(&self.dest, self.existing)?;
        let git = match git {
            Git::Skip => GitOutcome::Skipped,
            Git::InitAndCommit if in_repository => GitOutcome::AlreadyRepository,
            Git::InitAndCommit => init_and_commit(&self.dest),
        };
        Ok(Written {
            files: self.files,
            git,
        })
    }
}

/// Whether `dir` is inside a git work tree (git missing counts as no).
fn inside_work_tree(dir: &Path) -> bool {
    Command::new("git")
        .args(["rev-parse", "--is-inside-work-tree"])
        .current_dir(dir)
        .output()
        .is_ok_and(|out| out.status.success() && out.stdout.starts_with(b"true"))
}

fn parent_of(target: &Path) -> PathBuf {
    match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn io(action: &'static str, path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Creates `path` with `contents`, its permission bits set at creation (less the umask, as
/// `cp` and editors do), in one open and one write.
fn create_file(path: &Path, contents: &[u8], bits: u32) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, bits);
    #[cfg(not(unix))]
    let _ = bits;
    options.open(path)?.write_all(contents)
}

/// The prefix of this target's staging directories, `.NAME.arch-init-staging-`; the pid of
/// the run that made one follows it.
fn staging_prefix(target: &Path) -> String {
    let stem = target
        .file_name()
        .map_or_else(|| "project".into(), |n| n.to_string_lossy().into_owned());
    format!(".{stem}.arch-init-staging-")
}

/// This run's staging directory for `target`, in `parent`.
fn staging_path(parent: &Path, target: &Path) -> PathBuf {
    parent.join(format!("{}{}", staging_prefix(target), std::process::id()))
}

/// Removes the staging directories for `target` in `parent` that runs killed before they
/// could clean up (`kill -9`) left behind: those whose pid is no longer running. Best effort:
/// without a way to tell (no `/proc`), or on any error, nothing is removed.
fn sweep_stale(parent: &Path, target: &Path) {
    let prefix = staging_prefix(target);
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.strip_prefix(&prefix))
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !is_running(pid).unwrap_or(true) {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether process `pid` exists; `None` where that cannot be told.
fn is_running(pid: u32) -> Option<bool> {
    let proc = Path::new("/proc");
    proc.join("self")
        .exists()
        .then(|| proc.join(pid.to_string()).exists())
}

/// A staging directory beside the target, removed on drop unless moved into place.
#[derive(Debug)]
struct Staging {
    path: PathBuf,
    keep: bool,
}

impl Staging {
    fn create(parent: &Path, target: &Path) -> Result<Self, Error> {
        sweep_stale(parent, target);
        let path = staging_path(parent, target);
        // A leftover from a killed run with the same pid is ours to replace.
        if path.exists() {
            fs::remove_dir_all(&path).map_err(|source| io("remove", &path, source))?;
        }
        fs::create_dir(&path).map_err(|source| io("create", &path, source))?;
        crate::interrupt::staging(Some(path.clone()));
        Ok(Self { path, keep: false })
    }

    /// Renames the staged tree to `dest` when it did not exist, or moves each staged file to
    /// the same path in the existing `dest`.
    fn move_into(mut self, dest: &Path, existing: bool) -> Result<(), Error> {
        if existing {
            merge(&self.path, dest)?;
        } else {
            fs::rename(&self.path, dest)
                .map_err(|source| io("move the staged project to", dest, source))?;
            self.keep = true;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        crate::interrupt::staging(None);
        if !self.keep {
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// Moves every file under `from` to the same relative path under `to`, replacing files (and
/// anything in the way of a directory or a file). Directories come before their contents.
fn merge(from: &Path, to: &Path) -> Result<(), Error> {
    let staged: Vec<walkdir::DirEntry> = walkdir::WalkDir::new(from)
        .min_depth(1)
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(|err| {
            let path = err.path().unwrap_or(from).to_owned();
            io("read", &path, err.into())
        })?;
    for entry in staged {
        let relative = entry.path().strip_prefix(from).unwrap_or(entry.path());
        let dest = to.join(relative);
        if entry.file_type().is_dir() {
            if dest.exists() && !dest.is_dir() {
                fs::remove_file(&dest).map_err(|source| io("replace", &dest, source))?;
            }
            fs::create_dir_all(&dest).map_err(|source| io("create", &dest, source))?;
        } else {
            if dest.is_dir() {
                fs::remove_dir_all(&dest).map_err(|source| io("replace", &dest, source))?;
            }
            fs::rename(entry.path(), &dest).map_err(|source| io("write", &dest, source))?;
        }
    }
    Ok(())
}

fn init_and_commit(dir: &Path) -> GitOutcome {
    let run = |args: &[&str]| -> Result<(), String> {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|err| format!("git not available ({err})"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`git {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            ))
        }
    };
    let has_identity = Command::new("git")
        .args(["config", "user.email"])
        .current_dir(dir)
        .output()
        .is_ok_and(|out| out.status.success());
    let identity: &[&str] = if has_identity {
        &[]
    } else {
        &[
            "-c",
            "user.name=arch-init",
            "-c",
            "user.email=arch-init@localhost",
        ]
    };
    let commit: Vec<&str> = identity
        .iter()
        .copied()
        .chain([
            "commit",
            "-q",
            "-m",
            "Initial commit generated by arch-init",
        ])
        .collect();
    match run(&["init", "-q"])
        .and_then(|()| run(&["add", "-A"]))
        .and_then(|()| run(&commit))
    {
        Ok(()) => GitOutcome::Committed,
        Err(reason) => GitOutcome::Unavailable(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Mode;

    fn plan() -> FilePlan {
        let mut plan = FilePlan::default();
        plan.insert("README.md", "hello", Mode::Regular);
        plan.insert("scripts/run.sh", "#!/bin/sh\n", Mode::Executable);
        plan
    }

    #[test]
    fn writes_into_a_new_directory_and_keeps_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("shop");
        let written = write(&plan(), &target, Overwrite::Refuse, Git::Skip).unwrap();
        assert_eq!(written.files, 2);
        assert_eq!(
            fs::read_to_string(target.join("README.md")).unwrap(),
            "hello"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(target.join("scripts/run.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o755);
        }
        let leftovers: Vec<_> = fs::read_dir(tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            leftovers,
            vec![std::ffi::OsString::from("shop")],
            "no staging directory left behind"
        );
    }

    #[test]
    fn refuses_a_non_empty_directory_and_touches_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("mine.txt"), "mine").unwrap();
        let err = write(&plan(), tmp.path(), Overwrite::Refuse, Git::Skip).unwrap_err();
        assert!(matches!(err, Error::TargetNotEmpty { .. }));
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn forcing_writes_over_same_paths_and_keeps_other_files() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("mine.txt"), "mine").unwrap();
        fs::write(tmp.path().join("README.md"), "old").unwrap();
        write(&plan(), tmp.path(), Overwrite::Force, Git::Skip).unwrap();
        assert_eq!(
            fs::read_to_string(tmp.path().join("README.md")).unwrap(),
            "hello"
        );
        assert_eq!(
            fs::read_to_string(tmp.path().join("mine.txt")).unwrap(),
            "mine"
        );
    }

    #[test]
    fn a_file_in_the_way_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("shop");
        fs::write(&target, "a file").unwrap();
        assert!(matches!(
            check_target(&target, Overwrite::Force),
            Err(Error::TargetNotDirectory { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn an_existing_empty_directory_is_filled_in_place() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("shop");
        fs::create_dir(&target).unwrap();
        let inode = fs::metadata(&target).unwrap().ino();
        write(&plan(), &target, Overwrite::Refuse, Git::Skip).unwrap();
        assert_eq!(
            fs::metadata(&target).unwrap().ino(),
            inode,
            "the directory itself is kept"
        );
        let mut names: Vec<_> = fs::read_dir(&target)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(
            names,
            ["README.md", "scripts"],
            "no staging directory left inside"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_link_to_an_empty_directory_is_written_through() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("real")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("real"), tmp.path().join("link")).unwrap();
        write(
            &plan(),
            &tmp.path().join("link"),
            Overwrite::Refuse,
            Git::Skip,
        )
        .unwrap();
        assert_eq!(
            fs::read_to_string(tmp.path().join("real/README.md")).unwrap(),
            "hello"
        );
        assert!(
            fs::symlink_metadata(tmp.path().join("link"))
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[test]
    fn a_target_below_a_file_is_refused_as_bad_input() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("afile"), "x").unwrap();
        let err = check_target(&tmp.path().join("afile/sub"), Overwrite::Refuse).unwrap_err();
        assert!(matches!(err, Error::TargetNotDirectory { .. }), "{err:?}");
        assert_eq!(err.exit_code(), 2);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn staging_left_by_a_killed_run_is_swept_and_a_running_ones_is_kept() {
        let tmp = tempfile::tempdir().unwrap();
        // No pid reaches u32::MAX (Linux stops at 2^22); pid 1 always runs.
        let stale = tmp.path().join(".shop.arch-init-staging-4294967295");
        let running = tmp.path().join(".shop.arch-init-staging-1");
        let other_target = tmp.path().join(".blog.arch-init-staging-4294967295");
        for dir in [&stale, &running, &other_target] {
            fs::create_dir_all(dir.join("half-written")).unwrap();
        }
        write(
            &plan(),
            &tmp.path().join("shop"),
            Overwrite::Refuse,
            Git::Skip,
        )
        .unwrap();
        assert!(!stale.exists(), "the dead run's staging is swept");
        assert!(
            running.exists(),
            "a running generation's staging is left alone"
        );
        assert!(
            other_target.exists(),
            "another target's staging is left alone"
        );
    }

    #[test]
    fn a_writable_place_passes_the_check_and_keeps_no_probe() {
        let tmp = tempfile::tempdir().unwrap();
        check_writable(&tmp.path().join("new/deeper/shop")).unwrap();
        check_writable(tmp.path()).unwrap();
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn no_repository_is_nested_inside_an_existing_work_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let init = Command::new("git")
            .args(["init", "-q"])
            .current_dir(tmp.path())
            .status();
        assert!(
            init.is_ok_and(|s| s.success()),
            "git is installed where this suite runs"
        );
        fs::create_dir(tmp.path().join("sub")).unwrap();
        let written = write(
            &plan(),
            &tmp.path().join("sub"),
            Overwrite::Refuse,
            Git::InitAndCommit,
        )
        .unwrap();
        assert_eq!(written.git, GitOutcome::AlreadyRepository);
        assert!(!tmp.path().join("sub/.git").exists());
    }
}
