//! Tests of the kubelet flag finder on the shapes node configuration comes in.

use base64::Engine;
use kupgrade_core::NodeConfigSource;

use super::*;

fn flags(text: &str) -> Vec<(String, usize)> {
    flags_in(&NodeConfigSource {
        kind: "File".into(),
        namespace: None,
        name: "t".into(),
        text: text.into(),
    })
    .into_iter()
    .collect()
}

fn names(text: &str) -> Vec<String> {
    flags(text).into_iter().map(|(f, _)| f).collect()
}

#[test]
fn bootstrap_sh_extra_args_count_but_bootstrap_options_do_not() {
    let user_data = "#!/bin/bash\nset -ex\n/etc/eks/bootstrap.sh prod --container-runtime containerd \\\n  --kubelet-extra-args '--keep-terminated-pod-volumes --node-labels=team=a'\n";
    assert_eq!(
        flags(user_data),
        vec![
            ("keep-terminated-pod-volumes".to_string(), 4),
            ("node-labels".to_string(), 4)
        ]
    );
}

#[test]
fn terraform_and_env_files_and_systemd_units() {
    assert_eq!(
        names("bootstrap_extra_args = \"--kubelet-extra-args '--max-pods=20 --cni-bin-dir=/opt/cni'\"\n"),
        vec!["cni-bin-dir", "max-pods"]
    );
    assert_eq!(
        names("KUBELET_EXTRA_ARGS=\"--network-plugin=cni --v=2\"\n"),
        vec!["network-plugin", "v"]
    );
    assert_eq!(
        names(
            "[Service]\nEnvironment=\"KUBELET_ARGS=--container-runtime=remote\"\nExecStart=/usr/bin/kubelet --config=/etc/kubelet.yaml \\\n    --dynamic-config-dir=/var/lib/kubelet/dyn\n"
        ),
        vec!["config", "container-runtime", "dynamic-config-dir"]
    );
    assert!(names("# KUBELET_EXTRA_ARGS=--network-plugin=cni\necho --network-plugin\n").is_empty());
}

#[test]
fn nodeadm_node_config_as_yaml_and_inside_mime_user_data() {
    let node_config = "apiVersion: node.eks.aws/v1alpha1\nkind: NodeConfig\nspec:\n  cluster:\n    name: prod\n  kubelet:\n    flags:\n      - --pod-infra-container-image=registry/pause:3.9\n      - \"--node-labels=a=b\"\n";
    assert_eq!(
        flags(node_config),
        vec![
            ("node-labels".to_string(), 9),
            ("pod-infra-container-image".to_string(), 8)
        ]
    );
    let mime = format!(
        "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\n\n--BOUNDARY\nContent-Type: application/node.eks.aws\n\n{node_config}\n--BOUNDARY--\n"
    );
    assert_eq!(names(&mime), vec!["node-labels", "pod-infra-container-image"]);
}

#[test]
fn kubeadm_extra_args_as_map_and_as_list() {
    let v1beta3 = "apiVersion: kubeadm.k8s.io/v1beta3\nkind: JoinConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n    keep-terminated-pod-volumes: \"true\"\n    node-labels: a=b\n";
    assert_eq!(
        flags(v1beta3),
        vec![
            ("keep-terminated-pod-volumes".to_string(), 5),
            ("node-labels".to_string(), 6)
        ]
    );
    let v1beta4 = "apiVersion: kubeadm.k8s.io/v1beta4\nkind: JoinConfiguration\nnodeRegistration:\n  kubeletExtraArgs:\n    - name: container-runtime\n      value: remote\n";
    assert_eq!(flags(v1beta4), vec![("container-runtime".to_string(), 5)]);
}

#[test]
fn user_data_as_the_ec2_api_returns_it_is_decoded() {
    let plain =
        "#!/bin/bash\n/etc/eks/bootstrap.sh prod --kubelet-extra-args '--keep-terminated-pod-volumes'\n";
    let encoded = base64::engine::general_purpose::STANDARD.encode(plain);
    assert_eq!(names(&encoded), vec!["keep-terminated-pod-volumes"]);
    let object = format!("userData: {encoded}\n");
    assert_eq!(names(&object), vec!["keep-terminated-pod-volumes"]);
}

#[test]
fn only_the_kubelet_part_of_a_shell_line_counts() {
    // The assignment is one quoted word; bootstrap.sh's own option after `&&` is not the
    // kubelet flag.
    assert_eq!(
        names(
            "echo 'KUBELET_EXTRA_ARGS=--node-labels=a' >> /etc/sysconfig/kubelet && /etc/eks/bootstrap.sh prod --container-runtime containerd\n"
        ),
        vec!["node-labels"]
    );
    assert_eq!(
        names(
            "KUBELET_EXTRA_ARGS=\"--max-pods=20\" /etc/eks/bootstrap.sh prod --container-runtime containerd\n"
        ),
        vec!["max-pods"]
    );
    assert_eq!(
        names("export KUBELET_EXTRA_ARGS=--register-schedulable=false; bootstrap --container-runtime x\n"),
        vec!["register-schedulable"]
    );
    assert!(names("MY_KUBELET_ARGS=--network-plugin=cni\n").is_empty());
    assert_eq!(
        names("ExecStart=-/usr/bin/kubelet --cni-bin-dir=/opt/cni/bin\nexec kubelet --runonce\n"),
        vec!["cni-bin-dir", "runonce"]
    );
}

