//! What faces PHP (and any back end): the Unix socket the extension speaks
//! the frame protocol on, web-msg-sender's HTTP push API with its
//! parameters, and the demo page's form. Each request becomes a call on the
//! hub; imports `hub` and the layers below it.

pub mod demo;
pub mod http_api;
pub mod http_params;
pub mod unix_connection;
pub mod unix_listener;
