//! Headless Chromium driven through the DevTools protocol (CDP), for checks that need a
//! real browser: does a page play a file, what does a script on it return.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! let site = FileServer::start(std::path::Path::new("/tmp/site"))?;
//! let browser = Browser::launch(std::path::Path::new("/tmp/chromium.log"))?;
//! let mut page = browser.new_page()?;
//! page.navigate(&site.url("index.html"))?;
//! let title = page.evaluate("document.title")?;
//! page.screenshot(std::path::Path::new("/tmp/page.png"))?;
//! # Ok(()) }
//! ```
//!
//! [`Browser::launch`] starts `/usr/bin/chromium --headless=new` with a fresh profile and
//! `--remote-debugging-port=0`, reads the port from the profile's `DevToolsActivePort`, and
//! talks to it over one WebSocket ([`ws`]); each [`Page`] is a target attached in flat
//! mode (its commands carry a `sessionId`). Dropping the browser kills its processes by
//! pid and removes the profile. Pages are served by [`FileServer`] over HTTP (not
//! `file://`, where media and `fetch` behave differently).
mod serve;
mod ws;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use crate::util::{ChildGuard, descendants, tail};
pub use serve::FileServer;
use ws::WebSocket;

/// Debian's Chromium (package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long Chromium may take to start and write `DevToolsActivePort`.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one DevTools command may take (an `evaluate` awaiting a promise included).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a navigation may take to reach `document.readyState == "complete"`.
const LOAD_TIMEOUT: Duration = Duration::from_secs(60);

/// The DevTools connection, shared by the browser and its pages.
struct Connection {
    socket: WebSocket,
    next_id: u64,
}

impl Connection {
    /// Sends `method` (to a page's session, or to the browser) and waits for its answer;
    /// events and other answers that arrive meanwhile are dropped.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Result<Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket.send_text(&message.to_string())?;
        let deadline = Instant::now() + COMMAND_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            ensure!(
                !left.is_zero(),
                "DevTools {method}: no answer within {COMMAND_TIMEOUT:?}"
            );
            let Some(text) = self.socket.read_text(left)? else {
                continue;
            };
            let answer: Value = serde_json::from_str(&text)
                .with_context(|| format!("DevTools sent bad JSON: {text:.200}"))?;
            if answer["id"] != json!(id) {
                continue;
            }
            if let Some(error) = answer.get("error") {
                bail!("DevTools {method} failed: {error}");
            }
            return Ok(answer["result"].clone());
        }
    }
}

/// A headless Chromium process with a temporary profile; killed by pid when dropped.
pub struct Browser {
    child: ChildGuard,
    profile: PathBuf,
    conn: Rc<RefCell<Connection>>,
}

