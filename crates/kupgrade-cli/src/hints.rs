//! The CLI's words for what the library suggests ([`kupgrade_core::Hint`]): its own flags.
//! Library messages describe a fix without naming any front end's flags; this adds them.

use kupgrade_core::{Error, Finding, Hint};

/// The flag advice for `hint`.
fn advice(hint: &Hint) -> Option<String> {
    match hint {
        Hint::Replan { lag_limit: Some(n) } => Some(format!("rerun with --lag-limit {n} --replan")),
        Hint::Replan { lag_limit: None } => {
            Some("pass --replan to plan again from the cluster as it is now".into())
        }
        Hint::RunChecks => Some("see `kupgrade check`".into()),
        Hint::AllowPreview => Some("pass --allow-preview to accept it".into()),
        _ => None,
    }
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
}
