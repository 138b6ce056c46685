//! Render tests: the shipped stacks rendered for sample values, checked as documents.

use super::*;
use crate::stack::validate_values;

fn facts() -> Facts {
    Facts { account: "123456789012".into(), partition: "aws".into(), region: "eu-west-1".into() }
}

fn secoda(extra: Value) -> Vec<Resource> {
    let stack = Stack::shipped("secoda-glue").unwrap();
    let mut raw = json!({
        "external_id": "sec-7f3a9c21e4b8",
        "glue_buckets": ["acme-lake"],
        "athena_output_bucket": "acme-athena-results",
        "databases": ["sales", "marketing"],
    });
    for (k, v) in extra.as_object().unwrap() {
        raw[k] = v.clone();
    }
    let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
    render(&stack, &values, &facts(), "secoda").unwrap()
}

fn policy_doc(rs: &[Resource]) -> &Value {
    rs.iter()
        .find_map(|r| match r {
            Resource::Policy { document, .. } => Some(document),
            _ => None,
        })
        .unwrap()
}

fn statement<'a>(doc: &'a Value, sid: &str) -> &'a Value {
    doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).unwrap_or_else(|| panic!("no {sid}"))
}

#[test]
fn role_access_renders_role_attachment_and_grants_in_order() {
    let rs = secoda(json!({}));
    let addrs: Vec<String> = rs.iter().map(Resource::address).collect();
    assert_eq!(
        addrs,
        [
            "policy/secoda-glue-policy",
            "role/secoda-glue-role",
            "attachment/role/secoda-glue-role/secoda-glue-policy",
            "grant/role/secoda-glue-role/database/sales",
            "grant/role/secoda-glue-role/table/sales/*",
            "grant/role/secoda-glue-role/database/marketing",
            "grant/role/secoda-glue-role/table/marketing/*",
        ]
    );
}

#[test]
fn trust_is_the_vendor_root_with_the_external_id_only() {
    let rs = secoda(json!({}));
    let Resource::Role { trust, .. } = &rs[1] else { panic!() };
    let s = &trust["Statement"][0];
    assert_eq!(s["Principal"]["AWS"], json!(["arn:aws:iam::482836992928:root"]));
    assert_eq!(s["Action"], json!(["sts:AssumeRole"]));
    assert_eq!(s["Condition"]["StringEquals"]["sts:ExternalId"], json!(["sec-7f3a9c21e4b8"]));
}

#[test]
fn user_access_renders_user_key_and_grants_to_the_user() {
    let rs = secoda(json!({"access": "user"}));
    let addrs: Vec<String> = rs.iter().map(Resource::address).collect();
    assert!(addrs.contains(&"user/secoda-glue-user".to_string()));
    assert!(addrs.contains(&"access-key/secoda-glue-user".to_string()));
    assert!(addrs.contains(&"grant/user/secoda-glue-user/database/sales".to_string()));
    assert!(!addrs.iter().any(|a| a.starts_with("role/")));
}

#[test]
fn policy_is_least_privilege() {
    let rs = secoda(json!({"tables": {"sales": ["orders"]}}));
    let doc = policy_doc(&rs);
    let text = doc.to_string();
    assert!(!text.contains("sts:AssumeRole"), "no AssumeRole in a permissions policy");
    // No action appears twice in one statement, and every statement has a valid sid.
    for s in doc["Statement"].as_array().unwrap() {
        let actions: Vec<&str> = s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
        let unique: BTreeSet<&&str> = actions.iter().collect();
        assert_eq!(unique.len(), actions.len(), "{s}");
        assert!(s["Sid"].as_str().unwrap().chars().all(|c| c.is_ascii_alphanumeric()));
    }
    let glue = statement(doc, "GlueCatalogRead");
    let res: Vec<&str> = glue["Resource"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    assert!(res.contains(&"arn:aws:glue:eu-west-1:123456789012:catalog"));
    assert!(res.contains(&"arn:aws:glue:eu-west-1:123456789012:database/sales"));
    assert!(res.contains(&"arn:aws:glue:eu-west-1:123456789012:table/sales/orders"));
    assert!(res.contains(&"arn:aws:glue:eu-west-1:123456789012:table/marketing/*"));
    assert!(!res.contains(&"arn:aws:glue:eu-west-1:123456789012:table/sales/*"));
    // List actions that take no resource ARN are alone on "*".
    assert_eq!(statement(doc, "AthenaList")["Resource"], json!(["*"]));
    // Writes only on the Athena results bucket's objects.
    for s in doc["Statement"].as_array().unwrap() {
        let acts = s["Action"].to_string();
        if acts.contains("s3:PutObject") {
            assert_eq!(s["Resource"], json!(["arn:aws:s3:::acme-athena-results/*"]));
        }
    }
    assert_eq!(statement(doc, "DataObjectsRead")["Resource"], json!(["arn:aws:s3:::acme-lake/*"]));
    assert_eq!(statement(doc, "DataBucketsList")["Resource"], json!(["arn:aws:s3:::acme-lake"]));
    assert_eq!(
        statement(doc, "AthenaQuery")["Resource"],
        json!(["arn:aws:athena:eu-west-1:123456789012:workgroup/primary"])
    );
}

#[test]
fn listed_tables_are_granted_one_by_one() {
    let rs = secoda(json!({"tables": {"sales": ["orders", "customers"]}}));
    let grants: Vec<String> =
        rs.iter().filter(|r| matches!(r, Resource::Grant { .. })).map(Resource::address).collect();
    assert!(grants.contains(&"grant/role/secoda-glue-role/table/sales/orders".into()));
    assert!(grants.contains(&"grant/role/secoda-glue-role/table/sales/customers".into()));
    assert!(!grants.contains(&"grant/role/secoda-glue-role/table/sales/*".into()));
    assert!(grants.contains(&"grant/role/secoda-glue-role/table/marketing/*".into()));
}

fn many(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("database_with_a_long_name_{i}")).collect()
}

