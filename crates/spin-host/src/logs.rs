//! Capture of guest stdout/stderr (and host log lines about a component) in memory.

use bytes::Bytes;
use std::io::Write as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};

/// Environment variable: when `1`/`true`, guest output is also echoed to the host's stderr,
/// prefixed with the component id.
pub const ECHO_GUEST_LOGS_ENV: &str = "TODO_HOST_ECHO_GUEST_LOGS";

/// Which stream a guest log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogSource {
    Stdout,
    Stderr,
    /// A line the host wrote about the component (e.g. a denied outbound request).
    Host,
}

/// One complete line of a component's output, handed to [`LogSink`] as it is written.
#[derive(Debug, Clone, Copy)]
pub struct LogLine<'a> {
    /// The component id.
    pub component: &'a str,
    pub source: LogSource,
    /// Without the trailing newline.
    pub line: &'a str,
}

/// Receives every complete guest output line live (`HostOptions::log_sink`).
pub type LogSink = std::sync::Arc<dyn Fn(&LogLine<'_>) + Send + Sync>;

/// Keep at most this much output per component (older output is dropped first).
const MAX_CAPTURED: usize = 4 * 1024 * 1024;

/// Shared, append-only log of one component (all its instances).
#[derive(Clone)]
pub(crate) struct LogBuffer {
    inner: Arc<Mutex<LogState>>,
}

struct LogState {
    id: String,
    echo: bool,
    sink: Option<LogSink>,
    captured: Vec<u8>,
    dropped: usize,
    /// Unfinished echo line per stream (0 = stdout, 1 = stderr, 2 = host).
    pending: [Vec<u8>; 3],
}

pub(crate) type Source = LogSource;

fn index(source: Source) -> usize {
    match source {
        LogSource::Stdout => 0,
        LogSource::Stderr => 1,
        LogSource::Host => 2,
    }
}

impl LogBuffer {
    pub(crate) fn new(id: &str, sink: Option<LogSink>) -> Self {
        let echo = std::env::var(ECHO_GUEST_LOGS_ENV)
            .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        Self {
            inner: Arc::new(Mutex::new(LogState {
                id: id.to_string(),
                echo,
                sink,
                captured: Vec::new(),
                dropped: 0,
                pending: Default::default(),
            })),
        }
    }

    pub(crate) fn write(&self, source: Source, bytes: &[u8]) {
        let mut state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        state.captured.extend_from_slice(bytes);
        if state.captured.len() > MAX_CAPTURED {
            let excess = state.captured.len() - MAX_CAPTURED / 2;
            state.captured.drain(..excess);
            state.dropped += excess;
        }
        if state.echo || state.sink.is_some() {
            let state = &mut *state;
            let pending = &mut state.pending[index(source)];
            pending.extend_from_slice(bytes);
            if let Some(last_nl) = pending.iter().rposition(|b| *b == b'\n') {
                let complete: Vec<u8> = pending.drain(..=last_nl).collect();
                let mut err = state.echo.then(|| std::io::stderr().lock());
                for line in complete[..last_nl].split(|b| *b == b'\n') {
                    let line = String::from_utf8_lossy(line);
                    let line = line.strip_suffix('\r').unwrap_or(&line);
                    if let Some(err) = err.as_mut() {
                        let _ = writeln!(err, "[{}] {line}", state.id);
                    }
                    if let Some(sink) = &state.sink {
                        sink(&LogLine {
                            component: &state.id,
                            source,
                            line,
                        });
                    }
                }
            }
        }
    }

    /// A host-side line about this component (e.g. a denied outbound request).
    pub(crate) fn host_line(&self, line: &str) {
        self.write(Source::Host, format!("[spin-host] {line}\n").as_bytes());
    }

    pub(crate) fn contents(&self) -> String {
        let state = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let text = String::from_utf8_lossy(&state.captured);
        if state.dropped > 0 {
            format!("[... {} earlier bytes dropped ...]\n{text}", state.dropped)
        } else {
            text.into_owned()
        }
    }

    pub(crate) fn stream(&self, source: Source) -> LogStream {
        LogStream {
            buffer: self.clone(),
            source,
        }
    }
}

/// A guest stdout/stderr stream writing into a [`LogBuffer`].
#[derive(Clone)]
pub(crate) struct LogStream {
    buffer: LogBuffer,
    source: Source,
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }

    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.buffer.write(self.source, &bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.buffer.write(self.source, buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_stdout_and_stderr_land_in_one_buffer() {
        let logs = LogBuffer::new("chat-api", None);
        let mut out = logs.stream(Source::Stdout).p2_stream();
        let mut err = logs.stream(Source::Stderr).p2_stream();
        out.write(Bytes::from_static(b"hello from stdout\n"))
            .unwrap();
        err.write(Bytes::from_static(b"oops on stderr\n")).unwrap();
        logs.host_line("a host line");
        assert_eq!(
            logs.contents(),
            "hello from stdout\noops on stderr\n[spin-host] a host line\n"
        );
    }

    #[test]
    fn log_sink_gets_complete_lines_live_with_the_component_id() {
        let lines = Arc::new(Mutex::new(Vec::<(String, LogSource, String)>::new()));
        let seen = lines.clone();
        let sink: LogSink = Arc::new(move |l: &LogLine<'_>| {
            seen.lock()
                .unwrap()
                .push((l.component.to_string(), l.source, l.line.to_string()));
        });
        let logs = LogBuffer::new("audit", Some(sink));
        logs.write(Source::Stdout, b"hel");
        assert!(lines.lock().unwrap().is_empty());
        logs.write(Source::Stdout, b"lo\nwor");
        logs.write(Source::Stderr, b"oops\r\n");
        logs.write(Source::Stdout, b"ld\n");
        logs.host_line("denied");
        let lines = lines.lock().unwrap();
        let got: Vec<_> = lines
            .iter()
            .map(|(c, s, l)| (c.as_str(), *s, l.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("audit", LogSource::Stdout, "hello"),
                ("audit", LogSource::Stderr, "oops"),
                ("audit", LogSource::Stdout, "world"),
                ("audit", LogSource::Host, "[spin-host] denied"),
            ]
        );
        assert!(logs.contents().contains("hello\nwor"));
    }
}
