//! Which resources an IAM action can be scoped to, after AWS's Service Authorization
//! Reference, for the actions the shipped stacks use: a statement that gives an action
//! none of the resources it takes never matches, so it grants nothing while looking as if
//! it did (`glue:ListSessions` on `session/*`, `s3:GetObject` on a bucket ARN).

/// The resource types each action takes; empty: only `*`.
const TAKES: &[(&str, &[&str])] = &[
    // Glue Data Catalog: the catalog, the database and the table together.
    ("glue:GetDatabase", &["glue:catalog", "glue:database"]),
    ("glue:GetDatabases", &["glue:catalog", "glue:database"]),
    ("glue:CreateDatabase", &["glue:catalog", "glue:database"]),
    ("glue:UpdateDatabase", &["glue:catalog", "glue:database"]),
    ("glue:DeleteDatabase", &["glue:catalog", "glue:database", "glue:table"]),
    ("glue:GetTable", TABLES),
    ("glue:GetTables", TABLES),
    ("glue:GetTableVersion", TABLES),
    ("glue:GetTableVersions", TABLES),
    ("glue:SearchTables", TABLES),
    ("glue:CreateTable", TABLES),
    ("glue:UpdateTable", TABLES),
    ("glue:DeleteTable", TABLES),
    ("glue:BatchDeleteTable", TABLES),
    ("glue:DeleteTableVersion", TABLES),
    ("glue:BatchDeleteTableVersion", TABLES),
    ("glue:GetPartition", TABLES),
    ("glue:GetPartitions", TABLES),
    ("glue:BatchGetPartition", TABLES),
    ("glue:CreatePartition", TABLES),
    ("glue:BatchCreatePartition", TABLES),
    ("glue:DeletePartition", TABLES),
    ("glue:CreatePartitionIndex", TABLES),
    ("glue:DeletePartitionIndex", TABLES),
    ("glue:UpdateColumnStatisticsForTable", TABLES),
    ("glue:UpdateColumnStatisticsForPartition", TABLES),
    ("glue:GetConnection", &["glue:catalog", "glue:connection"]),
    // Glue jobs and sessions.
    ("glue:GetJobs", &[]),
    ("glue:GetDataflowGraph", &[]),
    ("glue:GetJobRuns", &["glue:job"]),
    ("glue:ListSessions", &[]),
    ("glue:CreateSession", &["glue:session"]),
    ("glue:GetSession", &["glue:session"]),
    ("glue:StopSession", &["glue:session"]),
    ("glue:DeleteSession", &["glue:session"]),
    ("glue:RunStatement", &["glue:session"]),
    ("glue:GetStatement", &["glue:session"]),
    ("glue:ListStatements", &["glue:session"]),
    ("glue:CancelStatement", &["glue:session"]),
    // Lake Formation authorizes by its own grants: its actions take only "*".
    ("lakeformation:GetDataAccess", &[]),
    ("lakeformation:ListPermissions", &[]),
    ("lakeformation:ListResources", &[]),
    ("lakeformation:GrantPermissions", &[]),
    ("lakeformation:BatchGrantPermissions", &[]),
    ("lakeformation:PutDataLakeSettings", &[]),
    // Athena.
    ("athena:ListWorkGroups", &[]),
    ("athena:ListDataCatalogs", &[]),
    ("athena:GetWorkGroup", &["athena:workgroup"]),
    ("athena:StartQueryExecution", &["athena:workgroup"]),
    ("athena:StopQueryExecution", &["athena:workgroup"]),
    ("athena:GetQueryExecution", &["athena:workgroup"]),
    ("athena:GetQueryResults", &["athena:workgroup"]),
    ("athena:ListQueryExecutions", &["athena:workgroup"]),
    ("athena:BatchGetQueryExecution", &["athena:workgroup"]),
    ("athena:ListDatabases", &["athena:datacatalog"]),
    // S3: bucket-level actions take the bucket, object-level ones the objects.
    ("s3:GetBucketLocation", &["s3:bucket"]),
    ("s3:ListBucket", &["s3:bucket"]),
    ("s3:ListBucketMultipartUploads", &["s3:bucket"]),
    ("s3:GetObject", &["s3:object"]),
    ("s3:PutObject", &["s3:object"]),
    ("s3:DeleteObject", &["s3:object"]),
    ("s3:AbortMultipartUpload", &["s3:object"]),
    ("s3:ListMultipartUploadParts", &["s3:object"]),
    // CloudWatch Logs.
    ("logs:CreateLogGroup", &["logs:log-group"]),
    ("logs:CreateLogStream", &["logs:log-stream"]),
    ("logs:PutLogEvents", &["logs:log-stream"]),
    ("logs:AssociateKmsKey", &["logs:log-group"]),
    // IAM and KMS.
    ("iam:PassRole", &["iam:role"]),
    ("kms:Decrypt", &["kms:key"]),
    ("kms:Encrypt", &["kms:key"]),
    ("kms:GenerateDataKey", &["kms:key"]),
    // EC2, for a Glue connection's network interfaces.
    ("ec2:DescribeSubnets", &[]),
    ("ec2:DescribeVpcs", &[]),
    ("ec2:DescribeSecurityGroups", &[]),
    ("ec2:DescribeNetworkInterfaces", &[]),
    ("ec2:DescribeVpcEndpoints", &[]),
    ("ec2:DescribeRouteTables", &[]),
    ("ec2:DescribeVpcAttribute", &[]),
    ("ec2:CreateNetworkInterface", &["ec2:network-interface", "ec2:subnet", "ec2:security-group"]),
    ("ec2:DeleteNetworkInterface", &["ec2:network-interface"]),
    ("ec2:CreateTags", &["ec2:network-interface"]),
    ("ec2:DeleteTags", &["ec2:network-interface"]),
];

