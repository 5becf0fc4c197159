//! A push-notification receiver on loopback that answers `200` after a fixed delay: a slow
//! subscriber like seed 002's notification service. Registered as the tenant's callback, it
//! makes every bus event cost that delay of a bus handler thread, so a bus with few threads
//! falls behind and the queue-growth healthcheck turns 500. It speaks just enough HTTP/1.1 for
//! ferrobill's client (keep-alive, Content-Length bodies), and stops when dropped. It keeps
//! every body it received, for `ferrobill-diff` to compare two servers' notifications.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Largest request head read; a notification's is a few hundred bytes.
const HEAD_LIMIT: usize = 16 * 1024;

pub struct CallbackReceiver {
    url: String,
    received: Arc<AtomicU64>,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
    task: JoinHandle<()>,
}

impl CallbackReceiver {
    pub async fn start(latency: Duration) -> Result<CallbackReceiver> {
        Self::start_on("127.0.0.1", latency).await
    }

    /// The same on `host` (an address of this machine the servers can reach), any port.
    pub async fn start_on(host: &str, latency: Duration) -> Result<CallbackReceiver> {
        let listener = TcpListener::bind((host, 0))
            .await
            .with_context(|| format!("cannot listen on {host} for push notifications"))?;
        let address = listener
            .local_addr()
            .context("the callback listener has no address")?;
        let received = Arc::new(AtomicU64::new(0));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let counter = received.clone();
        let kept = bodies.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, latency, counter.clone(), kept.clone()));
            }
        });
        Ok(CallbackReceiver {
            url: format!("http://{address}/callback"),
            received,
            bodies,
            task,
        })
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Notifications answered so far.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// The bodies of the notifications answered so far, in the order they arrived.
    pub fn bodies(&self) -> Vec<Vec<u8>> {
        self.bodies
            .lock()
            .map(|bodies| bodies.clone())
            .unwrap_or_default()
    }
}

impl Drop for CallbackReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One connection: read a request (head and Content-Length body), sleep, answer, repeat.
async fn serve(
    mut stream: TcpStream,
    latency: Duration,
    received: Arc<AtomicU64>,
    bodies: Arc<Mutex<Vec<Vec<u8>>>>,
) {
    let mut buffer = Vec::new();
    loop {
        let Some(head_end) = read_until_head_end(&mut stream, &mut buffer).await else {
            return;
        };
        let body_length = content_length(&buffer[..head_end]);
        while buffer.len() < head_end + body_length {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(read) => buffer.extend_from_slice(&chunk[..read]),
            }
        }
        let body = buffer[head_end..head_end + body_length].to_vec();
        buffer.drain(..head_end + body_length);
        tokio::time::sleep(latency).await;
        if let Ok(mut bodies) = bodies.lock() {
            bodies.push(body);
        }
        received.fetch_add(1, Ordering::Relaxed);
        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        if stream.write_all(answer).await.is_err() {
            return;
        }
    }
}

/// The index just past `\r\n\r\n`, reading more as needed; `None` at end of stream.
async fn read_until_head_end(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<usize> {
    loop {
        if let Some(position) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            return Some(position + 4);
        }
        if buffer.len() > HEAD_LIMIT {
            return None;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(read) => buffer.extend_from_slice(&chunk[..read]),
        }
    }
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_after_the_latency_on_a_kept_alive_connection() {
        let receiver = CallbackReceiver::start(Duration::from_millis(50))
            .await
            .expect("listens");
        let client = reqwest::Client::new();
        for _ in 0..2 {
            let started = std::time::Instant::now();
            let answer = client
                .post(receiver.url())
                .body("{\"eventType\":\"ACCOUNT_CREATION\"}")
                .send()
                .await
                .expect("answers");
            assert_eq!(answer.status(), 200);
            assert!(started.elapsed() >= Duration::from_millis(50));
        }
        assert_eq!(receiver.received(), 2);
        assert_eq!(
            receiver.bodies(),
            vec![b"{\"eventType\":\"ACCOUNT_CREATION\"}".to_vec(); 2]
        );
        assert_eq!(
            content_length(b"POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n"),
            12
        );
    }
}
