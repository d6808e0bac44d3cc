//! Per-CPU verdict counters of the XDP program, indexed by [`Counter`].

/// One slot of the per-CPU `COUNTERS` array.
///
/// Every packet increments [`Counter::Packets`] and then exactly one verdict
/// counter: [`Counter::Answered`], [`Counter::Dropped`] or one `Pass*`
/// reason. Packets that are UDP
/// to the DNS port also increment [`Counter::DnsQueries`]. Negative answers
/// also count in [`Counter::AnsweredNxdomain`] or [`Counter::AnsweredNodata`],
/// answers from static zone data in [`Counter::AnsweredStatic`].
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counter {
    /// Every packet the program saw.
    Packets = 0,
    /// UDP datagrams to the configured DNS port.
    DnsQueries,
    /// Queries answered in XDP (XDP_TX).
    Answered,
    /// Queries dropped on purpose by the "drop packet" method (XDP_DROP).
    Dropped,
    /// Not IPv4/IPv6 (ARP, LLDP, ...), or an Ethernet frame too short.
    PassNotIp,
    /// IP, but not UDP (TCP, ICMP, IPv6 extension headers).
    PassNotUdp,
    /// An IPv4 fragment.
    PassFragment,
    /// UDP, but not to the DNS port.
    PassNotDnsPort,
    /// To the DNS port of an address that is not a listen address
    /// (`LOCAL_ADDRS`): another service's, left to the stack.
    PassNotLocal,
    /// Lengths that disagree, label overruns, compression in the question,
    /// trailing bytes, or a packet cut short anywhere.
    PassMalformed,
    /// QR set, opcode other than QUERY, or TC set.
    PassNotQuery,
    /// QDCOUNT other than 1, or ANCOUNT/NSCOUNT not 0.
    PassSectionCounts,
    /// ARCOUNT above 1, or the additional record is not an OPT.
    PassAdditional,
    /// OPT with an EDNS version above 0 (the slow path answers BADVERS).
    PassEdnsVersion,
    /// An EDNS Client Subnet option the program does not use: malformed
    /// (the slow path answers FORMERR, RFC 7871 §6), more than one, or an
    /// unknown FAMILY.
    PassEcs,
    /// QCLASS other than IN.
    PassClass,
    /// QTYPE a meta type (OPT, 128..=255: ANY, AXFR, ...) or 0, or a data
    /// type the name has no fast answer for (its data is in the slow path).
    PassType,
    /// The name is not in the maps, and no NXDOMAIN can be given for it.
    PassNameNotFound,
    /// The name is in the maps but has no answer set for this type (and
    /// no NODATA can be given).
    PassNoAnswer,
    /// The answer would not fit the client's UDP payload size.
    PassTooBig,
    /// The selection says the slow path answers (return to DNS, SERVFAIL,
    /// NODATA when nothing is available).
    PassSlowPath,
    /// The program is disabled in its config map (or has none).
    PassDisabled,
    /// A helper failed (should never happen; the packet is left unmodified).
    PassInternal,
    /// Of [`Counter::Answered`]: NXDOMAIN with the zone's SOA.
    AnsweredNxdomain,
    /// Of [`Counter::Answered`]: NODATA (NOERROR, no answers) with the SOA.
    AnsweredNodata,
    /// Of [`Counter::Answered`]: a static RRset (SOA, NS, MX, TXT, ... from
    /// the zone data).
    AnsweredStatic,
    /// Of [`Counter::Answered`]: the reply echoes an EDNS Client Subnet
    /// option (the ECS address was the client).
    AnsweredEcs,
    /// Of [`Counter::Answered`]: the first answer came from a live
    /// persistence record.
    PersistHit,
    /// Of [`Counter::Answered`]: a persistence record was made (first
    /// query of a client prefix, or its record had expired or was void).
    PersistNew,
    /// A query with an NSID option (RFC 5001) while an NSID is configured:
    /// the slow path answers it with the identifier.
    PassNsid,
}

impl Counter {
    /// Number of counters (the `COUNTERS` array length).
    pub const COUNT: u32 = Counter::PassNsid as u32 + 1;

    /// Every counter, in index order.
    pub const ALL: [Counter; Counter::COUNT as usize] = [
        Counter::Packets,
        Counter::DnsQueries,
        Counter::Answered,
        Counter::Dropped,
        Counter::PassNotIp,
        Counter::PassNotUdp,
        Counter::PassFragment,
        Counter::PassNotDnsPort,
        Counter::PassNotLocal,
        Counter::PassMalformed,
        Counter::PassNotQuery,
        Counter::PassSectionCounts,
        Counter::PassAdditional,
        Counter::PassEdnsVersion,
        Counter::PassEcs,
        Counter::PassClass,
        Counter::PassType,
        Counter::PassNameNotFound,
        Counter::PassNoAnswer,
        Counter::PassTooBig,
        Counter::PassSlowPath,
        Counter::PassDisabled,
        Counter::PassInternal,
        Counter::AnsweredNxdomain,
        Counter::AnsweredNodata,
        Counter::AnsweredStatic,
        Counter::AnsweredEcs,
        Counter::PersistHit,
        Counter::PersistNew,
        Counter::PassNsid,
    ];

    /// The stable name used by `gslb stats` and Prometheus.
    pub const fn name(self) -> &'static str {
        match self {
            Counter::Packets => "xdp_packets",
            Counter::DnsQueries => "xdp_dns_queries",
            Counter::Answered => "xdp_answered",
            Counter::Dropped => "xdp_dropped_by_method",
            Counter::PassNotIp => "xdp_passed_not_ip",
            Counter::PassNotUdp => "xdp_passed_not_udp",
            Counter::PassFragment => "xdp_passed_fragment",
            Counter::PassNotDnsPort => "xdp_passed_not_dns_port",
            Counter::PassNotLocal => "xdp_passed_not_local",
            Counter::PassMalformed => "xdp_passed_malformed",
            Counter::PassNotQuery => "xdp_passed_not_query",
            Counter::PassSectionCounts => "xdp_passed_section_counts",
            Counter::PassAdditional => "xdp_passed_additional",
            Counter::PassEdnsVersion => "xdp_passed_edns_version",
            Counter::PassEcs => "xdp_passed_ecs_malformed",
            Counter::PassClass => "xdp_passed_class",
            Counter::PassType => "xdp_passed_unsupported_type",
            Counter::PassNameNotFound => "xdp_passed_name_not_found",
            Counter::PassNoAnswer => "xdp_passed_no_answer_set",
            Counter::PassTooBig => "xdp_passed_too_big",
            Counter::PassSlowPath => "xdp_passed_slow_path_method",
            Counter::PassDisabled => "xdp_passed_disabled",
            Counter::PassInternal => "xdp_passed_internal",
            Counter::AnsweredNxdomain => "xdp_answered_nxdomain",
            Counter::AnsweredNodata => "xdp_answered_nodata",
            Counter::AnsweredStatic => "xdp_answered_static",
            Counter::AnsweredEcs => "xdp_answered_ecs",
            Counter::PersistHit => "xdp_persist_hits",
            Counter::PersistNew => "xdp_persist_new",
            Counter::PassNsid => "xdp_passed_nsid",
        }
    }
}
