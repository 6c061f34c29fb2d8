//! Load for `scripts/keyring-first-call.sh`: Secret Service clients that each make one
//! connection per lookup, with the first request either `OpenSession` (what
//! `SecretService::connect` does) or the order of the vault's store
//! (`src/key/secret_service.rs`), and a writer that creates and deletes items meanwhile.
//!
//! `keyring_first_call writer N` | `keyring_first_call open-session-first N` |
//! `keyring_first_call store N`: N rounds; prints the round count and the failures seen.
//! Never run it against a real session: the script gives it a private bus and daemon.

#[cfg(target_os = "linux")]
#[path = "../src/key/secret_service.rs"]
#[allow(dead_code, reason = "only the connection is used here")]
mod secret_service;

#[cfg(target_os = "linux")]
fn main() {
    use ::secret_service::EncryptionType;
    use ::secret_service::blocking::SecretService;
    use std::collections::HashMap;

    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_default();
    let rounds: u32 = args.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    let attributes = HashMap::from([("service", "first-call-check"), ("username", "load")]);
    let mut failures: HashMap<String, u32> = HashMap::new();
    let mut fail = |what: String| *failures.entry(what).or_default() += 1;
    let mut done = 0;
    if mode == "writer" {
        // One connection, kept busy: the daemon is then often inside a request when a
        // reader's first request arrives.
        let service = match SecretService::connect(EncryptionType::Dh) {
            Ok(service) => service,
            Err(e) => {
                eprintln!("writer: connect: {e}");
                std::process::exit(1);
            }
        };
        for _ in 0..rounds {
            let created = service.get_default_collection().and_then(|c| {
                c.create_item("load", attributes.clone(), b"x", true, "text/plain")
                    .map(drop)
            });
            if let Err(e) = created {
                fail(format!("create: {e}"));
                break;
            }
            if let Ok(found) = service.search_items(attributes.clone()) {
                for item in found.unlocked {
                    let _ = item.delete();
                }
            }
            done += 1;
        }
    } else {
        for _ in 0..rounds {
            let service = match mode.as_str() {
                "open-session-first" => {
                    SecretService::connect(EncryptionType::Dh).map_err(|e| e.to_string())
                }
                "store" => secret_service::connect(EncryptionType::Dh).map_err(|e| e.to_string()),
                _ => {
                    eprintln!("usage: keyring_first_call writer|open-session-first|store ROUNDS");
                    std::process::exit(2);
                }
            };
            let service = match service {
                Ok(service) => service,
                Err(e) => {
                    fail(format!("connect: {e}"));
                    break;
                }
            };
            match service.search_items(attributes.clone()) {
                Ok(found) => {
                    for item in found.unlocked {
                        let _ = item.get_secret();
                    }
                }
                Err(e) => fail(format!("search: {e}")),
            }
            done += 1;
        }
    }
    println!("{mode}: {done} rounds, failures {failures:?}");
}

#[cfg(not(target_os = "linux"))]
fn main() {
    println!("the Secret Service runs on Linux only");
}
