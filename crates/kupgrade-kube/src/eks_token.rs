//! An EKS bearer token made natively, as `aws-iam-authenticator` and `aws eks get-token` make it:
//! a SigV4-presigned STS `GetCallerIdentity` URL that names the cluster in the signed
//! `x-k8s-aws-id` header, base64url-encoded after the `k8s-aws-v1.` prefix. No `aws` CLI needed.
//!
//! EKS accepts such a token for 15 minutes; make a new one (and a new client) for work that
//! lasts longer.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign};
use aws_sigv4::sign::v4;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use kupgrade_core::{Error, Result};

/// The token for `cluster` (its EKS name) in `region`, signed with `credentials` at `now`.
pub fn eks_token(cluster: &str, region: &str, credentials: &Credentials, now: SystemTime) -> Result<String> {
    let url = format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15");
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(60));
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name("sts")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| Error::invalid_input(format!("cannot sign an EKS token: {e}")))?
        .into();
    let request = SignableRequest::new(
        "GET",
        url.as_str(),
        [("x-k8s-aws-id", cluster)].into_iter(),
        SignableBody::Bytes(&[]),
    )
    .map_err(|e| Error::invalid_input(format!("cannot sign an EKS token for region '{region}': {e}")))?;
    let (instructions, _) = sign(request, &params)
        .map_err(|e| Error::invalid_input(format!("cannot sign an EKS token: {e}")))?
        .into_parts();
    let mut req = http::Request::get(url.as_str())
        .body(())
        .map_err(|e| Error::invalid_input(format!("bad STS URL for region '{region}': {e}")))?;
    instructions.apply_to_request_http1x(&mut req);
    Ok(format!(
        "k8s-aws-v1.{}",
        URL_SAFE_NO_PAD.encode(req.uri().to_string())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_is_a_presigned_sts_url_naming_the_cluster() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        let token = eks_token("payments", "eu-west-1", &creds, now).unwrap();
        let url = String::from_utf8(
            URL_SAFE_NO_PAD
                .decode(token.strip_prefix("k8s-aws-v1.").unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(
            url.starts_with(
                "https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15&"
            ),
            "{url}"
        );
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Expires=60",
            "X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
            "X-Amz-Signature=",
            "AKIDEXAMPLE%2F20251124%2Feu-west-1%2Fsts%2Faws4_request",
        ] {
            assert!(url.contains(part), "{part} missing from {url}");
        }
        // Deterministic for the same inputs; another cluster signs differently.
        assert_eq!(token, eks_token("payments", "eu-west-1", &creds, now).unwrap());
        assert_ne!(token, eks_token("other", "eu-west-1", &creds, now).unwrap());
        assert!(!token.contains('='), "base64url without padding");
    }
}
