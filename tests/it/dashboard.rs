//! The dashboard in a real browser (headless Chromium through chromedriver) against a
//! running daemon: signing in, the release flow from the draft banner to live and back,
//! and the refusals a viewer or a forged request meets.

use sha2::{Digest, Sha256};

use crate::common::TestRepo;
use crate::common::browser::Browser;
use crate::common::daemon::Daemon;

const ROLES: [&str; 4] = ["viewer", "publisher", "releaser", "admin"];

fn token(role: &str) -> String {
    format!("{role}-dashboard-token")
}

fn config() -> String {
    let mut text = String::from(
        "[repository]\npath = \"repo\"\nidentity = \"stagecraft daemon <daemon@example.com>\"\n[server]\nlisten = \"127.0.0.1:0\"\n",
    );
    for role in ROLES {
        let hash = hex::encode(Sha256::digest(token(role).as_bytes()));
        text.push_str(&format!("[[token]]\nname = \"{role}-ana\"\nsha256 = \"{hash}\"\nrole = \"{role}\"\n"));
    }
    text
}

fn sign_in(browser: &Browser, base: &str, role: &str) {
    browser.goto(&format!("{base}/"));
    browser.find("input#token");
    assert!(browser.url().contains("/login?next="), "reading needs a sign-in: {}", browser.url());
    browser.type_into("input#token", &token(role));
    let submit = browser.find("form[action='/login'] button");
    browser.click_then(&submit, "div.cards");
    browser.wait_text(&format!("{role}-ana ({role})"));
}

/// A POST from outside the browser with the session's cookie.
fn post(base: &str, path: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut request = stagecraft::net::http_client()
            .post(format!("{base}{path}"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(form).unwrap());
        if let Some(cookie) = cookie {
            request = request.header("cookie", format!("stagecraft_session={cookie}"));
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    })
}

