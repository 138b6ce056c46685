"""Benchmark scenarios: catalogs of a given size, seeded straight into moto, and the
lakepass.yaml that asks for access to all of it.

Why realistic names: policy size, request and response sizes grow with name length, so
`db_1` would flatter every figure. Names here are like `sales_eu_orders_0001`, 16-28
characters (about 21 on average). Seeding talks to moto directly (not through the proxy),
untimed, with a few threads because 5,000 tables one by one take a while.

The catalog is one Lake Formation governs, as the issue asks: the caller
(arn:aws:iam::123456789012:user/moto) is a data lake administrator, the account's default
permissions for new databases and tables are empty, and each database is created with
`CreateTableDefaultPermissions=[]`, so no IAM_ALLOWED_PRINCIPALS grant exists anywhere.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os

import boto3
import botocore.config

CALLER = "arn:aws:iam::123456789012:user/moto"

_DOMAINS = ["sales", "mkt", "finance", "ops", "hr", "product", "support", "supply", "risk", "growth"]
_REGIONS = ["eu", "us", "apac", "latam", "ww"]
_ENTITIES = ["orders", "customers", "events", "invoices", "sessions", "shipments", "payments", "clicks", "leads",
             "returns", "tickets"]
_TABLE_KINDS = ["fact", "dim", "stg", "agg"]
_TABLE_NOUNS = ["orders", "customer", "daily_revenue", "sessions", "line_items", "products", "events"]


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    databases: int
    # Tables per database; when > 0 each one is created and listed under `tables:`, so
    # grants go on named tables instead of on all tables of a database.
    tables_per_db: int = 0

    def database_names(self) -> list[str]:
        return [
            f"{_DOMAINS[i % 10]}_{_REGIONS[(i // 10) % 5]}_{_ENTITIES[(i * 7) % 11]}_{i + 1:04d}"
            for i in range(self.databases)
        ]

    def table_names(self) -> list[str]:
        return [
            f"{_TABLE_KINDS[j % 4]}_{_TABLE_NOUNS[(j * 3) % 7]}_{j + 1:03d}" for j in range(self.tables_per_db)
        ]

    def describe(self) -> str:
        if self.tables_per_db:
            return f"{self.databases} databases x {self.tables_per_db} tables, all listed"
        return f"{self.databases} databases"

    @staticmethod
    def parse(spec: str) -> "Scenario":
        """NAME=DATABASES or NAME=DATABASESxTABLES, e.g. `db40=40`, `tables5000=50x100`."""
        name, sep, size = spec.partition("=")
        if not sep or not name:
            raise ValueError(f"scenario {spec!r}: write NAME=DATABASES or NAME=DATABASESxTABLES")
        dbs, _, tables = size.lower().partition("x")
        return Scenario(name, int(dbs), int(tables or 0))


DEFAULT_SCENARIOS = [
    Scenario("db2", 2),
    Scenario("db40", 40),
    Scenario("db1000", 1000),
    Scenario("tables5000", 50, 100),
]


def _client(service: str, endpoint: str):
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(max_pool_connections=16, retries={"mode": "standard", "max_attempts": 3}),
    )


def _table_input(db: str, table: str) -> dict:
    return {
        "Name": table,
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet"},
        "PartitionKeys": [{"Name": "dt", "Type": "string"}],
        "StorageDescriptor": {
            "Columns": [
                {"Name": "id", "Type": "bigint"},
                {"Name": "customer_id", "Type": "bigint"},
                {"Name": "amount", "Type": "decimal(12,2)"},
                {"Name": "updated_at", "Type": "timestamp"},
            ],
            "Location": f"s3://acme-lake/{db}/{table}/",
            "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
            "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
            "SerdeInfo": {"SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"},
        },
    }


def seed(endpoint: str, scenario: Scenario, threads: int = 8) -> None:
    """Creates the scenario's catalog in a freshly reset moto at `endpoint`."""
    glue = _client("glue", endpoint)
    lf = _client("lakeformation", endpoint)
    lf.put_data_lake_settings(DataLakeSettings={
        "DataLakeAdmins": [{"DataLakePrincipalIdentifier": CALLER}],
        "CreateDatabaseDefaultPermissions": [],
        "CreateTableDefaultPermissions": [],
    })
    dbs = scenario.database_names()
    tables = scenario.table_names()

    def create_db(db):
        glue.create_database(DatabaseInput={
            "Name": db,
            "Description": f"{db.replace('_', ' ')} data",
            "LocationUri": f"s3://acme-lake/{db}/",
            "CreateTableDefaultPermissions": [],
        })

    def create_table(job):
        glue.create_table(DatabaseName=job[0], TableInput=_table_input(*job))

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(create_db, dbs))
        list(pool.map(create_table, [(db, t) for db in dbs for t in tables]))


def write_config(project_dir: str, scenario: Scenario) -> str:
    """Writes lakepass.yaml for the scenario (secoda-glue stack, role access)."""
    dbs = scenario.database_names()
    lines = [
        "deployments:",
        "  secoda:",
        "    stack: secoda-glue",
        "    region: us-east-1",
        "    values:",
        "      access: role",
        "      external_id: sec-7f3a9c21e4b8",
        "      glue_buckets: [acme-lake]",
        "      athena_output_bucket: acme-results",
        f"      databases: [{', '.join(dbs)}]",
    ]
    if scenario.tables_per_db:
        listed = ", ".join(scenario.table_names())
        lines.append("      tables:")
        lines.extend(f"        {db}: [{listed}]" for db in dbs)
    path = os.path.join(project_dir, "lakepass.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path
