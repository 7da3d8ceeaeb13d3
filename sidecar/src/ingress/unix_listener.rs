//! The Unix socket the PHP extension connects to: binding it safely (a stale
//! file from a crashed run is replaced, a live daemon's socket is not stolen,
//! and it is never reachable with other permissions than its own), and
//! accepting connections until shutdown.

use std::fs::DirBuilder;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::hub::Hub;
use crate::ingress::unix_connection::{self, Limits};
use crate::telemetry::accept_errors::AcceptErrors;
use crate::telemetry::metrics::METRICS;

/// A bound Unix socket; its file is removed when this is dropped.
#[derive(Debug)]
pub struct UnixIngress {
    listener: UnixListener,
    path: PathBuf,
}

/// Who may connect to the socket.
#[derive(Debug, Clone)]
pub struct SocketAccess {
    /// Permission bits, for example `0o660`.
    pub mode: u32,
    /// Group name or numeric gid to give the socket file.
    pub group: Option<String>,
}

impl UnixIngress {
    /// Binds `path`, creating its directory if needed, with `access` from
    /// the start: the socket is bound in a private directory beside `path`
    /// (mode 700, so nobody else can connect whatever the umask), given its
    /// group and mode there, and only then renamed into place.
    pub fn bind(path: &Path, access: &SocketAccess) -> io::Result<Self> {
        clear_stale_socket(path)?;
        let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => dir.to_owned(),
            None => PathBuf::from("."),
        };
        std::fs::create_dir_all(&dir).map_err(|e| annotate(e, "cannot create the directory", &dir))?;
        let private = dir.join(format!(".msgpushd-bind-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&private);
        DirBuilder::new().mode(0o700).create(&private).map_err(|e| annotate(e, "cannot create", &private))?;
        let bound = bind_privately(&private.join("socket"), path, access);
        let _ = std::fs::remove_dir_all(&private);
        Ok(UnixIngress { listener: bound?, path: path.to_owned() })
    }

    /// Accepts connections until `shutdown`, then waits for open connections
    /// to answer what they have read and removes the socket file.
    pub async fn serve(self, hub: Arc<Hub>, limits: Limits, shutdown: CancellationToken) {
        let connections = TaskTracker::new();
        let mut errors = AcceptErrors::new("unix socket");
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                _ = shutdown.cancelled() => break,
            };
            match accepted {
                Ok((stream, _)) => {
                    let peer = stream.peer_cred().ok().and_then(|c| c.pid());
                    tracing::debug!(pid = ?peer, "unix socket connection opened");
                    let open = METRICS.unix_connection();
                    let serve = unix_connection::serve(stream, hub.clone(), limits, shutdown.clone());
                    connections.spawn(async move {
                        serve.await;
                        drop(open);
                    });
                }
                Err(e) => errors.failed(e).await,
            }
        }
        connections.close();
        connections.wait().await;
    }
}

impl Drop for UnixIngress {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds `staging` (in a directory only this process may enter), gives it
/// `access`, and moves it to `path`.
fn bind_privately(staging: &Path, path: &Path, access: &SocketAccess) -> io::Result<UnixListener> {
    let listener = UnixListener::bind(staging).map_err(|e| annotate(e, "cannot bind", path))?;
    if let Some(group) = &access.group {
        let gid = resolve_group(group)?;
        std::os::unix::fs::chown(staging, None, Some(gid))
            .map_err(|e| annotate(e, &format!("cannot give group {group} to"), path))?;
    }
    std::fs::set_permissions(staging, std::fs::Permissions::from_mode(access.mode))
        .map_err(|e| annotate(e, "cannot set the permissions of", path))?;
    std::fs::rename(staging, path).map_err(|e| annotate(e, "cannot move the socket to", path))?;
    Ok(listener)
}

/// Removes a socket file left by a crashed run; refuses to touch a socket a
/// live process answers on, or a file that is not a socket.
fn clear_stale_socket(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(annotate(e, "cannot inspect", path)),
    };
    if !meta.file_type().is_socket() {
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{} exists and is not a socket; refusing to replace it", path.display()),
        ));
    }
    match std::os::unix::net::UnixStream::connect(path) {
        Ok(_) => Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            format!("{} is in use by a running process (another msgpushd?)", path.display()),
        )),
        Err(_) => {
            tracing::info!(path = %path.display(), "replacing a stale socket");
            std::fs::remove_file(path).map_err(|e| annotate(e, "cannot remove the stale socket", path))
        }
    }
}

fn resolve_group(group: &str) -> io::Result<u32> {
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => Ok(g.gid.as_raw()),
        Ok(None) => Err(io::Error::new(io::ErrorKind::NotFound, format!("no group named {group}"))),
        Err(e) => Err(io::Error::other(format!("cannot look up group {group}: {e}"))),
    }
}

fn annotate(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}
