//! TCP monitor: the server is up when a connection to its port completes.

use std::net::{IpAddr, SocketAddr};

use tokio::net::TcpStream;

use super::{io_message, Outcome};

/// Connects to `address:port` and closes the connection at once.
pub async fn check(address: IpAddr, port: u16) -> Outcome {
    match TcpStream::connect(SocketAddr::new(address, port)).await {
        Ok(stream) => {
            drop(stream);
            Ok("connected".to_string())
        }
        Err(e) => Err(io_message(&e)),
    }
}
