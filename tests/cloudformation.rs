//! `lakepass export`: every shipped stack's template passes cfn-lint, and a template
//! builds what `provision` builds: the same policy documents, trust policy, attachments and
//! Lake Formation grants (the emulator's CloudFormation skips Lake Formation resources, so
//! the grants are compared on the template).

mod support;

use lakepass::stack::{ParamType, Stack};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::process::Command;
use support::*;

fn deploy(w: &World, stack: &str, values: &serde_json::Map<String, Value>) {
    let values = serde_json::to_string(values).unwrap();
    w.config(&format!("deployments:\n  d:\n    stack: {stack}\n    region: us-east-1\n    values: {values}\n"));
}

/// The example values of `stack`, with role access where it offers a choice.
fn example(stack: &Stack) -> serde_json::Map<String, Value> {
    let mut values = stack.example.clone().unwrap();
    if stack.parameters.iter().any(|p| p.kind == ParamType::Choice && p.name == "access") {
        values.insert("access".into(), json!("role"));
    }
    if let Some(Value::Object(profile)) = values.get_mut("profile") {
        profile.insert("path".into(), json!("./profiles.yml"));
    }
    values
}

fn export(w: &World) -> Value {
    let run = w.run(&["export", "--output", "template.json"]).ok();
    assert!(run.stderr.contains("Wrote template.json"), "{run:?}");
    serde_json::from_str(&std::fs::read_to_string(w.dir.path().join("template.json")).unwrap()).unwrap()
}

/// The template with its intrinsic functions resolved as CloudFormation would in the
/// emulator's account, with the parameters' defaults.
fn resolve(t: &Value, v: &Value) -> Value {
    let param = |name: &str| t["Parameters"][name]["Default"].as_str().map(str::to_string);
    let logical = |id: &str| -> (String, String) {
        let r = &t["Resources"][id];
        match r["Type"].as_str().unwrap() {
            "AWS::IAM::Role" => {
                let n = r["Properties"]["RoleName"].as_str().unwrap();
                (n.to_string(), role_arn(n))
            }
            "AWS::IAM::User" => {
                let n = r["Properties"]["UserName"].as_str().unwrap();
                (n.to_string(), user_arn(n))
            }
            other => panic!("a reference to a {other}"),
        }
    };
    match v {
        Value::Object(o) if o.len() == 1 && o.contains_key("Fn::Sub") => {
            let mut s = o["Fn::Sub"].as_str().unwrap().to_string();
            for (k, with) in [("AWS::Partition", "aws"), ("AWS::Region", "us-east-1"), ("AWS::AccountId", ACCOUNT)] {
                s = s.replace(&format!("${{{k}}}"), with);
            }
            assert!(!s.contains("${") || s.contains("${!"), "an unresolved reference in {s}");
            json!(s.replace("${!", "${"))
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("Ref") => {
            let name = o["Ref"].as_str().unwrap();
            match name {
                "AWS::AccountId" => json!(ACCOUNT),
                "AWS::Region" => json!("us-east-1"),
                _ => json!(param(name).unwrap_or_else(|| logical(name).0)),
            }
        }
        Value::Object(o) if o.len() == 1 && o.contains_key("Fn::GetAtt") => {
            json!(logical(o["Fn::GetAtt"][0].as_str().unwrap()).1)
        }
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), resolve(t, v))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(|v| resolve(t, v)).collect()),
        other => other.clone(),
    }
}

fn of_type<'a>(t: &'a Value, kind: &str) -> Vec<&'a Value> {
    t["Resources"].as_object().unwrap().values().filter(|r| r["Type"] == kind).map(|r| &r["Properties"]).collect()
}

