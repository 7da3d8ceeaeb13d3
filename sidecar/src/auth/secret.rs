//! The secrets that sign login tokens and webhook requests: read from a
//! file, or created there (random, mode 600) on the first start, so tokens
//! and signatures stay valid across restarts and several daemons can share
//! one secret by sharing the file.
//!
//! A new secret is written whole to a private temporary file and then
//! linked into place, which fails if a file is already there: daemons
//! starting at the same moment all read the one secret that won, and a
//! crash or a full disk never leaves a partial secret behind. A secret (or
//! its directory) that someone else could have put there is refused.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Random bytes of a new secret (written hex-encoded, so 64 characters).
const NEW_SECRET_BYTES: usize = 32;

/// Shortest secret accepted: HS256 keys shorter than its hash are weak.
pub const MIN_SECRET_BYTES: usize = 32;

/// Largest secret file read: a secret is a line, not a document.
const MAX_SECRET_FILE_BYTES: u64 = 64 * 1024;

/// The sticky bit of a directory: others may create files in it but not
/// replace or remove ours (`/tmp`).
const STICKY: u32 = 0o1000;

/// The secret in `path`: the file's content, without a trailing newline.
/// When the file does not exist, a new random secret is written there first
/// (its directory created with mode 700 if missing).
pub fn load_or_create(path: &Path) -> io::Result<Vec<u8>> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create(path)?;
            File::open(path).map_err(|e| annotate(e, "cannot read the secret", path))?
        }
        Err(e) => return Err(annotate(e, "cannot read the secret", path)),
    };
    check_directory(path)?;
    read_checked(path, file)
}

/// The users trusted to own the secret and its directory: this process's
/// and root.
fn trusted_owner(uid: u32) -> bool {
    uid == 0 || uid == nix::unistd::geteuid().as_raw()
}

/// Refuses a directory where another user could replace the secret: owned
/// by someone else, or writable by others without the sticky bit.
fn check_directory(path: &Path) -> io::Result<()> {
    let dir = directory_of(path);
    let meta = std::fs::metadata(&dir).map_err(|e| annotate(e, "cannot inspect the directory of", path))?;
    let mode = meta.mode();
    let writable_by_others = mode & 0o022 != 0 && mode & STICKY == 0;
    if !trusted_owner(meta.uid()) || writable_by_others {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the secret's directory {} (mode {:o}, owner uid {}) may be written by other users, who \
                 could replace the secret; keep it in a directory only this daemon's user or root may write to, \
                 such as /var/lib/msgpush",
                dir.display(),
                mode & 0o7777,
                meta.uid()
            ),
        ));
    }
    Ok(())
}

/// The directory holding `path` (`.` for a bare file name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

/// The secret in the open `file`, after checking who owns it and its size.
fn read_checked(path: &Path, file: File) -> io::Result<Vec<u8>> {
    let meta = file.metadata()?;
    if !trusted_owner(meta.uid()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "the secret {} is owned by uid {}, neither this daemon's user ({}) nor root: someone else \
                 may have put it there; if it is yours, give it to the daemon's user (chown)",
                path.display(),
                meta.uid(),
                nix::unistd::geteuid()
            ),
        ));
    }
    let mut content = Vec::new();
    file.take(MAX_SECRET_FILE_BYTES).read_to_end(&mut content)?;
    while content.last().is_some_and(|b| b.is_ascii_whitespace()) {
        content.pop();
    }
    if content.len() < MIN_SECRET_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the secret in {} is {} bytes; at least {MIN_SECRET_BYTES} are needed \
                 (delete the file to have a new one created)",
                path.display(),
                content.len()
            ),
        ));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the secret is readable by others");
    }
    Ok(content)
}

/// Writes a new random secret at `path`, unless a file is there by the
/// time it is complete (then that one stands).
fn create(path: &Path) -> io::Result<()> {
    let dir = directory_of(path);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| annotate(e, "cannot create the directory of the secret", &dir))?;
    check_directory(path)?;
    let mut bytes = [0u8; NEW_SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(format!("no randomness for the secret: {e}")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".new-{}-{}", std::process::id(), &hex[..8]));
    let temporary = dir.join(name);
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temporary)
        .and_then(|mut file| {
            file.write_all(format!("{hex}\n").as_bytes())?;
            file.sync_all()
        })
        .and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match written {
        Ok(()) => {
            // The link itself survives a crash once the directory is synced.
            let _ = File::open(&dir).and_then(|dir| dir.sync_all());
            tracing::info!(path = %path.display(), "created a new secret");
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(annotate(e, "cannot write the secret", path)),
    }
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn scratch(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("msgpushd-secret-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn a_missing_secret_is_created_private_and_then_reused() {
        let dir = scratch("new");
        let path = dir.join("sub/token-secret");
        let first = load_or_create(&path).unwrap();
        assert_eq!(first.len(), 2 * NEW_SECRET_BYTES);
        assert_eq!(std::fs::metadata(&path).unwrap().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(path.parent().unwrap()).unwrap().mode() & 0o777, 0o700);
        assert_eq!(load_or_create(&path).unwrap(), first, "the same secret after a restart");
        assert_eq!(std::fs::read_dir(path.parent().unwrap()).unwrap().count(), 1, "no temporary file left");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn daemons_starting_at_once_all_read_the_one_secret_that_won() {
        let dir = scratch("race");
        let path = dir.join("token-secret");
        let barrier = std::sync::Barrier::new(16);
        let secrets: Vec<Vec<u8>> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..16)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        load_or_create(&path).unwrap()
                    })
                })
                .collect();
            starts.into_iter().map(|start| start.join().unwrap()).collect()
        });
        assert!(secrets.iter().all(|secret| secret == &secrets[0] && secret.len() == 2 * NEW_SECRET_BYTES));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_short_or_empty_secret_is_refused_with_what_to_do() {
        let dir = scratch("short");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token-secret");
        for content in ["too short\n", ""] {
            std::fs::write(&path, content).unwrap();
            let err = load_or_create(&path).unwrap_err();
            assert!(err.to_string().contains("at least 32"), "{err}");
            assert!(err.to_string().contains("delete the file"), "{err}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_secret_others_could_have_planted_is_refused() {
        let dir = scratch("planted");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token-secret");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(load_or_create(&path).is_ok());
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("may be written by other users"), "{err}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(load_or_create(&path).is_ok(), "a sticky directory (/tmp) protects the files in it");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // Only root can give a file away; elsewhere the owner check is covered by the daemon's tests.
        if nix::unistd::geteuid().is_root() {
            let nobody = Some(nix::unistd::Uid::from_raw(65534));
            nix::unistd::chown(&path, nobody, None).unwrap();
            let err = load_or_create(&path).unwrap_err();
            assert!(err.to_string().contains("is owned by uid 65534"), "{err}");
        }
        std::fs::remove_dir_all(dir).unwrap();
    }
}
