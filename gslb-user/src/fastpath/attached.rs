//! Which XDP program, if any, is attached to an interface: asked of the
//! kernel with RTM_GETLINK (the IFLA_XDP attributes `ip link` shows), the
//! program's name from its `bpf_prog_info`. The daemon refuses an
//! interface another program holds, naming it, instead of failing the
//! attach with a bare EBUSY.

use std::{ffi::CString, fmt, io};

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_REQUEST};
use netlink_packet_route::{
    link::{LinkAttribute, LinkMessage, LinkXdp, XdpAttached},
    RouteNetlinkMessage,
};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// An XDP program attached to an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachedProgram {
    /// Its id (`bpftool prog show id N`).
    pub id: u32,
    /// Its name, when the kernel still lists it.
    pub name: Option<String>,
    /// How it is attached: native, generic, offloaded or several.
    pub mode: &'static str,
}

impl fmt::Display for AttachedProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "XDP program id {}", self.id)?;
        if let Some(name) = &self.name {
            write!(f, " named {name:?}")?;
        }
        write!(f, " ({} mode)", self.mode)
    }
}

/// The XDP program attached to `iface`, if any.
pub fn attached_xdp(iface: &str) -> io::Result<Option<AttachedProgram>> {
    let index = if_index(iface)?;
    let mut socket = Socket::new(NETLINK_ROUTE)?;
    socket.bind_auto()?;
    socket.connect(&SocketAddr::new(0, 0))?;
    let mut msg = LinkMessage::default();
    msg.header.index = index;
    let mut packet = NetlinkMessage::new(
        NetlinkHeader::default(),
        NetlinkPayload::from(RouteNetlinkMessage::GetLink(msg)),
    );
    packet.header.flags = NLM_F_REQUEST;
    packet.header.sequence_number = 1;
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    socket.send(&buf, 0)?;
    let (reply, _) = socket.recv_from_full()?;
    let reply: NetlinkMessage<RouteNetlinkMessage> = NetlinkMessage::deserialize(&reply)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let link = match reply.payload {
        NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewLink(link)) => link,
        NetlinkPayload::Error(e) => return Err(e.to_io()),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected RTM_GETLINK reply {other:?}"),
            ))
        }
    };
    let mut attached = None;
    let mut id = None;
    for attr in &link.attributes {
        let LinkAttribute::Xdp(xdp) = attr else {
            continue;
        };
        for x in xdp {
            match x {
                LinkXdp::Attached(a) => attached = Some(*a),
                LinkXdp::ProgId(p) => id = Some(*p),
                LinkXdp::DrvProgId(p) | LinkXdp::SkbProgId(p) | LinkXdp::HwProgId(p) => {
                    id.get_or_insert(*p);
                }
                _ => {}
            }
        }
    }
    let mode = match attached {
        None | Some(XdpAttached::None) => return Ok(None),
        Some(XdpAttached::Driver) => "native",
        Some(XdpAttached::SocketBuffer) => "generic",
        Some(XdpAttached::Hardware) => "offloaded",
        Some(_) => "multiple",
    };
    let id = id.unwrap_or(0);
    Ok(Some(AttachedProgram {
        id,
        name: program_name(id),
        mode,
    }))
}

/// The name of the loaded BPF program `id`.
fn program_name(id: u32) -> Option<String> {
    aya::programs::loaded_programs()
        .filter_map(Result::ok)
        .find(|p| p.id() == id)
        .and_then(|p| p.name_as_str().map(str::to_string))
}

fn if_index(iface: &str) -> io::Result<u32> {
    let c = CString::new(iface).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: a valid C string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface named {iface:?}"),
        )),
        i => Ok(i),
    }
}