#[tokio::test]
async fn every_shipped_stack_exports_a_template_that_cfn_lint_accepts() {
    let w = World::new().await;
    w.aws.iam.create_user().user_name("alice").send().await.unwrap();
    let lint = support::venv_python().with_file_name("cfn-lint");
    let before = w.snapshot().await;
    for stack in Stack::all_shipped().unwrap() {
        deploy(&w, &stack.name, &example(&stack));
        let t = export(&w);
        assert!(!of_type(&t, "AWS::LakeFormation::PrincipalPermissions").is_empty(), "{}: no grant", stack.name);
        let out = Command::new(&lint).arg(w.dir.path().join("template.json")).output().unwrap();
        assert!(
            out.status.success(),
            "{}: cfn-lint:\n{}{}",
            stack.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(w.snapshot().await, before, "export changes nothing");
    assert!(w.state_of("d").is_none(), "and writes no state");
}

#[tokio::test]
async fn a_template_builds_what_provision_builds() {
    let w = World::new().await;
    w.aws.iam.create_user().user_name("alice").send().await.unwrap();
    for stack in Stack::all_shipped().unwrap() {
        let values = example(&stack);
        deploy(&w, &stack.name, &values);
        let t = export(&w);
        let resolved = resolve(&t, &t["Resources"]);
        let template = json!({"Resources": resolved});
        w.run(&["provision", "--yes"]).ok();
        let ctx = &stack.name;

        // The same role, trust policy and policies, attached to the same principals.
        for role in of_type(&template, "AWS::IAM::Role") {
            let name = role["RoleName"].as_str().unwrap();
            let live = w.role(name).await.unwrap_or_else(|| panic!("{ctx}: provision made no role {name}"));
            assert_eq!(
                decode(live.assume_role_policy_document().unwrap()),
                role["AssumeRolePolicyDocument"],
                "{ctx}: trust"
            );
        }
        let mut attached: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for policy in of_type(&template, "AWS::IAM::ManagedPolicy") {
            let name = policy["ManagedPolicyName"].as_str().unwrap();
            assert_eq!(w.policy_document(name).await, policy["PolicyDocument"], "{ctx}: policy {name}");
            for role in policy["Roles"].as_array().into_iter().flatten() {
                attached.entry(role.as_str().unwrap().to_string()).or_default().push(name.to_string());
            }
        }
        for (role, mut policies) in attached {
            let mut live = w.role_policies(&role).await;
            live.sort();
            policies.sort();
            assert_eq!(live, policies, "{ctx}: policies on {role}");
        }
        // The same Lake Formation grants, principal by principal.
        let mut expected: Vec<(String, String, Vec<String>)> =
            of_type(&template, "AWS::LakeFormation::PrincipalPermissions")
                .into_iter()
                .map(|g| {
                    let r = &g["Resource"];
                    let target = if let Some(db) = r.get("Database") {
                        format!("database/{}", db["Name"].as_str().unwrap())
                    } else if r["Table"].get("TableWildcard").is_some() {
                        format!("table/{}/*", r["Table"]["DatabaseName"].as_str().unwrap())
                    } else {
                        format!(
                            "table/{}/{}",
                            r["Table"]["DatabaseName"].as_str().unwrap(),
                            r["Table"]["Name"].as_str().unwrap()
                        )
                    };
                    let permissions =
                        g["Permissions"].as_array().unwrap().iter().map(|p| p.as_str().unwrap().to_string()).collect();
                    (g["Principal"]["DataLakePrincipalIdentifier"].as_str().unwrap().to_string(), target, permissions)
                })
                .collect();
        let mut live = w.grants().await;
        for g in live.iter_mut().chain(expected.iter_mut()) {
            g.2.sort();
        }
        live.sort();
        expected.sort();
        assert_eq!(live, expected, "{ctx}: grants");
        w.run(&["teardown", "--yes"]).ok();
    }
}

#[tokio::test]
async fn user_access_is_not_exported_because_the_stack_would_hold_the_secret() {
    let w = World::new().await;
    w.secoda(USER_VALUES);
    let run = w.run(&["export"]).fails();
    insta::assert_snapshot!("user_access_refused", run.stderr);
    assert_eq!(run.stdout, "", "no template");
}

/// The template a reviewer reads, for the secoda-glue example with role access.
#[tokio::test]
async fn the_secoda_template_is_pinned() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    let run = w.run(&["export"]).ok();
    insta::assert_snapshot!("secoda_role_template", run.stdout);
}

/// `--upload` puts the template in S3 (in the bucket's own region), prints the console
/// link that launches it with the external ID filled in, replaces only its own template,
/// and refuses a key holding anything else.
#[tokio::test]
async fn an_uploaded_template_is_the_export_and_the_link_launches_it() {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    let s3 = clients_s3(&w.emu.url).await;
    let eu = aws_sdk_s3::types::CreateBucketConfiguration::builder()
        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::EuWest1)
        .build();
    s3.create_bucket().bucket("acme-platform").create_bucket_configuration(eu).send().await.unwrap();
    let object = |key: &'static str| {
        let s3 = s3.clone();
        async move {
            let out = s3.get_object().bucket("acme-platform").key(key).send().await.ok()?;
            Some(String::from_utf8(out.body.collect().await.unwrap().to_vec()).unwrap())
        }
    };
    let printed = w.run(&["export"]).ok().stdout;
    let before = w.snapshot().await;

    let run = w.run(&["export", "--upload", "s3://acme-platform/cfn/"]).ok();
    assert_eq!(object("cfn/lakepass-secoda.json").await.as_deref(), Some(printed.as_str()), "the template as printed");
    assert_eq!(
        run.stdout.trim(),
        "https://console.aws.amazon.com/cloudformation/home?region=us-east-1#/stacks/create/review\
         ?templateURL=https%3A%2F%2Facme-platform.s3.eu-west-1.amazonaws.com%2Fcfn%2Flakepass-secoda.json\
         &stackName=lakepass-secoda&param_ExternalId=sec-7f3a9c21e4b8"
    );
    insta::assert_snapshot!("upload_stderr", run.stderr);

    // Run again with another external ID: its own template is replaced.
    w.secoda(&ROLE_VALUES.replace("sec-7f3a9c21e4b8", "sec-000000000001"));
    let run = w.run(&["export", "--upload", "s3://acme-platform/cfn/lakepass-secoda.json"]).ok();
    assert!(run.stdout.contains("param_ExternalId=sec-000000000001"), "{run:?}");
    assert!(object("cfn/lakepass-secoda.json").await.unwrap().contains("sec-000000000001"));

    // Someone else's object is left as it was.
    s3.put_object()
        .bucket("acme-platform")
        .key("cfn/theirs.json")
        .body("{}".as_bytes().to_vec().into())
        .send()
        .await
        .unwrap();
    let run = w.run(&["export", "--upload", "s3://acme-platform/cfn/theirs.json"]).fails();
    insta::assert_snapshot!("upload_refuses_a_foreign_object", run.stderr);
    assert_eq!(object("cfn/theirs.json").await.as_deref(), Some("{}"));
    let run = w.run(&["export", "--upload", "s3://no-such-bucket/t.json"]).fails();
    insta::assert_snapshot!("upload_to_a_missing_bucket", run.stderr);

    assert_eq!(w.snapshot().await, before, "nothing in IAM or Lake Formation changed");
    assert!(w.state_of("secoda").is_none(), "and no state was written");
}

