//! A responder, in headless Chromium driven over WebDriver, logs in,
//! declares an incident through the form and walks it to Closed through
//! the update form, checking the page at each step.
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium
//! chromium-driver`); runs with `--features browser-tests`. Screenshots go to
//! the test's temporary directory, and are copied to `$BROWSER_TEST_SCREENSHOTS`
//! when that variable names a directory (to look at them).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use super::support::{PASSWORD, spawn_app};

/// A chromedriver process on a free port, stopped when dropped.
struct ChromeDriver {
    process: Child,
    url: String,
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

fn program(env: &str, candidates: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(env) {
        return PathBuf::from(p);
    }
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| {
            panic!(
                "{} not found (set {env}); install chromium and chromium-driver",
                candidates[0]
            )
        })
}

impl ChromeDriver {
    async fn start() -> ChromeDriver {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let binary = program(
            "CHROMEDRIVER",
            &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"],
        );
        let process = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = ChromeDriver {
            process,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = reqwest::Client::new();
        while client
            .get(format!("{}/status", driver.url))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    async fn browser(&self, profile: &Path) -> Client {
        let chromium = program(
            "CHROMIUM",
            &[
                "/usr/bin/chromium",
                "/usr/bin/chromium-browser",
                "/usr/bin/google-chrome",
            ],
        );
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--no-first-run",
                    "--disable-dev-shm-usage",
                    "--window-size=1400,1100",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&self.url)
            .await
            .expect("a WebDriver session in Chromium")
    }
}

/// Waits until the element's text satisfies `ok`; returns the last text seen.
async fn wait_for_text(client: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = client.find(Locator::Css(css)).await
            && let Ok(text) = element.text().await
        {
            if ok(&text) {
                return text;
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let url = client
        .current_url()
        .await
        .map(|u| u.to_string())
        .unwrap_or_default();
    panic!("{css} never matched on {url}; last text: {last:?}");
}

async fn screenshot(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    std::fs::write(dir.join(name), &png).expect("write the screenshot");
    if let Some(keep) = std::env::var_os("BROWSER_TEST_SCREENSHOTS") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).expect("screenshot directory");
        std::fs::write(keep.join(name), &png).expect("copy the screenshot");
    }
}

/// Picks `status` in the update form, writes `message`, submits, and checks
/// the page shows the new status and the message on the timeline.
async fn change_status(client: &Client, status: &str, label: &str, message: &str) {
    client
        .find(Locator::Css("#status-select"))
        .await
        .expect("the status select")
        .select_by_value(status)
        .await
        .unwrap_or_else(|e| panic!("{status} is offered: {e}"));
    let textarea = client
        .find(Locator::Css(".status-form textarea[name=message]"))
        .await
        .unwrap();
    textarea.send_keys(message).await.unwrap();
    client
        .find(Locator::Css(".status-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(client, "#current-status", |t| t == label).await;
    let timeline = wait_for_text(client, "#timeline", |t| t.contains(message)).await;
    assert!(
        timeline.contains(label),
        "the timeline records the new status:\n{timeline}"
    );
    wait_for_text(client, ".notice", |t| t.contains("Status updated.")).await;
}

#[tokio::test]
#[cfg_attr(
    not(feature = "browser-tests"),
    ignore = "needs chromium + chromedriver: apt-get install chromium chromium-driver"
)]
async fn a_responder_declares_and_closes_an_incident_in_chromium() {
    let app = spawn_app().await;
    let user = app.user("jane@example.com", false).await;
    let driver = ChromeDriver::start().await;
    let profile = app.dir.path().join("chromium-profile");
    let client = driver.browser(&profile).await;
    let shots = app.dir.path().to_owned();

    // Log in: the dashboard sends us to the login page and back.
    client.goto(&app.url("/")).await.unwrap();
    client
        .wait()
        .for_element(Locator::Css("input[name=email]"))
        .await
        .unwrap();
    screenshot(&client, &shots, "0-login.png").await;
    client
        .find(Locator::Css("input[name=email]"))
        .await
        .unwrap()
        .send_keys(&user.email)
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=password]"))
        .await
        .unwrap()
        .send_keys(PASSWORD)
        .await
        .unwrap();
    client
        .find(Locator::Css(".login-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&client, "h1", |t| t == "Active incidents").await;

    // Declare a P4 in production through the form.
    client
        .find(Locator::LinkText("Declare an incident"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("#declare-form"))
        .await
        .unwrap();
    client
        .find(Locator::Css("input[name=title]"))
        .await
        .unwrap()
        .send_keys("Seller invoices are generated twice")
        .await
        .unwrap();
    client
        .find(Locator::Css("textarea[name=description]"))
        .await
        .unwrap()
        .send_keys("Since the 10:00 deployment every invoice exists twice in the seller area.")
        .await
        .unwrap();
    client
        .find(Locator::Css("select[name=category]"))
        .await
        .unwrap()
        .select_by_value(&app.category())
        .await
        .unwrap();
    client
        .find(Locator::Css("select[name=priority]"))
        .await
        .unwrap()
        .select_by_value(&app.priority("P4"))
        .await
        .unwrap();
    screenshot(&client, &shots, "1-declare.png").await;
    client
        .find(Locator::Css("#declare-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_text(&client, ".notice", |t| t.contains("Incident declared.")).await;
    wait_for_text(&client, "#current-status", |t| t == "Open").await;
    wait_for_text(&client, "h1", |t| {
        t.contains("Seller invoices are generated twice")
    })
    .await;
    let url = client.current_url().await.unwrap();
    assert!(url.path().starts_with("/incident/1/"), "{url}");

    // Walk the lifecycle; a P4 needs neither a post-mortem nor key events.
    change_status(
        &client,
        "investigating",
        "Investigating",
        "Looking at the invoicing job logs",
    )
    .await;
    change_status(
        &client,
        "mitigating",
        "Mitigating",
        "Rolling back the 10:00 deployment",
    )
    .await;
    change_status(
        &client,
        "mitigated",
        "Mitigated",
        "Rollback done, no new duplicate since 10:40",
    )
    .await;
    screenshot(&client, &shots, "2-mitigated.png").await;
    change_status(
        &client,
        "closed",
        "Closed",
        "Duplicates removed, fix planned for tomorrow",
    )
    .await;
    let information =
        wait_for_text(&client, "#information", |t| t.contains("Closure reason")).await;
    assert!(information.contains("Resolved"), "{information}");
    screenshot(&client, &shots, "3-closed.png").await;

    // The list filters through htmx: only the results are replaced, the URL follows.
    app.declare(&user, "Checkout is slow for some customers", "P3", false)
        .await;
    client.goto(&app.url("/incident/")).await.unwrap();
    wait_for_text(&client, "#results", |t| t.contains("of 2")).await;
    let search = client
        .find(Locator::Css("form.filters input[name=search]"))
        .await
        .unwrap();
    search.send_keys("invoices\n").await.unwrap();
    let results = wait_for_text(&client, "#results", |t| t.contains("of 1")).await;
    assert!(
        results.contains("Seller invoices are generated twice")
            && !results.contains("Checkout is slow"),
        "{results}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while !client
        .current_url()
        .await
        .unwrap()
        .as_str()
        .contains("search=invoices")
    {
        assert!(Instant::now() < deadline, "htmx pushes the filtered URL");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        search.attr("name").await.is_ok(),
        "the search field survived: htmx swapped the results, the page was not reloaded"
    );
    screenshot(&client, &shots, "4-list.png").await;
    client.goto(&app.url("/statistics/")).await.unwrap();
    wait_for_text(&client, "#by-priority", |t| t.contains("P4")).await;
    screenshot(&client, &shots, "5-statistics.png").await;

    let incident = app
        .app
        .incident(firefighter::core::IncidentId(1))
        .await
        .unwrap();
    assert_eq!(incident.status, firefighter::core::Status::Closed);
    assert!(shots.join("3-closed.png").exists());
    client.close().await.unwrap();
}
