//! The CLI's words for what the library suggests ([`kupgrade_core::Hint`]): its own flags.
//! Library messages describe a fix without naming any front end's flags; this adds them.

use kupgrade_core::{Error, Finding, Hint, Provider, Setting};

/// The flag advice for `hint`.
fn advice(hint: &Hint) -> Option<String> {
    match hint {
        Hint::Replan { lag_limit: Some(n) } => Some(format!("rerun with --lag-limit {n} --replan")),
        Hint::Replan { lag_limit: None } => {
            Some("pass --replan to plan again from the cluster as it is now".into())
        }
        Hint::RunChecks => Some("see `kupgrade check`".into()),
        Hint::AllowPreview => Some("pass --allow-preview to accept it".into()),
        Hint::Settings(settings) => {
            let flags: Vec<&str> = settings.iter().filter_map(|s| flag(*s)).collect();
            (!flags.is_empty()).then(|| format!("see {}", flags.join(", ")))
        }
        Hint::ScanApis { live: true } => Some("run `kupgrade scan --live`".into()),
        Hint::ScanApis { live: false } => {
            Some("run `kupgrade scan` on your manifests and Helm releases".into())
        }
        _ => None,
    }
}

/// The flag that gives `setting`, if the CLI has one.
fn flag(setting: Setting) -> Option<&'static str> {
    Some(match setting {
        Setting::Cluster => "--cluster",
        Setting::Region => "--region",
        Setting::Profile => "--profile",
        Setting::Subscription => "--subscription",
        Setting::ResourceGroup => "--resource-group",
        Setting::Project => "--project",
        Setting::Location => "--location",
        Setting::Endpoint(Provider::Eks) => "--endpoint-url",
        Setting::Endpoint(Provider::Aks) => "--arm-endpoint",
        Setting::Endpoint(Provider::Gke) => "--endpoint",
        Setting::AnonymousCredentials => "--no-auth",
        Setting::KubeContext => "--context",
        Setting::Kubeconfig => "--kubeconfig",
        Setting::NodeConfigFile => "--node-config FILE",
        Setting::LagLimit => "--lag-limit",
        // Credentials come from the environment and the providers' own logins, which the
        // message names.
        _ => return None,
    })
}

/// `message`, followed by the flag advice for `error`'s hint, if it has one.
pub fn with_advice(message: &str, error: Option<&Error>) -> String {
    match error.and_then(Error::hint).as_ref().and_then(advice) {
        Some(advice) => format!("{message}; {advice}"),
        None => message.to_string(),
    }
}

/// Findings with the flag advice for their hints added to their messages.
pub fn findings_with_advice(findings: &[Finding]) -> Vec<Finding> {
    findings
        .iter()
        .map(|f| {
            let mut f = f.clone();
            if let Some(advice) = f.hint.as_ref().and_then(advice) {
                f.message = format!("{}; {advice}", f.message);
            }
            f
        })
        .collect()
}

/// `err` and its context on one line, down to the first library error: the library's message
/// already says what its causes (an SDK's error) mean, so they are not repeated.
pub fn one_line(err: &anyhow::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    for e in err.chain() {
        let text = e.to_string().replace('\n', " ");
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        if e.downcast_ref::<Error>().is_some() {
            break;
        }
    }
    parts.join(": ")
}

/// The library error somewhere in `err`'s chain, if any.
pub fn core_error(err: &anyhow::Error) -> Option<&Error> {
    err.chain().find_map(|e| e.downcast_ref::<Error>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_hop_gets_the_replan_flags() {
        let e = Error::PoolsMustMatch {
            provider: "Amazon EKS".into(),
            to: "1.31".into(),
            control_plane: "1.30".into(),
            pools: "batch".into(),
            rule: "the API reference's rule".into(),
        };
        let text = with_advice(&e.to_string(), Some(&e));
        assert!(text.ends_with("; rerun with --lag-limit 0 --replan"), "{text}");
        assert_eq!(with_advice("plain", None), "plain");
        let wrapped = anyhow::Error::new(Error::ChecksBlocked(2)).context("upgrading");
        assert!(matches!(core_error(&wrapped), Some(Error::ChecksBlocked(2))));
    }

    #[test]
    fn settings_become_flags_and_sdk_causes_stay_out_of_the_line() {
        let e = Error::not_found("cluster", "prod", "check the cluster name and region")
            .with_hint(Hint::Settings(vec![Setting::Cluster, Setting::Region]))
            .caused_by(kupgrade_core::Cause::new(
                Provider::Eks,
                "DescribeCluster",
                std::io::Error::other("ResourceNotFoundException: No cluster found"),
            ));
        let err = anyhow::Error::new(e).context("reading the cluster");
        let line = with_advice(&one_line(&err), core_error(&err));
        assert_eq!(
            line,
            "reading the cluster: cluster 'prod' not found; check the cluster name and region; see --cluster, --region"
        );
    }
}