fn stack_engine(w: &World, values: &str) {
    w.secoda(values);
    let yaml = std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap();
    w.config(&yaml.replace("    region: us-east-1\n", "    region: us-east-1\n    engine: cloudformation\n"));
}

/// `text` with each stack ID's random part replaced.
fn redact_stack_ids(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find(":stack/lakepass-secoda/") {
        let end = i + ":stack/lakepass-secoda/".len();
        out.push_str(&rest[..end]);
        out.push_str("<id>");
        rest = &rest[(end + 36).min(rest.len())..];
    }
    out.push_str(rest);
    out
}

async fn stacks(w: &World) -> Vec<(String, String)> {
    let cf = aws_sdk_cloudformation::Client::new(&sdk_config(&w.emu.url).await);
    let out = cf.describe_stacks().send().await.unwrap();
    out.stacks()
        .iter()
        .map(|s| (s.stack_name().unwrap().to_string(), s.stack_status().unwrap().as_str().to_string()))
        .collect()
}

/// `engine: cloudformation`: the plan of a new stack changes nothing; provision builds the
/// role and policy through the stack, records its ID and hands over; a second plan has no
/// changes; a values edit shows the policy diff; teardown deletes the stack and what it
/// held, and the state.
#[tokio::test]
async fn the_stack_engine_provisions_plans_and_tears_down() {
    let w = World::new().await;
    stack_engine(&w, ROLE_VALUES);
    let before = w.snapshot().await;
    let plan = w.run(&["provision", "--plan"]).ok();
    insta::assert_snapshot!("stack_plan_new", plan.stdout);
    let json = w.run(&["provision", "--plan", "--json"]).ok();
    insta::assert_snapshot!("stack_plan_new_json", json.stdout);
    assert_eq!(w.snapshot().await, before, "a plan changes nothing");
    assert_eq!(stacks(&w).await, vec![], "not even a stack in review");
    assert!(w.state_of("secoda").is_none());

    let run = w.run(&["provision", "--yes"]).ok();
    insta::assert_snapshot!("stack_apply", run.stdout);
    assert_eq!(stacks(&w).await, vec![("lakepass-secoda".to_string(), "CREATE_COMPLETE".to_string())]);
    assert!(w.role("secoda-glue-role").await.is_some());
    assert_eq!(w.role_policies("secoda-glue-role").await, vec!["secoda-glue-policy".to_string()]);
    let state = w.state_of("secoda").unwrap();
    assert!(state["stack_id"].as_str().unwrap().contains(":stack/lakepass-secoda/"), "{state}");
    assert_eq!(state["resources"], json!({}), "the stack, not the state, holds the resources");

    let status = w.run(&["status"]).ok();
    insta::assert_snapshot!("stack_status", status.stdout);
    let again = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.starts_with("No changes."), "{}", again.stdout);

    stack_engine(&w, &ROLE_VALUES.replace("[sales, marketing]", "[sales, marketing, finance]"));
    let edit = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(edit.code, 2, "{edit:?}");
    insta::assert_snapshot!("stack_plan_edit", edit.stdout);
    w.run(&["provision", "--yes"]).ok();
    // The emulator's CloudFormation does not update a managed policy's document (see
    // docs/cloudformation.md): the stack's template is what it would apply.
    let cf = aws_sdk_cloudformation::Client::new(&sdk_config(&w.emu.url).await);
    let template = cf.get_template().stack_name("lakepass-secoda").send().await.unwrap();
    assert!(template.template_body().unwrap().contains("database/finance"));
    assert_eq!(w.run(&["provision", "--plan", "--detailed-exitcode"]).code, 0, "applied");

    let down = w.run(&["teardown", "--plan"]).ok();
    insta::assert_snapshot!("stack_teardown_plan", down.stdout);
    let down = w.run(&["teardown", "--yes"]).ok();
    insta::assert_snapshot!("stack_teardown", down.stdout);
    assert!(w.role("secoda-glue-role").await.is_none());
    assert!(!w.policy_exists("secoda-glue-policy").await);
    assert_eq!(stacks(&w).await, vec![]);
    assert!(w.state_of("secoda").is_none());
    assert_eq!(w.snapshot().await, before, "nothing left");
}

