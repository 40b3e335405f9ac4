//! Several instances of the built binary on one database behind a real load balancer: HAProxy
//! (Debian's package, `scripts/install-haproxy`) running the project's own `deploy/haproxy.cfg`
//! ([`Balancer`]), in front of [`Cluster::INSTANCES`] instances ([`Cluster`]).

use std::{
    io::{Read, Write},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

use tempfile::TempDir;

use crate::support::{
    db::TestDatabase,
    server::{Env, Server, Service, api_binary},
};

/// The HAProxy binary: `HAPROXY`, or Debian's.
fn haproxy_binary() -> PathBuf {
    let path = std::env::var_os("HAPROXY").map_or_else(|| PathBuf::from("/usr/sbin/haproxy"), PathBuf::from);
    assert!(path.is_file(), "{} is missing: run scripts/install-haproxy (the test command does)", path.display());
    path
}

/// A running HAProxy with `deploy/haproxy.cfg`, balancing the given instances.
pub struct Balancer {
    child: Child,
    base: String,
    stats: PathBuf,
    dir: TempDir,
}

impl Balancer {
    /// Starts HAProxy in front of `instances` (`host:port`, exactly three: the configuration's
    /// `server` lines) and waits until its health checks find every one ready.
    pub fn start(instances: &[&str]) -> Self {
        assert_eq!(instances.len(), Cluster::INSTANCES, "deploy/haproxy.cfg names three servers");
        let dir = tempfile::tempdir().expect("temp dir");
        let stats = dir.path().join("stats.sock");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy.cfg");
        let log = std::fs::File::create(dir.path().join("haproxy.log")).expect("log file");
        let child = Command::new(haproxy_binary())
            .args(["-db", "-f"])
            .arg(&config)
            .env_clear()
            .env("HAPROXY_BIND", format!("127.0.0.1:{port}"))
            .env("HAPROXY_STATS", &stats)
            .env("API_1", instances[0])
            .env("API_2", instances[1])
            .env("API_3", instances[2])
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("haproxy starts");
        let balancer = Self { child, base: format!("http://127.0.0.1:{port}"), stats, dir };
        balancer.wait_until(Duration::from_secs(30), "every instance UP", |servers| {
            servers.len() == instances.len() && servers.iter().all(|(_, status)| status == "UP")
        });
        balancer
    }

    /// `(server name, status)` of each instance as HAProxy sees it (`UP`, `DOWN`, `UP 1/2`, …),
    /// from `show stat` on the admin socket.
    pub fn servers(&self) -> Vec<(String, String)> {
        let Ok(mut socket) = UnixStream::connect(&self.stats) else { return Vec::new() };
        let mut csv = String::new();
        if socket.write_all(b"show stat\n").is_err() || socket.read_to_string(&mut csv).is_err() {
            return Vec::new();
        }
        let mut lines = csv.lines();
        let header: Vec<&str> = lines.next().unwrap_or_default().trim_start_matches("# ").split(',').collect();
        let column = |name: &str| header.iter().position(|c| *c == name);
        let (Some(proxy), Some(server), Some(status), Some(check)) =
            (column("pxname"), column("svname"), column("status"), column("check_status"))
        else {
            return Vec::new();
        };
        lines
            .map(|line| line.split(',').collect::<Vec<_>>())
            .filter(|fields| {
                fields.get(proxy) == Some(&"instances") && fields.get(server).is_some_and(|s| s.starts_with("api"))
            })
            .map(|fields| {
                // Before its first check a server shows `UP` without having been checked.
                let checked = fields.get(check).is_some_and(|c| !c.is_empty() && !c.starts_with('*'));
                let status = if checked { fields[status].to_owned() } else { "UNCHECKED".to_owned() };
                (fields[server].to_owned(), status)
            })
            .collect()
    }

    /// The status of one server (`api1`, `api2`, `api3`).
    pub fn status(&self, name: &str) -> String {
        self.servers().into_iter().find(|(server, _)| server == name).map(|(_, status)| status).unwrap_or_default()
    }

    /// Polls `show stat` until `done` holds, failing the test after `limit`.
    pub fn wait_until(&self, limit: Duration, what: &str, done: impl Fn(&[(String, String)]) -> bool) -> Instant {
        let deadline = Instant::now() + limit;
        loop {
            let servers = self.servers();
            if done(&servers) {
                return Instant::now();
            }
            assert!(Instant::now() < deadline, "HAProxy: not {what} within {limit:?}: {servers:?}\n{}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What HAProxy printed.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

impl Service for Balancer {
    fn base(&self) -> &str {
        &self.base
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Three instances of the binary on one database, behind a [`Balancer`].
pub struct Cluster {
    /// The instances, in the order of the balancer's `api1`, `api2`, `api3`.
    pub instances: Vec<Server>,
    /// The load balancer in front of them.
    pub balancer: Balancer,
}

impl Cluster {
    /// How many instances `deploy/haproxy.cfg` balances.
    pub const INSTANCES: usize = 3;

    /// Starts the instances with `env` (each on its own port) on `database`, then the balancer.
    pub fn start(database: &TestDatabase, env: &Env) -> Self {
        api_binary();
        let instances: Vec<Server> = (0..Self::INSTANCES).map(|_| Server::start(env, database.dir.path())).collect();
        let addrs: Vec<&str> = instances.iter().map(|server| server.addr.as_str()).collect();
        let balancer = Balancer::start(&addrs);
        Self { instances, balancer }
    }
}
