//! Sending the reply: the frame resized to the response, the response
//! written over the query, the L2-L4 headers turned around with their
//! checksums; the caller returns `XDP_TX`. Every step either completes or
//! leaves the frame as it came, to be passed.

use aya_ebpf::{
    helpers::generated::{
        bpf_xdp_adjust_head, bpf_xdp_adjust_tail, bpf_xdp_load_bytes, bpf_xdp_store_bytes,
    },
    programs::XdpContext,
};
use gslb_common::Counter;

use crate::{
    copy, headers,
    headers::Layers,
    maps::{Scratch, HDR_LEN},
};

/// Resizes the packet, writes the response (whose checksum sum is
/// `payload_sum`; its question, up to `q_end`, is the query's) in, rewrites
/// the headers. On a helper failure the packet is restored to its original
/// length and passed (its content below the DNS payload is untouched until
/// the write).
#[inline(always)]
pub fn send(
    ctx: &XdpContext,
    s: &mut Scratch,
    l: &Layers,
    dns_off: usize,
    q_end: usize,
    resp_len: usize,
    payload_sum: u64,
) -> Result<(), Counter> {
    // Longer responses (a canned tail after a long question) go to the slow
    // path; the bound also lets the verifier prove the helper arguments.
    if resp_len == 0 || resp_len > 508 {
        return Err(Counter::PassTooBig);
    }
    let frame_len = (ctx.data_end() - ctx.data()) as i32;
    let delta = (dns_off + resp_len) as i32 - frame_len;
    let grown = resize(ctx, s, dns_off, delta)?;
    let written = match grown {
        // The query is still in place: write what differs.
        Grown::Tail => copy::write_changes(ctx, s, dns_off, q_end, resp_len),
        // The query moved with the front: write the whole response.
        Grown::Head => unsafe {
            bpf_xdp_store_bytes(
                ctx.ctx,
                dns_off as u32,
                s.msg.as_mut_ptr().cast(),
                (resp_len & 0x1ff) as u32,
            ) == 0
        },
    };
    if !written || !headers::rewrite(ctx, l, resp_len, payload_sum) {
        // Cannot happen after the checks above; undo the resize.
        unsafe {
            match grown {
                Grown::Tail => bpf_xdp_adjust_tail(ctx.ctx, -delta),
                Grown::Head => bpf_xdp_adjust_head(ctx.ctx, delta),
            }
        };
        return Err(Counter::PassInternal);
    }
    Ok(())
}

/// Which end of the frame [`resize`] moved.
enum Grown {
    Tail,
    Head,
}

/// Makes the frame `delta` bytes longer (or shorter). The tail is tried
/// first; drivers that leave little tailroom (veth copies frames into
/// buffers with only alignment slack at the end) get the room at the front
/// instead, where XDP guarantees 256 bytes of headroom: the L2-L4 headers
/// (`dns_off` bytes) are then moved to the new start. Either way the bytes
/// from `dns_off` on are to be overwritten by the response.
#[inline(always)]
fn resize(ctx: &XdpContext, s: &mut Scratch, dns_off: usize, delta: i32) -> Result<Grown, Counter> {
    if unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } == 0 {
        return Ok(Grown::Tail);
    }
    if delta <= 0 || dns_off == 0 || dns_off > HDR_LEN {
        return Err(Counter::PassInternal);
    }
    let hdr = s.hdr.as_mut_ptr().cast();
    // Opaque, then masked: the mask must survive for the verifier.
    let n = (s.opaque(dns_off) & (HDR_LEN * 2 - 1)) as u32;
    if n == 0 {
        return Err(Counter::PassInternal);
    }
    if unsafe { bpf_xdp_load_bytes(ctx.ctx, 0, hdr, n) } != 0 {
        return Err(Counter::PassInternal);
    }
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -delta) } != 0 {
        return Err(Counter::PassInternal);
    }
    if unsafe { bpf_xdp_store_bytes(ctx.ctx, 0, hdr, n) } != 0 {
        unsafe { bpf_xdp_adjust_head(ctx.ctx, delta) };
        return Err(Counter::PassInternal);
    }
    Ok(Grown::Head)
}
