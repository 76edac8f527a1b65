//! The pass-through recording proxy of the contract tests (Confluence's
//! and Jira's): every answer's status line and `sl-violations` header.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

/// A pass-through between the client and the Prism mock that keeps every
/// answer's status line and `sl-violations` header: the contract is checked
/// on exactly the requests the client sends.
pub async fn recording_proxy(upstream: &str) -> (String, Arc<std::sync::Mutex<Vec<u8>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let upstream = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    let answers = log.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            let answers = answers.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut client_read, mut client_write) = client.into_split();
                let (mut server_read, mut server_write) = server.into_split();
                let requests = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                    let _ = server_write.shutdown().await;
                });
                let mut buffer = vec![0u8; 16 * 1024];
                loop {
                    match server_read.read(&mut buffer).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            answers.lock().unwrap().extend_from_slice(&buffer[..n]);
                            if client_write.write_all(&buffer[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                requests.abort();
            });
        }
    });
    (address, log)
}

/// The status lines and `sl-violations` headers the mock answered with.
pub fn answers(log: &std::sync::Mutex<Vec<u8>>) -> (Vec<u16>, Vec<String>) {
    let text = String::from_utf8_lossy(&log.lock().unwrap()).into_owned();
    let mut statuses = Vec::new();
    let mut violations = Vec::new();
    // A body does not end with a line break: the next answer's status line
    // follows it on the same line.
    for (at, _) in text.match_indices("HTTP/1.1 ") {
        if let Ok(status) = text[at + 9..].chars().take(3).collect::<String>().parse() {
            statuses.push(status);
        }
    }
    for line in text.lines() {
        if line.to_lowercase().starts_with("sl-violations:") {
            violations.push(line.to_owned());
        }
    }
    (statuses, violations)
}
