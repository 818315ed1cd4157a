//! NodePorts (kube `framework/types.go` `HostPortInfo.CheckConflict`).
//!
//! A wanted (ip, protocol, port) conflicts with a used one on the same protocol
//! and port when either ip is `0.0.0.0` or the ips are equal. Reason: "node(s)
//! didn't have free ports for the requested pod ports" (resolvable: evicting
//! the pod holding the port frees it).

use crate::cluster::HostPortRec;
use crate::symbols::Sym;

/// Whether any wanted port conflicts with a used one.
pub(crate) fn conflicts(wanted: &[HostPortRec], used: &[HostPortRec], any_ip: Sym) -> bool {
    wanted.iter().any(|w| {
        w.port > 0
            && used.iter().any(|u| {
                u.port == w.port
                    && u.protocol == w.protocol
                    && (w.ip == any_ip || u.ip == any_ip || u.ip == w.ip)
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Protocol;

    #[test]
    fn conflict_table() {
        let any = Sym(0);
        let ip1 = Sym(1);
        let ip2 = Sym(2);
        let p = |ip, protocol, port| HostPortRec { ip, protocol, port };
        let cases = [
            (
                "same ip, protocol and port",
                p(ip1, Protocol::Tcp, 80),
                p(ip1, Protocol::Tcp, 80),
                true,
            ),
            (
                "other port",
                p(ip1, Protocol::Tcp, 81),
                p(ip1, Protocol::Tcp, 80),
                false,
            ),
            (
                "other protocol",
                p(ip1, Protocol::Udp, 80),
                p(ip1, Protocol::Tcp, 80),
                false,
            ),
            (
                "other ip",
                p(ip2, Protocol::Tcp, 80),
                p(ip1, Protocol::Tcp, 80),
                false,
            ),
            (
                "wanted on every ip",
                p(any, Protocol::Tcp, 80),
                p(ip1, Protocol::Tcp, 80),
                true,
            ),
            (
                "used on every ip",
                p(ip2, Protocol::Tcp, 80),
                p(any, Protocol::Tcp, 80),
                true,
            ),
            (
                "port 0 never conflicts",
                p(any, Protocol::Tcp, 0),
                p(any, Protocol::Tcp, 0),
                false,
            ),
        ];
        for (name, wanted, used, want) in cases {
            assert_eq!(conflicts(&[wanted], &[used], any), want, "{name}");
        }
    }
}