#[test]
fn a_release_from_the_draft_banner_to_live_and_back_in_a_browser() {
    let repo = TestRepo::from_example();
    let Some(browser) = Browser::start() else { return };
    repo.commit_file("assistants/support-bot/instructions.md", "Answer in two sentences at most.\n");
    let daemon = Daemon::start(&repo, &config());
    let base = format!("http://{}", daemon.address);
    sign_in(&browser, &base, "releaser");
    // The banner says what is unpublished; Publish goes through its preview.
    browser.wait_text("Draft has unpublished changes");
    browser.screenshot("environments-with-draft");
    let publish = browser.by_text("Publish…");
    browser.click_then(&publish, "div.compare");
    browser.wait_text("This creates v2 on sandbox.");
    browser.wait_text("Answer in two sentences at most.");
    browser.screenshot("publish-preview");
    browser.type_into("input#message", "Shorter answers");
    let apply = browser.by_text("Publish");
    browser.click_then(&apply, "div.notice");
    browser.wait_text("Published v2 on sandbox");
    assert_eq!(
        repo.git(&["log", "-1", "--format=%(trailers:key=Stagecraft-Actor,valueonly)", "sandbox"]).trim(),
        "token:releaser-ana"
    );
    // Promote to pre-release, then to live through the confirmation that names it.
    browser.goto(&format!("{base}/"));
    let promote = browser.by_text("Promote v2 to pre-release…");
    browser.click_then(&promote, "div.compare");
    let apply = browser.by_text("Promote");
    browser.click_then(&apply, "div.notice");
    browser.wait_text("Promoted v2 to pre-release");
    browser.goto(&format!("{base}/"));
    let promote = browser.by_text("Promote v2 to live…");
    browser.click_then(&promote, "label[for=confirm]");
    browser.wait_text("I understand this changes live");
    browser.screenshot("promote-to-live");
    let apply = browser.find("button#apply");
    assert!(!browser.runtime.block_on(apply.is_enabled()).unwrap(), "disabled until the box is ticked");
    let confirm = browser.find("input#confirm");
    browser.click(&confirm);
    browser.click_then(&apply, "div.notice");
    browser.wait_text("Promoted v2 to live");
    assert_eq!(repo.git(&["log", "-1", "--format=%(trailers:key=Stagecraft-Version,valueonly)", "live"]).trim(), "2");
    // Roll live back: v1 again, v2 on hold there.
    browser.goto(&format!("{base}/rollback?environment=live"));
    browser.wait_text("live will run v1 again; v2 goes on hold there.");
    let confirm = browser.find("input#confirm");
    browser.click(&confirm);
    let apply = browser.find("button#apply");
    browser.click_then(&apply, "div.notice");
    browser.wait_text("Rolled live back to v1");
    browser.wait_text("v2 is on hold in live.");
    // History lists it all, each entry linking to its version.
    browser.goto(&format!("{base}/"));
    browser.wait_text("On hold: v2");
    browser.screenshot("environments");
    browser.goto(&format!("{base}/history?environment=live"));
    browser.wait_text("rollback");
    browser.screenshot("history");
    browser.goto(&format!("{base}/versions/v2"));
    browser.wait_text("On hold in: live");
    browser.screenshot("version");
    // Revert v2 on the draft, through the preview of the three-way result.
    let revert = browser.by_text("Revert…");
    browser.click_then(&revert, "div.compare");
    browser.wait_text("The draft loses the changes v2 made");
    browser.wait_text("Answer in two sentences at most.");
    browser.screenshot("revert-preview");
    let apply = browser.by_text("Revert on the draft");
    browser.click_then(&apply, "div.notice");
    browser.wait_text("Reverted v2 on the draft");
    let original =
        std::fs::read_to_string(crate::common::example_repo().join("assistants/support-bot/instructions.md")).unwrap();
    assert_eq!(repo.git(&["show", "draft:assistants/support-bot/instructions.md"]), original);
    browser.goto(&format!("{base}/history?environment=live"));
    browser.wait_text("rollback");
    assert!(!browser.all("a[href='/versions/v2']").is_empty());
    // A POST without the CSRF token is refused, and writes nothing.
    let cookie = browser.cookie("stagecraft_session").expect("the session cookie");
    let before = repo.git(&["rev-parse", "live"]);
    let (status, body) = post(&base, "/rollback", Some(&cookie), &[("environment", "live"), ("confirm", "yes")]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("CSRF"), "{body}");
    assert_eq!(repo.git(&["rev-parse", "live"]), before);
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn a_viewer_sees_no_action_and_a_forged_write_is_refused() {
    let repo = TestRepo::from_example();
    let Some(browser) = Browser::start() else { return };
    repo.commit_file("assistants/support-bot/instructions.md", "Be brief.\n");
    let daemon = Daemon::start(&repo, &config());
    let base = format!("http://{}", daemon.address);
    sign_in(&browser, &base, "viewer");
    browser.wait_text("Draft has unpublished changes");
    for action in ["Publish…", "Delete draft…", "Roll back…"] {
        let xpath = format!("//*[normalize-space(.)='{action}']");
        let found = browser.runtime.block_on(browser.client.find_all(fantoccini::Locator::XPath(&xpath))).unwrap();
        assert!(found.is_empty(), "a viewer is offered {action}");
    }
    assert!(browser.all("a[href^='/promote']").is_empty(), "no Promote for a viewer");
    // Numbers: each environment's phone numbers and SIP headers.
    browser.goto(&format!("{base}/numbers"));
    browser.wait_text("X-Env: sandbox");
    browser.wait_text("X-Route: main");
    browser.screenshot("numbers");
    // The viewer's own session and CSRF token, in a forged publish: 403, nothing written.
    browser.goto(&format!("{base}/history"));
    let csrf = browser.runtime.block_on(browser.find("input[name=csrf]").attr("value")).unwrap().unwrap();
    let cookie = browser.cookie("stagecraft_session").unwrap();
    let before = repo.git(&["rev-parse", "sandbox"]);
    let (status, body) = post(&base, "/publish", Some(&cookie), &[("csrf", &csrf), ("message", "forged")]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("Your role, viewer, may not do this"), "{body}");
    assert_eq!(repo.git(&["rev-parse", "sandbox"]), before, "nothing written");
    // The preview page itself is refused too.
    browser.goto(&format!("{base}/publish"));
    browser.wait_text("This needs the publisher role.");
    // A tampered cookie is no session at all.
    let (status, _) = post(&base, "/publish", Some(&format!("{cookie}x")), &[("csrf", &csrf)]);
    assert_eq!(status, 403);
    // Signing out ends the session.
    let sign_out = browser.by_text("Sign out");
    browser.click_then(&sign_out, "input#token");
    browser.goto(&format!("{base}/history"));
    browser.find("input#token");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn editing_a_file_in_the_browser_commits_it_as_the_signed_in_token_and_refusals_keep_the_text() {
    let repo = TestRepo::from_example();
    let Some(browser) = Browser::start() else { return };
    let daemon = Daemon::start(&repo, &config());
    let base = format!("http://{}", daemon.address);
    sign_in(&browser, &base, "publisher");
    let edit = |path: &str, text: &str| {
        browser.goto(&format!("{base}/edit?path={path}"));
        let area = browser.find("textarea#text");
        browser.runtime.block_on(area.clear()).unwrap();
        browser.runtime.block_on(area.send_keys(text)).unwrap();
    };
    // Instructions with markup in them: previewed as Markdown, any HTML shown as text.
    edit("assistants/support-bot/instructions.md", "# Support\n\nBe **brief**. <script>alert(1)</script>\n");
    let preview = browser.by_text("Preview");
    browser.click_then(&preview, "div.card strong");
    assert!(browser.text().contains("<script>alert(1)</script>"), "shown as text, never run");
    browser.screenshot("edit-instructions");
    let save = browser.find("button#save");
    browser.click_then(&save, "div.notice");
    browser.wait_text("Saved assistants/support-bot/instructions.md to the draft");
    let log = repo.git(&[
        "log",
        "-1",
        "--format=%an|%(trailers:key=Stagecraft-Action,valueonly)|%(trailers:key=Stagecraft-Actor,valueonly)",
        "draft",
    ]);
    assert_eq!(log.replace('\n', ""), "publisher-ana|edit|token:publisher-ana", "{log}");
    assert!(repo.git(&["show", "draft:assistants/support-bot/instructions.md"]).contains("<script>alert(1)</script>"));
    let history = repo.stagecraft(&["history", "draft", "--json"]).success().json();
    assert_eq!(
        (history["entries"][0]["action"].as_str(), history["entries"][0]["actor"].as_str()),
        (Some("edit"), Some("token:publisher-ana"))
    );
    // A file that does not validate: not saved, the findings beside the user's text.
    let tip = repo.git(&["rev-parse", "draft"]);
    edit("assistants/support-bot/assistant.toml", "name = \"Support\"\nmodel = 7\n");
    let save = browser.find("button#save");
    browser.click_then(&save, "ul.findings");
    browser.wait_text("assistants/support-bot/assistant.toml:2:");
    let kept = browser.runtime.block_on(browser.find("textarea#text").prop("value")).unwrap().unwrap();
    assert_eq!(kept, "name = \"Support\"\nmodel = 7\n", "the text is kept");
    browser.screenshot("edit-refused");
    assert_eq!(repo.git(&["rev-parse", "draft"]), tip, "nothing written");
    // The draft moves while the editor is open: a conflict that keeps the text.
    edit("assistants/restaurant-booking/instructions.md", "Greet callers in Italian first.\n");
    repo.commit_file("assistants/restaurant-booking/assistant.toml", &{
        let text = std::fs::read_to_string(repo.root.join("assistants/restaurant-booking/assistant.toml")).unwrap();
        text.replace("temperature = 0.5", "temperature = 0.4")
    });
    let moved = repo.git(&["rev-parse", "draft"]);
    let save = browser.find("button#save");
    browser.click_then(&save, "div.compare");
    browser.wait_text("the draft moved since you opened this file");
    browser.wait_text("model.temperature 0.5 → 0.4");
    let kept = browser.runtime.block_on(browser.find("textarea#text").prop("value")).unwrap().unwrap();
    assert_eq!(kept, "Greet callers in Italian first.\n");
    assert_eq!(repo.git(&["rev-parse", "draft"]), moved, "nothing written");
    // Saving again writes on the draft as it is now.
    let save = browser.find("button#save");
    browser.click_then(&save, "div.notice");
    assert_eq!(
        repo.git(&["show", "draft:assistants/restaurant-booking/instructions.md"]),
        "Greet callers in Italian first.\n"
    );
    // A 2 MB paste: over the limit, a clear page, nothing written.
    let cookie = browser.cookie("stagecraft_session").unwrap();
    let csrf = browser.runtime.block_on(browser.find("input[name=csrf]").attr("value")).unwrap().unwrap();
    let before = repo.git(&["rev-parse", "draft"]);
    let huge = "x".repeat(2 * 1024 * 1024);
    let (status, body) = post(
        &base,
        "/edit",
        Some(&cookie),
        &[("csrf", &csrf), ("path", "assistants/support-bot/instructions.md"), ("text", &huge)],
    );
    assert_eq!(status, 413, "{}", &body[..200.min(body.len())]);
    assert!(body.contains("over the size limit"), "{body}");
    assert_eq!(repo.git(&["rev-parse", "draft"]), before);
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn chat_streams_replies_and_the_test_suite_runs_from_the_browser() {
    let repo = TestRepo::from_example();
    let Some(browser) = Browser::start() else { return };
    let llm = crate::common::llm::Llm::start(crate::suites::example_script());
    let daemon = Daemon::start(&repo, &format!("{}[test]\nendpoint = \"{}\"\n", config(), llm.endpoint));
    let base = format!("http://{}", daemon.address);
    sign_in(&browser, &base, "publisher");
    browser.goto(&format!("{base}/chat?env=sandbox&assistant=restaurant-booking"));
    browser.type_into("input#message", "Hi, I'd like a table for four this Friday at seven thirty.");
    let send = browser.by_text("Send");
    browser.click(&send);
    browser.wait_text("assistant: Friday at 19:30 is free. May I have your name?");
    browser.wait_text("tool check_availability");
    // The second turn carries the first (the script answers it only after a name).
    browser.type_into("input#message", "It's Rossi, and my number is +1 415 555 0123.");
    browser.click(&send);
    browser.wait_text("assistant: A table for four under Rossi, Friday at 19:30. Is that right?");
    let last = llm.requests("/v1/chat/completions").pop().unwrap();
    assert_eq!(last["messages"].as_array().unwrap().len(), 4, "system, user, assistant, user: {last}");
    browser.screenshot("chat");
    // The suite of sandbox, recorded on v1.
    browser.goto(&format!("{base}/test"));
    let env = browser.find("select#env option[value=sandbox]");
    browser.click(&env);
    let run = browser.by_text("Run the test suite");
    browser.click_then(&run, "table");
    browser.wait_text("sandbox (v1): 6 passed, 0 failed, 0 not run");
    browser.wait_text("recorded: tests: 6/6 passed in sandbox");
    browser.screenshot("test");
    assert_eq!(daemon.stop(), 0);
}

/// WebDriver's codes of the keys pressed.
const TAB: &str = "\u{e004}";
const ENTER: &str = "\u{e007}";
const SPACE: &str = "\u{e00d}";

/// Tabs until the focused control's text is `text` (at most 60 presses).
fn tab_to(browser: &Browser, text: &str) {
    for _ in 0..60 {
        if browser.focused_text().trim() == text {
            return;
        }
        browser.keys(TAB);
    }
    panic!("no control `{text}` reachable with Tab on {}", browser.url());
}

#[test]
fn every_page_passes_axe_fits_360_px_and_the_release_flow_works_from_the_keyboard() {
    let repo = TestRepo::from_example();
    let Some(browser) = Browser::start() else { return };
    let Some(axe) = crate::common::browser::axe_source() else {
        crate::common::skip_notice("axe-core (npm pack axe-core@4 into target/axe-core/, as .ci/run does)");
        return;
    };
    let llm = crate::common::llm::Llm::start(crate::suites::example_script());
    repo.commit_file("assistants/support-bot/instructions.md", "Be brief.\n");
    let daemon = Daemon::start(&repo, &format!("{}[test]\nendpoint = \"{}\"\n", config(), llm.endpoint));
    let base = format!("http://{}", daemon.address);
    browser.goto(&format!("{base}/login"));
    browser.find("input#token");
    assert_eq!(browser.axe(&axe), Vec::<String>::new(), "the sign-in page");
    sign_in(&browser, &base, "admin");
    // The release flow with the keyboard alone: Tab to a control, Enter (Space ticks a box).
    browser.goto(&format!("{base}/"));
    tab_to(&browser, "Publish…");
    browser.keys(ENTER);
    browser.find("input#message");
    tab_to(&browser, "");
    browser.type_into("input#message", "from the keyboard");
    browser.keys(ENTER);
    browser.wait_text("Published v2 on sandbox");
    browser.goto(&format!("{base}/"));
    tab_to(&browser, "Promote v2 to pre-release…");
    browser.keys(ENTER);
    browser.find("button#apply");
    tab_to(&browser, "Promote");
    browser.keys(ENTER);
    browser.wait_text("Promoted v2 to pre-release");
    browser.goto(&format!("{base}/"));
    tab_to(&browser, "Promote v2 to live…");
    browser.keys(ENTER);
    browser.find("input#confirm");
    let confirm = browser.find("input#confirm");
    browser.runtime.block_on(confirm.send_keys(SPACE)).unwrap();
    tab_to(&browser, "Promote");
    browser.keys(ENTER);
    browser.wait_text("Promoted v2 to live");
    // Every page: no serious or critical axe violation, and no sideways scroll at 360 px.
    let pages = [
        "/",
        "/history",
        "/versions/v2",
        "/compare?from=v1&to=v2",
        "/publish",
        "/promote?version=v2&to=live",
        "/rollback?environment=live",
        "/revert?version=v2",
        "/numbers",
        "/edit",
        "/edit?path=assistants/support-bot/instructions.md",
        "/chat?env=sandbox&assistant=support-bot",
        "/test",
    ];
    repo.commit_file("assistants/support-bot/instructions.md", "Be brief and kind.\n");
    for width in [1280, 360] {
        browser.resize(width, 900);
        for path in pages {
            browser.goto(&format!("{base}{path}"));
            browser.find("main h1");
            assert_eq!(browser.axe(&axe), Vec::<String>::new(), "{path} at {width} px");
            assert!(!browser.overflows(), "{path} scrolls sideways at {width} px");
        }
    }
    browser.goto(&format!("{base}/compare?from=v1&to=draft"));
    browser.find("div.compare");
    browser.screenshot("compare-narrow");
    assert_eq!(daemon.stop(), 0);
}

#[test]
fn settings_a_new_assistant_and_a_deletion_from_the_browser() {
    let repo = TestRepo::from_example();
    let Some(browser) = Browser::start() else { return };
    let daemon = Daemon::start(&repo, &config());
    let base = format!("http://{}", daemon.address);
    sign_in(&browser, &base, "publisher");
    // The common settings: a form that keeps the file's other keys and comments.
    browser.goto(&format!("{base}/edit/settings?assistant=support-bot"));
    let temperature = browser.find("input#temperature");
    browser.runtime.block_on(temperature.clear()).unwrap();
    browser.runtime.block_on(temperature.send_keys("0.6")).unwrap();
    browser.screenshot("edit-settings");
    let save = browser.find("button#save");
    browser.click_then(&save, "div.notice");
    browser.wait_text("support-bot: model.temperature 0.3 → 0.6");
    let toml = repo.git(&["show", "draft:assistants/support-bot/assistant.toml"]);
    assert!(toml.contains("temperature = 0.6") && toml.contains("[settings]"), "{toml}");
    // A new assistant from the template, valid at once.
    browser.goto(&format!("{base}/edit"));
    browser.type_into("input#id", "front-desk");
    let create = browser.by_text("Create from the template");
    browser.click_then(&create, "div.notice");
    browser.wait_text("Created front-desk on the draft");
    repo.stagecraft(&["validate", "draft"]).success();
    // Deleting one needs the confirmation; restaurant-booking has numbers, so the draft
    // would not validate: refused with the finding, nothing written.
    browser.goto(&format!("{base}/edit?assistant=front-desk"));
    let delete = browser.find("button#delete");
    assert!(!browser.runtime.block_on(delete.is_enabled()).unwrap(), "disabled until confirmed");
    let confirm = browser.find("input#confirm");
    browser.click(&confirm);
    browser.click_then(&delete, "div.notice");
    browser.wait_text("Deleted front-desk from the draft");
    assert!(!repo.git(&["ls-tree", "-r", "--name-only", "draft"]).contains("front-desk"));
    let tip = repo.git(&["rev-parse", "draft"]);
    browser.goto(&format!("{base}/edit?assistant=restaurant-booking"));
    let confirm = browser.find("input#confirm");
    browser.click(&confirm);
    let delete = browser.find("button#delete");
    browser.click_then(&delete, "div.problem");
    browser.wait_text("channels.toml");
    assert_eq!(repo.git(&["rev-parse", "draft"]), tip, "nothing written");
    assert_eq!(daemon.stop(), 0);
}

fn get(url: &str, cookie: Option<&str>) -> (u16, reqwest::header::HeaderMap, String) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let mut request = stagecraft::net::http_client().get(url);
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        (status, headers, response.text().await.unwrap())
    })
}

