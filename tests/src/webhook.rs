//! A webhook receiver for notification-service's tests: a local HTTP server (hyper on
//! 127.0.0.1, an ephemeral port) that records every call and answers from a script, the check a
//! receiver makes of the signature, and [`over_tcp`], how a test's outbound handler sends a
//! component's non-Dapr calls (as `todo-dev` does).
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use sha2::Sha256;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

/// A scripted "status": never answer.
pub const NO_ANSWER: u16 = 0;

/// What the receiver got in one call.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header: {:?}", self.headers))
            .to_str()
            .unwrap()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The receiver's check of a call: `X-Signature` is `sha256=` + hex HMAC-SHA256 under
    /// `secret` of `X-Timestamp` "." body (computed here, independently of the sender).
    pub fn assert_signed(&self, secret: &str) {
        let timestamp = self.header("x-timestamp");
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(&self.body);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(self.header("x-signature"), format!("sha256={hex}"));
    }
}

/// A local HTTP server answering each call with the next scripted status (then 204).
pub struct Receiver {
    pub addr: SocketAddr,
    script: Arc<Mutex<VecDeque<u16>>>,
    received: Arc<Mutex<Vec<Received>>>,
    count: tokio::sync::watch::Receiver<usize>,
}

impl Receiver {
    /// Listening once this returns (call inside a tokio runtime).
    pub async fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(Mutex::new(VecDeque::<u16>::new()));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (count_tx, count) = tokio::sync::watch::channel(0);
        let count_tx = Arc::new(count_tx);
        let (s, r) = (script.clone(), received.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (script, received, count_tx) = (s.clone(), r.clone(), count_tx.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(
                        move |request: http::Request<hyper::body::Incoming>| {
                            let (script, received, count_tx) =
                                (script.clone(), received.clone(), count_tx.clone());
                            async move {
                                let (parts, body) = request.into_parts();
                                let body = body.collect().await?.to_bytes();
                                let status = script.lock().unwrap().pop_front().unwrap_or(204);
                                let n = {
                                    let mut received = received.lock().unwrap();
                                    received.push(Received {
                                        path: parts.uri.path().to_owned(),
                                        headers: parts.headers,
                                        body,
                                    });
                                    received.len()
                                };
                                count_tx.send_replace(n);
                                if status == NO_ANSWER {
                                    std::future::pending::<()>().await;
                                }
                                Ok::<_, hyper::Error>(
                                    http::Response::builder()
                                        .status(status)
                                        .body(Full::new(Bytes::from_static(b"scripted")))
                                        .unwrap(),
                                )
                            }
                        },
                    );
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Receiver {
            addr,
            script,
            received,
            count,
        }
    }

    /// `http://127.0.0.1:<port>/hooks/reminders`.
    pub fn url(&self) -> String {
        format!("http://{}/hooks/reminders", self.addr)
    }

    /// The statuses of the next calls, in order (after those already scripted).
    pub fn script(&self, statuses: &[u16]) {
        self.script.lock().unwrap().extend(statuses);
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (at most `limit`) until at least `n` calls have arrived; all of them.
    pub async fn wait_for_calls(&self, n: usize, limit: Duration) -> Vec<Received> {
        let mut count = self.count.clone();
        let arrived = tokio::time::timeout(limit, count.wait_for(|c| *c >= n)).await;
        assert!(
            matches!(arrived, Ok(Ok(_))),
            "{n} webhook calls expected within {limit:?}, got {:?}",
            self.received()
        );
        self.received()
    }
}

/// One HTTP/1 request on a fresh connection to the request URI's authority.
pub async fn over_tcp(req: http::Request<Bytes>) -> anyhow::Result<http::Response<Bytes>> {
    let authority = req
        .uri()
        .authority()
        .ok_or_else(|| anyhow::anyhow!("no authority in {}", req.uri()))?
        .to_string();
    let stream = TcpStream::connect(&authority).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let (mut parts, body) = req.into_parts();
    parts.headers.insert(http::header::HOST, authority.parse()?);
    parts.uri = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()?;
    let response = sender
        .send_request(http::Request::from_parts(parts, Full::new(body)))
        .await?;
    let (parts, body) = response.into_parts();
    Ok(http::Response::from_parts(
        parts,
        body.collect().await?.to_bytes(),
    ))
}
