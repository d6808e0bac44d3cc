//! Batched UDP I/O for the slow path: `recvmmsg(2)` and `sendmmsg(2)` move
//! up to [`BATCH`] datagrams per system call, as NSD and Knot do. On this
//! path a system call costs more than parsing and answering a query.

use std::{
    io,
    mem::{size_of, zeroed},
    net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6},
    os::fd::RawFd,
    ptr,
};

use socket2::SockAddr;

/// Datagrams per system call.
pub const BATCH: usize = 32;
/// Receive buffer per datagram: the largest UDP payload, so that no query
/// is ever truncated.
const SLOT: usize = 65_535;

/// Buffers for one `recvmmsg` call; reused from call to call.
pub struct RecvBatch {
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    lens: Vec<usize>,
    count: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        RecvBatch {
            bufs: vec![0; BATCH * SLOT],
            // SAFETY: all zeros is a valid sockaddr_storage.
            addrs: vec![unsafe { zeroed() }; BATCH],
            lens: vec![0; BATCH],
            count: 0,
        }
    }
}

impl RecvBatch {
    /// Receives up to [`BATCH`] datagrams from `fd` without blocking;
    /// returns how many (`WouldBlock` when none is waiting).
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        // SAFETY: all zeros is a valid iovec / mmsghdr; every pointer set
        // below points into `self`, which outlives the call.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for (i, (v, h)) in iov.iter_mut().zip(hdrs.iter_mut()).enumerate() {
            let buf = self.bufs[i * SLOT..].as_mut_ptr().cast();
            let name = ptr::from_mut(&mut self.addrs[i]).cast();
            let namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            one_buffer(h, v, (buf, SLOT), (name, namelen));
        }
        // SAFETY: `hdrs` holds BATCH initialized headers (see above).
        let n = unsafe {
            libc::recvmmsg(
                fd,
                hdrs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                ptr::null_mut(),
            )
        };
        if n < 0 {
            self.count = 0;
            return Err(io::Error::last_os_error());
        }
        self.count = n as usize;
        for (len, h) in self.lens.iter_mut().zip(&hdrs).take(self.count) {
            *len = h.msg_len as usize;
        }
        Ok(self.count)
    }

    /// The datagrams of the last [`RecvBatch::recv`] and their senders
    /// (datagrams from an address family other than IPv4/IPv6 are skipped).
    pub fn datagrams(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        (0..self.count).filter_map(|i| {
            let data = &self.bufs[i * SLOT..i * SLOT + self.lens[i].min(SLOT)];
            Some((data, socket_addr(&self.addrs[i])?))
        })
    }
}

/// Points message header `h` at one buffer (through `v`) and an address.
fn one_buffer(
    h: &mut libc::mmsghdr,
    v: &mut libc::iovec,
    (buf, len): (*mut libc::c_void, usize),
    (name, namelen): (*mut libc::c_void, libc::socklen_t),
) {
    v.iov_base = buf;
    v.iov_len = len;
    h.msg_hdr.msg_name = name;
    h.msg_hdr.msg_namelen = namelen;
    h.msg_hdr.msg_iov = v;
    h.msg_hdr.msg_iovlen = 1;
}

/// The IPv4 or IPv6 address in `s`.
fn socket_addr(s: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match i32::from(s.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let a = unsafe { &*ptr::from_ref(s).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let a = unsafe { &*ptr::from_ref(s).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// Sends `replies` (payload, destination) on `fd` without blocking, with
/// as few `sendmmsg` calls as the socket takes them in; returns how many
/// were sent (the rest did not fit the socket's send buffer now:
/// `WouldBlock` when not even the first did).
pub fn send(fd: RawFd, replies: &[(Vec<u8>, SockAddr)]) -> io::Result<usize> {
    let mut sent = 0;
    for chunk in replies.chunks(BATCH) {
        // SAFETY: all zeros is a valid iovec / mmsghdr; the pointers set
        // below point into `chunk`, borrowed for the whole call.
        let mut iov: [libc::iovec; BATCH] = unsafe { zeroed() };
        let mut hdrs: [libc::mmsghdr; BATCH] = unsafe { zeroed() };
        for ((v, h), (payload, to)) in iov.iter_mut().zip(hdrs.iter_mut()).zip(chunk) {
            let buf = payload.as_ptr().cast_mut().cast();
            let name = to.as_ptr().cast_mut().cast();
            one_buffer(h, v, (buf, payload.len()), (name, to.len()));
        }
        // SAFETY: the first `chunk.len()` headers are initialized above.
        let n = unsafe {
            libc::sendmmsg(
                fd,
                hdrs.as_mut_ptr(),
                chunk.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if sent == 0 { Err(e) } else { Ok(sent) };
        }
        sent += n as usize;
        if (n as usize) < chunk.len() {
            break;
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    use super::*;

    #[test]
    fn a_batch_goes_out_and_comes_back_with_its_senders() {
        round_trip("127.0.0.1:0");
    }

    #[test]
    fn ipv6_senders_too() {
        round_trip("[::1]:0");
    }

    fn round_trip(local: &str) {
        let server = UdpSocket::bind(local).unwrap();
        let clients: Vec<UdpSocket> = (0..3).map(|_| UdpSocket::bind(local).unwrap()).collect();
        for (i, c) in clients.iter().enumerate() {
            c.send_to(&[i as u8; 5], server.local_addr().unwrap())
                .unwrap();
        }
        let mut batch = RecvBatch::default();
        let mut got = Vec::new();
        for _ in 0..100 {
            match batch.recv(server.as_raw_fd()) {
                Ok(_) => got.extend(batch.datagrams().map(|(d, a)| (d.to_vec(), a))),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("recvmmsg: {e}"),
            }
            if got.len() == 3 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(got.len(), 3);
        for (i, c) in clients.iter().enumerate() {
            assert!(got.contains(&(vec![i as u8; 5], c.local_addr().unwrap())));
        }
        let replies: Vec<(Vec<u8>, SockAddr)> = got
            .iter()
            .map(|(d, a)| (d.iter().map(|b| b + 10).collect(), SockAddr::from(*a)))
            .collect();
        assert_eq!(send(server.as_raw_fd(), &replies).unwrap(), 3);
        for (i, c) in clients.iter().enumerate() {
            let mut buf = [0u8; 16];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], &[i as u8 + 10; 5]);
            assert_eq!(from, server.local_addr().unwrap());
        }
    }
}
