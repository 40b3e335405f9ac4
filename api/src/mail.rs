//! Outgoing mail (password reset and email verification links), through the transport chosen
//! by `MAIL_TRANSPORT`: the log (development), a JSON-lines file (tests, scripts), or SMTP.
//!
//! Mail is sent in the background: the request that triggered it never waits for delivery or
//! fails because of it, so neither its timing nor its status reveals whether an account exists.
//! Delivery failures are logged without the recipient.

use std::{path::PathBuf, sync::Arc, time::Duration};

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    message::{Mailbox, header::ContentType},
    transport::smtp::authentication::Credentials,
};
use serde::Serialize;
use tokio::{io::AsyncWriteExt, sync::Mutex};

use crate::{
    config::{MailConfig, MailTransport, SmtpTls},
    metrics::METRICS,
};

/// One message.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Mail {
    /// Recipient address.
    pub(crate) to: String,
    /// Subject line.
    pub(crate) subject: String,
    /// Plain-text body (contains the link).
    pub(crate) text: String,
    /// The link the message is about.
    pub(crate) url: String,
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MailError {
    /// Mail is not configured.
    #[error("mail is disabled")]
    Disabled,
    /// The message could not be built (bad address).
    #[error("invalid message: {0}")]
    Message(String),
    /// The transport failed.
    #[error("delivery failed: {0}")]
    Delivery(String),
}

enum Transport {
    Disabled,
    Log,
    File { path: PathBuf, lock: Mutex<()> },
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
}

/// Sends mail through the configured transport; cheap to clone.
#[derive(Clone)]
pub(crate) struct Mailer {
    transport: Arc<Transport>,
    from: Arc<String>,
}

impl Mailer {
    /// Builds the transport. SMTP connections are opened lazily, on first use.
    pub(crate) fn new(config: &MailConfig) -> Result<Self, MailError> {
        let transport = match &config.transport {
            MailTransport::Disabled => Transport::Disabled,
            MailTransport::Log => Transport::Log,
            MailTransport::File(path) => Transport::File { path: path.clone(), lock: Mutex::new(()) },
            MailTransport::Smtp(smtp) => {
                let builder = match smtp.tls {
                    SmtpTls::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host),
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host),
                    SmtpTls::None => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)),
                }
                .map_err(|err| MailError::Delivery(err.to_string()))?;
                let mut builder = builder.port(smtp.port).timeout(Some(Duration::from_secs(15)));
                if let Some((user, password)) = &smtp.credentials {
                    builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
                }
                Transport::Smtp(builder.build())
            }
        };
        Ok(Self { transport: Arc::new(transport), from: Arc::new(config.from.clone()) })
    }

    /// Whether mail can be sent at all (password reset and verification need it).
    pub(crate) fn is_enabled(&self) -> bool {
        !matches!(*self.transport, Transport::Disabled)
    }

    /// Sends without making the caller wait; failures are logged.
    pub(crate) fn send_in_background(&self, mail: Mail) {
        let mailer = self.clone();
        let span = tracing::Span::current();
        tokio::spawn(async move {
            let sent = mailer.send(&mail).await;
            match &sent {
                Ok(()) => METRICS.mail_sent.inc(),
                Err(_) => METRICS.mail_failed.inc(),
            }
            if let Err(err) = sent {
                let _entered = span.enter();
                tracing::warn!(error = %err, subject = %mail.subject, "mail not sent");
            }
        });
    }

    /// Sends and waits for the transport.
    pub(crate) async fn send(&self, mail: &Mail) -> Result<(), MailError> {
        match &*self.transport {
            Transport::Disabled => Err(MailError::Disabled),
            Transport::Log => {
                // Development only: the link is the point of this transport. The recipient is
                // masked like every address in the logs.
                let domain = mail.to.rsplit_once('@').map_or("", |(_, d)| d);
                tracing::info!(to = %format_args!("***@{domain}"), subject = %mail.subject, url = %mail.url, "mail (log transport)");
                Ok(())
            }
            Transport::File { path, lock } => {
                let mut line = serde_json::to_vec(mail).map_err(|err| MailError::Message(err.to_string()))?;
                line.push(b'\n');
                let _guard = lock.lock().await;
                // Owner-only: the outbox holds live reset and verification links.
                let mut file = tokio::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)
                    .await
                    .map_err(|err| MailError::Delivery(format!("{}: {err}", path.display())))?;
                file.write_all(&line).await.map_err(|err| MailError::Delivery(err.to_string()))?;
                file.flush().await.map_err(|err| MailError::Delivery(err.to_string()))
            }
            Transport::Smtp(smtp) => {
                let message = self.message(mail)?;
                smtp.send(message).await.map(|_| ()).map_err(|err| MailError::Delivery(smtp_failure(&err)))
            }
        }
    }

    fn message(&self, mail: &Mail) -> Result<Message, MailError> {
        let from: Mailbox =
            self.from.parse().map_err(|_| MailError::Message("MAIL_FROM is not an address".to_owned()))?;
        let to: Mailbox = mail.to.parse().map_err(|_| MailError::Message("recipient is not an address".to_owned()))?;
        Message::builder()
            .from(from)
            .to(to)
            .subject(mail.subject.clone())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.text.clone())
            .map_err(|err| MailError::Message(err.to_string()))
    }
}

/// What a failed SMTP delivery may say in the logs: the reply code, or the kind of failure;
/// never the relay's text, which often quotes the recipient's address.
fn smtp_failure(err: &lettre::transport::smtp::Error) -> String {
    if let Some(code) = err.status() {
        return format!("SMTP reply {code}");
    }
    let kind = if err.is_timeout() {
        "timeout"
    } else if err.is_tls() {
        "TLS failure"
    } else if err.is_client() {
        "client error"
    } else if err.is_transient() {
        "transient failure"
    } else if err.is_permanent() {
        "permanent failure"
    } else {
        "connection or protocol failure"
    };
    format!("SMTP {kind}")
}
