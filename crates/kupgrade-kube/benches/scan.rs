//! Scan throughput on a generated corpus, against parsing the same bytes with the YAML parser
//! alone. `cargo bench -p kupgrade-kube --bench scan -- [OBJECTS]` (default 100000, ~100 MB).
//!
//! Reports MB/s of both, their ratio (goal >= 0.8) and the peak resident memory (VmHWM), which
//! stays near one file's size because files are read and scanned one at a time.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use kupgrade_core::KubeVersion;
use kupgrade_kube::{DeprecationTable, Scanner};
use serde::Deserialize;

const PER_FILE: usize = 1000;

fn object(i: usize) -> String {
    let api = match i % 10 {
        0 => "extensions/v1beta1",
        1 => "policy/v1beta1",
        _ => "apps/v1",
    };
    let kind = if i % 10 == 1 {
        "PodDisruptionBudget"
    } else {
        "Deployment"
    };
    let mut s = String::new();
    let _ = write!(
        s,
        "---\n# Source: app-{i}/templates/deploy.yaml\napiVersion: {api}\nkind: {kind}\nmetadata:\n  name: app-{i}\n  namespace: team-{}\n  labels:\n    app.kubernetes.io/name: app-{i}\n    app.kubernetes.io/part-of: shop\n    helm.sh/chart: app-1.2.3\n  annotations:\n    deployment.kubernetes.io/revision: \"7\"\nspec:\n  replicas: 3\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/shop/app-{i}:1.2.3\n        ports: [{{containerPort: 8080, name: http}}]\n        env:\n        - {{name: LOG_LEVEL, value: info}}\n        - {{name: DB_URL, valueFrom: {{secretKeyRef: {{name: db, key: url}}}}}}\n        resources:\n          requests: {{cpu: 100m, memory: 128Mi}}\n          limits: {{memory: 256Mi}}\n        readinessProbe:\n          httpGet: {{path: /healthz, port: http}}\n          periodSeconds: 10\n",
        i % 50
    );
    s
}

fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|k| k.parse::<f64>().ok()))
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let objects: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse::<usize>().ok())
        .unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    let mut bytes = 0usize;
    for f in 0..objects.div_ceil(PER_FILE) {
        let mut text = String::new();
        for i in f * PER_FILE..((f + 1) * PER_FILE).min(objects) {
            text.push_str(&object(i));
        }
        bytes += text.len();
        let path: PathBuf = dir.path().join(format!("part-{f:04}.yaml"));
        std::fs::write(&path, text).unwrap();
        files.push(path);
    }
    let mb = bytes as f64 / 1e6;
    let rss_before = peak_rss_mb();

    // The YAML parser alone: every document of every file, read the same way, values ignored.
    let start = Instant::now();
    let mut docs = 0usize;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        for doc in serde_norway::Deserializer::from_str(&text) {
            serde::de::IgnoredAny::deserialize(doc).unwrap();
            docs += 1;
        }
    }
    let parse_secs = start.elapsed().as_secs_f64();

    // The scan.
    // A second argument sets the target (e.g. 1.15: nothing deprecated yet, no findings kept).
    let target = std::env::args()
        .skip(1)
        .rfind(|a| a.contains('.'))
        .unwrap_or_else(|| "1.25".into());
    let scanner = Scanner::new(DeprecationTable::builtin(), KubeVersion::parse(&target).unwrap());
    let start = Instant::now();
    let report = scanner.scan_paths(&[dir.path().to_path_buf()]).unwrap();
    let scan_secs = start.elapsed().as_secs_f64();
    assert_eq!(report.objects, objects);
    assert_eq!(docs, objects);
    if target == "1.25" {
        assert_eq!(report.findings.len(), objects / 10 * 2);
    }

    println!("corpus: {objects} objects, {mb:.1} MB in {} files", files.len());
    println!("yaml parse only: {:.1} MB/s ({parse_secs:.2} s)", mb / parse_secs);
    println!("kupgrade scan:   {:.1} MB/s ({scan_secs:.2} s)", mb / scan_secs);
    println!("ratio scan/parse: {:.2}", parse_secs / scan_secs);
    println!(
        "peak RSS: {:.1} MB (after generating the corpus: {rss_before:.1} MB); findings: {}",
        peak_rss_mb(),
        report.findings.len()
    );
}
