//! Operations on the HTTP API listener: `/healthz` and `/readyz`,
//! `/metrics`, and the `/status` page with its chart of recent pushes.
//! Reads the hub's figures; imports `hub` and the layers below it.

pub mod health;
pub mod monitoring;
pub mod rate_history;
pub mod status_page;
