//! A private PostgreSQL cluster for fault tests: its own data directory and free port, its
//! own processes, which a test may stop, crash and restart. Never the machine's shared
//! server. The approach of `ci/pg-cluster/` (branch `ci-attacks`): `initdb` and `pg_ctl` from
//! the newest `/usr/lib/postgresql/*/bin` (or `PG_BIN`), run as `postgres` when the tests run
//! as root, trust authentication on 127.0.0.1, `fsync=off` (a crash of the server process
//! keeps committed data in the page cache; only a power cut would lose it).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

pub struct PgCluster {
    dir: tempfile::TempDir,
    pub port: u16,
    bin: PathBuf,
}

fn server_binaries() -> PathBuf {
    if let Ok(dir) = std::env::var("PG_BIN") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries: install the `postgresql` package or set PG_BIN")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| bin.join("pg_ctl").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .map(|(_, bin)| bin)
        .expect("no /usr/lib/postgresql/*/bin/pg_ctl: install the `postgresql` package")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args…`, as `postgres` when we are root (PostgreSQL refuses to run as root).
fn as_owner(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

impl PgCluster {
    /// Creates and starts a cluster on a free port.
    pub fn start() -> Self {
        let bin = server_binaries();
        // Short, under /tmp (1777): the socket path DIR/.s.PGSQL.PORT must fit in 107 bytes
        // and `postgres` must reach DIR.
        let dir = tempfile::Builder::new()
            .prefix("dpg")
            .tempdir_in("/tmp")
            .expect("a directory for the cluster");
        if is_root() {
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres").arg(dir.path());
                    c
                },
                "chown postgres",
            );
        }
        let mut initdb = as_owner(&bin.join("initdb"));
        initdb.arg("-D").arg(dir.path().join("data")).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(initdb, "initdb");
        // A port taken between our probe and the start fails at once: try another.
        let mut cluster = Self {
            dir,
            port: free_port(),
            bin,
        };
        for _ in 0..5 {
            if cluster.try_start() {
                return cluster;
            }
            cluster.port = free_port();
        }
        panic!("the cluster does not start: {}", cluster.log());
    }

    fn try_start(&self) -> bool {
        let mut start = as_owner(&self.bin.join("pg_ctl"));
        start
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-s", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                self.port,
                self.dir.path().display()
            ))
            .arg("start");
        start.output().is_ok_and(|o| o.status.success())
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The server log (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Starts it again after a stop or a crash (crash recovery runs first).
    pub fn restart(&self) {
        assert!(self.try_start(), "restart failed: {}", self.log());
    }

    /// `pg_ctl stop -m immediate`: every server process quits at once, without a checkpoint,
    /// as in a crash; connections are cut mid-statement.
    pub fn stop_immediate(&self) {
        let mut stop = as_owner(&self.bin.join("pg_ctl"));
        stop.arg("-D")
            .arg(self.data())
            .args(["-w", "-t", "60", "-s", "-m", "immediate", "stop"]);
        run(stop, "pg_ctl stop");
    }

    /// SIGKILL to the postmaster and each of its children (found by its pid, never by
    /// name), as the OOM killer would; returns once all are gone.
    pub fn kill(&self) {
        let Some(pid) = self.postmaster_pid() else {
            return;
        };
        let children = Command::new("pgrep")
            .args(["-P", &pid.to_string()])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .split_whitespace()
                    .filter_map(|p| p.parse::<u32>().ok())
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        let all: Vec<String> = std::iter::once(pid)
            .chain(children)
            .map(|p| p.to_string())
            .collect();
        let _ = Command::new("kill").arg("-9").args(&all).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline
            && all
                .iter()
                .any(|p| Path::new(&format!("/proc/{p}")).exists())
        {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn postmaster_pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.data().join("postmaster.pid"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        // Only our own cluster's processes, by the pid in its data directory.
        if let Some(pid) = self.postmaster_pid()
            && Path::new(&format!("/proc/{pid}")).exists()
        {
            let mut stop = as_owner(&self.bin.join("pg_ctl"));
            stop.arg("-D").arg(self.data()).args([
                "-w",
                "-t",
                "30",
                "-s",
                "-m",
                "immediate",
                "stop",
            ]);
            let _ = stop.output();
        }
    }
}
