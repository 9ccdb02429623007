//! A real browser for the dashboard's tests: Debian's `chromedriver` driving headless
//! `chromium`, through the WebDriver protocol (fantoccini). Missing either, a test prints
//! a visible notice and stops; under `CI=true` that is a failure (`.ci/run` installs
//! them). Every wait is on a condition in the page, with a deadline.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

/// A driven browser; chromedriver stops when it is dropped.
pub struct Browser {
    pub client: Client,
    pub runtime: tokio::runtime::Runtime,
    driver: Child,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium, 1280×900, or says why not.
    pub fn start() -> Option<Browser> {
        let chromium =
            ["/usr/bin/chromium", "/usr/bin/chromium-browser"].into_iter().find(|p| std::path::Path::new(p).exists());
        let driver_ok = Command::new("chromedriver").arg("--version").output().is_ok_and(|o| o.status.success());
        let Some(chromium) = chromium.filter(|_| driver_ok) else {
            super::skip_notice(
                "the dashboard's browser tests need chromium and chromedriver (apt-get install chromium chromium-driver)",
            );
            return None;
        };
        let port = super::daemon::reserve_port();
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        // Ready once it says so.
        let (ready, said) = mpsc::channel();
        let stdout = driver.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("started successfully") {
                    let _ = ready.send(());
                }
            }
        });
        said.recv_timeout(Duration::from_secs(30)).expect("chromedriver starts");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
            }),
        );
        let client = runtime
            .block_on(
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(capabilities)
                    .connect(&format!("http://127.0.0.1:{port}")),
            )
            .expect("a browser session");
        Some(Browser { client, runtime, driver })
    }

    pub fn goto(&self, url: &str) {
        self.runtime.block_on(self.client.goto(url)).unwrap();
    }

    /// The page's visible text.
    pub fn text(&self) -> String {
        self.runtime.block_on(async { self.client.find(Locator::Css("body")).await?.text().await }).unwrap()
    }

    pub fn url(&self) -> String {
        self.runtime.block_on(self.client.current_url()).unwrap().to_string()
    }

    /// Waits (20 s at most) for an element, and returns it.
    pub fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.runtime
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(20), self.client.wait().for_element(Locator::Css(css))).await
            })
            .unwrap_or_else(|_| panic!("no `{css}` on {}:\n{}", self.url(), self.text()))
            .unwrap()
    }

    /// Every element matching now.
    pub fn all(&self, css: &str) -> Vec<fantoccini::elements::Element> {
        self.runtime.block_on(self.client.find_all(Locator::Css(css))).unwrap()
    }

    /// The link or button whose text is `text`.
    pub fn by_text(&self, text: &str) -> fantoccini::elements::Element {
        let xpath = format!("//a[normalize-space(.)='{text}'] | //button[normalize-space(.)='{text}']");
        self.runtime
            .block_on(async {
                tokio::time::timeout(Duration::from_secs(20), self.client.wait().for_element(Locator::XPath(&xpath)))
                    .await
            })
            .unwrap_or_else(|_| panic!("no link or button `{text}` on {}:\n{}", self.url(), self.text()))
            .unwrap()
    }

    pub fn click(&self, element: &fantoccini::elements::Element) {
        self.runtime.block_on(element.click()).unwrap();
    }

    /// Clicks, then waits until the page shows `then` (a CSS selector).
    pub fn click_then(&self, element: &fantoccini::elements::Element, then: &str) {
        self.click(element);
        self.find(then);
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let field = self.find(css);
        self.runtime.block_on(field.send_keys(text)).unwrap();
    }

    /// Waits (20 s at most) until the page's text contains `text`.
    pub fn wait_text(&self, text: &str) {
        let xpath = format!("//*[contains(normalize-space(.), \"{text}\")]");
        let found = self.runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(20), self.client.wait().for_element(Locator::XPath(&xpath))).await
        });
        assert!(found.is_ok_and(|f| f.is_ok()), "the page never said `{text}`; it says:\n{}", self.text());
    }

    /// The value of the session cookie.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.runtime.block_on(self.client.get_named_cookie(name)).ok().map(|cookie| cookie.value().to_string())
    }

    /// A PNG of the page as it is now, as `<name>.png`: in the directory that
    /// `STAGECRAFT_SCREENSHOTS` names (the README's pictures are made with
    /// `STAGECRAFT_SCREENSHOTS=$PWD/docs/screenshots cargo test --test it dashboard`), else
    /// in a temporary one. Returns its size in bytes.
    pub fn screenshot(&self, name: &str) -> usize {
        let png = self.runtime.block_on(self.client.screenshot()).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let dir = std::env::var_os("STAGECRAFT_SCREENSHOTS").map(std::path::PathBuf::from).unwrap_or_else(|| {
            let dir = std::env::temp_dir().join("stagecraft-screenshots");
            std::fs::create_dir_all(&dir).unwrap();
            dir
        });
        std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        png.len()
    }
}

/// Where axe-core's script is: `AXE_CORE_JS`, else `target/axe-core/package/axe.min.js`
/// (`.ci/run` puts it there: `npm pack axe-core@4`).
pub fn axe_source() -> Option<String> {
    let path = std::env::var_os("AXE_CORE_JS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe-core/package/axe.min.js"));
    std::fs::read_to_string(path).ok()
}

impl Browser {
    /// axe-core's serious and critical violations on the page as it is now: rule id,
    /// impact, and the first element each names.
    pub fn axe(&self, source: &str) -> Vec<String> {
        self.runtime.block_on(self.client.execute(&format!("{source}\nreturn true;"), vec![])).unwrap();
        let result = self
            .runtime
            .block_on(self.client.execute_async(
                "const done = arguments[arguments.length - 1];\
                 axe.run(document, { resultTypes: ['violations'] }).then(r => done(r.violations.map(v => \
                   v.id + ' (' + v.impact + '): ' + v.help + ' at ' + (v.nodes[0] ? v.nodes[0].target.join(' ') : '?') + ' [' + v.impact + ']')));",
                vec![],
            ))
            .unwrap();
        result
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .filter(|v| v.ends_with("[serious]") || v.ends_with("[critical]"))
            .collect()
    }

    /// Whether the page is wider than the window (a horizontal scroll).
    pub fn overflows(&self) -> bool {
        let wide = self
            .runtime
            .block_on(
                self.client.execute("return document.documentElement.scrollWidth > window.innerWidth + 1;", vec![]),
            )
            .unwrap();
        wide.as_bool().unwrap()
    }

    pub fn resize(&self, width: u32, height: u32) {
        self.runtime.block_on(self.client.set_window_size(width, height)).unwrap();
    }

    /// Presses keys on whatever has the focus.
    pub fn keys(&self, keys: &str) {
        let focused = self.runtime.block_on(self.client.active_element()).unwrap();
        self.runtime.block_on(focused.send_keys(keys)).unwrap();
    }

    /// The focused element's visible text (or its value's label).
    pub fn focused_text(&self) -> String {
        let focused = self.runtime.block_on(self.client.active_element()).unwrap();
        self.runtime.block_on(focused.text()).unwrap()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let client = self.client.clone();
        let _ = self.runtime.block_on(client.close());
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