#[test]
fn escaped_quotes_and_list_forms_of_extra_args() {
    assert_eq!(
        names("bootstrap_extra_args = \"--kubelet-extra-args \\\"--max-pods=20 --cni-bin-dir=/opt\\\"\"\n"),
        vec!["cni-bin-dir", "max-pods"]
    );
    assert_eq!(
        names(
            "/etc/eks/bootstrap.sh c --kubelet-extra-args \"--node-labels=\\\"a\\\" --network-plugin=cni\"\n"
        ),
        vec!["network-plugin", "node-labels"]
    );
    assert_eq!(
        names(
            "runcmd:\n  - [/etc/eks/bootstrap.sh, prod, --kubelet-extra-args, '--max-pods=20 --log-dir=/x']\n"
        ),
        vec!["log-dir", "max-pods"]
    );
    assert_eq!(
        names("{\"args\": [\"--kubelet-extra-args\", \"--seccomp-profile-root=/x\"]}\n"),
        vec!["seccomp-profile-root"]
    );
}

#[test]
fn gzip_user_data_base64_mime_parts_and_yaml_inside_cloud_init() {
    use std::io::Write;
    let script =
        "#!/bin/bash\n/etc/eks/bootstrap.sh prod --kubelet-extra-args '--keep-terminated-pod-volumes'\n";
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(script.as_bytes()).unwrap();
    let gzipped = base64::engine::general_purpose::STANDARD.encode(gz.finish().unwrap());
    assert_eq!(names(&gzipped), vec!["keep-terminated-pod-volumes"]);
    let mime = format!(
        "Content-Type: multipart/mixed; boundary=\"B\"\nMIME-Version: 1.0\n\n--B\nContent-Type: text/x-shellscript\nContent-Transfer-Encoding: base64\n\n{}\n--B--\n",
        base64::engine::general_purpose::STANDARD.encode(script)
    );
    assert_eq!(names(&mime), vec!["keep-terminated-pod-volumes"]);
    let cloud_config = "#cloud-config\nwrite_files:\n  - path: /etc/kubeadm/join.yaml\n    content: |\n      apiVersion: kubeadm.k8s.io/v1beta3\n      kind: JoinConfiguration\n      nodeRegistration:\n        kubeletExtraArgs:\n          container-runtime: remote\n";
    assert_eq!(names(cloud_config), vec!["container-runtime"]);
}

#[test]
fn lines_match_whole_flags_outside_comments() {
    let text =
        "# --log-file is gone\nKUBELET_EXTRA_ARGS=--log-file-max-size=1 \nKUBELET_ARGS=--log-file=/x\n";
    assert_eq!(
        flags(text),
        vec![("log-file".to_string(), 3), ("log-file-max-size".to_string(), 2)]
    );
    let nodeadm = "spec:\n  kubelet:   # kubelet settings\n    flags:\n      - --runonce\n";
    assert_eq!(names(nodeadm), vec!["runonce"]);
}

#[test]
fn the_table_parses_and_is_consistent() {
    let table = KubeletFlagTable::builtin();
    assert!(table.entries().len() >= 10);
    for e in table.entries() {
        assert!(!e.source.is_empty() && !e.advice.is_empty(), "{}", e.flag);
        assert!(
            e.removed_in.as_ref().is_none_or(|r| *r >= e.deprecated_in),
            "{}",
            e.flag
        );
        assert!(!e.flag.starts_with('-'), "{}", e.flag);
    }
    assert!(table.get("--keep-terminated-pod-volumes").is_some());
}

#[test]
fn unreadable_files_are_skipped_and_folders_are_walked() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("user-data.sh"),
        "KUBELET_EXTRA_ARGS=--network-plugin=cni\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("blob.bin"), [0xff_u8, 0xfe, 0x00]).unwrap();
    // A file named on the command line must be text.
    let err = read_paths(&[dir.path().join("blob.bin")]).unwrap_err();
    assert!(err.to_string().contains("blob.bin: not UTF-8 text"), "{err}");
    std::fs::create_dir(dir.path().join(".git")).unwrap();
    std::fs::write(dir.path().join(".git/config"), "KUBELET_EXTRA_ARGS=--x").unwrap();
    let sources = read_paths(&[dir.path().to_path_buf()]).unwrap();
    assert_eq!(sources.len(), 1);
    assert!(sources[0].name.ends_with("user-data.sh"));
    let err = read_paths(&[dir.path().join("missing")]).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}
