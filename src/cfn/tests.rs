use super::*;
use serde_json::json;
use std::collections::BTreeSet;

fn facts() -> Facts {
    Facts { account: "123456789012".into(), partition: "aws".into(), region: "us-east-1".into() }
}

fn role() -> Resource {
    Resource::Role {
        name: "vendor-role".into(),
        description: "d".into(),
        trust: json!({"Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::482836992928:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "ext-123"}},
        }]}),
    }
}

fn policy() -> Resource {
    Resource::Policy {
        name: "vendor-policy".into(),
        description: "d".into(),
        document: json!({"Statement": [{
            "Effect": "Allow",
            "Action": ["glue:GetDatabase"],
            "Resource": [
                "arn:aws:glue:us-east-1:123456789012:catalog",
                "arn:aws:s3:::bucket/${aws:username}/*",
            ],
        }]}),
    }
}

fn grant(database: &str) -> Resource {
    Resource::Grant {
        principal: Principal::Role("vendor-role".into()),
        target: LfTarget::Database { database: database.into() },
        permissions: BTreeSet::from(["DESCRIBE".to_string()]),
    }
}

fn make(desired: &[Resource]) -> Result<Value, Error> {
    template(&Input {
        deployment: "dep",
        stack: "vendor-glue",
        description: "test",
        facts: &facts(),
        desired,
        parameters: vec![("ExternalId".into(), "ext-123".into(), "The External ID".into())],
        outputs: vec![("external ID".into(), "ext-123".into())],
    })
}

#[test]
fn the_account_region_and_partition_become_pseudo_parameters_and_the_vendor_s_account_stays() {
    let t = make(&[role(), policy()]).unwrap();
    let doc = &t["Resources"]["PolicyVendorPolicy"]["Properties"]["PolicyDocument"];
    assert_eq!(
        doc["Statement"][0]["Resource"][0],
        json!({"Fn::Sub": "arn:${AWS::Partition}:glue:${AWS::Region}:${AWS::AccountId}:catalog"})
    );
    // An IAM policy variable is escaped inside Fn::Sub.
    assert_eq!(
        doc["Statement"][0]["Resource"][1],
        json!({"Fn::Sub": "arn:${AWS::Partition}:s3:::bucket/${!aws:username}/*"})
    );
    let trust = &t["Resources"]["RoleVendorRole"]["Properties"]["AssumeRolePolicyDocument"];
    assert_eq!(
        trust["Statement"][0]["Principal"]["AWS"],
        json!({"Fn::Sub": "arn:${AWS::Partition}:iam::482836992928:root"})
    );
    assert_eq!(trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"], json!({"Ref": "ExternalId"}));
    assert_eq!(t["Parameters"]["ExternalId"]["Default"], "ext-123");
    assert_eq!(t["Outputs"]["ExternalID"]["Value"], json!({"Ref": "ExternalId"}));
    assert_eq!(t["Outputs"]["RoleArn"]["Value"], json!({"Fn::GetAtt": ["RoleVendorRole", "Arn"]}));
}

#[test]
fn attachments_are_the_policy_s_roles_and_users_and_grants_name_the_role_s_arn() {
    let attach = |p: Principal| Resource::Attachment { policy: "vendor-policy".into(), principal: p };
    let desired = [
        role(),
        policy(),
        attach(Principal::Role("vendor-role".into())),
        attach(Principal::User("alice".into())),
        grant("sales"),
    ];
    let t = make(&desired).unwrap();
    let p = &t["Resources"]["PolicyVendorPolicy"]["Properties"];
    assert_eq!(p["Roles"], json!([{"Ref": "RoleVendorRole"}]));
    assert_eq!(p["Users"], json!(["alice"]), "a user the stack does not create is named");
    let resources = t["Resources"].as_object().unwrap();
    assert_eq!(resources.len(), 3, "{:?}", resources.keys().collect::<Vec<_>>());
    let g = resources.iter().find(|(k, _)| k.starts_with("GrantVendorRoleSales")).unwrap().1;
    assert_eq!(g["Type"], "AWS::LakeFormation::PrincipalPermissions");
    assert_eq!(
        g["Properties"]["Principal"]["DataLakePrincipalIdentifier"],
        json!({"Fn::GetAtt": ["RoleVendorRole", "Arn"]})
    );
    assert_eq!(
        g["Properties"]["Resource"],
        json!({"Database": {"CatalogId": {"Ref": "AWS::AccountId"}, "Name": "sales"}})
    );
}

#[test]
fn names_that_differ_only_in_punctuation_get_their_own_logical_ids() {
    let t = make(&[role(), grant("a_b"), grant("ab")]).unwrap();
    assert_eq!(t["Resources"].as_object().unwrap().len(), 3);
    let policy = |name: &str| Resource::Policy { name: name.into(), description: "d".into(), document: json!({}) };
    let t = make(&[policy("read-only"), policy("read_only")]).unwrap();
    assert_eq!(t["Resources"].as_object().unwrap().len(), 2);
}

#[test]
fn a_grant_on_a_database_the_stack_creates_waits_for_it_and_the_database_is_retained() {
    let db = Resource::Database { name: "out".into(), description: "d".into(), location: Some("s3://b/out/".into()) };
    let t = make(&[role(), db, grant("out")]).unwrap();
    let g = t["Resources"].as_object().unwrap().iter().find(|(k, _)| k.starts_with("Grant")).unwrap().1;
    assert_eq!(g["DependsOn"], json!(["DatabaseOut"]));
    assert_eq!(t["Resources"]["DatabaseOut"]["DeletionPolicy"], "Retain");
}

#[test]
fn an_access_key_or_more_resources_than_a_stack_holds_is_refused_with_the_way_out() {
    let e = make(&[Resource::User { name: "u".into() }, Resource::AccessKey { user: "u".into() }]).unwrap_err();
    assert!(e.to_string().contains("secret"), "{e}");
    let many: Vec<Resource> = (0..=MAX_RESOURCES).map(|n| grant(&format!("db{n}"))).collect();
    let e = make(&many).unwrap_err();
    assert!(e.to_string().contains("at most 500"), "{e}");
}
