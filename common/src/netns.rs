//! Two network namespaces joined by a veth pair, for end-to-end tests over IPv6
//! link-local addresses (feature `testkit`): two laptops on one link, no router, as
//! `ip netns` makes them on one machine.
//!
//! Namespace `a` holds interface `vA` with address `fe80::a`, namespace `b` holds
//! `vB` with `fe80::b`: the two ends of one link. The addresses are set with
//! `nodad` and the kernel's own are turned off (`addrgenmode none`), so both are
//! usable at once, without waiting for duplicate address detection. A program run in
//! `b` reaches `a` as `fe80::a%vB`: the zone is the interface the packets leave by.
//!
//! Creating namespaces takes root and `ip` (iproute2). Where either is missing the
//! test is skipped with the reason printed, except under CI (env `CI` set), where it
//! fails: CI runs as root and installs iproute2, and a test skipped there proves
//! nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::testkit::ServerProcess;

/// One side of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Namespace `a`, interface `vA`, address `fe80::a`.
    A,
    /// Namespace `b`, interface `vB`, address `fe80::b`.
    B,
}

impl Side {
    /// The interface of this side's end of the link.
    pub fn interface(self) -> &'static str {
        match self {
            Side::A => "vA",
            Side::B => "vB",
        }
    }

    /// This side's link-local address.
    pub fn ip(self) -> Ipv6Addr {
        match self {
            Side::A => Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xa),
            Side::B => Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xb),
        }
    }

    /// The other side.
    pub fn other(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// Two namespaces joined by a veth pair; both are deleted when this is dropped,
/// whatever the test did (the interfaces go with them).
#[derive(Debug)]
pub struct Link {
    names: [String; 2],
}

/// Tells apart the links of one test process (tests run in parallel threads).
static LINKS: AtomicUsize = AtomicUsize::new(0);

impl Link {
    /// Creates the two namespaces and the link, named after this process and a
    /// counter so that parallel tests and test runs never share one. `None`, with
    /// `SKIPPED: ...` printed, if this machine cannot (not root, no `ip`); under CI
    /// that fails the test instead.
    pub fn create() -> Option<Link> {
        if Command::new("ip").arg("-V").output().is_err() {
            return skip("`ip` (iproute2) is not on this machine");
        }
        let id = format!(
            "{}-{}",
            std::process::id(),
            LINKS.fetch_add(1, Ordering::Relaxed)
        );
        let link = Link {
            names: [format!("labs-{id}-a"), format!("labs-{id}-b")],
        };
        for name in &link.names {
            if let Err(why) = ip(&["netns", "add", name]) {
                // Not root, or a container without CAP_SYS_ADMIN: the guard deletes
                // what was made.
                return skip(&format!(
                    "cannot create a network namespace (it takes root): {why}"
                ));
            }
        }
        let (a, b) = (link.name(Side::A), link.name(Side::B));
        ip(&[
            "link", "add", "vA", "netns", a, "type", "veth", "peer", "name", "vB", "netns", b,
        ])
        .unwrap();
        for side in [Side::A, Side::B] {
            let (name, interface) = (link.name(side), side.interface());
            // No address of the kernel's own (it would wait for DAD): ours, at once.
            ip(&["-n", name, "link", "set", interface, "addrgenmode", "none"]).unwrap();
            let address = format!("{}/64", side.ip());
            ip(&[
                "-n", name, "addr", "add", &address, "dev", interface, "nodad",
            ])
            .unwrap();
            ip(&["-n", name, "link", "set", "lo", "up"]).unwrap();
            ip(&["-n", name, "link", "set", interface, "up"]).unwrap();
        }
        Some(link)
    }

    /// The namespace of `side`.
    pub fn name(&self, side: Side) -> &str {
        match side {
            Side::A => &self.names[0],
            Side::B => &self.names[1],
        }
    }

    /// The index of `side`'s interface in its namespace: the number a zone may be
    /// given as (`fe80::a%2`).
    pub fn index(&self, side: Side) -> u32 {
        let output = ip(&[
            "-n",
            self.name(side),
            "-o",
            "link",
            "show",
            side.interface(),
        ])
        .unwrap();
        // `2: vA@if2: <BROADCAST,...`
        output.split(':').next().unwrap().trim().parse().unwrap()
    }

    /// How a program in `from`'s namespace reaches the other side: its address with
    /// `from`'s interface as the zone, `fe80::a%vB`.
    pub fn peer_host(&self, from: Side) -> String {
        format!("{}%{}", from.other().ip(), from.interface())
    }

    /// `side`'s own address with `port`, its zone its own interface's index: what a
    /// program bound there prints in its listening line.
    pub fn address(&self, side: Side, port: u16) -> SocketAddr {
        SocketAddrV6::new(side.ip(), port, 0, self.index(side)).into()
    }

    /// The arguments that run `program args...` in `side`'s namespace, to give
    /// the testkit's helpers with `ip` as the program (`ip netns exec` execs it: the
    /// process is the program's own, for signals too).
    pub fn exec_args<'a>(&'a self, side: Side, program: &'a str, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = vec!["netns", "exec", self.name(side), program];
        all.extend_from_slice(args);
        all
    }

    /// `binary server --port 0 args...` in `side`'s namespace, up once its one
    /// listening line is in ([`ServerProcess::start`]).
    pub fn server(&self, side: Side, binary: &str, args: &[&str]) -> ServerProcess {
        let args = [&["server", "--port", "0"][..], args].concat();
        ServerProcess::start("ip", &self.exec_args(side, binary, &args), 1)
    }

    /// `binary server` bound to `side`'s own link-local address, zone included
    /// (`--host fe80::a%vA`), `args` added; asserts its listening line shows that
    /// address in Rust's form, the zone as a number (`[fe80::a%2]:PORT`).
    pub fn server_on_link(&self, side: Side, binary: &str, args: &[&str]) -> ServerProcess {
        let host = format!("{}%{}", side.ip(), side.interface());
        let server = self.server(side, binary, &[&["--host", &host][..], args].concat());
        let port = server.address().port();
        assert_eq!(
            server.address(),
            self.address(side, port),
            "its listening line"
        );
        server
    }

    /// Runs `binary args...` in `side`'s namespace to its end, `stdin` as its input
    /// ([`testkit::run`](crate::testkit::run)).
    pub fn run(&self, side: Side, binary: &str, args: &[&str], stdin: &[u8]) -> Output {
        crate::testkit::run("ip", &self.exec_args(side, binary, args), stdin)
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = Command::new("ip")
                .args(["netns", "del", name])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs `ip args...`: its stdout, or its stderr as the reason it failed.
fn ip(args: &[&str]) -> Result<String, String> {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new("ip")
        .args(args)
        .output()
        .map_err(|error| format!("cannot run ip: {error}"))?;
    if status.success() {
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&stderr).trim()
        ))
    }
}

/// Says why the test is skipped, or fails it under CI.
fn skip(reason: &str) -> Option<Link> {
    assert!(
        std::env::var_os("CI").is_none(),
        "{reason}: CI must run this test (as root, with iproute2 installed by .ci/run)"
    );
    eprintln!("SKIPPED: {reason}");
    None
}
