//! A headless Chromium driven through ChromeDriver (WebDriver over HTTP), for the tests
//! of the console. Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's
//! `chromium` and `chromium-driver`, which `.ci/run` installs).

#![allow(dead_code)] // each test uses its own part of it

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{free_port_pair, workspace};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
pub const PAGE_TIMEOUT: Duration = Duration::from_secs(20);

/// A ChromeDriver process and one browser session, ended when dropped.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    profile: PathBuf,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn webdriver(method: &str, url: &str, body: Option<&Value>) -> Value {
    let agent = agent();
    let mut response = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, body) => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(
                serde_json::to_vec(body.unwrap_or(&json!({})))
                    .unwrap()
                    .as_slice(),
            ),
    }
    .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let text = response.body_mut().read_to_string().unwrap_or_default();
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if let Some(error) = value["value"].get("error") {
        panic!("{method} {url}: {error}: {}", value["value"]["message"]);
    }
    value["value"].clone()
}

impl Browser {
    pub fn start() -> Browser {
        Browser::start_with(None)
    }

    /// A browser whose home is `home` when given: its NSS database (`home/.pki/nssdb`),
    /// where Chromium on Linux finds trusted CAs and client certificates.
    pub fn start_with(home: Option<&Path>) -> Browser {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: install Debian's chromium and chromium-driver \
                 (apt-get install chromium chromium-driver), as .ci/run does"
            );
        }
        let port = free_port_pair();
        let mut command = Command::new(CHROMEDRIVER);
        if let Some(home) = home {
            command.env("HOME", home);
        }
        let driver = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while agent().get(&format!("{base}/status")).call().is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile =
            std::env::temp_dir().join(format!("xinbao-chromium-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).unwrap();
        let capabilities = json!({
            "capabilities": { "alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {
                    "binary": CHROMIUM,
                    "args": [
                        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                        "--disable-background-networking", "--disable-component-update",
                        "--disable-sync", "--no-first-run", "--window-size=1280,1000",
                        format!("--user-data-dir={}", profile.display()),
                    ],
                },
                "goog:loggingPrefs": { "browser": "ALL" },
            }}
        });
        let session = webdriver("POST", &format!("{base}/session"), Some(&capabilities));
        let session = session["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        Browser {
            driver,
            base,
            session,
            profile,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    pub fn go(&self, url: &str) {
        webdriver("POST", &self.url("/url"), Some(&json!({ "url": url })));
    }

    pub fn run(&self, script: &str) -> Value {
        webdriver(
            "POST",
            &self.url("/execute/sync"),
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Waits until `condition` (a script expression) is true, for at most `timeout`.
    pub fn wait(&self, condition: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.run(&format!("return !!({condition});")) == json!(true) {
                return;
            }
            if Instant::now() > deadline {
                let body = self.run("return document.body.innerText.slice(0, 2000);");
                panic!("{what}: not seen within {timeout:?}; the page shows: {body}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Opens a console page (`#/...`) and waits until it has rendered without an API
    /// error.
    pub fn page(&self, console: &str, route: &str) {
        // A change of the fragment alone does not reload the page: leave it first, so each
        // page starts from a fresh load.
        self.go("about:blank");
        self.go(&format!("{console}#/{route}"));
        self.wait(
            "document.body && document.body.getAttribute('data-ready') === 'true'",
            PAGE_TIMEOUT,
            &format!("page #/{route} ready"),
        );
        let error = self.run(
            "const e = document.getElementById('api-error'); return e ? e.textContent : null;",
        );
        assert_eq!(error, Value::Null, "page #/{route} shows an API error");
        self.assert_no_script_errors(route);
    }

    pub fn text(&self, selector: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            json!(selector)
        );
        match self.run(&script) {
            Value::String(s) => s,
            other => panic!("no element {selector}: {other}"),
        }
    }

    pub fn click(&self, selector: &str) {
        self.run(&format!(
            "document.querySelector({}).click();",
            json!(selector)
        ));
    }

    /// Fails on an error the page caught (`window.__xinbaoErrors`) or one the browser
    /// logged at level SEVERE (a failed script, a refused resource, a CSP violation).
    pub fn assert_no_script_errors(&self, route: &str) {
        let caught = self.run("return window.__xinbaoErrors || [];");
        assert_eq!(caught, json!([]), "script errors on #/{route}");
        let log = webdriver(
            "POST",
            &self.url("/se/log"),
            Some(&json!({ "type": "browser" })),
        );
        let severe: Vec<&Value> = log
            .as_array()
            .map(|entries| entries.iter().filter(|e| e["level"] == "SEVERE").collect())
            .unwrap_or_default();
        assert!(
            severe.is_empty(),
            "the browser logged errors on #/{route}: {severe:?}"
        );
    }

    pub fn screenshot(&self, name: &str) {
        let png = self.run_screenshot();
        let dir = workspace().join("target").join("console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    pub fn run_screenshot(&self) -> Vec<u8> {
        let encoded = webdriver("GET", &self.url("/screenshot"), None);
        base64_decode(encoded.as_str().expect("a screenshot"))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = agent()
            .delete(&format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Standard base64 (what WebDriver returns screenshots in).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a') as u32 + 26,
            b'0'..=b'9' => (c - b'0') as u32 + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = text
        .bytes()
        .filter(|c| *c != b'=' && !c.is_ascii_whitespace())
        .collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        out.push((n >> 16) as u8);
        if chunk.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if chunk.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}
