//! The daemon's settings: command-line flags with their environment
//! variables (`flags`), and the settings file with the precedence of the
//! three (`file`). Read by every layer above; imports only `telemetry` (the
//! log format's type).

pub mod file;
pub mod flags;
