//! The file mail outbox of a test server (`MAIL_TRANSPORT=file`): one JSON object per line with
//! `to`, `subject`, `text` and `url`. Mail is written in the background, so readers poll.

use std::{path::PathBuf, time::Duration};

use serde_json::Value;
use tempfile::TempDir;

use crate::support::server::TestApp;

/// A test server's outbox file.
pub struct MailOutbox {
    _dir: TempDir,
    /// The outbox file.
    pub path: PathBuf,
}

impl MailOutbox {
    /// How long a test waits for a mail before failing.
    pub const DEADLINE: Duration = Duration::from_secs(10);

    /// An outbox in a fresh temporary directory (the file is created by the first mail).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir for the outbox");
        let path = dir.path().join("outbox.jsonl");
        Self { _dir: dir, path }
    }

    /// The variables that point a server at this outbox.
    pub fn vars(&self) -> [(&'static str, String); 2] {
        [("MAIL_TRANSPORT", "file".to_owned()), ("MAIL_OUTBOX", self.path.display().to_string())]
    }

    /// Every complete mail written so far, oldest first (a line still being written is skipped).
    pub fn all(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str(line).expect("every outbox line is a JSON object"))
            .collect()
    }

    /// The mails to `address` so far.
    pub fn to(&self, address: &str) -> Vec<Value> {
        self.all().into_iter().filter(|mail| mail["to"] == address).collect()
    }

    /// Waits (polling, up to [`Self::DEADLINE`]) until at least `n` mails went to `address`,
    /// and returns the `n`-th (1-based).
    pub async fn wait_for_nth(&self, address: &str, n: usize) -> Value {
        let deadline = tokio::time::Instant::now() + Self::DEADLINE;
        loop {
            let mails = self.to(address);
            if mails.len() >= n {
                return mails.into_iter().nth(n - 1).expect("n mails are there");
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "mail #{n} to {address} not written within {:?}; outbox: {:?}",
                Self::DEADLINE,
                self.all()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits for the first mail to `address`.
    pub async fn wait_for(&self, address: &str) -> Value {
        self.wait_for_nth(address, 1).await
    }
}

/// A server on a fresh database that writes its mail to a new file outbox, plus extra variables.
pub async fn spawn_with_outbox(vars: &[(&str, &str)]) -> (TestApp, MailOutbox) {
    let outbox = MailOutbox::new();
    let mut builder = TestApp::builder();
    for (name, value) in outbox.vars().iter().map(|(name, value)| (*name, value.as_str())).chain(vars.iter().copied()) {
        builder = builder.var(name, value);
    }
    (builder.spawn().await, outbox)
}