const TABLES: &[&str] = &["glue:catalog", "glue:database", "glue:table"];

/// The resource types action `action` takes: Some(empty) for only `*`; None when the table
/// does not know it (a stack's own action, or a wildcard).
pub fn takes(action: &str) -> Option<&'static [&'static str]> {
    TAKES.iter().find(|(a, _)| a.eq_ignore_ascii_case(action)).map(|(_, kinds)| *kinds)
}

/// The resource types an ARN (or ARN pattern) can name.
pub fn kinds_of(arn: &str) -> Vec<String> {
    let Some(crate::arn::Arn { service, resource, .. }) = crate::arn::Arn::parse(arn) else { return Vec::new() };
    let kind = |k: &str| format!("{service}:{k}");
    match service {
        "s3" if resource.contains('/') => vec![kind("object")],
        "s3" if resource.contains('*') => vec![kind("bucket"), kind("object")],
        "s3" => vec![kind("bucket")],
        "logs" => {
            let mut out = vec![kind("log-group")];
            if resource.contains(":log-stream:") || resource.ends_with('*') {
                out.push(kind("log-stream"));
            }
            out
        }
        _ => {
            let head = resource.split(['/', ':']).next().unwrap_or(resource);
            vec![kind(head)]
        }
    }
}

/// What is wrong with a statement's actions for its resources: each action the table
/// knows must take at least one of them (an action that takes only `*` needs `*`).
pub fn problems(actions: &[String], resources: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for action in actions {
        let Some(kinds) = takes(action) else { continue };
        if resources.contains(&"*") {
            continue;
        }
        if kinds.is_empty() {
            out.push(format!(
                "{action} accepts only \"*\" as its resource, so IAM never matches it to {}: give it a statement of its own on \"*\"",
                resources.join(", ")
            ));
        } else if !resources.iter().any(|r| kinds_of(r).iter().any(|k| kinds.contains(&k.as_str()))) {
            out.push(format!(
                "{action} takes a resource of type {}, and none of {} is one",
                kinds.join(" or "),
                resources.join(", ")
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn actions_that_take_only_a_star_or_other_resources_are_caught() {
        let sessions = "arn:aws:glue:us-east-1:1:session/*";
        let found = problems(&strings(&["glue:CreateSession", "glue:ListSessions"]), &[sessions]);
        assert_eq!(
            found,
            [
                "glue:ListSessions accepts only \"*\" as its resource, so IAM never matches it to arn:aws:glue:us-east-1:1:session/*: give it a statement of its own on \"*\""
            ]
        );
        // Object actions on a bucket ARN match nothing; on the objects they do.
        assert_eq!(problems(&strings(&["s3:GetObject"]), &["arn:aws:s3:::lake"]).len(), 1);
        assert!(problems(&strings(&["s3:GetObject"]), &["arn:aws:s3:::lake/*"]).is_empty());
        assert!(problems(&strings(&["s3:ListBucket"]), &["arn:aws:s3:::lake"]).is_empty());
        // A Glue read is scoped by catalog, database and table together: any one will do.
        let glue = ["arn:aws:glue:r:1:catalog", "arn:aws:glue:r:1:table/sales/*"];
        assert!(problems(&strings(&["glue:GetDatabase", "glue:GetTable"]), &glue).is_empty());
        // Log streams live under their group's ARN.
        assert!(problems(&strings(&["logs:PutLogEvents"]), &["arn:aws:logs:r:1:log-group:/aws-glue/*"]).is_empty());
        assert_eq!(problems(&strings(&["logs:PutLogEvents"]), &["arn:aws:logs:r:1:log-group:/aws-glue"]).len(), 1);
        // Unknown actions are the stack author's to vouch for.
        assert!(problems(&strings(&["custom:Thing", "s3:*"]), &["arn:aws:s3:::lake"]).is_empty());
    }
}