fn scoped(dbs: &[String], scope: &ScopeInput) -> Result<Rendered, Error> {
    let stack = Stack::shipped("secoda-glue").unwrap();
    let raw = json!({
        "external_id": "sec-7f3a9c21e4b8", "glue_buckets": ["acme-lake"],
        "athena_output_bucket": "acme-athena-results", "databases": dbs,
    });
    let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
    render_scoped(&stack, &values, &facts(), "x", scope)
}

fn policies(r: &Rendered) -> Vec<(&String, &Value)> {
    r.resources
        .iter()
        .filter_map(|r| match r {
            Resource::Policy { name, document, .. } => Some((name, document)),
            _ => None,
        })
        .collect()
}

/// Every Allow resource of every policy.
fn allowed(r: &Rendered) -> Vec<String> {
    policies(r)
        .iter()
        .flat_map(|(_, d)| d["Statement"].as_array().unwrap().clone())
        .filter(|s| s["Effect"] == "Allow")
        .flat_map(|s| s["Resource"].as_array().unwrap().clone())
        .map(|r| r.as_str().unwrap().to_string())
        .collect()
}

fn governance(iam_governed: &[&str], defaults_open: bool, dbs: &[String]) -> Governance {
    let mut databases: BTreeSet<String> = dbs.iter().cloned().collect();
    databases.extend(iam_governed.iter().map(|d| d.to_string()));
    Governance {
        databases,
        iam_governed: iam_governed.iter().map(|d| d.to_string()).collect(),
        defaults_open,
        hybrid_locations: vec![],
    }
}

#[test]
fn past_one_policy_the_databases_are_spread_over_numbered_policies_all_attached() {
    let dbs = many(120);
    let r = scoped(&dbs, &ScopeInput::default()).unwrap();
    let names: Vec<&String> = policies(&r).iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["secoda-glue-policy", "secoda-glue-policy-2", "secoda-glue-policy-3", "secoda-glue-policy-4"]);
    for (n, d) in policies(&r) {
        assert!(policy::compact_len(d) <= policy::MANAGED_POLICY_LIMIT, "{n}");
    }
    let attached = r.resources.iter().filter(|r| matches!(r, Resource::Attachment { .. })).count();
    assert_eq!(attached, 4);
    let allowed = allowed(&r);
    for db in &dbs {
        let arn = format!("arn:aws:glue:eu-west-1:123456789012:database/{db}");
        assert_eq!(allowed.iter().filter(|a| **a == arn).count(), 1, "{db}");
    }
    assert_eq!(
        r.scope.as_deref(),
        Some(
            "IAM scope: per-resource, across 4 policies for 120 databases (lake-formation scope is not safe: the catalog's governance was not read)"
        )
    );
}

#[test]
fn what_cannot_be_spread_is_explained_not_truncated() {
    let stack = Stack::shipped("secoda-glue").unwrap();
    let buckets: Vec<String> = (0..200).map(|i| format!("bucket-with-a-long-name-{i:03}")).collect();
    let raw = json!({
        "external_id": "sec-7f3a9c21e4b8", "glue_buckets": buckets,
        "athena_output_bucket": "acme-athena-results", "databases": ["sales"],
    });
    let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
    let err = render(&stack, &values, &facts(), "x").unwrap_err();
    assert!(matches!(err, Error::PolicyTooLarge { .. }), "{err}");
}

