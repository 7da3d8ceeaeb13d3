//! Which address a browser request comes from, for the per-address limits.
//! Behind a reverse proxy every request comes from the proxy, which names
//! the client in `X-Forwarded-For`; that header is believed only from the
//! proxies configured as trusted, since anyone else can write anything in it.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The reverse proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

impl TrustedProxies {
    /// The proxies at `nets` (addresses are networks of one).
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies { nets }
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a request that came from `peer`: `peer` itself,
    /// unless it is a trusted proxy; then the last address in
    /// `X-Forwarded-For` that is not one (each proxy appends the address it
    /// got the request from, so earlier entries may have been forged).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        // An IPv4 client of a listener on `[::]` arrives as `::ffff:a.b.c.d`.
        let peer = peer.to_canonical();
        if !self.trusts(peer) {
            return peer;
        }
        let forwarded = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .map(|entry| entry.trim().parse::<IpAddr>().ok().map(|ip| ip.to_canonical()))
            .collect::<Vec<_>>();
        let mut client = peer;
        for entry in forwarded.into_iter().rev() {
            match entry {
                Some(ip) if self.trusts(ip) => client = ip,
                Some(ip) => return ip,
                // Garbage from a hop that should have been trusted: stop at the last good address.
                None => return client,
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::flags::parse_net;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().unwrap());
        }
        map
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::new(vec![parse_net("127.0.0.1").unwrap(), parse_net("10.0.0.0/8").unwrap()]);
        let forged = headers(&["1.2.3.4"]);
        assert_eq!(proxies.client_ip(ip("203.0.113.9"), &forged), ip("203.0.113.9"));
        assert_eq!(proxies.client_ip(ip("127.0.0.1"), &forged), ip("1.2.3.4"));
        assert_eq!(proxies.client_ip(ip("127.0.0.1"), &HeaderMap::new()), ip("127.0.0.1"));
        // The client forged the first entry; the trusted hops appended the rest.
        let chain = headers(&["6.6.6.6, 198.51.100.7", "10.1.2.3"]);
        assert_eq!(proxies.client_ip(ip("127.0.0.1"), &chain), ip("198.51.100.7"));
        assert_eq!(proxies.client_ip(ip("127.0.0.1"), &headers(&["junk"])), ip("127.0.0.1"));
        assert_eq!(proxies.client_ip(ip("::ffff:127.0.0.1"), &forged), ip("1.2.3.4"), "an IPv4 peer on an IPv6 socket");
    }

    #[test]
    fn entries_are_addresses_or_networks() {
        assert_eq!(parse_net("::1").unwrap().to_string(), "::1/128");
        assert_eq!(parse_net("192.168.0.0/16").unwrap().to_string(), "192.168.0.0/16");
        assert!(parse_net("localhost").is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn entry() -> impl Strategy<Value = String> {
            prop_oneof![
                any::<[u8; 4]>().prop_map(|ip| IpAddr::from(ip).to_string()),
                any::<[u8; 16]>().prop_map(|ip| IpAddr::from(ip).to_string()),
                Just("127.0.0.1".to_owned()),
                "[ -~]{0,12}",
            ]
        }

        proptest! {
            #[test]
            fn the_client_is_the_peer_or_an_address_the_header_names(
                peer in prop_oneof![Just(IpAddr::from([127, 0, 0, 1])), any::<[u8; 4]>().prop_map(IpAddr::from)],
                values in prop::collection::vec(prop::collection::vec(entry(), 1..4), 0..3),
            ) {
                let proxies = TrustedProxies::new(vec![parse_net("127.0.0.1").unwrap(), parse_net("10.0.0.0/8").unwrap()]);
                let mut map = HeaderMap::new();
                for value in &values {
                    if let Ok(value) = value.join(", ").parse() {
                        map.append("x-forwarded-for", value);
                    }
                }
                let client = proxies.client_ip(peer, &map);
                let named = values.iter().flatten().filter_map(|e| e.trim().parse::<IpAddr>().ok()).any(|ip| ip.to_canonical() == client);
                prop_assert!(client == peer || (proxies.trusts(peer) && named));
            }
        }
    }
}
