//! The secret that signs login tokens: read from a file, or created there
//! (random, mode 600) on the first start, so tokens stay valid across
//! restarts and several daemons can share one secret by sharing the file.

use std::fs::{DirBuilder, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Random bytes of a new secret (written hex-encoded, so 64 characters).
const NEW_SECRET_BYTES: usize = 32;

/// Shortest secret accepted: HS256 keys shorter than its hash are weak.
pub const MIN_SECRET_BYTES: usize = 32;

/// The secret in `path`: the file's content, without a trailing newline.
/// When the file does not exist, a new random secret is written there first
/// (its directory created with mode 700 if missing).
pub fn load_or_create(path: &Path) -> io::Result<Vec<u8>> {
    match std::fs::read(path) {
        Ok(content) => check(path, content),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            create(path)?;
            check(path, std::fs::read(path)?)
        }
        Err(e) => Err(annotate(e, "cannot read the token secret", path)),
    }
}

fn check(path: &Path, mut content: Vec<u8>) -> io::Result<Vec<u8>> {
    while content.last().is_some_and(|b| b.is_ascii_whitespace()) {
        content.pop();
    }
    if content.len() < MIN_SECRET_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the token secret in {} is {} bytes; at least {MIN_SECRET_BYTES} are needed \
                 (delete the file to have a new one created)",
                path.display(),
                content.len()
            ),
        ));
    }
    let mode = std::fs::metadata(path)?.mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the token secret is readable by others");
    }
    Ok(content)
}

fn create(path: &Path) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| annotate(e, "cannot create the directory of the token secret", dir))?;
    }
    let mut bytes = [0u8; NEW_SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| io::Error::other(format!("no randomness for the token secret: {e}")))?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // create_new: should two daemons start at once, one secret wins and both read it.
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(format!("{hex}\n").as_bytes()));
    match written {
        Ok(()) => {
            tracing::info!(path = %path.display(), "created a new token secret");
            Ok(())
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(annotate(e, "cannot write the token secret", path)),
    }
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
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
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_short_secret_is_refused() {
        let dir = scratch("short");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("token-secret");
        std::fs::write(&path, "too short\n").unwrap();
        let err = load_or_create(&path).unwrap_err();
        assert!(err.to_string().contains("at least 32"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
