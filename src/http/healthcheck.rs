//! `galley healthcheck`: the container's probe, with no HTTP client to install.

use std::{
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Succeeds when the server listening on `bind` answers `/readyz` with 200 within 5 s.
pub async fn healthcheck(bind: SocketAddr) -> anyhow::Result<()> {
    // A server bound to every interface is reached on loopback.
    let address = match bind.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), bind.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), bind.port())
        }
        _ => bind,
    };
    let status_line = tokio::time::timeout(Duration::from_secs(5), ask(address))
        .await
        .with_context(|| format!("no answer from {address} within 5 s"))??;
    if status_line.starts_with("HTTP/1.1 200") {
        println!("ready");
        Ok(())
    } else {
        bail!("{address}/readyz answered {status_line}")
    }
}

async fn ask(address: SocketAddr) -> anyhow::Result<String> {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address} (GALLEY_BIND)"))?;
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut head = Vec::with_capacity(256);
    let mut buf = [0_u8; 256];
    while !head.contains(&b'\n') && head.len() < 4096 {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    Ok(line.lines().next().unwrap_or_default().trim().to_owned())
}