/// Without a browser: the headers of every page, public reading, and markup in the
/// configuration shown as text.
#[test]
fn pages_carry_strict_headers_escape_what_they_show_and_public_read_opens_reading_only() {
    let repo = TestRepo::from_example();
    let hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>";
    repo.commit_file("assistants/support-bot/instructions.md", &format!("{hostile}\n"));
    let daemon = Daemon::start(&repo, &config().replace("[server]\n", "[server]\npublic_read = true\n"));
    let base = format!("http://{}", daemon.address);
    for path in ["/", "/history", "/compare?from=sandbox&to=draft", "/numbers", "/versions/v1", "/login"] {
        let (status, headers, body) = get(&format!("{base}{path}"), None);
        assert_eq!(status, 200, "{path} reads without a sign-in with public_read: {body}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(
            csp.contains("script-src 'self'")
                && !csp.contains("unsafe-inline")
                && csp.contains("frame-ancestors 'none'"),
            "{csp}"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["x-frame-options"], "DENY");
        assert!(headers.contains_key("referrer-policy"));
        assert!(!body.contains("<script>alert") && !body.contains("<img src=x"), "{path} shows markup as text");
        assert!(!body.contains("Publish…") && !body.contains("/promote?"), "{path}: no action without a sign-in");
    }
    let (_, _, compare) = get(&format!("{base}/compare?from=sandbox&to=draft"), None);
    assert!(compare.contains("&lt;script&gt;alert('x')&lt;/script&gt;"), "escaped in the comparison");
    // Writing still needs a session.
    let (status, _) = post(&base, "/publish", None, &[("csrf", "")]);
    assert_eq!(status, 403);
    let (status, _, _) = get(&format!("{base}/edit"), None);
    assert_eq!(status, 403, "the editor needs a publisher");
    assert_eq!(daemon.stop(), 0);
}

