//! Who is watching whose tasks: the live-update streams of this process, counted and bounded,
//! and the signal that tells a user's streams "your change feed moved".
//!
//! The signal carries no change: a stream reads the change feed itself from its own position,
//! so a missed or merged signal loses nothing and a slow reader holds at most one page. Each
//! user has a `watch` channel whose value only counts signals; a stream that was busy when a
//! signal came sees the counter moved and reads again.
//!
//! Signals come from this process's writes (after they commit) and, on PostgreSQL, from every
//! instance through `NOTIFY` on [`CHANNEL`] (a trigger on `task_change`, see the migration),
//! received by [`listen`].

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::sync::watch;

/// The PostgreSQL channel the change-feed trigger notifies, with the owner's id as payload.
pub(crate) const CHANNEL: &str = "task_change";

/// How many streams may be open.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StreamLimits {
    /// Per user.
    pub(crate) per_user: usize,
    /// In this process.
    pub(crate) per_instance: usize,
}

/// The registry of open streams; cheap to clone.
#[derive(Clone)]
pub(crate) struct Live {
    inner: Arc<Mutex<Registry>>,
    limits: StreamLimits,
}

struct Registry {
    users: HashMap<String, Watchers>,
    open: usize,
    /// Set at shutdown: every stream ends, no new one opens.
    closed: bool,
}

struct Watchers {
    signal: watch::Sender<u64>,
    streams: usize,
}

/// Why a stream could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The user already has the maximum number of streams.
    PerUser,
    /// This process already serves the maximum number of streams.
    PerInstance,
}

/// An open stream's place: its signal receiver; dropping it frees the place.
pub(crate) struct Subscription {
    live: Live,
    owner: String,
    /// Changes when the owner's feed may have moved.
    pub(crate) signal: watch::Receiver<u64>,
}

impl Live {
    /// An empty registry with these limits.
    pub(crate) fn new(limits: StreamLimits) -> Self {
        Self { inner: Arc::new(Mutex::new(Registry { users: HashMap::new(), open: 0, closed: false })), limits }
    }

    fn registry(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a place for one of `owner`'s streams, within the limits.
    pub(crate) fn subscribe(&self, owner: &str) -> Result<Subscription, Refused> {
        let mut registry = self.registry();
        if registry.closed || registry.open >= self.limits.per_instance {
            return Err(Refused::PerInstance);
        }
        let watchers = registry
            .users
            .entry(owner.to_owned())
            .or_insert_with(|| Watchers { signal: watch::channel(0).0, streams: 0 });
        if watchers.streams >= self.limits.per_user {
            return Err(Refused::PerUser);
        }
        watchers.streams += 1;
        let signal = watchers.signal.subscribe();
        registry.open += 1;
        Ok(Subscription { live: self.clone(), owner: owner.to_owned(), signal })
    }

    /// Tells `owner`'s streams that the feed may have moved.
    pub(crate) fn signal(&self, owner: &str) {
        if let Some(watchers) = self.registry().users.get(owner) {
            watchers.signal.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Tells every stream to read again (after signals may have been lost).
    fn signal_all(&self) {
        for watchers in self.registry().users.values() {
            watchers.signal.send_modify(|n| *n = n.wrapping_add(1));
        }
    }

    /// Ends every stream (each sees [`Subscription::is_closed`] on its next wake-up) and
    /// refuses new ones: at shutdown, so that open streams do not hold it up.
    pub(crate) fn close(&self) {
        self.registry().closed = true;
        self.signal_all();
    }

    /// Streams open in this process.
    #[cfg(test)]
    fn open(&self) -> usize {
        self.registry().open
    }
}

impl Subscription {
    /// Whether the process is shutting down and the stream must end.
    pub(crate) fn is_closed(&self) -> bool {
        self.live.registry().closed
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut registry = self.live.registry();
        registry.open = registry.open.saturating_sub(1);
        let empty = match registry.users.get_mut(&self.owner) {
            Some(watchers) => {
                watchers.streams = watchers.streams.saturating_sub(1);
                watchers.streams == 0
            }
            None => false,
        };
        if empty {
            registry.users.remove(&self.owner);
        }
    }
}

/// Relays the change-feed notifications of every instance to this process's streams
/// (PostgreSQL; runs until aborted). After a reconnection every stream reads again, since
/// notifications sent meanwhile are lost.
pub(crate) async fn listen(db: sea_orm::DatabaseConnection, live: Live) {
    use sea_orm::sqlx::postgres::PgListener;
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        }
        .await;
        let mut listener = match listener {
            Ok(listener) => listener,
            Err(err) => {
                tracing::warn!(error = %err, "task change listener cannot connect; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        live.signal_all();
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => live.signal(notification.payload()),
                Ok(None) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "task change listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_bounded_per_user_and_per_instance_and_freed_on_drop() {
        let live = Live::new(StreamLimits { per_user: 2, per_instance: 3 });
        let a1 = live.subscribe("a").expect("first");
        let a2 = live.subscribe("a").expect("second");
        assert_eq!(live.subscribe("a").err(), Some(Refused::PerUser));
        let b1 = live.subscribe("b").expect("another user");
        assert_eq!(live.subscribe("c").err(), Some(Refused::PerInstance));
        drop(a1);
        assert_eq!(live.open(), 2);
        let a3 = live.subscribe("a").expect("a place was freed");
        drop((a2, a3, b1));
        assert_eq!(live.open(), 0);
        assert!(live.registry().users.is_empty(), "no entry left behind");
    }

    #[tokio::test]
    async fn a_signal_reaches_only_its_users_streams_and_is_not_lost_while_busy() {
        let live = Live::new(StreamLimits { per_user: 5, per_instance: 10 });
        let mut a = live.subscribe("a").expect("a");
        let mut b = live.subscribe("b").expect("b");
        live.signal("a");
        live.signal("a");
        assert!(a.signal.has_changed().expect("open"), "signals sent while busy are seen later");
        assert!(!b.signal.has_changed().expect("open"));
        a.signal.borrow_and_update();
        assert!(!a.signal.has_changed().expect("open"));
        live.signal_all();
        assert!(a.signal.has_changed().expect("open") && b.signal.has_changed().expect("open"));
        live.signal("nobody");
        b.signal.borrow_and_update();
        live.close();
        assert!(a.is_closed() && b.signal.has_changed().expect("open"), "closing wakes every stream");
        assert_eq!(live.subscribe("c").err(), Some(Refused::PerInstance), "no new stream after closing");
    }
}
