//! Headless Chromium for the browser test: installed from Debian if missing, run in a
//! process group of its own with a fresh profile, killed with its whole group on drop.

use std::fs::{self, File};
use std::io;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// The browser itself; the `/usr/bin/chromium` wrapper adds flags of its own.
pub const CHROMIUM: &str = "/usr/lib/chromium/chromium";

const SIGKILL: i32 = 9;

unsafe extern "C" {
    fn kill(pid: i32, signal: i32) -> i32;
}

/// Kills a whole process group.
fn kill_group(pgid: u32) {
    if let Ok(pgid) = i32::try_from(pgid) {
        // SAFETY: kill(2) takes any integers; a negative pid names a process group.
        unsafe { kill(-pgid, SIGKILL) };
    }
}

/// Installs Debian's `chromium` package when the browser is missing (the test runs as root).
pub fn ensure_installed() -> Result<(), String> {
    if Path::new(CHROMIUM).exists() {
        return Ok(());
    }
    let apt = |args: &[&str]| -> Result<(), String> {
        let status = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .status()
            .map_err(|e| format!("cannot run apt-get: {e}"))?;
        status.success().then_some(()).ok_or_else(|| format!("apt-get {args:?} failed: {status}"))
    };
    apt(&["update", "-q"])?;
    apt(&["install", "-y", "-q", "--no-install-recommends", "chromium"])?;
    Path::new(CHROMIUM)
        .exists()
        .then_some(())
        .ok_or_else(|| format!("{CHROMIUM} still missing after installing chromium"))
}

pub struct Chromium {
    child: Child,
    profile: PathBuf,
}

impl Chromium {
    /// Opens `url` in headless Chromium with fake camera, microphone and permission
    /// prompts, ICE candidates on loopback allowed, no background networking.
    pub fn launch(url: &str) -> io::Result<Chromium> {
        static LAUNCHES: AtomicU32 = AtomicU32::new(0);
        let profile = std::env::temp_dir().join(format!(
            "jframe-browser-test-{}-{}",
            std::process::id(),
            LAUNCHES.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = fs::remove_dir_all(&profile);
        fs::create_dir_all(&profile)?;
        let log = File::create(profile.join("chromium.log"))?;
        let child = Command::new(CHROMIUM)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--use-fake-device-for-media-stream",
                "--use-fake-ui-for-media-stream",
                "--autoplay-policy=no-user-gesture-required",
                "--allow-loopback-in-peer-connection",
            ])
            .arg(format!("--user-data-dir={}", profile.join("user-data").display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn();
        match child {
            Ok(child) => Ok(Chromium { child, profile }),
            Err(e) => {
                let _ = fs::remove_dir_all(&profile);
                Err(e)
            }
        }
    }

    /// How to end this browser from another thread, when dropping it is not possible.
    pub fn remains(&self) -> Remains {
        Remains { group: self.child.id(), profile: self.profile.clone() }
    }

    /// The last lines Chromium wrote, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = fs::read_to_string(self.profile.join("chromium.log")).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// A browser's process group and profile directory.
pub struct Remains {
    group: u32,
    profile: PathBuf,
}

impl Remains {
    /// Kills the browser's processes and removes its profile.
    pub fn clear(&self) {
        kill_group(self.group);
        let _ = fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        kill_group(self.child.id());
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.profile);
    }
}
