//! `lakepass verify` end to end: from a good provision, break one thing at a time and
//! expect verify to name that one thing, its layer and its fix (exit 3).

mod support;

use support::*;

fn problems(run: &Run) -> Vec<String> {
    run.stdout.lines().filter(|l| l.trim_start().starts_with("PROBLEM")).map(|l| l.trim().to_string()).collect()
}

/// `lakepass verify`, which must exit 3: a check failed.
fn verify_fails(w: &World) -> Run {
    let run = w.run(&["verify"]);
    assert_eq!(run.code, 3, "{run:?}");
    run
}

async fn provisioned() -> World {
    let w = World::new().await;
    w.secoda(ROLE_VALUES);
    let run = w.run(&["provision", "--yes"]).ok();
    // A provision that changed something ends with the verification's one line.
    assert!(
        run.stdout.ends_with("\nVerified: role secoda-glue-role can see 2 database(s); 0 problem(s) in 32 check(s).\n"),
        "{}",
        run.stdout
    );
    w
}

#[tokio::test]
async fn a_good_provision_verifies() {
    let w = provisioned().await;
    let run = w.run(&["verify"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(problems(&run).is_empty(), "{}", run.stdout);
    assert!(
        run.stdout.ends_with("role secoda-glue-role can see 2 database(s); 0 problem(s) in 34 check(s).\n"),
        "{}",
        run.stdout
    );
    // Reading a database that was not chosen is refused by IAM (per-resource scope).
    assert!(
        run.stdout.contains("ok      must not read a database that was not chosen: IAM does not allow glue:GetTables on arn:aws:glue:us-east-1:123456789012:database/finance [built-in evaluator]"),
        "{}",
        run.stdout
    );
    let json = w.run(&["verify", "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["deployments"][0]["problems"], 0);
    assert_eq!(doc["deployments"][0]["databases"], 2);
    // The whole report, as a user reads it and as a program does.
    insta::assert_snapshot!("good_provision", run.stdout);
    insta::assert_snapshot!("good_provision_json", json.stdout);
}

#[tokio::test]
async fn a_revoked_grant_is_named_with_provision_as_the_fix() {
    let w = provisioned().await;
    use aws_sdk_lakeformation::types::{DataLakePrincipal, DatabaseResource, Permission, Resource};
    let principal = DataLakePrincipal::builder().data_lake_principal_identifier(role_arn("secoda-glue-role")).build();
    let resource = Resource::builder().database(DatabaseResource::builder().name("sales").build().unwrap()).build();
    w.aws
        .lf
        .revoke_permissions()
        .principal(principal)
        .resource(resource)
        .permissions(Permission::Describe)
        .send()
        .await
        .unwrap();
    let run = verify_fails(&w);
    assert_eq!(
        problems(&run),
        [
            "PROBLEM needs its grants: Lake Formation does not grant DESCRIBE on database sales [Lake Formation permissions]"
        ]
    );
    assert!(run.stdout.contains("fix: run `lakepass provision`: it grants them again"), "{}", run.stdout);
    insta::assert_snapshot!("revoked_grant", run.stdout);
}

#[tokio::test]
async fn a_detached_policy_is_named_for_every_call_it_allowed() {
    let w = provisioned().await;
    let arn = World::policy_arn("secoda-glue-policy");
    w.aws.iam.detach_role_policy().role_name("secoda-glue-role").policy_arn(&arn).send().await.unwrap();
    let run = verify_fails(&w);
    let found = problems(&run);
    assert!(
        found.contains(&"PROBLEM needs read the catalog of each chosen database: IAM does not allow glue:GetTables on arn:aws:glue:us-east-1:123456789012:database/sales [built-in evaluator]".to_string()),
        "{found:#?}"
    );
    assert!(found.iter().all(|p| p.contains("IAM does not allow")), "{found:#?}");
    assert!(
        run.stdout.contains("fix: no policy on role secoda-glue-role allows it: run `lakepass provision`"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn an_extra_policy_that_allows_writes_is_named_with_the_command_that_removes_it() {
    let w = provisioned().await;
    let extra = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:PutObject","Resource":"arn:aws:s3:::acme-lake/*"}]}"#;
    w.aws
        .iam
        .put_role_policy()
        .role_name("secoda-glue-role")
        .policy_name("uploads")
        .policy_document(extra)
        .send()
        .await
        .unwrap();
    let run = verify_fails(&w);
    assert_eq!(
        problems(&run),
        [
            "PROBLEM must not write or delete data: IAM allows s3:PutObject on arn:aws:s3:::acme-lake/* (inline policy uploads) [built-in evaluator]"
        ]
    );
    assert!(
        run.stdout.contains("fix: more than the vendor needs: aws iam delete-role-policy --role-name secoda-glue-role --policy-name uploads"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn iam_s_simulator_decides_where_it_answers() {
    let w = provisioned().await;
    // IAM allows what the vendor reads, but neither starting queries nor writing results
    // (the stand-in decides by action alone).
    w.proxy.simulate_allowing(&[
        "glue:GetDatabase",
        "glue:GetTables",
        "s3:ListBucket",
        "s3:GetObject",
        "athena:GetQueryResults",
    ]);
    w.proxy.clear();
    let run = verify_fails(&w);
    // Resources that need the same actions share a simulation: both chosen databases in
    // one call, not one each.
    let asked = w.proxy.actions().iter().filter(|a| *a == "iam:SimulatePrincipalPolicy").count();
    // 8 resources (3 databases, the bucket, its objects, the workgroup, the results' objects, `*`).
    assert_eq!(asked, 7, "{:?}", w.proxy.actions());
    assert_eq!(
        problems(&run),
        [
            "PROBLEM needs run preview queries in the workgroup: IAM does not allow athena:StartQueryExecution on arn:aws:athena:us-east-1:123456789012:workgroup/primary [IAM policy simulator]",
            "PROBLEM needs write query results: IAM does not allow s3:PutObject on arn:aws:s3:::acme-athena-results/* [IAM policy simulator]",
        ]
    );
}

#[tokio::test]
async fn a_workgroup_that_is_gone_or_writes_elsewhere_is_named() {
    let w = World::new().await;
    let athena = clients_athena(&w.emu.url).await;
    use aws_sdk_athena::types::{ResultConfiguration, WorkGroupConfiguration};
    let elsewhere = WorkGroupConfiguration::builder()
        .enforce_work_group_configuration(true)
        .result_configuration(ResultConfiguration::builder().output_location("s3://central-results/athena/").build())
        .build();
    athena.create_work_group().name("analytics").configuration(elsewhere).send().await.unwrap();
    w.secoda(&format!("{ROLE_VALUES}athena_workgroup: analytics\n"));
    w.run(&["provision", "--yes"]).ok();
    let run = verify_fails(&w);
    assert_eq!(
        problems(&run),
        [
            "PROBLEM query in its workgroup: Athena workgroup analytics enforces its results in s3://central-results/athena/, outside the results bucket acme-athena-results [Athena]"
        ]
    );
    assert!(run.stdout.contains("fix: set the deployment's results bucket to central-results"), "{}", run.stdout);

    athena.delete_work_group().work_group("analytics").send().await.unwrap();
    let run = verify_fails(&w);
    assert_eq!(problems(&run), ["PROBLEM query in its workgroup: Athena workgroup analytics does not exist [Athena]"]);
    assert!(run.stdout.contains("aws athena create-work-group --name analytics"), "{}", run.stdout);
}

#[tokio::test]
async fn a_table_stored_in_another_bucket_is_named() {
    let w = provisioned().await;
    use aws_sdk_glue::types::{StorageDescriptor, TableInput};
    let table = TableInput::builder()
        .name("refunds")
        .storage_descriptor(StorageDescriptor::builder().location("s3://finance-archive/refunds/").build())
        .build()
        .unwrap();
    w.aws.glue.create_table().database_name("sales").table_input(table).send().await.unwrap();
    let run = verify_fails(&w);
    assert_eq!(
        problems(&run),
        [
            "PROBLEM read the tables' data: S3 table sales.refunds is stored in s3://finance-archive/refunds/, in bucket finance-archive, which the vendor may not read [S3]"
        ]
    );
    assert!(run.stdout.contains("fix: add finance-archive to the deployment's data buckets"), "{}", run.stdout);
}

#[tokio::test]
async fn a_bucket_policy_that_admits_only_a_vpc_endpoint_is_named() {
    let w = provisioned().await;
    let s3 = clients_s3(&w.emu.url).await;
    s3.create_bucket().bucket("acme-lake").send().await.unwrap();
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Sid":"OnlyThroughOurEndpoint","Effect":"Deny","Principal":"*","Action":"s3:*","Resource":["arn:aws:s3:::acme-lake","arn:aws:s3:::acme-lake/*"],"Condition":{"StringNotEquals":{"aws:SourceVpce":"vpce-1a2b3c4d"}}}]}"#;
    s3.put_bucket_policy().bucket("acme-lake").policy(policy).send().await.unwrap();
    let run = verify_fails(&w);
    assert_eq!(
        problems(&run),
        [
            "PROBLEM read the data in each bucket: S3 the bucket policy of acme-lake may deny s3:GetObject to the vendor: a Deny applies under condition StringNotEquals on aws:SourceVpce, which requests from outside your network meet [S3]"
        ]
    );
    assert!(
        run.stdout.contains("\"aws:PrincipalArn\": \"arn:aws:iam::123456789012:role/secoda-glue-role\""),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_table_left_to_iam_is_named_as_lake_formation_not_governing_it() {
    let w = provisioned().await;
    use aws_sdk_lakeformation::types::{DataLakePrincipal, Permission, Resource, TableResource, TableWildcard};
    let everyone = DataLakePrincipal::builder().data_lake_principal_identifier("IAM_ALLOWED_PRINCIPALS").build();
    let tables = TableResource::builder()
        .database_name("marketing")
        .table_wildcard(TableWildcard::builder().build())
        .build()
        .unwrap();
    w.aws
        .lf
        .grant_permissions()
        .principal(everyone)
        .resource(Resource::builder().table(tables).build())
        .permissions(Permission::All)
        .send()
        .await
        .unwrap();
    let run = w.run(&["verify"]);
    assert_eq!(run.code, 0, "visible, so not a failure: {run:?}");
    assert!(
        run.stdout.contains("ok      note: Lake Formation does not govern database marketing (IAM_ALLOWED_PRINCIPALS): IAM alone decides who sees it"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_kms_key_whose_policy_leaves_the_vendor_out_is_named() {
    let w = provisioned().await;
    let s3 = clients_s3(&w.emu.url).await;
    let kms = clients_kms(&w.emu.url).await;
    let admins_only = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/admin"},"Action":"kms:*","Resource":"*"}]}"#;
    let key = kms.create_key().policy(admins_only).send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    s3.create_bucket().bucket("acme-lake").send().await.unwrap();
    use aws_sdk_s3::types::{
        ServerSideEncryption, ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration,
        ServerSideEncryptionRule,
    };
    let by_default = ServerSideEncryptionByDefault::builder()
        .sse_algorithm(ServerSideEncryption::AwsKms)
        .kms_master_key_id(&key_arn)
        .build()
        .unwrap();
    let rule = ServerSideEncryptionRule::builder().apply_server_side_encryption_by_default(by_default).build();
    let config = ServerSideEncryptionConfiguration::builder().rules(rule).build().unwrap();
    s3.put_bucket_encryption().bucket("acme-lake").server_side_encryption_configuration(config).send().await.unwrap();
    let run = verify_fails(&w);
    assert_eq!(
        problems(&run),
        [format!(
            "PROBLEM decrypt the data: KMS bucket acme-lake is encrypted with KMS key {key_arn}, which the vendor may not use to decrypt [KMS]"
        )]
    );
    assert!(
        run.stdout.contains(&format!("add a statement to the key policy of {key_arn} allowing \"kms:Decrypt\"")),
        "{}",
        run.stdout
    );
}

/// A database `web` whose two tables are stored side by side in the data bucket, each
/// with a data object.
async fn web_tables(w: &World) {
    use aws_sdk_glue::types::{DatabaseInput, StorageDescriptor, TableInput};
    let db = DatabaseInput::builder().name("web").build().unwrap();
    w.aws.glue.create_database().database_input(db).send().await.unwrap();
    let s3 = clients_s3(&w.emu.url).await;
    s3.create_bucket().bucket("acme-lake").send().await.unwrap();
    for table in ["clicks", "emails"] {
        let location = format!("s3://acme-lake/web/{table}/");
        let sd = StorageDescriptor::builder().location(&location).build();
        let input = TableInput::builder().name(table).storage_descriptor(sd).build().unwrap();
        w.aws.glue.create_table().database_name("web").table_input(input).send().await.unwrap();
        let body = aws_sdk_s3::primitives::ByteStream::from_static(b"id,value\n1,2\n");
        s3.put_object().bucket("acme-lake").key(format!("web/{table}/part-0.csv")).body(body).send().await.unwrap();
    }
}

#[tokio::test]
async fn listed_tables_narrow_s3_to_their_locations_and_verify_proves_the_rest_unreadable() {
    let w = World::new().await;
    web_tables(&w).await;
    let values = USER_VALUES.replace("[sales, marketing]", "[web]") + "tables: {web: [clicks]}\n";
    w.secoda(&values);
    let secret_path = w.dir.path().join("secret");
    w.run(&["provision", "--yes", "--secret-file", secret_path.to_str().unwrap()]).ok();
    let doc = w.policy_document("secoda-glue-policy").await;
    let text = doc.to_string();
    assert!(text.contains("\"arn:aws:s3:::acme-lake/web/clicks/*\""), "{text}");
    assert!(!text.contains("\"arn:aws:s3:::acme-lake/*\""), "{text}");
    assert!(text.contains("\"s3:prefix\":[\"web/clicks/*\"]"), "{text}");

    // verify proves the listed table readable and the other one not, decided by IAM.
    let run = w.run(&["verify"]);
    assert_eq!(run.code, 0, "{run:?}");
    insta::assert_snapshot!("listed_tables", run.stdout);
    for line in [
        "ok      needs list the chosen tables' data: IAM allows s3:ListBucket on arn:aws:s3:::acme-lake with s3:prefix \"web/clicks/\"",
        "ok      needs read the chosen tables' data: IAM allows s3:GetObject on arn:aws:s3:::acme-lake/web/clicks/*",
        "ok      must not read the data of a table that was not listed: IAM does not allow s3:GetObject on arn:aws:s3:::acme-lake/web/emails/*",
        "ok      must not read the data of a table that was not listed: IAM does not allow s3:ListBucket on arn:aws:s3:::acme-lake with s3:prefix \"web/emails/\"",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }

    // And S3 itself agrees, with the vendor's own key (the emulator checks S3 object ARNs).
    let key_id = w.access_keys("secoda-glue-user").await.remove(0);
    let secret = std::fs::read_to_string(&secret_path).unwrap().trim().to_string();
    let creds = aws_sdk_s3::config::Credentials::new(key_id, secret, None, None, "test");
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new("us-east-1"))
        .endpoint_url(&w.emu.url)
        .force_path_style(true)
        .credentials_provider(creds)
        .build();
    let vendor = aws_sdk_s3::Client::from_conf(conf);
    w.emu.post_body("/moto-api/reset-auth", "0").unwrap();
    let clicks = vendor.get_object().bucket("acme-lake").key("web/clicks/part-0.csv").send().await;
    let emails = vendor.get_object().bucket("acme-lake").key("web/emails/part-0.csv").send().await;
    w.emu.post_body("/moto-api/reset-auth", "inf").unwrap();
    assert!(clicks.is_ok(), "{clicks:?}");
    let refused = emails.unwrap_err();
    assert_eq!(aws_sdk_s3::error::ProvideErrorMetadata::code(&refused), Some("AccessDenied"), "{refused:?}");

    // A policy someone adds that reads the whole bucket is what verify must catch.
    let wide = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"arn:aws:s3:::acme-lake/*"}]}"#;
    w.aws
        .iam
        .put_user_policy()
        .user_name("secoda-glue-user")
        .policy_name("read-lake")
        .policy_document(wide)
        .send()
        .await
        .unwrap();
    let run = verify_fails(&w);
    assert_eq!(
        problems(&run),
        [
            "PROBLEM must not read the data of a table that was not listed: IAM allows s3:GetObject on arn:aws:s3:::acme-lake/web/emails/* (inline policy read-lake) [built-in evaluator]"
        ]
    );
    assert!(
        run.stdout.contains("aws iam delete-user-policy --user-name secoda-glue-user --policy-name read-lake"),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn a_listed_table_outside_the_data_buckets_is_refused_before_any_change() {
    let w = World::new().await;
    web_tables(&w).await;
    use aws_sdk_glue::types::{StorageDescriptor, TableInput};
    let sd = StorageDescriptor::builder().location("s3://acme-archive/web/old/").build();
    let input = TableInput::builder().name("old").storage_descriptor(sd).build().unwrap();
    w.aws.glue.create_table().database_name("web").table_input(input).send().await.unwrap();
    let values = ROLE_VALUES.replace("[sales, marketing]", "[web]") + "tables: {web: [clicks, old]}\n";
    w.secoda(&values);
    let run = w.run(&["provision", "--yes"]).fails();
    assert!(
        run.stderr.contains("deployments.secoda.values.glue_buckets does not include bucket acme-archive, where listed table web.old is stored (s3://acme-archive/web/old/)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(
            "add acme-archive to deployments.secoda.values.glue_buckets, or remove old from the tables listed for web"
        ),
        "{}",
        run.stderr
    );
    assert!(!w.policy_exists("secoda-glue-policy").await);
    assert!(w.state().is_none());
}

#[tokio::test]
async fn a_data_catalog_encrypted_with_a_key_the_vendor_may_not_use_is_named() {
    let w = provisioned().await;
    let kms = clients_kms(&w.emu.url).await;
    let admins_only = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:role/admin"},"Action":"kms:*","Resource":"*"}]}"#;
    let key = kms.create_key().policy(admins_only).send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    kms.create_alias().alias_name("alias/catalog").target_key_id(&key_arn).send().await.unwrap();
    use aws_sdk_glue::types::{CatalogEncryptionMode, DataCatalogEncryptionSettings, EncryptionAtRest};
    let encrypt = |key: &str| {
        let at_rest = EncryptionAtRest::builder()
            .catalog_encryption_mode(CatalogEncryptionMode::Ssekms)
            .sse_aws_kms_key_id(key)
            .build()
            .unwrap();
        DataCatalogEncryptionSettings::builder().encryption_at_rest(at_rest).build()
    };
    // Named by its alias, as the console writes it.
    let settings = encrypt("alias/catalog");
    w.aws.glue.put_data_catalog_encryption_settings().data_catalog_encryption_settings(settings).send().await.unwrap();
    let run = verify_fails(&w);
    assert_eq!(
        problems(&run),
        [format!(
            "PROBLEM see the catalog: KMS the Data Catalog is encrypted with KMS key {key_arn}, which the vendor may not use to decrypt: Glue hides every database and table from it [KMS]"
        )]
    );
    assert!(run.stdout.contains(&format!("fix: add a statement to the key policy of {key_arn}")), "{}", run.stdout);

    // A key policy that lets the vendor's role decrypt clears it.
    let vendor = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#,
        role_arn("secoda-glue-role")
    );
    kms.put_key_policy().key_id(&key_arn).policy_name("default").policy(vendor).send().await.unwrap();
    let run = w.run(&["verify"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!(
            "ok      see the catalog: KMS may use the key of the Data Catalog, {key_arn}, to decrypt"
        )),
        "{}",
        run.stdout
    );
}

#[tokio::test]
async fn tables_in_a_hybrid_access_location_without_the_vendor_opted_in_are_noted_with_the_command() {
    let w = World::new().await;
    web_tables(&w).await;
    w.secoda(&ROLE_VALUES.replace("[sales, marketing]", "[web]"));
    w.run(&["provision", "--yes"]).ok();
    // The emulator neither keeps hybrid access mode nor lists opt-ins: answered as AWS does.
    let location = serde_json::json!({"ResourceInfoList": [{"ResourceArn": "arn:aws:s3:::acme-lake/web",
        "RoleArn": "arn:aws:iam::123456789012:role/lf-registration", "HybridAccessEnabled": true}]});
    w.proxy.answer("lakeformation:ListResources", location);
    w.proxy.answer("lakeformation:ListLakeFormationOptIns", serde_json::json!({"LakeFormationOptInsInfoList": []}));
    let run = w.run(&["verify"]);
    assert_eq!(run.code, 0, "a note, not a failure: IAM still lets the vendor read {run:?}");
    let role = role_arn("secoda-glue-role");
    let note = format!(
        "ok      note: Lake Formation the vendor is not opted in to hybrid access mode for web (clicks, emails), whose data is in arn:aws:s3:::acme-lake/web, registered in hybrid access mode: Lake Formation's grants do not apply there and IAM alone decides. To have them apply, a data lake administrator runs: aws lakeformation create-lake-formation-opt-in --principal DataLakePrincipalIdentifier={role} --resource '{{\"Table\":{{\"DatabaseName\":\"web\",\"TableWildcard\":{{}}}}}}'"
    );
    assert!(run.stdout.contains(&note), "{}", run.stdout);

    // Opted in for all tables of web: nothing to say.
    let opted = serde_json::json!({"LakeFormationOptInsInfoList": [{
        "Resource": {"Table": {"CatalogId": "123456789012", "DatabaseName": "web", "TableWildcard": {}}},
        "Principal": {"DataLakePrincipalIdentifier": role}, "LastModified": 1.7e9, "LastUpdatedBy": "admin"}]});
    w.proxy.answer("lakeformation:ListLakeFormationOptIns", opted);
    let run = w.run(&["verify"]);
    assert!(!run.stdout.contains("opted in"), "{}", run.stdout);
}

#[tokio::test]
async fn a_workgroup_that_encrypts_results_with_a_key_the_vendor_may_not_use_is_named() {
    let w = World::new().await;
    let kms = clients_kms(&w.emu.url).await;
    let decrypt_only = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{}"}},"Action":"kms:Decrypt","Resource":"*"}}]}}"#,
        role_arn("secoda-glue-role")
    );
    let key = kms.create_key().policy(decrypt_only).send().await.unwrap();
    let key_arn = key.key_metadata().unwrap().arn().unwrap().to_string();
    let athena = clients_athena(&w.emu.url).await;
    use aws_sdk_athena::types::{
        EncryptionConfiguration, EncryptionOption, ResultConfiguration, WorkGroupConfiguration,
    };
    let encryption = EncryptionConfiguration::builder()
        .encryption_option(EncryptionOption::SseKms)
        .kms_key(&key_arn)
        .build()
        .unwrap();
    let results = ResultConfiguration::builder()
        .output_location("s3://acme-athena-results/")
        .encryption_configuration(encryption)
        .build();
    let config = WorkGroupConfiguration::builder().result_configuration(results).build();
    athena.create_work_group().name("analytics").configuration(config).send().await.unwrap();
    w.secoda(&format!("{ROLE_VALUES}athena_workgroup: analytics\n"));
    w.run(&["provision", "--yes"]).ok();
    let run = verify_fails(&w);
    assert_eq!(
        problems(&run),
        [format!(
            "PROBLEM query in its workgroup: KMS workgroup analytics's query results are encrypted with KMS key {key_arn}, which the vendor may not use to write and read them: every preview query fails [KMS]"
        )]
    );
    assert!(
        run.stdout
            .contains(&format!("add a statement to the key policy of {key_arn} allowing \"kms:GenerateDataKey\" to")),
        "{}",
        run.stdout
    );
}
