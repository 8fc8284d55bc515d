//! Where EC2 calls go: the EC2 endpoint rule set (`endpoint-rule-set-1.json` of the EC2 service
//! model, 2016-11-15) over AWS's partition table, both as the AWS SDKs ship them
//! (`aws-sdk-ec2` 1.274 and botocore agree). The rule set's own test cases
//! (`tests/data/ec2-endpoint-tests.json`) are checked against [`resolve`] below.

use kupgrade_core::{Error, Hint, Provider, Result, Setting};

/// An AWS partition: which regions it holds and the DNS suffixes of its endpoints.
struct Partition {
    /// `aws`, `aws-cn`, ...
    id: &'static str,
    /// Whether `region` belongs here (the partition table's `regionRegex`).
    holds: fn(&str) -> bool,
    dns_suffix: &'static str,
    dual_stack_dns_suffix: &'static str,
    supports_dual_stack: bool,
}

/// `^{prefix}\w+-\d+$`: a region named `{prefix}<word>-<number>`.
fn named(region: &str, prefix: &str) -> bool {
    let Some(rest) = region.strip_prefix(prefix) else {
        return false;
    };
    let Some((word, number)) = rest.rsplit_once('-') else {
        return false;
    };
    !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !number.is_empty()
        && number.chars().all(|c| c.is_ascii_digit())
}

/// The partition table, first match wins; a region no partition holds is in `aws` (the
/// `aws.partition` function's rule).
const PARTITIONS: [Partition; 5] = [
    Partition {
        id: "aws",
        holds: |r| {
            ["us-", "eu-", "ap-", "sa-", "ca-", "me-", "af-"]
                .iter()
                .any(|p| named(r, p))
        },
        dns_suffix: "amazonaws.com",
        dual_stack_dns_suffix: "api.aws",
        supports_dual_stack: true,
    },
    Partition {
        id: "aws-us-gov",
        holds: |r| named(r, "us-gov-"),
        dns_suffix: "amazonaws.com",
        dual_stack_dns_suffix: "api.aws",
        supports_dual_stack: true,
    },
    Partition {
        id: "aws-cn",
        holds: |r| named(r, "cn-"),
        dns_suffix: "amazonaws.com.cn",
        dual_stack_dns_suffix: "api.amazonwebservices.com.cn",
        supports_dual_stack: true,
    },
    Partition {
        id: "aws-iso",
        holds: |r| named(r, "us-iso-"),
        dns_suffix: "c2s.ic.gov",
        dual_stack_dns_suffix: "c2s.ic.gov",
        supports_dual_stack: false,
    },
    Partition {
        id: "aws-iso-b",
        holds: |r| named(r, "us-isob-"),
        dns_suffix: "sc2s.sgov.gov",
        dual_stack_dns_suffix: "sc2s.sgov.gov",
        supports_dual_stack: false,
    },
];

/// What decides the endpoint: the rule set's parameters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct EndpointParams {
    /// The AWS region.
    pub region: Option<String>,
    /// FIPS endpoints (`use_fips_endpoint` in the shared config).
    pub use_fips: bool,
    /// Dual-stack (IPv6) endpoints (`use_dualstack_endpoint`).
    pub use_dual_stack: bool,
    /// A configured endpoint URL (`AWS_ENDPOINT_URL_EC2`, `AWS_ENDPOINT_URL`, or the builder's).
    pub endpoint: Option<String>,
}

/// The EC2 endpoint URL for `params`, as the EC2 endpoint rule set resolves it, or why there is
/// none.
pub(crate) fn resolve(params: &EndpointParams) -> Result<String> {
    let refuse = |why: &str| {
        Error::invalid_input(format!("no EC2 endpoint: {why}")).with_hint(Hint::Settings(vec![
            Setting::Region,
            Setting::Endpoint(Provider::Eks),
        ]))
    };
    if let Some(endpoint) = &params.endpoint {
        if params.use_fips {
            return Err(refuse("FIPS and a custom endpoint cannot be combined"));
        }
        if params.use_dual_stack {
            return Err(refuse("dual-stack and a custom endpoint cannot be combined"));
        }
        return Ok(endpoint.clone());
    }
    let Some(region) = params.region.as_deref() else {
        return Err(refuse("no AWS region"));
    };
    let partition = PARTITIONS
        .iter()
        .find(|p| (p.holds)(region))
        .unwrap_or(&PARTITIONS[0]);
    match (params.use_fips, params.use_dual_stack) {
        (true, true) if partition.supports_dual_stack => Ok(format!(
            "https://ec2-fips.{region}.{}",
            partition.dual_stack_dns_suffix
        )),
        (true, true) => Err(refuse(&format!(
            "FIPS and dual-stack are enabled, but partition {} does not support both",
            partition.id
        ))),
        // GovCloud's regular EC2 endpoints are its FIPS endpoints.
        (true, false) if partition.id == "aws-us-gov" => Ok(format!("https://ec2.{region}.amazonaws.com")),
        (true, false) => Ok(format!("https://ec2-fips.{region}.{}", partition.dns_suffix)),
        (false, true) if partition.supports_dual_stack => Ok(format!(
            "https://ec2.{region}.{}",
            partition.dual_stack_dns_suffix
        )),
        (false, true) => Err(refuse(&format!(
            "dual-stack is enabled, but partition {} does not support it",
            partition.id
        ))),
        (false, false) => Ok(format!("https://ec2.{region}.{}", partition.dns_suffix)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every test case of the EC2 endpoint rule set: the URL it expects, or that it refuses.
    #[test]
    fn the_rule_sets_own_test_cases_pass() {
        let fixture: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/data/ec2-endpoint-tests.json")).unwrap();
        let cases = fixture["cases"].as_array().unwrap();
        assert!(cases.len() >= 50, "{} cases", cases.len());
        for case in cases {
            let params = EndpointParams {
                region: case["region"].as_str().map(str::to_string),
                use_fips: case["use_fips"].as_bool().unwrap(),
                use_dual_stack: case["use_dual_stack"].as_bool().unwrap(),
                endpoint: case["endpoint"].as_str().map(str::to_string),
            };
            let name = case["name"].as_str().unwrap();
            match case["expect_url"].as_str() {
                Some(url) => assert_eq!(resolve(&params).unwrap(), url, "{name}"),
                None => assert!(resolve(&params).is_err(), "{name}: expected an error"),
            }
        }
    }

    #[test]
    fn region_names_are_matched_whole() {
        assert!(named("us-gov-west-1", "us-gov-"));
        assert!(!named("us-gov-west", "us-gov-"));
        assert!(!named("us-gov-west-1a", "us-gov-"));
        // An unknown region falls back to the aws partition.
        let params = EndpointParams {
            region: Some("mars-north-1".into()),
            ..EndpointParams::default()
        };
        assert_eq!(
            resolve(&params).unwrap(),
            "https://ec2.mars-north-1.amazonaws.com"
        );
    }
}
