//! DNS monitor: one UDP query (RD=0, no EDNS) to the check address; the
//! server is up when the response's rcode is the expected one and, if an
//! answer is expected, some answer record's data (in presentation format)
//! contains it, ASCII case-insensitively.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_proto::{
    op::{Message, MessageType, OpCode, Query, ResponseCode},
    rr::{Name, RecordType},
};
use tokio::net::UdpSocket;

use super::{io_message, random_u64, Outcome};

/// Largest response read (responses are not expected to be big: no EDNS).
const MAX_RESPONSE: usize = 4096;

/// Sends the query and waits for the matching response (same id, same
/// question); anything else received on the socket is ignored.
pub async fn check(
    address: IpAddr,
    port: u16,
    query: &Name,
    query_type: RecordType,
    expect_rcode: ResponseCode,
    expect_answer: Option<&str>,
) -> Outcome {
    let id = random_u64() as u16;
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = false;
    message.add_query(Query::query(query.clone(), query_type));
    let wire = message
        .to_vec()
        .map_err(|e| format!("cannot encode query: {e}"))?;

    let local: SocketAddr = match address {
        IpAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        IpAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local).await.map_err(|e| io_message(&e))?;
    // Connected: only the server's datagrams are received, and an ICMP port
    // unreachable shows up as "connect refused".
    socket
        .connect(SocketAddr::new(address, port))
        .await
        .map_err(|e| io_message(&e))?;
    socket.send(&wire).await.map_err(|e| io_message(&e))?;

    let mut buf = vec![0u8; MAX_RESPONSE];
    let response = loop {
        let n = socket.recv(&mut buf).await.map_err(|e| io_message(&e))?;
        let Ok(response) = Message::from_vec(&buf[..n]) else {
            continue;
        };
        if response.metadata.id == id
            && response.metadata.message_type == MessageType::Response
            && response.queries.len() == 1
            && response.queries[0].name() == query
            && response.queries[0].query_type() == query_type
        {
            break response;
        }
    };

    let rcode = response.metadata.response_code;
    if rcode != expect_rcode {
        return Err(format!(
            "rcode {} (expected {})",
            mnemonic(rcode),
            mnemonic(expect_rcode)
        ));
    }
    let rcode = mnemonic(rcode);
    let answers = response.answers.len();
    match expect_answer {
        None => Ok(format!("{rcode}, {answers} answers")),
        Some(expected) => {
            let expected = expected.to_ascii_lowercase();
            match response
                .answers
                .iter()
                .map(|r| r.data.to_string())
                .find(|data| data.to_ascii_lowercase().contains(&expected))
            {
                Some(data) => Ok(format!("{rcode}, answer {data}")),
                None => Err(format!(
                    "{rcode}, no answer of {answers} contains {expected:?}"
                )),
            }
        }
    }
}

/// The zone-file mnemonic of an rcode ("NOERROR", "NXDOMAIN", ...).
pub fn mnemonic(rcode: ResponseCode) -> String {
    let name = match rcode {
        ResponseCode::NoError => "NOERROR",
        ResponseCode::FormErr => "FORMERR",
        ResponseCode::ServFail => "SERVFAIL",
        ResponseCode::NXDomain => "NXDOMAIN",
        ResponseCode::NotImp => "NOTIMP",
        ResponseCode::Refused => "REFUSED",
        ResponseCode::YXDomain => "YXDOMAIN",
        ResponseCode::YXRRSet => "YXRRSET",
        ResponseCode::NXRRSet => "NXRRSET",
        ResponseCode::NotAuth => "NOTAUTH",
        ResponseCode::NotZone => "NOTZONE",
        other => return format!("RCODE{}", u16::from(other)),
    };
    name.to_string()
}