/// A stack of the deployment's name that lakepass did not create, a role the stack would
/// need that exists, and a deployment the other engine built are refused before any change.
#[tokio::test]
async fn the_stack_engine_takes_nothing_it_did_not_make() {
    let w = World::new().await;
    let cf = aws_sdk_cloudformation::Client::new(&sdk_config(&w.emu.url).await);
    let theirs = r#"{"Resources": {"Q": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "theirs", "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []}}}}}"#;
    cf.create_stack().stack_name("lakepass-secoda").template_body(theirs).send().await.unwrap();
    stack_engine(&w, ROLE_VALUES);
    let run = w.run(&["provision", "--yes"]).fails();
    insta::assert_snapshot!("stack_not_ours", redact_stack_ids(&run.stderr));
    let run = w.run(&["teardown", "--yes"]).ok();
    assert!(run.stdout.starts_with("Nothing to tear down"), "{run:?}");
    assert_eq!(stacks(&w).await, vec![("lakepass-secoda".to_string(), "CREATE_COMPLETE".to_string())], "left alone");
    assert!(w.role("theirs").await.is_some());
    cf.delete_stack().stack_name("lakepass-secoda").send().await.unwrap();

    let before = w.snapshot().await;
    w.aws.iam.create_role().role_name("secoda-glue-role").assume_role_policy_document("{}").send().await.unwrap();
    let run = w.run(&["provision", "--yes"]).fails();
    insta::assert_snapshot!("stack_name_taken", redact_stack_ids(&run.stderr));
    w.aws.iam.delete_role().role_name("secoda-glue-role").send().await.unwrap();
    assert_eq!(w.snapshot().await, before, "nothing changed");
    assert!(w.state_of("secoda").is_none());

    // Built by lakepass's own engine, then switched: refused, both ways.
    w.secoda(ROLE_VALUES);
    w.run(&["provision", "--yes"]).ok();
    stack_engine(&w, ROLE_VALUES);
    let run = w.run(&["provision", "--plan"]).fails();
    insta::assert_snapshot!("stack_engine_switched", redact_stack_ids(&run.stderr));
}

