//! The sign-in page under load: how many sign-ins a node completes per second (each
//! an Argon2id check at the default parameters, run off the HTTP workers), and
//! whether its pages keep answering while a flood of wrong passwords keeps every
//! password check busy.
//!
//!     cargo build --release -p ostium && cargo build --release -p ostium-bench --bin sign_in
//!     OSTIUM_BIN=/tmp/ostium-cpu0.sh taskset -c 1 target/release/sign_in --seconds 10
//!
//! (`/tmp/ostium-cpu0.sh` being `exec taskset -c 0 target/release/ostium "$@"`, so
//! the node has one core and this program the other.) One node with the end-to-end
//! harness's standard fixture and browser clients. Phase 1: `--browsers` browsers,
//! each from its own loopback address, sign in again and again through the page
//! (the form posted with its CSRF token, answered 303 with a session) for
//! `--seconds`; it prints sign-ins per second. Phase 2: one browser loads the sign-in
//! page one request after another, idle and then while `--flood` threads post wrong
//! passwords for unknown usernames from 20 other addresses; it prints the page's
//! p50 and p99 in both phases.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use ostium_bench::argument;
use ostium_e2e::browser::{Browser, hidden_field, pkce};
use ostium_e2e::fixture::{PASSWORD, SingleNode, USERNAME, WEB_ID, browser_clients};

/// The sign-in page of an authorization request of the web client, as `browser`
/// gets it (its CSRF cookie set).
fn sign_in_page(browser: &mut Browser, issuer: &str) -> String {
    let (_, challenge) = pkce();
    let url = format!(
        "{issuer}/connect/authorize?client_id={WEB_ID}&response_type=code&scope=openid&\
         redirect_uri=http%3A%2F%2F127.0.0.1%3A8765%2Fcallback&code_challenge={challenge}&\
         code_challenge_method=S256&state=s"
    );
    let page = browser.follow(issuer, &url);
    assert_eq!(page.status, 200, "the sign-in page: {}", page.body);
    page.body
}

fn post(browser: &mut Browser, issuer: &str, page: &str, username: &str, password: &str) -> u16 {
    browser
        .submit(
            issuer,
            "/account/login",
            page,
            &[("username", username), ("password", password)],
        )
        .status
}

fn main() {
    let seconds = argument("--seconds", 10) as u64;
    let browsers = argument("--browsers", 8);
    let flood = argument("--flood", 64);
    let node = SingleNode::start_with("sign-in-bench", "ES256", &browser_clients());
    let issuer = node.issuer.clone();

    // Phase 1: sign-ins per second.
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let signers: Vec<_> = (0..browsers)
        .map(|i| {
            let (stop, done, issuer) = (stop.clone(), done.clone(), issuer.clone());
            thread::spawn(move || {
                let address = IpAddr::V4(Ipv4Addr::new(127, 0, 1, 1 + i as u8));
                let mut browser = Browser::from_address(address);
                let page = sign_in_page(&mut browser, &issuer);
                while !stop.load(Ordering::Relaxed) {
                    let status = post(&mut browser, &issuer, &page, USERNAME, PASSWORD);
                    assert_eq!(status, 303, "a sign-in was refused");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(2));
    let (started, before) = (Instant::now(), done.load(Ordering::Relaxed));
    thread::sleep(Duration::from_secs(seconds));
    let signed_in = done.load(Ordering::Relaxed) - before;
    let rate = signed_in as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for signer in signers {
        signer.join().expect("a signer");
    }

    // Phase 2: the page while every password check is busy.
    let mut reader = Browser::from_address(IpAddr::V4(Ipv4Addr::new(127, 0, 2, 1)));
    let page = sign_in_page(&mut reader, &issuer);
    let return_url = hidden_field(&page, "return_url").expect("a return_url");
    let page_url = format!(
        "{issuer}/account/login?{}",
        form_urlencoded::Serializer::new(String::new())
            .append_pair("return_url", &return_url)
            .finish()
    );
    let load_pages = |reader: &mut Browser| {
        let mut times: Vec<Duration> = (0..200)
            .map(|_| {
                let started = Instant::now();
                assert_eq!(reader.get(&page_url).status, 200);
                started.elapsed()
            })
            .collect();
        times.sort();
        times
    };
    let idle = load_pages(&mut reader);
    let stop = Arc::new(AtomicBool::new(false));
    let guesses = Arc::new(AtomicU64::new(0));
    let flooders: Vec<_> = (0..flood)
        .map(|i| {
            let (stop, guesses, issuer) = (stop.clone(), guesses.clone(), issuer.clone());
            thread::spawn(move || {
                let address = IpAddr::V4(Ipv4Addr::new(127, 0, 3, 1 + (i % 20) as u8));
                let mut browser = Browser::from_address(address);
                let page = sign_in_page(&mut browser, &issuer);
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    post(
                        &mut browser,
                        &issuer,
                        &page,
                        &format!("guess-{i}-{n}"),
                        "wrong",
                    );
                    guesses.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    thread::sleep(Duration::from_secs(2));
    let flooded = load_pages(&mut reader);
    stop.store(true, Ordering::Relaxed);
    for flooder in flooders {
        let _ = flooder.join();
    }

    let millis = |d: Duration| d.as_secs_f64() * 1e3;
    let at = |times: &[Duration], q: f64| {
        millis(times[((times.len() as f64 * q) as usize).min(times.len() - 1)])
    };
    println!("sign-ins through the page, {browsers} browsers, {seconds} s: **{rate:.1}/s**");
    println!("the sign-in page (GET, 200 loads each), idle and under {flood} guessing threads:");
    println!("| phase | p50 ms | p99 ms |");
    println!("|---|---:|---:|");
    println!("| idle | {:.2} | {:.2} |", at(&idle, 0.5), at(&idle, 0.99));
    println!(
        "| flooded | {:.2} | {:.2} |",
        at(&flooded, 0.5),
        at(&flooded, 0.99)
    );
    println!(
        "- wrong passwords answered during the flood: {}",
        guesses.load(Ordering::Relaxed)
    );
}
