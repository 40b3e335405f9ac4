//! A switchable TCP proxy in front of PostgreSQL, to take the database "down" for one test
//! without touching the shared server.

use std::net::SocketAddr;

use tokio::{
    net::{TcpListener, TcpStream},
    sync::watch,
    task::JoinHandle,
};

/// A TCP proxy between the app and PostgreSQL. Up: it forwards bytes both ways. Down: it resets
/// every open connection (both sides, `SO_LINGER` 0) and resets each new one at once, as a
/// database host that went away would.
pub struct PgProxy {
    /// The proxy's port on 127.0.0.1.
    pub port: u16,
    up: watch::Sender<bool>,
    acceptor: JoinHandle<()>,
}

fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

impl PgProxy {
    /// Starts forwarding to `upstream`.
    pub async fn start(upstream: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("proxy binds");
        let port = listener.local_addr().expect("proxy address").port();
        let (up, up_rx) = watch::channel(true);
        let acceptor = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else { continue };
                if !*up_rx.borrow() {
                    reset(client);
                    continue;
                }
                let mut down = up_rx.clone();
                tokio::spawn(async move {
                    let mut client = client;
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        reset(client);
                        return;
                    };
                    let cut = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                        _ = down.wait_for(|up| !*up) => true,
                    };
                    if cut {
                        reset(client);
                        reset(server);
                    }
                });
            }
        });
        Self { port, up, acceptor }
    }

    /// Takes the database "down": every connection through the proxy is reset, new ones too.
    pub fn down(&self) {
        self.up.send_replace(false);
    }

    /// Brings it back.
    pub fn up(&self) {
        self.up.send_replace(true);
    }

    /// `database_url` (a PostgreSQL URL) pointed at this proxy instead of its server.
    pub fn url_for(&self, database_url: &str) -> String {
        let mut url = url::Url::parse(database_url).expect("a PostgreSQL URL");
        url.set_host(Some("127.0.0.1")).expect("host settable");
        url.set_port(Some(self.port)).expect("port settable");
        url.to_string()
    }
}

impl Drop for PgProxy {
    fn drop(&mut self) {
        self.up.send_replace(false);
        self.acceptor.abort();
    }
}

/// The `host:port` a PostgreSQL URL points at, resolved.
pub fn postgres_addr(url: &str) -> SocketAddr {
    let url = url::Url::parse(url).expect("a PostgreSQL URL");
    let host = url.host_str().unwrap_or("127.0.0.1");
    let port = url.port().unwrap_or(5432);
    std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .expect("PostgreSQL host resolves")
        .next()
        .expect("an address")
}