/// A run that dies once the stack is made but before its ID is recorded: the next run
/// finds the stack as its own (the state noted it before creating it) and finishes.
#[tokio::test]
async fn an_interrupted_stack_provision_converges() {
    let w = World::new().await;
    stack_engine(&w, ROLE_VALUES);
    let mut cmd = w.command(&["provision", "--yes"]);
    cmd.env("LAKEPASS_FAULT_CRASH_AFTER_ACTIONS", "1");
    let crashed = run(cmd, &w.emu);
    assert_eq!(crashed.code, 101, "{crashed:?}");
    assert_eq!(stacks(&w).await, vec![("lakepass-secoda".to_string(), "CREATE_COMPLETE".to_string())]);
    let state = w.state_of("secoda").unwrap();
    assert!(state.get("stack_id").is_none(), "{state}");
    assert_eq!(state["pending"], json!(["cloudformation-stack/lakepass-secoda"]));

    let plan = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 0, "the stack is found as made: {plan:?}");
    w.run(&["provision", "--yes"]).ok();
    let state = w.state_of("secoda").unwrap();
    assert!(state["stack_id"].as_str().unwrap().contains(":stack/lakepass-secoda/"), "{state}");
    assert!(state.get("pending").is_none(), "{state}");
    w.run(&["teardown", "--yes"]).ok();
    assert_eq!(stacks(&w).await, vec![]);
    assert!(w.role("secoda-glue-role").await.is_none());
}

