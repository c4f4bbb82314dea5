//! The machine's own non-loopback address, which pods whose processes run here get as their IP.
//!
//! kube-apiserver proxies `pods/NAME:PORT/proxy/...` only to a pod IP that is neither loopback
//! nor link-local (`proxyutil.IsProxyableIP`, called by the pod registry's `ResourceLocation`),
//! and refuses Endpoints on such addresses too. A process listening on 127.0.0.1 can therefore
//! never be reached through the API server the way Prometheus-reading plugins reach a real
//! controller pod. Every machine that runs the tests has some other address of its own (a CI
//! or developer machine's `eth0`): the Flux controllers' pods run with `hostNetwork: true` on
//! kwok nodes whose InternalIP is that address (kwok gives a host-network pod its node's IP),
//! and the processes bind their metrics and health ports on it, so the pod IP the API server
//! proxies to is the address the real process listens on. Nothing is bound on all interfaces.

use anyhow::{Result, bail};
use std::net::Ipv4Addr;

/// Overrides the discovered address (an address of this machine, not loopback or link-local).
pub const ENV: &str = "DEVCLUSTER_NODE_IP";

/// The first IPv4 address of an interface that is up and neither loopback, link-local,
/// multicast nor unspecified (`DEVCLUSTER_NODE_IP` if set).
pub fn node_address() -> Result<Ipv4Addr> {
    if let Some(value) = std::env::var_os(ENV) {
        let text = value.to_string_lossy();
        let ip: Ipv4Addr = text.parse().map_err(|e| anyhow::anyhow!("{ENV}={text}: {e}"))?;
        if !proxyable(ip) {
            bail!("{ENV}={ip}: kube-apiserver does not proxy to a loopback or link-local address");
        }
        return Ok(ip);
    }
    let mut found = Vec::new();
    for ifaddr in nix::ifaddrs::getifaddrs()? {
        use nix::net::if_::InterfaceFlags;
        if !ifaddr.flags.contains(InterfaceFlags::IFF_UP) || ifaddr.flags.contains(InterfaceFlags::IFF_LOOPBACK) {
            continue;
        }
        let Some(ip) = ifaddr.address.as_ref().and_then(|a| a.as_sockaddr_in()).map(|a| a.ip()) else { continue };
        if proxyable(ip) {
            found.push(ip);
        }
    }
    match found.first() {
        Some(ip) => Ok(*ip),
        None => bail!(
            "this machine has no IPv4 address but loopback: pods whose processes run here need one \
             (kube-apiserver does not proxy to 127.0.0.1); give an interface an address, e.g. \
             `ip link add devcluster0 type dummy && ip addr add 192.0.2.250/32 dev devcluster0 && ip link set devcluster0 up`, \
             or set {ENV}"
        ),
    }
}

/// What kube-apiserver accepts as a pod IP to proxy to.
fn proxyable(ip: Ipv4Addr) -> bool {
    !(ip.is_loopback() || ip.is_link_local() || ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_node_address_is_one_the_api_server_proxies_to() {
        let ip = node_address().expect("a non-loopback address");
        assert!(proxyable(ip));
        // It is this machine's: something can listen on it.
        std::net::TcpListener::bind((ip, 0)).unwrap();
        assert!(!proxyable("127.0.0.1".parse().unwrap()) && !proxyable("169.254.1.1".parse().unwrap()));
    }
}
