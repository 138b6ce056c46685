"""The demo behind scripts/demo: a private emulator with a demo catalog, and the wizard.

Every AWS_* variable of the caller's environment is dropped and the emulator's own set:
credentials, config files, profiles and per-service endpoints of a real account cannot
leak in. A --profile argument, which would name a real account, is refused.

Usage: python scripts/demo.py --lakepass PATH -- [wizard arguments]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib.moto import Moto  # noqa: E402

REGION = "us-east-1"
CALLER = "arn:aws:iam::123456789012:user/moto"
# database -> tables, each stored under s3://acme-lake/<database>/<table>/
CATALOG = {
    "sales": ["orders", "customers"],
    "marketing": ["campaigns"],
    "finance": ["invoices", "payments"],
}


def seed(env: dict[str, str]) -> None:
    """The demo account: a catalog, its buckets, a workgroup, the caller as data lake admin."""
    import boto3

    session = boto3.session.Session(region_name=REGION, aws_access_key_id="testing",
                                    aws_secret_access_key="testing")
    url = env["AWS_ENDPOINT_URL"]
    glue, s3 = session.client("glue", endpoint_url=url), session.client("s3", endpoint_url=url)
    for bucket in ["acme-lake", "acme-athena-results"]:
        s3.create_bucket(Bucket=bucket)
    for db, tables in CATALOG.items():
        glue.create_database(DatabaseInput={"Name": db})
        for t in tables:
            glue.create_table(DatabaseName=db, TableInput={
                "Name": t, "StorageDescriptor": {"Location": f"s3://acme-lake/{db}/{t}/"}})
    athena = session.client("athena", endpoint_url=url)
    athena.create_work_group(
        Name="analytics", Configuration={"ResultConfiguration": {"OutputLocation": "s3://acme-athena-results/"}})
    session.client("lakeformation", endpoint_url=url).put_data_lake_settings(
        DataLakeSettings={"DataLakeAdmins": [{"DataLakePrincipalIdentifier": CALLER}]})


def main() -> int:
    args = sys.argv[1:]
    if len(args) < 2 or args[0] != "--lakepass":
        print(__doc__, file=sys.stderr)
        return 1
    lakepass, wizard_args = os.path.abspath(args[1]), [a for a in args[2:] if a != "--"]
    if any(a == "--profile" or a.startswith("--profile=") for a in wizard_args):
        print("demo: --profile would name a real account; the demo runs only against its own emulator",
              file=sys.stderr)
        return 1
    # Nothing of a real account's settings, here or in what this starts.
    for k in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[k]
    serial = os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto_serial.py")
    with tempfile.TemporaryDirectory(prefix="lakepass-demo-") as project, \
            Moto([sys.executable, serial]) as emulator:
        env = dict(os.environ)
        env.update({
            "AWS_ENDPOINT_URL": emulator.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        seed(env)
        print(f"demo: an AWS emulator at {emulator.url} with Glue databases {', '.join(CATALOG)}, "
              f"buckets acme-lake and acme-athena-results, Athena workgroup analytics (results in acme-athena-results); "
              f"the project is {project} (gone when the demo ends)", file=sys.stderr)
        return subprocess.call([lakepass, "wizard", *wizard_args], cwd=project, env=env)


if __name__ == "__main__":
    sys.exit(main())
