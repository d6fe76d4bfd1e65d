//! Rekognition resource ARNs: `aws:rekognition:<region>:<account>:collection/<id>`, as the service writes
//! them; the `arn:`-prefixed form is accepted too.

use crate::{Scope, ServiceError};

/// A parsed resource ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceArn {
    pub region: String,
    pub account_id: String,
    /// `collection`, `project`, `streamprocessor`, ...
    pub resource_type: String,
    pub resource_id: String,
}

impl ResourceArn {
    /// The ARN of collection `id` in `scope`.
    pub fn collection(scope: &Scope, id: &str) -> String {
        format!("aws:rekognition:{}:{}:collection/{id}", scope.region, scope.account_id)
    }

    pub fn parse(text: &str) -> Result<ResourceArn, ServiceError> {
        let invalid = || ServiceError::InvalidArn(text.to_owned());
        let body = text.strip_prefix("arn:").unwrap_or(text);
        let mut parts = body.splitn(5, ':');
        let (Some(partition), Some(service), Some(region), Some(account), Some(resource)) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid());
        };
        let (resource_type, resource_id) = resource.split_once('/').ok_or_else(invalid)?;
        if !partition.starts_with("aws") || service != "rekognition" || region.is_empty() || resource_id.is_empty() {
            return Err(invalid());
        }
        Ok(ResourceArn {
            region: region.to_owned(),
            account_id: account.to_owned(),
            resource_type: resource_type.to_owned(),
            resource_id: resource_id.to_owned(),
        })
    }

    /// Whether the resource belongs to `scope`'s account and region.
    pub fn is_in(&self, scope: &Scope) -> bool {
        self.account_id == scope.account_id && self.region == scope.region
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_round_trips() {
        let scope = Scope { account_id: "111122223333".into(), region: "us-west-2".into() };
        let arn = ResourceArn::collection(&scope, "photos");
        assert_eq!(arn, "aws:rekognition:us-west-2:111122223333:collection/photos");
        for text in [arn.clone(), format!("arn:{arn}")] {
            let parsed = ResourceArn::parse(&text).unwrap();
            assert_eq!((parsed.resource_type.as_str(), parsed.resource_id.as_str()), ("collection", "photos"));
            assert!(parsed.is_in(&scope));
        }
        assert!(ResourceArn::parse("arn:aws:s3:::bucket/key").is_err());
        assert!(ResourceArn::parse("aws:rekognition:us-west-2:1:collection").is_err());
    }
}