/// Runs `script` with the emulator's boto3 (for what the Rust tests have no client of:
/// AWS Organizations, and calls as another account), printing JSON.
fn boto3(w: &World, script: &str) -> Value {
    let out = Command::new(support::venv_python())
        .arg("-c")
        .arg(format!(
            "import boto3, json, sys\nURL = sys.argv[1]\ndef client(name, **kw):\n    return boto3.client(name, endpoint_url=URL, region_name='us-east-1', **kw)\n{script}"
        ))
        .arg(&w.emu.url)
        .envs(support::env(&w.emu.url, w.dir.path()))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Whether role `name` exists in `account`, asked as that account.
fn role_in(w: &World, account: &str, name: &str) -> bool {
    let found = boto3(
        w,
        &format!(
            "c = client('sts').assume_role(RoleArn='arn:aws:iam::{account}:role/probe', RoleSessionName='probe')['Credentials']\n\
             iam = client('iam', aws_access_key_id=c['AccessKeyId'], aws_secret_access_key=c['SecretAccessKey'], aws_session_token=c['SessionToken'])\n\
             print(json.dumps([r['RoleName'] for r in iam.list_roles()['Roles']]))"
        ),
    );
    found.as_array().unwrap().iter().any(|r| r == name)
}

/// The emulator deletes a stack's role before detaching the stack's policy from it, and
/// fails ("must detach all policies first"); AWS orders the deletes by dependency. In the
/// target accounts lakepass cannot clean up after it, so the test detaches first.
fn detach_for_the_emulator(w: &World, account: &str) {
    boto3(
        w,
        &format!(
            "c = client('sts').assume_role(RoleArn='arn:aws:iam::{account}:role/probe', RoleSessionName='probe')['Credentials']\n\
             iam = client('iam', aws_access_key_id=c['AccessKeyId'], aws_secret_access_key=c['SecretAccessKey'], aws_session_token=c['SessionToken'])\n\
             for p in iam.list_attached_role_policies(RoleName='secoda-glue-role')['AttachedPolicies']:\n\
             \x20   iam.detach_role_policy(RoleName='secoda-glue-role', PolicyArn=p['PolicyArn'])\n\
             print('[]')"
        ),
    );
}

fn stack_set(w: &World, targets: &str) {
    stack_engine(w, ROLE_VALUES);
    let yaml = std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap();
    w.config(
        &yaml.replace("    engine: cloudformation\n", &format!("    engine: cloudformation\n    targets: {targets}\n")),
    );
}

/// `targets: {organizational_units: [...]}`: a service-managed StackSet reaches both
/// accounts of a unit of the emulator's organization with the vendor's role; status shows
/// each instance; teardown plans the instances, then the StackSet.
#[tokio::test]
async fn a_stack_set_reaches_every_account_of_a_unit() {
    let w = World::new().await;
    let org = boto3(
        &w,
        "o = client('organizations')\n\
         o.create_organization(FeatureSet='ALL')\n\
         root = o.list_roots()['Roots'][0]['Id']\n\
         ou = o.create_organizational_unit(ParentId=root, Name='data')['OrganizationalUnit']['Id']\n\
         accounts = []\n\
         for n in ['lake-a', 'lake-b']:\n\
         \x20   a = o.create_account(Email=n + '@example.com', AccountName=n)['CreateAccountStatus']['AccountId']\n\
         \x20   o.move_account(AccountId=a, SourceParentId=root, DestinationParentId=ou)\n\
         \x20   accounts.append(a)\n\
         print(json.dumps({'ou': ou, 'accounts': sorted(accounts)}))",
    );
    let ou = org["ou"].as_str().unwrap();
    let accounts: Vec<&str> = org["accounts"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    let redact =
        |s: &str| s.replace(ou, "<ou>").replace(accounts[0], "<account-a>").replace(accounts[1], "<account-b>");
    stack_set(&w, &format!("{{organizational_units: [{ou}]}}"));

    let plan = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(plan.code, 2, "{plan:?}");
    insta::assert_snapshot!("stack_set_plan", redact(&plan.stdout));
    let run = w.run(&["provision", "--yes"]).ok();
    insta::assert_snapshot!("stack_set_apply", redact(&run.stdout));
    for a in &accounts {
        assert!(role_in(&w, a, "secoda-glue-role"), "the role in {a}");
    }
    assert!(w.role("secoda-glue-role").await.is_none(), "not in the account that deploys");
    assert!(w.state_of("secoda").unwrap()["stack_set_id"].as_str().unwrap().starts_with("lakepass-secoda"));
    let again = w.run(&["provision", "--plan", "--detailed-exitcode"]);
    assert_eq!(again.code, 0, "{again:?}");
    let status = w.run(&["status"]).ok();
    insta::assert_snapshot!("stack_set_status", redact(&status.stdout));

    // The emulator ignores organizational units when it deletes instances, so a
    // service-managed teardown is shown as a plan here; the self-managed test below
    // tears down for real.
    let down = w.run(&["teardown", "--plan"]).ok();
    insta::assert_snapshot!("stack_set_teardown_plan", redact(&down.stdout));
    let refused = w.run(&["teardown", "--yes"]).fails();
    assert!(refused.stderr.contains("still has stack instances in"), "{refused:?}");
    assert!(w.state_of("secoda").unwrap()["stack_set_id"].is_string(), "the state is kept");
}

/// Accounts listed by id make a self-managed StackSet, which needs AWS's administration
/// role here: without it, the plan says which roles to create.
#[tokio::test]
async fn a_self_managed_stack_set_names_the_roles_it_needs() {
    let w = World::new().await;
    stack_set(&w, "{accounts: [\"111111111111\", \"222222222222\"], regions: [us-east-1]}");
    let refused = w.run(&["provision", "--plan"]).fails();
    insta::assert_snapshot!("stack_set_self_managed_roles", refused.stderr);
    w.aws
        .iam
        .create_role()
        .role_name("AWSCloudFormationStackSetAdministrationRole")
        .assume_role_policy_document("{}")
        .send()
        .await
        .unwrap();
    w.run(&["provision", "--yes"]).ok();
    assert!(role_in(&w, "111111111111", "secoda-glue-role"));
    assert!(role_in(&w, "222222222222", "secoda-glue-role"));
    // Another database: every instance gets the new template.
    let targets = "{accounts: [\"111111111111\", \"222222222222\"], regions: [us-east-1]}";
    stack_engine(&w, &ROLE_VALUES.replace("[sales, marketing]", "[sales, marketing, finance]"));
    let yaml = std::fs::read_to_string(w.dir.path().join("lakepass.yaml")).unwrap();
    w.config(
        &yaml.replace("    engine: cloudformation\n", &format!("    engine: cloudformation\n    targets: {targets}\n")),
    );
    let edit = w.run(&["provision", "--plan"]).ok();
    insta::assert_snapshot!("stack_set_plan_edit", edit.stdout);
    w.run(&["provision", "--yes"]).ok();
    let body = boto3(
        &w,
        "print(json.dumps(client('cloudformation').describe_stack_set(StackSetName='lakepass-secoda')['StackSet']['TemplateBody']))",
    );
    assert!(body.as_str().unwrap().contains("database/finance"));
    assert_eq!(w.run(&["provision", "--plan", "--detailed-exitcode"]).code, 0);
    // One account fewer: its instance goes, the other stays.
    stack_set(&w, "{accounts: [\"111111111111\"], regions: [us-east-1]}");
    let plan = w.run(&["provision", "--plan"]).ok();
    assert!(plan.stdout.contains("  - stack instance in account 222222222222, us-east-1\n"), "{}", plan.stdout);
    detach_for_the_emulator(&w, "222222222222");
    w.run(&["provision", "--yes"]).ok();
    assert!(!role_in(&w, "222222222222", "secoda-glue-role"));
    assert!(role_in(&w, "111111111111", "secoda-glue-role"));
    detach_for_the_emulator(&w, "111111111111");
    let down = w.run(&["teardown", "--yes"]).ok();
    insta::assert_snapshot!("stack_set_teardown", down.stdout);
    assert!(!role_in(&w, "111111111111", "secoda-glue-role"));
    let sets =
        boto3(&w, "print(json.dumps([s['Status'] for s in client('cloudformation').list_stack_sets()['Summaries']]))");
    assert!(sets.as_array().unwrap().iter().all(|s| s == "DELETED"), "{sets}");
    assert!(w.state_of("secoda").is_none());
}
