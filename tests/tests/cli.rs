//! The command line: configuration checks that name what is wrong, and the helpers
//! that print what goes into a configuration file.

use ostium_e2e::{TestDir, run_cli};

const CONFIG: &str = r#"
[server]
issuer = "https://id.example.com"
listen = "127.0.0.1:0"
data_dir = "/tmp/unused"

[[api_scopes]]
name = "orders.read"

[[clients]]
client_id = "storefront"
client_secrets = ["sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"]
allowed_grant_types = GRANTS
allowed_scopes = ["orders.read"]
redirect_uris = ["https://shop.example.com/callback"]
"#;

fn check(grants: &str) -> (bool, String, String) {
    let dir = TestDir::new("cli");
    let file = dir.path().join("ostium.toml");
    std::fs::write(&file, CONFIG.replace("GRANTS", grants)).unwrap();
    let (ok, out, err) = run_cli(&["check-config", file.to_str().unwrap()], None);
    (ok, out, err.replace(file.to_str().unwrap(), "FILE"))
}

#[test]
fn check_config_accepts_every_preset() {
    for preset in [
        "implicit",
        "implicit_and_client_credentials",
        "code",
        "code_and_client_credentials",
        "hybrid",
        "hybrid_and_client_credentials",
        "client_credentials",
        "resource_owner_password",
        "resource_owner_password_and_client_credentials",
        "device_flow",
    ] {
        let (ok, out, err) = check(&format!("\"{preset}\""));
        assert!(ok, "{preset}: {err}");
        assert!(out.contains(": ok (1 client, 0 users)"), "{out}");
    }
}

#[test]
fn check_config_refuses_forbidden_combinations_naming_file_client_and_rule() {
    for (grants, rule) in [
        (
            r#"["implicit", "authorization_code"]"#,
            "`implicit` cannot be combined with `authorization_code`",
        ),
        (
            r#"["implicit", "hybrid"]"#,
            "`implicit` cannot be combined with `hybrid`",
        ),
        (
            r#"["authorization_code", "hybrid", "client_credentials"]"#,
            "`authorization_code` cannot be combined with `hybrid`",
        ),
    ] {
        let (ok, _, err) = check(grants);
        assert!(!ok, "{grants} was accepted");
        assert!(
            err.contains("FILE: client `storefront`: allowed_grant_types:") && err.contains(rule),
            "{grants}: {err}"
        );
    }
}

#[test]
fn hash_secret_prints_a_digest_the_config_accepts() {
    let (ok, out, _) = run_cli(&["hash-secret"], Some("abc\n"));
    assert!(ok);
    assert_eq!(
        out.trim(),
        "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    let (ok, _, err) = run_cli(&["hash-secret"], Some("\n"));
    assert!(!ok);
    assert!(err.contains("must not be empty"), "{err}");
}

#[test]
fn hash_password_prints_an_argon2id_phc_string() {
    let (ok, out, _) = run_cli(&["hash-password", "hunter2"], None);
    assert!(ok);
    assert!(out.starts_with("$argon2id$v=19$"), "{out}");
}
