//! EC2 Query responses (XML) read with AWS's own decoder (`aws-smithy-xml`, the one the SDK's
//! generated EC2 deserialisers use). Element names are the `locationName`s of the EC2 service
//! model (2016-11-15).

use aws_smithy_xml::decode::{Document, ScopedDecoder, XmlDecodeError, try_data};

/// One launch-template version, as much of it as kupgrade reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct LaunchTemplateVersion {
    /// `launchTemplateName`.
    pub name: Option<String>,
    /// `versionNumber`.
    pub version_number: Option<i64>,
    /// `launchTemplateData.userData`: base64, as EC2 stores it.
    pub user_data: Option<String>,
}

/// An EC2 error response: `<Response><Errors><Error><Code>` and `<Message>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ErrorBody {
    /// `InvalidLaunchTemplateId.NotFound`, `UnauthorizedOperation`, `RequestLimitExceeded`, ...
    pub code: Option<String>,
    /// EC2's message.
    pub message: Option<String>,
    /// The request id, for AWS support.
    pub request_id: Option<String>,
}

/// The versions of a `DescribeLaunchTemplateVersionsResponse`.
pub(crate) fn launch_template_versions(body: &str) -> Result<Vec<LaunchTemplateVersion>, XmlDecodeError> {
    let mut doc = Document::new(body);
    let mut root = doc.root_element()?;
    if !root.start_el().matches("DescribeLaunchTemplateVersionsResponse") {
        return Err(XmlDecodeError::custom(format!(
            "expected DescribeLaunchTemplateVersionsResponse, found {}",
            root.start_el().local()
        )));
    }
    let mut versions = Vec::new();
    while let Some(mut tag) = root.next_tag() {
        if tag.start_el().matches("launchTemplateVersionSet") {
            while let Some(mut item) = tag.next_tag() {
                if item.start_el().matches("item") {
                    versions.push(version(&mut item)?);
                }
            }
        }
    }
    Ok(versions)
}

fn version(item: &mut ScopedDecoder<'_, '_>) -> Result<LaunchTemplateVersion, XmlDecodeError> {
    let mut out = LaunchTemplateVersion::default();
    while let Some(mut field) = item.next_tag() {
        let name = field.start_el().local().to_string();
        match name.as_str() {
            "launchTemplateName" => out.name = Some(try_data(&mut field)?.into_owned()),
            "versionNumber" => {
                let text = try_data(&mut field)?;
                out.version_number = Some(text.trim().parse().map_err(|_| {
                    XmlDecodeError::custom(format!("versionNumber '{text}' is not a number"))
                })?);
            }
            "launchTemplateData" => {
                while let Some(mut data) = field.next_tag() {
                    if data.start_el().matches("userData") {
                        out.user_data = Some(try_data(&mut data)?.into_owned());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The code and message of an EC2 error response; empty when the body is not one (a proxy's
/// HTML page, say).
pub(crate) fn error_body(body: &str) -> ErrorBody {
    let mut out = ErrorBody::default();
    let mut doc = Document::new(body);
    let Ok(mut root) = doc.root_element() else {
        return out;
    };
    while let Some(mut tag) = root.next_tag() {
        if tag.start_el().matches("Errors") {
            while let Some(mut error) = tag.next_tag() {
                if !error.start_el().matches("Error") || out.code.is_some() {
                    continue;
                }
                while let Some(mut field) = error.next_tag() {
                    if field.start_el().matches("Code") {
                        out.code = try_data(&mut field).ok().map(|c| c.trim().to_string());
                    } else if field.start_el().matches("Message") {
                        out.message = try_data(&mut field).ok().map(|m| m.trim().to_string());
                    }
                }
            }
        } else if tag.start_el().matches("RequestID") || tag.start_el().matches("RequestId") {
            out.request_id = try_data(&mut tag).ok().map(|r| r.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Shaped as the EC2 API reference's example response for DescribeLaunchTemplateVersions
    /// (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeLaunchTemplateVersions.html),
    /// with user data and nested sets that must not be mistaken for versions.
    const TWO_VERSIONS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<DescribeLaunchTemplateVersionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
    <requestId>65cadec1-b364-4354-8ca8-4176dexample</requestId>
    <launchTemplateVersionSet>
        <item>
            <createTime>2017-10-31T11:38:52.000Z</createTime>
            <createdBy>arn:aws:iam::123456789012:root</createdBy>
            <defaultVersion>false</defaultVersion>
            <launchTemplateData>
                <imageId>ami-aabbcc11</imageId>
                <networkInterfaceSet>
                    <item>
                        <deviceIndex>0</deviceIndex>
                        <groupSet><item>sg-7c227019</item></groupSet>
                    </item>
                </networkInterfaceSet>
                <userData>IyEvYmluL2Jhc2gKL2V0Yy9la3MvYm9vdHN0cmFwLnNoIHNob3A=</userData>
            </launchTemplateData>
            <launchTemplateId>lt-068f72b72934aff71</launchTemplateId>
            <launchTemplateName>Webservers</launchTemplateName>
            <versionNumber>2</versionNumber>
        </item>
        <item>
            <launchTemplateData><instanceType>t2.medium</instanceType></launchTemplateData>
            <launchTemplateName>Webservers</launchTemplateName>
            <versionNumber>1</versionNumber>
        </item>
    </launchTemplateVersionSet>
</DescribeLaunchTemplateVersionsResponse>"#;

    #[test]
    fn versions_with_and_without_user_data_are_read() {
        let versions = launch_template_versions(TWO_VERSIONS).unwrap();
        assert_eq!(
            versions,
            [
                LaunchTemplateVersion {
                    name: Some("Webservers".into()),
                    version_number: Some(2),
                    user_data: Some("IyEvYmluL2Jhc2gKL2V0Yy9la3MvYm9vdHN0cmFwLnNoIHNob3A=".into()),
                },
                LaunchTemplateVersion {
                    name: Some("Webservers".into()),
                    version_number: Some(1),
                    user_data: None,
                },
            ]
        );
    }

    #[test]
    fn an_empty_set_and_a_wrong_document_are_told_apart() {
        let empty = r#"<DescribeLaunchTemplateVersionsResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r</requestId><launchTemplateVersionSet/></DescribeLaunchTemplateVersionsResponse>"#;
        assert_eq!(launch_template_versions(empty).unwrap(), []);
        let err = launch_template_versions("<html><body>proxy</body></html>").unwrap_err();
        assert!(err.to_string().contains("found html"), "{err}");
    }

    /// The EC2 API reference's error format (Errors/Error/Code, Message; RequestID).
    #[test]
    fn error_responses_give_code_message_and_request_id() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Response><Errors><Error><Code>InvalidLaunchTemplateId.NotFound</Code><Message>The specified launch template, with template ID lt-0abc, does not exist.</Message></Error></Errors><RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>"#;
        assert_eq!(
            error_body(body),
            ErrorBody {
                code: Some("InvalidLaunchTemplateId.NotFound".into()),
                message: Some(
                    "The specified launch template, with template ID lt-0abc, does not exist.".into()
                ),
                request_id: Some("ea966190-f9aa-478e-9ede-example".into()),
            }
        );
        assert_eq!(error_body("Service Unavailable"), ErrorBody::default());
    }
}