#[test]
fn where_lake_formation_governs_a_thousand_databases_fit_one_policy_with_a_deny_for_the_rest() {
    let dbs = many(1000);
    let scope = ScopeInput { governance: Some(governance(&["hr"], false, &dbs)), ..ScopeInput::default() };
    let r = scoped(&dbs, &scope).unwrap();
    let ps = policies(&r);
    assert_eq!(ps.len(), 1);
    let doc = ps[0].1;
    let glue = |r: &str| format!("arn:aws:glue:eu-west-1:123456789012:{r}");
    let read = doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "GlueCatalogRead").unwrap();
    assert_eq!(read["Resource"], json!([glue("catalog"), glue("database/*"), glue("table/*/*")]));
    let deny = doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == "GlueCatalogReadOutsideScope").unwrap();
    assert_eq!(deny["Effect"], "Deny");
    assert_eq!(deny["Resource"], json!([glue("database/hr"), glue("table/hr/*")]));
    assert_eq!(deny["Action"], read["Action"]);
    assert!(r.scope.as_deref().unwrap().starts_with("IAM scope: lake-formation: catalog-wide, Lake Formation grants decide, with a Deny on 1 database(s) IAM governs: hr"), "{:?}", r.scope);
    // Grants still name each chosen database.
    assert_eq!(r.resources.iter().filter(|r| matches!(r, Resource::Grant { .. })).count(), 2000);
}

#[test]
fn where_new_databases_would_be_open_the_scope_stays_per_resource_and_reaches_no_other_database() {
    let dbs = many(300);
    let scope = ScopeInput { governance: Some(governance(&["hr"], true, &dbs)), ..ScopeInput::default() };
    let r = scoped(&dbs, &scope).unwrap();
    assert!(policies(&r).len() > 1);
    let reaches_hr = |a: &String| {
        a.ends_with(":database/hr") || a.contains(":table/hr/") || a.contains(":database/*") || a.contains(":table/*")
    };
    assert!(
        !allowed(&r).iter().any(reaches_hr),
        "{:?}",
        allowed(&r).iter().filter(|a| reaches_hr(a)).collect::<Vec<_>>()
    );
    assert!(r.scope.as_deref().unwrap().contains("a database created later would be open"), "{:?}", r.scope);
    // Forcing lake-formation here is refused, with the reason.
    let forced = ScopeInput { requested: IamScope::LakeFormation, field: "deployments.x.iam_scope".into(), ..scope };
    let e = scoped(&dbs, &forced).unwrap_err();
    assert!(
        e.to_string().starts_with(
            "deployments.x.iam_scope is lake-formation, which is not safe here: the account's Lake Formation defaults"
        ),
        "{e}"
    );
}

#[test]
fn a_small_deployment_stays_per_resource_even_where_lake_formation_governs() {
    let dbs = many(3);
    let scope = ScopeInput { governance: Some(governance(&[], false, &dbs)), ..ScopeInput::default() };
    let r = scoped(&dbs, &scope).unwrap();
    assert!(!allowed(&r).iter().any(|a| a.contains(":database/*")));
    assert_eq!(
        r.scope.as_deref(),
        Some(
            "IAM scope: per-resource: the policy names each of the 3 chosen database(s) (it fits in one policy; IAM and Lake Formation both scope)"
        )
    );
    let forced = ScopeInput { requested: IamScope::LakeFormation, ..scope };
    assert!(allowed(&scoped(&dbs, &forced).unwrap()).iter().any(|a| a.ends_with(":database/*")));
}

mod dbt_tests {
    use super::super::*;
    use crate::stack::validate_values;

    fn facts() -> Facts {
        Facts { account: "123456789012".into(), partition: "aws".into(), region: "us-east-1".into() }
    }

    fn values(extra: Value) -> Result<Values, Error> {
        let stack = Stack::shipped("dbt-glue").unwrap();
        let mut raw = json!({
            "output_database": "dbt_demo",
            "source_databases": ["sales"],
            "location": "s3://dbt-demo-bucket/dbt_demo_data",
            "source_buckets": ["acme-lake"],
            "profile": {"name": "dbt_demo", "schema": "dbt_demo"},
        });
        for (k, v) in extra.as_object().unwrap() {
            raw[k] = v.clone();
        }
        validate_values(&stack, raw.as_object().unwrap(), "values")
    }

