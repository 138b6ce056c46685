//! ARNs, parsed in one place: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`, where the
//! resource may itself hold `:` and `/`.

/// The parts of an ARN, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// The parts of `text`, or None when it is no ARN.
    pub fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let (partition, service, region, account, resource) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        Some(Arn { partition, service, region, account, resource })
    }

    /// For an IAM role or user: ("role" or "user", its name without the path).
    pub fn principal(&self) -> Option<(&'a str, &'a str)> {
        if self.service != "iam" {
            return None;
        }
        let (kind, rest) = self.resource.split_once('/')?;
        let name = rest.rsplit('/').next().unwrap_or(rest);
        (matches!(kind, "role" | "user") && !name.is_empty()).then_some((kind, name))
    }

    /// Whether the account is 12 digits.
    pub fn has_account_id(&self) -> bool {
        self.account.len() == 12 && self.account.bytes().all(|b| b.is_ascii_digit())
    }
}

/// The account of an ARN ("" when it is none).
pub fn account_of(arn: &str) -> &str {
    Arn::parse(arn).map(|a| a.account).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_and_principals() {
        let a = Arn::parse("arn:aws:iam::123456789012:role/aws-reserved/sso/Admin").unwrap();
        assert_eq!((a.partition, a.service, a.region, a.account), ("aws", "iam", "", "123456789012"));
        assert_eq!(a.principal(), Some(("role", "Admin")));
        assert!(a.has_account_id());
        let log = Arn::parse("arn:aws:logs:us-east-1:1:log-group:/aws-glue/*").unwrap();
        assert_eq!(log.resource, "log-group:/aws-glue/*");
        assert_eq!(log.principal(), None);
        assert_eq!(Arn::parse("role/x"), None);
        assert_eq!(Arn::parse("arn:aws:iam::1:policy/p").unwrap().principal(), None);
        assert_eq!(account_of("arn:aws:iam::123456789012:user/bob"), "123456789012");
    }
}
