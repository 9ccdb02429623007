//! Outbound HTTP (io): the one `reqwest` client configuration that delivery, the API
//! client of `--server` and the tests share: TLS by rustls (ring), no redirects followed
//! (a runtime or daemon that redirects is misconfigured, and a redirect could carry a
//! signed body or a token elsewhere), no Nagle delay.

use std::time::Duration;

/// A new client with stagecraft's settings.
pub fn http_client() -> reqwest::Client {
    // Installing twice is harmless: the first provider stays.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .build()
        .expect("the HTTP client builds with static settings")
}

/// An error with its causes, `: `-joined (reqwest's own message names only the URL).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}
