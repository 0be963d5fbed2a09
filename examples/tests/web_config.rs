//! The demo's `--web-config-file`: a file it cannot use stops it at start with a message that
//! names the file and the key at fault.

use std::process::Command;

#[test]
fn a_bad_web_config_file_stops_the_demo_naming_the_key() {
    let file = std::env::temp_dir().join(format!("dynamo-demo-web-{}.yml", std::process::id()));
    std::fs::write(
        &file,
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Maybe\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dynamo-demo"))
        .arg("--web-config-file")
        .arg(&file)
        .args(["--port", "0", "--system-port", "0"])
        .env("DYN_HTTP_HOST", "127.0.0.1")
        .env("DYN_GPU_METRICS", "0")
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&file);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "dynamo-demo: web configuration file {}: tls_server_config.client_auth_type: unsupported value \"Maybe\"",
            file.display()
        )),
        "{stderr}"
    );
}
