//! Embeds the socket.io browser client from the npm package `socket.io-client`
//! (installed by `npm ci` at the repository root, see the Makefile), so that
//! msgpushd serves `/socket.io/socket.io.js` itself, with no CDN.

use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("..");
    let script = root.join("node_modules/socket.io-client/dist/socket.io.min.js");
    println!("cargo:rerun-if-changed={}", script.display());
    let Ok(script) = script.canonicalize() else {
        panic!("{} is missing: run `npm ci` in the repository root (or `make build`) first", script.display());
    };
    println!("cargo:rustc-env=MSGPUSH_CLIENT_SCRIPT={}", script.display());
}