/// Without a browser: a write posted after the session ended does nothing and leads,
/// through the sign-in, back to its preview with the description filled in again.
#[test]
fn a_write_posted_after_the_session_ended_comes_back_to_its_preview_with_the_description() {
    let repo = TestRepo::from_example();
    repo.commit_file("assistants/support-bot/instructions.md", "Be brief.\n");
    let daemon = Daemon::start(&repo, &config());
    let base = format!("http://{}", daemon.address);
    let sandbox = repo.git(&["rev-parse", "sandbox"]);
    let fields = [("csrf", "from-the-old-session"), ("message", "Shorter answers & <b>fewer</b> words")];
    let (status, page) = post(&base, "/publish", Some("expired.session"), &fields);
    assert_eq!(status, 403);
    assert!(page.contains("nothing was done"), "{page}");
    assert_eq!(repo.git(&["rev-parse", "sandbox"]), sandbox, "nothing written");
    let next = "/publish?message=Shorter+answers+%26+%3Cb%3Efewer%3C%2Fb%3E+words";
    let link = format!("/login?{}", serde_urlencoded::to_string([("next", next)]).unwrap());
    assert!(page.contains(&format!("href=\"{}\"", link.replace('&', "&amp;"))), "{link} in {page}");
    // Signing in returns to the preview, whose description holds the text again.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (location, cookie) = runtime.block_on(async {
        let response = stagecraft::net::http_client()
            .post(format!("{base}/login"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string([("token", token("publisher").as_str()), ("next", next)]).unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        let location = response.headers()["location"].to_str().unwrap().to_string();
        let cookie = response.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_string();
        (location, cookie)
    });
    assert_eq!(location, next);
    let (status, _, preview) = get(&format!("{base}{location}"), Some(&cookie));
    assert_eq!(status, 200, "{preview}");
    assert!(preview.contains("value=\"Shorter answers &amp; &lt;b&gt;fewer&lt;/b&gt; words\""), "{preview}");
    assert_eq!(daemon.stop(), 0);
}
