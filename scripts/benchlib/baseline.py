"""The baseline: what a careful, plain, sequential boto3 script does to get the same result
as lakepass, with as few AWS calls as it can.

Why: a latency figure alone does not say whether lakepass is fast; the question is how it
compares with the obvious hand-written alternative. This script is that alternative. It
takes the plan lakepass printed for an empty account (`lakepass provision --plan --json`,
see src/output.rs `plan_json` and src/plan/mod.rs `Step`), so both build exactly the same
resources, and performs one phase:

- plan:     the reads needed to decide: sts GetCallerIdentity, glue GetDatabases (paged),
            glue GetTables only for databases whose tables are listed and not all granted
            yet, lakeformation GetDataLakeSettings (is the caller an administrator?),
            ListPermissions for DATABASE and for TABLE (paged, every principal at once),
            iam GetPolicy per policy (+ GetPolicyVersion when it exists), GetRole or GetUser
            (+ ListAttached*Policies when it exists). Tags come with GetPolicy and GetRole,
            so ownership costs no extra call.
- apply:    the plan reads, then CreatePolicy (tagged), CreateRole or CreateUser (tagged,
            + CreateAccessKey), Attach*Policy per policy, BatchGrantPermissions in batches of
            20 entries with every entry's failure checked.
- noop:     the same reads on an applied account: they must find nothing to change (the
            script fails if they do). Grants already held prove their tables exist, so no
            GetTables.
- teardown: GetCallerIdentity, ListPermissions for the kinds granted, GetRole/GetUser
            (ownership tag) + ListAttached*Policies, GetPolicy (ownership) +
            ListPolicyVersions; then BatchRevokePermissions in batches of 20, Detach*Policy,
            DeleteRole (or keys and DeleteUser), DeletePolicy.

It is deliberately sequential (one call at a time, as such scripts are written) and does not
keep a state file. Timing is strict on lakepass: the clock starts after imports, plan
parsing and client creation, and stops before the process exits, while lakepass is timed as
a whole process.

Run (AWS_ENDPOINT_URL etc. from the environment):

    python -m benchlib.baseline PHASE PLAN.json

It prints one JSON line: {"phase", "ms", "summary"}. Exit 1 with a message on any error.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import boto3
import botocore.config
import botocore.exceptions

BATCH = 20  # Lake Formation's limit on entries per batch call
OWNER_TAG = "lakepass:deployment"
STACK_TAG = "lakepass:stack"
NOT_FOUND = {"NoSuchEntity", "EntityNotFoundException", "NoSuchEntityException"}


class Failed(Exception):
    """The phase cannot go on; the message says why."""


# -- what the plan asks for ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, order=True)
class Target:
    """A Lake Formation target, as in src/model.rs `LfTarget`."""

    kind: str  # database | all_tables | table
    database: str
    table: str | None = None

    def resource(self) -> dict:
        if self.kind == "database":
            return {"Database": {"Name": self.database}}
        if self.kind == "all_tables":
            return {"Table": {"DatabaseName": self.database, "TableWildcard": {}}}
        return {"Table": {"DatabaseName": self.database, "Name": self.table}}

    @staticmethod
    def of(resource: dict) -> "Target | None":
        """The target a ListPermissions resource is about. SELECT may come back in its
        expanded form (TableWithColumns with a column wildcard): that is the table."""
        if "Database" in resource:
            return Target("database", resource["Database"]["Name"])
        if "Table" in resource:
            t = resource["Table"]
            if "TableWildcard" in t:
                return Target("all_tables", t["DatabaseName"])
            if t.get("Name"):
                return Target("table", t["DatabaseName"], t["Name"])
        if "TableWithColumns" in resource:
            t = resource["TableWithColumns"]
            wildcard = t.get("ColumnWildcard")
            if wildcard is not None and not wildcard.get("ExcludedColumnNames"):
                return Target("table", t["DatabaseName"], t["Name"])
        return None


@dataclasses.dataclass
class Grant:
    principal_arn: str
    target: Target
    permissions: frozenset


@dataclasses.dataclass
class Desired:
    """The resources of a deployment, read from the steps of a from-nothing plan."""

    deployment: str
    stack: str
    account: str
    policies: list = dataclasses.field(default_factory=list)  # dicts: name, description, document, arn
    role: dict | None = None  # name, description, trust
    user: str | None = None
    access_key: bool = False
    attachments: list = dataclasses.field(default_factory=list)  # policy ARNs, to the role or user
    grants: list = dataclasses.field(default_factory=list)

    @property
    def principal_arn(self) -> str:
        kind, name = ("role", self.role["name"]) if self.role else ("user", self.user)
        return f"arn:aws:iam::{self.account}:{kind}/{name}"

    def kinds(self) -> list[str]:
        """The ListPermissions resource types the grants need."""
        kinds = {"DATABASE" if g.target.kind == "database" else "TABLE" for g in self.grants}
        return sorted(kinds)


def desired_from_plan(plan: dict) -> Desired:
    """Reads the steps of `lakepass provision --plan --json` on an empty account."""
    d = Desired(plan["deployment"], plan["stack"], plan["account"])
    changes = plan.get("changes", plan.get("actions", []))
    for change in changes:
        for step in change["steps"]:
            op = step["op"]
            if op == "create_policy":
                arn = f"arn:aws:iam::{d.account}:policy/{step['name']}"
                d.policies.append({**{k: step[k] for k in ("name", "description", "document")}, "arn": arn})
            elif op == "create_role":
                d.role = {k: step[k] for k in ("name", "description", "trust")}
            elif op == "create_user":
                d.user = step["name"]
            elif op == "create_access_key":
                d.access_key = True
            elif op == "mark_live_key":
                pass  # lakepass's own bookkeeping (a tag naming the live key): a plain script has none
            elif op == "attach":
                d.attachments.append(step["policy_arn"])
            elif op == "grant":
                t = step["target"]
                target = Target(t["kind"], t["database"], t.get("table"))
                d.grants.append(Grant(step["principal_arn"], target, frozenset(step["permissions"])))
            else:
                raise Failed(f"the plan has a {op} step: give the baseline a plan made on an empty account")
    if not d.role and not d.user:
        raise Failed("the plan creates no role or user: give the baseline a plan made on an empty account")
    return d


# -- the script ------------------------------------------------------------------------------


def _code(e: botocore.exceptions.ClientError) -> str:
    return e.response.get("Error", {}).get("Code", "")


def _caller_principal(arn: str) -> str:
    """The IAM principal behind a caller ARN, as Lake Formation lists administrators (the
    emulator names its user with an sts ARN; an assumed role maps to its role)."""
    parts = arn.split(":", 5)
    if len(parts) == 6 and parts[2] == "sts":
        if parts[5].startswith("assumed-role/"):
            return f"arn:{parts[1]}:iam::{parts[4]}:role/{parts[5].split('/')[1]}"
        if parts[5].startswith("user/"):
            return f"arn:{parts[1]}:iam::{parts[4]}:{parts[5]}"
    return arn


@dataclasses.dataclass
class Changes:
    """What `observe` found missing or different."""

    missing_in_catalog: list = dataclasses.field(default_factory=list)
    create_policies: list = dataclasses.field(default_factory=list)
    update_policies: list = dataclasses.field(default_factory=list)
    create_principal: bool = False
    update_trust: bool = False
    create_key: bool = False
    attach: list = dataclasses.field(default_factory=list)
    grant: list = dataclasses.field(default_factory=list)  # Grants of the missing permissions

    def count(self) -> int:
        return (len(self.create_policies) + len(self.update_policies) + self.create_principal + self.update_trust
                + self.create_key + len(self.attach) + len(self.grant))

    def describe(self) -> str:
        parts = [
            (len(self.create_policies), "policy to create"),
            (len(self.update_policies), "policy to update"),
            (int(self.create_principal), "role or user to create"),
            (int(self.update_trust), "trust policy to update"),
            (int(self.create_key), "access key to create"),
            (len(self.attach), "attachment(s)"),
            (len(self.grant), "grant(s)"),
        ]
        return ", ".join(f"{n} {what}" for n, what in parts if n) or "nothing"


class Baseline:
    def __init__(self, desired: Desired, session: boto3.session.Session | None = None):
        session = session or boto3.session.Session()
        config = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 6})
        self.d = desired
        self.sts = session.client("sts", config=config)
        self.iam = session.client("iam", config=config)
        self.glue = session.client("glue", config=config)
        self.lf = session.client("lakeformation", config=config)
        # Paginators load their models lazily: load them now, before the clock starts.
        self._pages = {
            "get_databases": self.glue.get_paginator("get_databases"),
            "get_tables": self.glue.get_paginator("get_tables"),
            "list_attached_role_policies": self.iam.get_paginator("list_attached_role_policies"),
            "list_attached_user_policies": self.iam.get_paginator("list_attached_user_policies"),
            "list_policy_versions": self.iam.get_paginator("list_policy_versions"),
            "list_access_keys": self.iam.get_paginator("list_access_keys"),
        }

    # -- reads -------------------------------------------------------------------------

    def _caller(self) -> str:
        me = self.sts.get_caller_identity()
        if me["Account"] != self.d.account:
            raise Failed(f"the plan is for account {self.d.account}, the credentials are for {me['Account']}")
        return _caller_principal(me["Arn"])

    def _paged(self, name: str, key: str, **kw) -> list:
        out = []
        for page in self._pages[name].paginate(**kw):
            out.extend(page.get(key, []))
        return out

    def _held(self) -> dict:
        """Permissions the principal holds on each desired target: one paged ListPermissions
        per resource type, without a principal filter (that is one call however many
        databases there are)."""
        wanted = {g.target for g in self.d.grants}
        held: dict = {}
        for kind in self.d.kinds():
            token = None
            while True:
                page = self.lf.list_permissions(ResourceType=kind, **({"NextToken": token} if token else {}))
                for p in page.get("PrincipalResourcePermissions", []):
                    if p.get("Principal", {}).get("DataLakePrincipalIdentifier") != self.d.principal_arn:
                        continue
                    target = Target.of(p.get("Resource", {}))
                    if target in wanted:
                        held.setdefault(target, set()).update(p.get("Permissions", []))
                token = page.get("NextToken")
                if not token:
                    break
        return held

    def _owned(self, tags: list, what: str) -> None:
        owner = {t["Key"]: t["Value"] for t in tags or []}.get(OWNER_TAG)
        if owner != self.d.deployment:
            raise Failed(f"{what} exists and does not belong to deployment {self.d.deployment}")

    def _get_policy(self, arn: str) -> dict | None:
        try:
            return self.iam.get_policy(PolicyArn=arn)["Policy"]
        except botocore.exceptions.ClientError as e:
            if _code(e) in NOT_FOUND:
                return None
            raise

    def _get_principal(self) -> dict | None:
        try:
            if self.d.role:
                return self.iam.get_role(RoleName=self.d.role["name"])["Role"]
            return self.iam.get_user(UserName=self.d.user)["User"]
        except botocore.exceptions.ClientError as e:
            if _code(e) in NOT_FOUND:
                return None
            raise

    def _attached(self) -> set:
        if self.d.role:
            listed = self._paged("list_attached_role_policies", "AttachedPolicies", RoleName=self.d.role["name"])
        else:
            listed = self._paged("list_attached_user_policies", "AttachedPolicies", UserName=self.d.user)
        return {a["PolicyArn"] for a in listed}

    def observe(self) -> Changes:
        """Reads what is needed to decide what to change, and decides."""
        c = Changes()
        caller = self._caller()
        databases = {db["Name"] for db in self._paged("get_databases", "DatabaseList",
                                                        PaginationConfig={"PageSize": 100})}
        settings = self.lf.get_data_lake_settings()["DataLakeSettings"]
        admins = {a.get("DataLakePrincipalIdentifier") for a in settings.get("DataLakeAdmins", [])}
        held = self._held()
        for g in self.d.grants:
            missing = g.permissions - held.get(g.target, set())
            if missing:
                c.grant.append(Grant(g.principal_arn, g.target, frozenset(missing)))
        for db in sorted({g.target.database for g in self.d.grants} - databases):
            c.missing_in_catalog.append(f"database {db}")
        # Named tables only need checking where a grant on them is still to be made.
        to_check: dict = {}
        for g in c.grant:
            if g.target.kind == "table" and g.target.database in databases:
                to_check.setdefault(g.target.database, set()).add(g.target.table)
        for db, tables in sorted(to_check.items()):
            found = {t["Name"] for t in self._paged("get_tables", "TableList", DatabaseName=db,
                                                     PaginationConfig={"PageSize": 100})}
            c.missing_in_catalog.extend(f"table {db}.{t}" for t in sorted(tables - found))
        if c.missing_in_catalog:
            raise Failed("not in the Glue catalog: " + ", ".join(c.missing_in_catalog[:5]))
        if c.grant and caller not in admins:
            raise Failed(f"{caller} is not a data lake administrator")
        for p in self.d.policies:
            seen = self._get_policy(p["arn"])
            if seen is None:
                c.create_policies.append(p)
                continue
            self._owned(seen.get("Tags"), f"policy {p['name']}")
            version = self.iam.get_policy_version(PolicyArn=p["arn"], VersionId=seen["DefaultVersionId"])
            if version["PolicyVersion"]["Document"] != p["document"]:
                c.update_policies.append(p)
        principal = self._get_principal()
        if principal is None:
            c.create_principal = True
            c.create_key = self.d.access_key
            c.attach = list(self.d.attachments)
        else:
            self._owned(principal.get("Tags"), "the role" if self.d.role else "the user")
            if self.d.role and principal.get("AssumeRolePolicyDocument") != self.d.role["trust"]:
                c.update_trust = True
            attached = self._attached()
            c.attach = [a for a in self.d.attachments if a not in attached]
            if self.d.access_key:
                keys = self._paged("list_access_keys", "AccessKeyMetadata", UserName=self.d.user)
                c.create_key = not keys
        return c

    # -- writes ------------------------------------------------------------------------

    def _tags(self) -> list:
        return [{"Key": OWNER_TAG, "Value": self.d.deployment}, {"Key": STACK_TAG, "Value": self.d.stack}]

    def _batches(self, grants: list, revoke: bool) -> None:
        call = self.lf.batch_revoke_permissions if revoke else self.lf.batch_grant_permissions
        for i in range(0, len(grants), BATCH):
            chunk = grants[i:i + BATCH]
            entries = [{
                "Id": str(i + n),
                "Principal": {"DataLakePrincipalIdentifier": g.principal_arn},
                "Resource": g.target.resource(),
                "Permissions": sorted(g.permissions),
            } for n, g in enumerate(chunk)]
            failures = call(Entries=entries).get("Failures", [])
            if revoke:
                failures = [f for f in failures if "No permissions revoked" not in f["Error"].get("ErrorMessage", "")]
            if failures:
                e = failures[0]["Error"]
                raise Failed(f"{len(failures)} Lake Formation entries failed, e.g. "
                             f"{e.get('ErrorCode')}: {e.get('ErrorMessage')}")

    def _execute(self, c: Changes) -> None:
        for p in c.create_policies:
            self.iam.create_policy(PolicyName=p["name"], Description=p["description"],
                                   PolicyDocument=json.dumps(p["document"], separators=(",", ":")), Tags=self._tags())
        for p in c.update_policies:
            self.iam.create_policy_version(PolicyArn=p["arn"], SetAsDefault=True,
                                           PolicyDocument=json.dumps(p["document"], separators=(",", ":")))
        trust = json.dumps(self.d.role["trust"], separators=(",", ":")) if self.d.role else None
        if c.create_principal and self.d.role:
            self.iam.create_role(RoleName=self.d.role["name"], Description=self.d.role["description"],
                                 AssumeRolePolicyDocument=trust, Tags=self._tags())
        elif c.create_principal:
            self.iam.create_user(UserName=self.d.user, Tags=self._tags())
        if c.update_trust:
            self.iam.update_assume_role_policy(RoleName=self.d.role["name"], PolicyDocument=trust)
        if c.create_key:
            self.iam.create_access_key(UserName=self.d.user)  # the secret would be handed over here
        for arn in c.attach:
            if self.d.role:
                self.iam.attach_role_policy(RoleName=self.d.role["name"], PolicyArn=arn)
            else:
                self.iam.attach_user_policy(UserName=self.d.user, PolicyArn=arn)
        self._batches(c.grant, revoke=False)

    # -- phases ------------------------------------------------------------------------

    def plan(self) -> str:
        c = self.observe()
        return f"planned: {c.describe()}"

    def apply(self) -> str:
        c = self.observe()
        self._execute(c)
        return f"applied: {c.describe()}"

    def noop(self) -> str:
        c = self.observe()
        if c.count():
            raise Failed(f"expected no changes, found {c.describe()}")
        return "no changes"

    def teardown(self) -> str:
        self._caller()
        principal = self._get_principal()
        attached: set = set()
        if principal is not None:
            self._owned(principal.get("Tags"), "the role" if self.d.role else "the user")
            attached = self._attached()
        policies = []  # (arn, non-default version ids)
        for p in self.d.policies:
            seen = self._get_policy(p["arn"])
            if seen is None:
                continue
            self._owned(seen.get("Tags"), f"policy {p['name']}")
            versions = self._paged("list_policy_versions", "Versions", PolicyArn=p["arn"])
            policies.append((p["arn"], [v["VersionId"] for v in versions if not v["IsDefaultVersion"]]))
        held = self._held()
        revoke = [Grant(g.principal_arn, g.target, frozenset(g.permissions & held[g.target]))
                  for g in self.d.grants if g.permissions & held.get(g.target, set())]
        self._batches(revoke, revoke=True)
        detach = [a for a in self.d.attachments if a in attached]
        for arn in detach:
            if self.d.role:
                self.iam.detach_role_policy(RoleName=self.d.role["name"], PolicyArn=arn)
            else:
                self.iam.detach_user_policy(UserName=self.d.user, PolicyArn=arn)
        if principal is not None and self.d.role:
            self.iam.delete_role(RoleName=self.d.role["name"])
        elif principal is not None:
            for key in self._paged("list_access_keys", "AccessKeyMetadata", UserName=self.d.user):
                self.iam.delete_access_key(UserName=self.d.user, AccessKeyId=key["AccessKeyId"])
            self.iam.delete_user(UserName=self.d.user)
        for arn, old in policies:
            for v in old:
                self.iam.delete_policy_version(PolicyArn=arn, VersionId=v)
            self.iam.delete_policy(PolicyArn=arn)
        removed = len(revoke) + len(detach) + (principal is not None) + len(policies)
        return f"{removed} resource(s) removed"


PHASES = ("plan", "apply", "noop", "teardown")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Sequential boto3 baseline for one lakepass phase.")
    ap.add_argument("phase", choices=PHASES)
    ap.add_argument("plan_json", help="`lakepass provision --plan --json` output made on an empty account")
    args = ap.parse_args(argv)
    try:
        with open(args.plan_json) as f:
            desired = desired_from_plan(json.load(f))
        script = Baseline(desired)
        start = time.perf_counter()
        summary = getattr(script, args.phase)()
        ms = (time.perf_counter() - start) * 1000
    except (Failed, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, OSError) as e:
        print(f"baseline {args.phase}: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"phase": args.phase, "ms": round(ms, 3), "summary": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
