"""Benchmark driver for scripts/bench: starts moto on a free 127.0.0.1 port, and for each
size creates that many Glue databases, then times plan, apply, a no-op re-run and
teardown (median of several rounds)."""
import os, re, statistics, subprocess, sys, tempfile, threading, time, urllib.request

import boto3

BIN = os.path.abspath(sys.argv[1])
SIZES = [1, 10, 40]
ROUNDS = 5

server = subprocess.Popen([".venv/bin/moto_server", "-H", "127.0.0.1", "-p", "0"],
                          stderr=subprocess.PIPE, text=True)
url = None
for line in server.stderr:
    m = re.search(r"Running on (http://127\.0\.0\.1:\d+)", line)
    if m:
        url = m.group(1)
        break
# Keep draining the server's log: a full pipe would stall it.
threading.Thread(target=lambda: [None for _ in server.stderr], daemon=True).start()
env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
           AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
           AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null", NO_COLOR="1")
os.environ.update(env)


def reset(n):
    urllib.request.urlopen(urllib.request.Request(url + "/moto-api/reset", method="POST")).read()
    glue = boto3.client("glue")
    for i in range(n):
        glue.create_database(DatabaseInput={"Name": f"db_{i}"})
    boto3.client("lakeformation").put_data_lake_settings(DataLakeSettings={"DataLakeAdmins": [
        {"DataLakePrincipalIdentifier": "arn:aws:iam::123456789012:user/moto"}]})


def timed(args, cwd):
    start = time.perf_counter()
    out = subprocess.run([BIN, *args], cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if out.returncode not in (0, 2):
        sys.exit(f"{args} failed: {out.stderr}")
    return took


try:
    print("| databases | grants | plan (ms) | apply (ms) | no-op re-run (ms) | teardown (ms) |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for n in SIZES:
        rows = {"plan": [], "apply": [], "noop": [], "teardown": []}
        for _ in range(ROUNDS):
            reset(n)
            with tempfile.TemporaryDirectory() as d:
                dbs = ", ".join(f"db_{i}" for i in range(n))
                with open(os.path.join(d, "lakepass.yaml"), "w") as f:
                    f.write("deployments:\n  secoda:\n    stack: secoda-glue\n    values:\n"
                            "      external_id: sec-7f3a9c21e4b8\n      glue_buckets: [acme-lake]\n"
                            f"      athena_output_bucket: acme-results\n      databases: [{dbs}]\n")
                rows["plan"].append(timed(["provision", "--plan"], d))
                rows["apply"].append(timed(["provision", "--yes"], d))
                rows["noop"].append(timed(["provision", "--yes"], d))
                rows["teardown"].append(timed(["teardown", "--yes"], d))
        ms = {k: statistics.median(v) * 1000 for k, v in rows.items()}
        print(f"| {n} | {2 * n} | {ms['plan']:.0f} | {ms['apply']:.0f} | {ms['noop']:.0f} | {ms['teardown']:.0f} |")
finally:
    server.kill()