impl Browser {
    /// Starts headless Chromium (autoplay without a user gesture, audio muted at the
    /// output), its stderr going to `log`, and connects to it.
    pub fn launch(log: &Path) -> Result<Self> {
        ensure!(
            Path::new(CHROMIUM).is_file(),
            "{CHROMIUM} is missing; install it with: apt-get install -y chromium"
        );
        let profile = std::env::temp_dir().join(format!(
            "xtask-chromium-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&profile)
            .with_context(|| format!("cannot create {}", profile.display()))?;
        let log_file = std::fs::File::create(log)
            .with_context(|| format!("cannot create {}", log.display()))?;
        let child = Command::new(CHROMIUM)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--remote-debugging-port=0",
                "--autoplay-policy=no-user-gesture-required",
                "--mute-audio",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--window-size=800,600",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("cannot start {CHROMIUM}"))?;
        let mut child = ChildGuard::new(child);
        let port_file = profile.join("DevToolsActivePort");
        let started = Instant::now();
        let text = loop {
            // Chromium writes the file once it listens; it may be seen half written.
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && text.lines().count() >= 2
            {
                break text;
            }
            if let Some(status) = child.try_wait()? {
                bail!(
                    "chromium exited ({status}) before listening; its log:\n{}",
                    tail(log, 20)
                );
            }
            ensure!(
                started.elapsed() < START_TIMEOUT,
                "chromium wrote no {} within {START_TIMEOUT:?}; its log:\n{}",
                port_file.display(),
                tail(log, 20)
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut lines = text.lines();
        let port: u16 = lines
            .next()
            .and_then(|l| l.trim().parse().ok())
            .with_context(|| format!("bad DevToolsActivePort: {text:?}"))?;
        let path = lines.next().unwrap_or("").trim().to_string();
        let socket = WebSocket::connect(port, &path).context("DevTools websocket")?;
        Ok(Self {
            child,
            profile,
            conn: Rc::new(RefCell::new(Connection { socket, next_id: 0 })),
        })
    }

    /// The browser's version line (`Browser.getVersion`'s `product`, e.g. `Chrome/120.0`).
    pub fn version(&self) -> Result<String> {
        let v = self
            .conn
            .borrow_mut()
            .call(None, "Browser.getVersion", json!({}))?;
        Ok(v["product"].as_str().unwrap_or("?").to_string())
    }

    /// Opens a blank tab and attaches to it.
    pub fn new_page(&self) -> Result<Page> {
        let mut conn = self.conn.borrow_mut();
        let target = conn.call(None, "Target.createTarget", json!({ "url": "about:blank" }))?;
        let target_id = target["targetId"]
            .as_str()
            .context("Target.createTarget returned no targetId")?;
        let attached = conn.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        )?;
        let session = attached["sessionId"]
            .as_str()
            .context("Target.attachToTarget returned no sessionId")?
            .to_string();
        conn.call(Some(&session), "Page.enable", json!({}))?;
        conn.call(Some(&session), "Runtime.enable", json!({}))?;
        drop(conn);
        Ok(Page {
            conn: Rc::clone(&self.conn),
            session,
        })
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The renderer, GPU and zygote processes first, then the browser itself.
        for pid in descendants(self.child.id()) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
        self.child.kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One tab of a [`Browser`].
pub struct Page {
    conn: Rc<RefCell<Connection>>,
    session: String,
}

impl Page {
    fn call(&self, method: &str, params: Value) -> Result<Value> {
        self.conn
            .borrow_mut()
            .call(Some(&self.session), method, params)
    }

    /// Loads `url` (written as the browser shows it in `location.href`) and waits until
    /// that document has loaded (`readyState` complete; not the one it replaces).
    pub fn navigate(&mut self, url: &str) -> Result<()> {
        let nav = self.call("Page.navigate", json!({ "url": url }))?;
        if let Some(error) = nav["errorText"].as_str() {
            bail!("cannot load {url}: {error}");
        }
        let loaded = format!(
            "document.readyState === 'complete' && location.href === {}",
            json!(url)
        );
        let started = Instant::now();
        loop {
            if self.evaluate(&loaded)? == json!(true) {
                return Ok(());
            }
            ensure!(
                started.elapsed() < LOAD_TIMEOUT,
                "{url} did not finish loading within {LOAD_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Evaluates `js` in the page, awaits it if it is a promise, and returns its value as
    /// JSON; a thrown exception or a rejected promise is an error with its message.
    pub fn evaluate(&mut self, js: &str) -> Result<Value> {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": js, "awaitPromise": true, "returnByValue": true }),
        )?;
        if let Some(exception) = result.get("exceptionDetails") {
            let message = exception["exception"]["description"]
                .as_str()
                .or_else(|| exception["text"].as_str())
                .unwrap_or("unknown exception");
            bail!("the page threw: {message}");
        }
        Ok(result["result"]["value"].clone())
    }

    /// Saves a PNG of the page's viewport to `path`.
    pub fn screenshot(&mut self, path: &Path) -> Result<()> {
        let shot = self.call("Page.captureScreenshot", json!({ "format": "png" }))?;
        let data = shot["data"]
            .as_str()
            .context("Page.captureScreenshot returned no data")?;
        let png = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, data)
            .context("the screenshot is not base64")?;
        ensure!(
            png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "the screenshot is not a PNG"
        );
        std::fs::write(path, png).with_context(|| format!("cannot write {}", path.display()))
    }
}
