//! `--provider eks` end to end: the real binary against `moto_server` on 127.0.0.1 with
//! `--endpoint-url` (skipped with a loud note when moto is missing, failing when
//! `KUPGRADE_REQUIRE_MOTO=1`), plus flag errors that need no endpoint.

mod common;

use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::assert_one_line_failure;

struct Moto {
    child: Child,
    url: String,
    python: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto(test: &str) -> Option<Moto> {
    use std::io::Write;
    let path = std::env::var_os("KUPGRADE_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/moto_server"));
    let python = path.with_file_name("python");
    if !path.exists() || !python.exists() {
        let why = format!("{test}: SKIPPED: moto_server not found at {}", path.display());
        assert!(
            std::env::var("KUPGRADE_REQUIRE_MOTO").as_deref() != Ok("1"),
            "KUPGRADE_REQUIRE_MOTO=1 but {why}"
        );
        let _ = writeln!(std::io::stderr(), "\n*** {why} ***\n");
        return None;
    }
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&path)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
        python,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(Instant::now() < deadline, "moto_server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(moto)
}

fn kupgrade(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kupgrade"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "moto")
        .env("AWS_SECRET_ACCESS_KEY", "moto")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .unwrap()
}

#[test]
fn flags_are_checked_before_any_call() {
    let out = kupgrade(&["plan", "--provider", "eks", "--to", "1.31"]);
    assert_one_line_failure(&out, "--provider eks needs --cluster");
    let out = kupgrade(&[
        "plan",
        "--provider",
        "eks",
        "--cluster",
        "prod",
        "--region",
        "us-east-1",
        "--endpoint-url",
        "127.0.0.1:5000",
        "--to",
        "1.31",
    ]);
    assert_one_line_failure(&out, "must start with http://");
}

#[test]
fn plans_a_cluster_on_moto_and_names_an_unknown_one() {
    let Some(moto) = start_moto("plans_a_cluster_on_moto_and_names_an_unknown_one") else {
        return;
    };
    let script = format!(
        r#"
import boto3
eks = boto3.client("eks", region_name="us-east-1", endpoint_url="{url}",
                   aws_access_key_id="moto", aws_secret_access_key="moto")
eks.create_cluster(name="shop", version="1.30", roleArn="arn:aws:iam::123456789012:role/eks",
                   resourcesVpcConfig={{"subnetIds": ["subnet-a"]}})
for name, version in [("general", "1.30"), ("batch", "1.29")]:
    eks.create_nodegroup(clusterName="shop", nodegroupName=name, version=version,
                         nodeRole="arn:aws:iam::123456789012:role/node", subnets=["subnet-a"],
                         scalingConfig={{"minSize": 1, "maxSize": 5, "desiredSize": 2}})
"#,
        url = moto.url
    );
    let made = Command::new(&moto.python).args(["-c", &script]).output().unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));

    let common = [
        "--provider",
        "eks",
        "--region",
        "us-east-1",
        "--endpoint-url",
        &moto.url,
    ];
    let mut args = vec!["plan", "--cluster", "shop", "--to", "1.32", "--output", "json"];
    args.extend(common);
    let out = kupgrade(&args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let actions: Vec<&str> = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        &actions[..2],
        ["upgrade-control-plane", "update-addons"],
        "{actions:?}"
    );
    assert_eq!(
        actions.iter().filter(|a| **a == "update-addons").count(),
        2,
        "{actions:?}"
    );
    assert_eq!(plan["node_rollouts"], 2, "{plan}");

    let mut args = vec!["plan", "--cluster", "nope", "--to", "1.32"];
    args.extend(common);
    assert_one_line_failure(&kupgrade(&args), "cluster 'nope' not found");
}
