//! The live-update stream (`GET /api/v1/tasks/events`) as an `EventSource` sees it: events
//! parsed from the `text/event-stream` body as it arrives (comments are heartbeats).

use std::time::Duration;

use reqwest::{Method, Response, StatusCode};
use serde_json::Value;

use crate::support::users::User;

/// The stream's path.
pub const EVENTS: &str = "/api/v1/tasks/events";

/// One server-sent event.
#[derive(Clone, Debug)]
pub struct SseEvent {
    /// `id:`.
    pub id: String,
    /// `event:`.
    pub event: String,
    /// `data:`, parsed.
    pub data: Value,
}

/// An open stream.
pub struct EventReader {
    response: Response,
    buffer: String,
    /// Heartbeat comments seen so far.
    pub heartbeats: usize,
}

/// What waiting on a stream gave.
#[derive(Debug)]
pub enum Next {
    /// An event.
    Event(SseEvent),
    /// Nothing within the time.
    Timeout,
    /// The server ended the stream.
    Ended,
}

impl User {
    /// `GET /tasks/events` with an optional `Last-Event-ID`; the raw response.
    pub async fn open_events(&self, last_event_id: Option<&str>) -> Response {
        let mut request = self.request(Method::GET, EVENTS).header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        request.send().await.expect("request sent")
    }

    /// Opens a stream that must be accepted.
    pub async fn events(&self, last_event_id: Option<&str>) -> EventReader {
        let response = self.open_events(last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK, "the stream opens");
        let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("text/event-stream"), "content type {content_type:?}");
        EventReader { response, buffer: String::new(), heartbeats: 0 }
    }
}

impl EventReader {
    /// The next event, waiting at most `limit`.
    pub async fn next(&mut self, limit: Duration) -> Next {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                let mut comment = false;
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("id:") {
                        id = value.trim_start().to_owned();
                    } else if let Some(value) = line.strip_prefix("event:") {
                        event = value.trim_start().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim_start());
                    } else if line.starts_with(':') {
                        comment = true;
                    }
                }
                if data.is_empty() {
                    if comment {
                        self.heartbeats += 1;
                    }
                    continue;
                }
                let data = serde_json::from_str(&data).expect("event data is JSON");
                return Next::Event(SseEvent { id, event, data });
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Next::Timeout,
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None) | Err(_)) => return Next::Ended,
            }
        }
    }

    /// The next event, which must come within `limit`.
    pub async fn expect_event(&mut self, limit: Duration) -> SseEvent {
        match self.next(limit).await {
            Next::Event(event) => event,
            other => panic!("expected an event within {limit:?}, got {other:?}"),
        }
    }

    /// Asserts that no event comes within `limit` (heartbeats aside).
    pub async fn expect_quiet(&mut self, limit: Duration) {
        match self.next(limit).await {
            Next::Timeout => {}
            other => panic!("expected nothing within {limit:?}, got {other:?}"),
        }
    }

    /// Asserts that the server ends the stream within `limit`.
    pub async fn expect_end(&mut self, limit: Duration) {
        loop {
            match self.next(limit).await {
                Next::Ended => return,
                Next::Timeout => panic!("the stream was still open after {limit:?}"),
                Next::Event(_) => {}
            }
        }
    }
}
