//! Starting `moto_server` (plain, or with `integration-tests/moto/eks_server.py`'s additions)
//! and making clusters on it through the SDK.
//!
//! The binary is `$KUPGRADE_MOTO_SERVER`, or `<repo>/.venv/bin/moto_server` (which
//! `scripts/test` installs); the extended emulator runs with the Python beside it. When it is
//! missing the tests say so and pass without running, unless `KUPGRADE_REQUIRE_MOTO=1` (set by
//! `scripts/test`), where they fail.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_eks::Client;
use aws_sdk_eks::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_eks::types::{NodegroupScalingConfig, NodegroupUpdateConfig, Taint as EksTaint, TaintEffect};
use kupgrade_core::ClusterSnapshot;

/// Which server to start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// `moto_server` as PyPI ships it.
    Moto,
    /// moto plus the version updates it lacks, checked against the botocore model
    /// (`integration-tests/moto/eks_server.py`), with EKS's node-group lag rule in its
    /// user-guide form (`"guide"`) or its API-reference form (`"strict"`).
    Eks {
        /// `"guide"` or `"strict"`.
        lag_rule: &'static str,
    },
}

/// A running server, stopped on drop.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository's root.
fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn moto_path() -> PathBuf {
    match std::env::var_os("KUPGRADE_MOTO_SERVER") {
        Some(p) => PathBuf::from(p),
        None => repo().join(".venv/bin/moto_server"),
    }
}

/// Starts the server, or explains why it cannot (and fails when moto is required).
pub fn start_moto(test: &str, server: Server) -> Option<Moto> {
    let path = moto_path();
    let required = std::env::var("KUPGRADE_REQUIRE_MOTO").is_ok_and(|v| v == "1");
    if !path.exists() {
        let why = format!(
            "{test}: SKIPPED: moto_server not found at {} (run scripts/test, or set KUPGRADE_MOTO_SERVER)",
            path.display()
        );
        assert!(!required, "KUPGRADE_REQUIRE_MOTO=1 but {why}");
        // Straight to stderr, past the test harness's capture, so a skip is never silent.
        let _ = writeln!(std::io::stderr(), "\n*** {why} ***\n");
        return None;
    }
    let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut command = match server {
        Server::Moto => Command::new(&path),
        Server::Eks { lag_rule } => {
            let mut c = Command::new(path.with_file_name("python"));
            c.arg(repo().join("integration-tests/moto/eks_server.py"))
                .args(["--lag-rule", lag_rule]);
            c
        }
    };
    let child = command
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {server:?} from {}: {e}", path.display()));
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
        port,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{server:?} did not listen on port {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(moto)
}

impl Moto {
    /// An HTTP/1.1 request to the server's `/_kupgrade/` test controls; the response body.
    pub fn control(&self, method: &str, path: &str, body: &str) -> String {
        let mut stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).expect("connect");
        write!(
            stream,
            "{method} /_kupgrade/{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}");
        body.to_string()
    }
}

/// An EKS client on the server, with moto's fixed credentials.
pub fn client(moto: &Moto) -> Client {
    let config = aws_sdk_eks::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&moto.url)
        .credentials_provider(Credentials::new("moto", "moto", None, None, "moto"))
        .build();
    Client::from_conf(config)
}

/// The cluster role clusters are created with.
pub const ROLE: &str = "arn:aws:iam::123456789012:role/eks";
/// The node role node groups are created with.
pub const NODE_ROLE: &str = "arn:aws:iam::123456789012:role/node";

/// Creates a cluster and its node groups through the SDK, as the spec says.
pub async fn create(client: &Client, name: &str, spec: &ClusterSnapshot) {
    client
        .create_cluster()
        .name(name)
        .version(format!("1.{}", spec.control_plane.minor()))
        .role_arn(ROLE)
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-a")
                .subnet_ids("subnet-b")
                .build(),
        )
        .send()
        .await
        .expect("create cluster on moto");
    for pool in &spec.node_pools {
        client
            .create_nodegroup()
            .cluster_name(name)
            .nodegroup_name(&pool.name)
            .version(format!("1.{}", pool.version.minor()))
            .node_role(NODE_ROLE)
            .subnets("subnet-a")
            .subnets("subnet-b")
            .instance_types("m6i.large")
            .labels("team", "web")
            .taints(
                EksTaint::builder()
                    .key("dedicated")
                    .value("web")
                    .effect(TaintEffect::NoSchedule)
                    .build(),
            )
            .update_config(NodegroupUpdateConfig::builder().max_unavailable(1).build())
            .scaling_config(
                NodegroupScalingConfig::builder()
                    .min_size(1)
                    .max_size(10)
                    .desired_size(pool.nodes as i32)
                    .build(),
            )
            .send()
            .await
            .expect("create node group on moto");
    }
}