    #[test]
    fn every_statement_of_every_shipped_stack_gives_its_actions_resources_they_take() {
        // Every branch: a role, a user, and dbt with a client principal.
        let rendered = [
            super::secoda(json!({"tables": {"sales": ["orders"]}})),
            super::secoda(json!({"access": "user"})),
            dbt(json!({"client_principal": "arn:aws:iam::123456789012:role/analyst"})),
            dbt(json!({"profile": {"name": "dbt_demo", "schema": "dbt_demo", "connections": "vpc-a, vpc-b"}})),
        ];
        // And every shipped stack's example, with each of its choices in turn.
        let mut rendered = rendered.to_vec();
        for stack in Stack::all_shipped().unwrap() {
            let example = stack.example.clone().unwrap_or_else(|| panic!("{} has no example", stack.name));
            let mut variants = vec![example.clone()];
            for p in stack.parameters.iter().filter(|p| p.kind == crate::stack::ParamType::Choice) {
                for c in &p.choices {
                    let mut v = example.clone();
                    v.insert(p.name.clone(), json!(c));
                    variants.push(v);
                }
            }
            for raw in variants {
                let v = validate_values(&stack, &raw, "example").unwrap_or_else(|e| panic!("{}: {e}", stack.name));
                let rs = render(&stack, &v, &facts(), "example").unwrap_or_else(|e| panic!("{}: {e}", stack.name));
                // Within IAM's size limit, and no action twice in a statement.
                for r in &rs {
                    if let Resource::Policy { name, document, .. } = r {
                        assert!(document.to_string().len() <= 6144, "{name} is too large");
                        for st in document["Statement"].as_array().unwrap() {
                            let mut actions: Vec<&str> =
                                st["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
                            let n = actions.len();
                            actions.dedup();
                            assert_eq!(actions.len(), n, "{name} {}: an action twice", st["Sid"]);
                        }
                    }
                }
                rendered.push(rs);
            }
        }
        for rs in &rendered {
            for r in rs {
                let Resource::Policy { name, document, .. } = r else { continue };
                for s in document["Statement"].as_array().unwrap() {
                    let actions: Vec<String> =
                        s["Action"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
                    let resources: Vec<&str> =
                        s["Resource"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
                    let found = crate::policy::actions::problems(&actions, &resources);
                    assert!(found.is_empty(), "{name} {}: {found:?}", s["Sid"]);
                    // And the table knows every action, so the check covers them all.
                    for a in &actions {
                        assert!(crate::policy::actions::takes(a).is_some(), "{a} is missing from policy::actions");
                    }
                }
            }
        }
    }

    #[test]
    fn a_stack_that_gives_an_action_no_resource_it_takes_is_refused() {
        let text = include_str!("../../stacks/dbt-glue.yaml").replace(
            "      - sid: InteractiveSessionsList\n        actions: [glue:ListSessions]\n        resources: [\"*\"]\n",
            "",
        );
        let text = text
            .replace("          - glue:GetSession\n", "          - glue:GetSession\n          - glue:ListSessions\n");
        let stack = Stack::parse(&text, "dbt-glue.yaml").unwrap();
        let values = values(json!({"client_principal": "arn:aws:iam::123456789012:role/analyst"})).unwrap();
        let err = render(&stack, &values, &facts(), "dbt").unwrap_err().to_string();
        assert!(err.contains("statement InteractiveSessions: glue:ListSessions accepts only \"*\""), "{err}");
    }

    #[test]
    fn a_connection_gives_the_session_role_the_connection_and_its_network_only_when_set() {
        let sids = |rs: &[Resource]| -> Vec<String> {
            let Resource::Policy { document, .. } = &rs[0] else { panic!() };
            document["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap().to_string()).collect()
        };
        let plain = sids(&dbt(json!({})));
        assert!(!plain.iter().any(|s| s.starts_with("Session") && s != "SessionLogs"), "{plain:?}");
        let rs = dbt(json!({"profile": {"name": "dbt_demo", "schema": "dbt_demo", "connections": "warehouse-vpc"}}));
        let Resource::Policy { document, .. } = &rs[0] else { panic!() };
        let statement =
            |sid: &str| document["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).cloned().unwrap();
        assert_eq!(
            statement("SessionConnections")["Resource"],
            json!([
                "arn:aws:glue:us-east-1:123456789012:catalog",
                "arn:aws:glue:us-east-1:123456789012:connection/warehouse-vpc"
            ])
        );
        assert_eq!(statement("SessionNetworkDescribe")["Resource"], json!(["*"]));
        assert_eq!(
            statement("SessionNetworkInterfaceTags")["Condition"],
            json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["aws-glue-service-resource"]}})
        );
    }

    #[test]
    fn a_security_configuration_s_keys_go_to_the_session_role_only_when_found() {
        let stack = Stack::shipped("dbt-glue").unwrap();
        let mut v = values(json!({})).unwrap();
        let sids = |rs: &[Resource]| -> Vec<String> {
            let Resource::Policy { document, .. } = &rs[0] else { panic!() };
            document["Statement"].as_array().unwrap().iter().map(|s| s["Sid"].as_str().unwrap().to_string()).collect()
        };
        let plain = render(&stack, &v, &facts(), "dbt").unwrap();
        assert!(!sids(&plain).iter().any(|s| s.contains("Encryption")), "{:?}", sids(&plain));
        let key = "arn:aws:kms:us-east-1:123456789012:key/k1";
        v.insert("security_configuration_found".into(), json!({"keys": [key], "encrypts_logs": true}));
        let rs = render(&stack, &v, &facts(), "dbt").unwrap();
        let Resource::Policy { document, .. } = &rs[0] else { panic!() };
        let statement = |sid: &str| document["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).cloned();
        assert_eq!(statement("SessionEncryptionKeys").unwrap()["Resource"], json!([key]));
        assert_eq!(
            statement("SessionLogsEncryption").unwrap()["Resource"],
            json!(["arn:aws:logs:us-east-1:123456789012:log-group:/aws-glue/*"])
        );
    }

    fn dbt(extra: Value) -> Vec<Resource> {
        let stack = Stack::shipped("dbt-glue").unwrap();
        render(&stack, &values(extra).unwrap(), &facts(), "dbt").unwrap()
    }

    fn statement<'a>(rs: &'a [Resource], policy: &str, sid: &str) -> &'a Value {
        let doc = rs
            .iter()
            .find_map(|r| match r {
                Resource::Policy { name, document, .. } if name == policy => Some(document),
                _ => None,
            })
            .unwrap();
        doc["Statement"].as_array().unwrap().iter().find(|s| s["Sid"] == sid).unwrap()
    }

    #[test]
    fn the_service_role_trusts_glue_for_this_account_only() {
        let rs = dbt(json!({}));
        let Some(Resource::Role { trust, name, .. }) = rs.iter().find(|r| matches!(r, Resource::Role { .. })) else {
            panic!()
        };
        assert_eq!(name, "dbt-glue-interactive-session");
        let s = &trust["Statement"][0];
        assert_eq!(s["Principal"]["Service"], json!(["glue.amazonaws.com"]));
        assert_eq!(s["Condition"]["StringEquals"]["aws:SourceAccount"], json!(["123456789012"]));
    }

    #[test]
    fn object_actions_are_on_objects_under_the_location() {
        let rs = dbt(json!({}));
        let p = "dbt-glue-interactive-session";
        assert_eq!(
            statement(&rs, p, "OutputObjectsReadWrite")["Resource"],
            json!(["arn:aws:s3:::dbt-demo-bucket/dbt_demo_data/*"])
        );
        assert_eq!(statement(&rs, p, "SourceObjectsRead")["Resource"], json!(["arn:aws:s3:::acme-lake/*"]));
        assert_eq!(
            statement(&rs, p, "BucketsList")["Resource"],
            json!(["arn:aws:s3:::acme-lake", "arn:aws:s3:::dbt-demo-bucket"])
        );
    }

    #[test]
    fn no_source_buckets_drops_their_statement() {
        let rs = dbt(json!({"source_buckets": []}));
        let doc = rs.iter().find_map(|r| match r {
            Resource::Policy { document, .. } => Some(document),
            _ => None,
        });
        assert!(!doc.unwrap().to_string().contains("SourceObjectsRead"));
    }

    #[test]
    fn grants_give_dbt_what_its_create_schema_gives() {
        let rs = dbt(json!({}));
        let perms = |addr: &str| -> Vec<String> {
            rs.iter()
                .find(|r| r.address() == addr)
                .map(|r| match r {
                    Resource::Grant { permissions, .. } => permissions.iter().cloned().collect(),
                    _ => vec![],
                })
                .unwrap_or_else(|| panic!("no {addr}"))
        };
        let role = "grant/role/dbt-glue-interactive-session";
        assert_eq!(perms(&format!("{role}/database/dbt_demo")), ["ALTER", "CREATE_TABLE", "DESCRIBE", "DROP"]);
        assert_eq!(
            perms(&format!("{role}/table/dbt_demo/*")),
            ["ALTER", "DELETE", "DESCRIBE", "DROP", "INSERT", "SELECT"]
        );
        assert_eq!(perms(&format!("{role}/database/sales")), ["DESCRIBE"]);
        assert_eq!(perms(&format!("{role}/table/sales/*")), ["DESCRIBE", "SELECT"]);
    }

    #[test]
    fn a_client_principal_gets_the_client_policy_and_pass_role_on_exactly_the_service_role() {
        let rs = dbt(json!({"client_principal": "arn:aws:iam::123456789012:user/alice"}));
        assert!(rs.iter().any(|r| r.address() == "attachment/user/alice/dbt-glue-client"));
        let pass = statement(&rs, "dbt-glue-client", "PassServiceRole");
        assert_eq!(pass["Resource"], json!(["arn:aws:iam::123456789012:role/dbt-glue-interactive-session"]));
        assert_eq!(pass["Condition"]["StringEquals"]["iam:PassedToService"], json!(["glue.amazonaws.com"]));
        let without = dbt(json!({}));
        assert!(!without.iter().any(|r| r.address().contains("dbt-glue-client")));
    }

    /// What the emulator cannot decide (it checks Glue calls against "*"), decided by
    /// IAM's evaluation logic over the rendered documents: the client lists the output
    /// database's tables and the sources', no other database's; the session role reads
    /// just the connections the profile names.
    #[test]
    fn the_client_lists_the_output_tables_and_the_session_reads_its_connections() {
        use crate::verify::evaluate::{Decision, Request, evaluate};
        let rs = dbt(json!({
            "client_principal": "arn:aws:iam::123456789012:user/alice",
            "profile": {"name": "dbt_demo", "schema": "dbt_demo", "connections": "warehouse-vpc"},
        }));
        let document = |policy: &str| {
            rs.iter()
                .find_map(|r| match r {
                    Resource::Policy { name, document, .. } if name == policy => Some(document),
                    _ => None,
                })
                .unwrap()
        };
        let context = Default::default();
        let decide = |policy: &str, action: &str, resource: &str| {
            let arn = format!("arn:aws:glue:us-east-1:123456789012:{resource}");
            evaluate(&[document(policy)], &Request { action, resource: &arn, context: &context })
        };
        for resource in ["catalog", "database/dbt_demo", "table/dbt_demo/orders", "database/sales"] {
            assert_eq!(decide("dbt-glue-client", "glue:GetTables", resource), Decision::Allowed, "{resource}");
        }
        assert_eq!(decide("dbt-glue-client", "glue:GetTables", "database/finance"), Decision::ImplicitDeny);
        assert_eq!(decide("dbt-glue-client", "glue:CreateTable", "database/dbt_demo"), Decision::ImplicitDeny);
        let role = "dbt-glue-interactive-session";
        for resource in ["catalog", "connection/warehouse-vpc"] {
            assert_eq!(decide(role, "glue:GetConnection", resource), Decision::Allowed, "{resource}");
        }
        assert_eq!(decide(role, "glue:GetConnection", "connection/other-vpc"), Decision::ImplicitDeny);
    }

    #[test]
    fn a_client_principal_of_another_account_is_refused() {
        let stack = Stack::shipped("dbt-glue").unwrap();
        let v = values(json!({"client_principal": "arn:aws:iam::999999999999:user/alice"})).unwrap();
        let e = render(&stack, &v, &facts(), "dbt").unwrap_err();
        assert!(e.to_string().contains("999999999999"), "{e}");
    }

    #[test]
    fn profile_name_and_schema_default_to_the_output_database() {
        let v = values(json!({"profile": {}})).unwrap();
        assert_eq!(v["profile"]["schema"], "dbt_demo");
        assert_eq!(v["profile"]["name"], "dbt_demo");
        assert_eq!(v["profile"]["path"], "~/.dbt/profiles.yml");
        assert_eq!(v["profile"]["workers"], 2);
    }

    #[test]
    fn the_seeds_rules_are_checked() {
        for (extra, field) in [
            (json!({"source_databases": ["dbt_demo"]}), "values.source_databases"),
            (json!({"profile": {"name": "p", "schema": "other"}}), "values.profile.schema"),
            (json!({"profile": {"name": "p", "schema": "dbt_demo", "workers": 0}}), "values.profile.workers"),
            (
                json!({"profile": {"name": "p", "schema": "dbt_demo", "worker_type": "G.3X"}}),
                "values.profile.worker_type",
            ),
            (json!({"location": "dbt-demo-bucket/x"}), "values.location"),
        ] {
            let e = values(extra.clone()).unwrap_err().to_string();
            assert!(e.contains(field), "{extra}: {e}");
        }
    }
}

/// The Secoda stack with every database's tables listed, rendered with the catalog's
/// `tables` (database → table → location).
fn listed(tables: Value, catalog: &[(&str, &str, &str)]) -> Result<Rendered, Error> {
    let stack = Stack::shipped("secoda-glue").unwrap();
    let dbs: Vec<&String> = tables.as_object().unwrap().keys().collect();
    let raw = json!({
        "external_id": "sec-7f3a9c21e4b8", "glue_buckets": ["acme-lake", "acme-raw"],
        "athena_output_bucket": "acme-athena-results", "databases": dbs, "tables": tables,
    });
    let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
    let mut known = Tables::new();
    for (db, t, location) in catalog {
        known.entry(db.to_string()).or_default().insert(t.to_string(), Some(location.to_string()));
    }
    render_scoped(&stack, &values, &facts(), "x", &ScopeInput { tables: Some(known), ..ScopeInput::default() })
}

#[test]
fn listed_tables_narrow_s3_reads_to_their_locations() {
    let catalog = [
        ("sales", "orders", "s3://acme-lake/sales/orders/"),
        ("sales", "customers", "s3://acme-lake/sales/customers/"),
        ("web", "clicks", "s3://acme-raw/web/clicks"),
        ("web", "views", "s3://acme-lake/web/views/"),
    ];
    let r = listed(json!({"sales": ["orders"], "web": ["clicks", "views"]}), &catalog).unwrap();
    assert_eq!(r.data_note, None);
    let doc = policy_doc(&r.resources);
    assert_eq!(
        statement(doc, "DataObjectsRead")["Resource"],
        json!([
            "arn:aws:s3:::acme-lake/sales/orders/*",
            "arn:aws:s3:::acme-lake/web/views/*",
            "arn:aws:s3:::acme-raw/web/clicks/*"
        ])
    );
    // Listing: one statement per database (and bucket), only under the tables' prefixes.
    let sales = statement(doc, "DataBucketsListSales");
    assert_eq!(sales["Action"], json!(["s3:ListBucket"]));
    assert_eq!(sales["Resource"], json!(["arn:aws:s3:::acme-lake"]));
    assert_eq!(sales["Condition"], json!({"StringLike": {"s3:prefix": ["sales/orders/*"]}}));
    let raw = statement(doc, "DataBucketsListWebInAcmeRaw");
    assert_eq!(raw["Resource"], json!(["arn:aws:s3:::acme-raw"]));
    assert_eq!(raw["Condition"]["StringLike"]["s3:prefix"], json!(["web/clicks/*"]));
    assert!(statement(doc, "DataBucketsListWebInAcmeLake")["Condition"].is_object());
    // Finding a bucket's region reveals no data: on the buckets, as before.
    assert_eq!(
        statement(doc, "DataBucketsFind")["Resource"],
        json!(["arn:aws:s3:::acme-lake", "arn:aws:s3:::acme-raw"])
    );
    assert!(!doc.to_string().contains("\"arn:aws:s3:::acme-lake/*\""), "{doc}");
}

#[test]
fn a_database_chosen_whole_keeps_s3_reads_bucket_wide_and_the_plan_says_so() {
    let catalog = [("sales", "orders", "s3://acme-lake/sales/orders/")];
    let r = listed(json!({"sales": ["orders"]}), &catalog).unwrap();
    assert!(policy_doc(&r.resources).to_string().contains("acme-lake/sales/orders/*"));
    // The same list, with marketing chosen whole beside it.
    let stack = Stack::shipped("secoda-glue").unwrap();
    let raw = json!({
        "external_id": "sec-7f3a9c21e4b8", "glue_buckets": ["acme-lake"],
        "athena_output_bucket": "acme-athena-results", "databases": ["sales", "marketing"],
        "tables": {"sales": ["orders"]},
    });
    let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
    let mut known = Tables::new();
    known.entry("sales".into()).or_default().insert("orders".into(), Some("s3://acme-lake/sales/orders/".into()));
    let scope = ScopeInput { tables: Some(known), ..ScopeInput::default() };
    let r = render_scoped(&stack, &values, &facts(), "x", &scope).unwrap();
    let doc = policy_doc(&r.resources);
    assert_eq!(statement(doc, "DataObjectsRead")["Resource"], json!(["arn:aws:s3:::acme-lake/*"]));
    assert_eq!(statement(doc, "DataBucketsList")["Resource"], json!(["arn:aws:s3:::acme-lake"]));
    assert!(statement(doc, "DataBucketsList").get("Condition").is_none());
    assert!(r.data_note.unwrap().contains("because marketing is chosen with all tables"));
}

#[test]
fn a_listed_table_outside_the_buckets_is_refused_naming_the_value() {
    let catalog = [("sales", "orders", "s3://somewhere-else/orders/")];
    let err = listed(json!({"sales": ["orders"]}), &catalog).unwrap_err();
    assert_eq!(
        err.to_string(),
        "deployments.x.values.glue_buckets does not include bucket somewhere-else, where listed table sales.orders is stored (s3://somewhere-else/orders/)"
    );
}

#[test]
fn thousands_of_listed_tables_spread_over_policies_with_their_databases() {
    let mut tables = serde_json::Map::new();
    let mut catalog = Vec::new();
    for d in 0..100 {
        let db = format!("sales_{d:03}");
        let names: Vec<String> = (0..20).map(|t| format!("orders_{t:02}")).collect();
        for t in &names {
            catalog.push((db.clone(), t.clone(), format!("s3://acme-lake/{db}/{t}/")));
        }
        tables.insert(db, json!(names));
    }
    let catalog: Vec<(&str, &str, &str)> =
        catalog.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
    let r = listed(Value::Object(tables.clone()), &catalog).unwrap();
    let docs = policies(&r);
    assert!(docs.len() > 10, "{}", docs.len());
    for (name, doc) in &docs {
        assert!(crate::policy::compact_len(doc) <= crate::policy::MANAGED_POLICY_LIMIT, "{name}");
        // A database's catalog and data resources share a policy.
        let text = doc.to_string();
        for d in 0..100 {
            let db = format!("sales_{d:03}");
            if text.contains(&format!("table/{db}/")) {
                assert!(text.contains(&format!("acme-lake/{db}/orders_00/*")), "{name}: {db}");
                assert!(text.contains(&data::sid_with("DataBucketsList", &db)), "{name}: {db}");
            }
        }
    }
    // Past the policy quota, S3 reads fall back to the buckets whole, and the plan says why.
    let stack = Stack::shipped("secoda-glue").unwrap();
    let dbs: Vec<&String> = tables.keys().collect();
    let raw = json!({
        "external_id": "sec-7f3a9c21e4b8", "glue_buckets": ["acme-lake"],
        "athena_output_bucket": "acme-athena-results", "databases": dbs, "tables": tables,
    });
    let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
    let mut known = Tables::new();
    for (db, t, location) in &catalog {
        known.entry(db.to_string()).or_default().insert(t.to_string(), Some(location.to_string()));
    }
    let scope = ScopeInput { tables: Some(known), policy_quota: Some(10), ..ScopeInput::default() };
    let wide = render_scoped(&stack, &values, &facts(), "x", &scope).unwrap();
    assert!(policies(&wide).len() < docs.len());
    assert!(allowed(&wide).contains(&"arn:aws:s3:::acme-lake/*".to_string()));
    let note = wide.data_note.unwrap();
    assert!(note.contains(&format!("would take {} managed policies, more than the 10", docs.len())), "{note}");
    // A database whose listed tables alone fill more than a policy: the same.
    let names: Vec<String> = (0..60).map(|t| format!("fact_table_with_a_long_name_{t:03}")).collect();
    let catalog: Vec<(String, String, String)> =
        names.iter().map(|t| ("warehouse".to_string(), t.clone(), format!("s3://acme-lake/warehouse/{t}/"))).collect();
    let catalog: Vec<(&str, &str, &str)> =
        catalog.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())).collect();
    let known = catalog.iter().fold(Tables::new(), |mut k, (db, t, l)| {
        k.entry(db.to_string()).or_default().insert(t.to_string(), Some(l.to_string()));
        k
    });
    let raw = json!({
        "external_id": "sec-7f3a9c21e4b8", "glue_buckets": ["acme-lake"],
        "athena_output_bucket": "acme-athena-results", "databases": ["warehouse"], "tables": {"warehouse": names},
    });
    let values = validate_values(&stack, raw.as_object().unwrap(), "values").unwrap();
    let scope = ScopeInput { tables: Some(known), policy_quota: Some(10), ..ScopeInput::default() };
    let big = render_scoped(&stack, &values, &facts(), "x", &scope);
    let note = big.unwrap().data_note.unwrap();
    assert!(note.contains("would not fit one database's listed tables in one managed policy"), "{note}");
}
