//! A recording, fault-injecting HTTP proxy between the binary and the emulator.
//!
//! It logs every AWS action the binary calls ("iam:CreateRole", "lakeformation:
//! BatchGrantPermissions"), so a test can assert that a run made no mutating call, and it
//! can answer Lake Formation grants with the "Invalid principal" failures AWS gives while a
//! new role propagates — something the emulator never does.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Default)]
struct Shared {
    actions: Vec<String>,
    /// How many BatchGrantPermissions calls still fail every entry with "Invalid principal".
    invalid_principal: usize,
    /// Per mille of calls refused before they reach the emulator, alternately with the
    /// service's throttling error and a 500; and the state of the generator deciding it.
    faults: u64,
    seed: u64,
    /// How many calls were refused so.
    pub refused: usize,
    /// Actions whose next call reaches the emulator but whose answer is replaced by a
    /// 500: a change that happened although the caller was told it failed.
    lose: Vec<String>,
    /// When set, the proxy answers iam:SimulatePrincipalPolicy itself (the emulator lacks
    /// it), denying these actions and allowing every other.
    simulate_denying: Option<Vec<String>>,
    /// When set, the simulator allows exactly these actions.
    simulate_allowing: Option<Vec<String>>,
    /// Actions answered with AccessDenied, as an SCP would, every time.
    access_denied: Vec<String>,
    /// Actions held this long before they go through.
    delays: Vec<(String, std::time::Duration)>,
    /// Actions the proxy answers itself with this JSON body (what the emulator lacks).
    answers: Vec<(String, String)>,
}

pub struct Proxy {
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let upstream = upstream.trim_start_matches("http://").to_string();
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().map_while(Result::ok) {
                let (s, upstream) = (s.clone(), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &upstream, &s);
                });
            }
        });
        Proxy { url, shared }
    }

    /// Actions called so far, in order.
    pub fn actions(&self) -> Vec<String> {
        self.shared.lock().unwrap().actions.clone()
    }

    pub fn clear(&self) {
        self.shared.lock().unwrap().actions.clear();
    }

    pub fn fail_grants_with_invalid_principal(&self, calls: usize) {
        self.shared.lock().unwrap().invalid_principal = calls;
    }

    /// Refuses this fraction of calls (before the emulator sees them): half with the
    /// service's own throttling error, half with a 500. Deterministic for a given seed.
    pub fn inject_faults(&self, fraction: f64, seed: u64) {
        let mut s = self.shared.lock().unwrap();
        s.faults = (fraction * 1000.0) as u64;
        s.seed = seed.max(1);
        s.refused = 0;
    }

    /// The next call of each action goes through, but its caller gets a 500 instead of
    /// the answer (AWS's ambiguous failure).
    pub fn lose_answers(&self, actions: &[&str]) {
        self.shared.lock().unwrap().lose = actions.iter().map(|a| a.to_string()).collect();
    }

    /// Answers IAM's policy simulator: these actions are not allowed, all others are.
    pub fn simulate_denying(&self, actions: &[&str]) {
        self.shared.lock().unwrap().simulate_denying = Some(actions.iter().map(|a| a.to_string()).collect());
    }

    /// Answers IAM's policy simulator: these actions are allowed, no other.
    pub fn simulate_allowing(&self, actions: &[&str]) {
        self.shared.lock().unwrap().simulate_allowing = Some(actions.iter().map(|a| a.to_string()).collect());
    }

    /// Refuses these actions with AccessDenied (an SCP's explicit deny).
    pub fn deny(&self, actions: &[&str]) {
        self.shared.lock().unwrap().access_denied = actions.iter().map(|a| a.to_string()).collect();
    }

    /// Holds every call of `action` for `by` before passing it on.
    pub fn delay(&self, action: &str, by: std::time::Duration) {
        self.shared.lock().unwrap().delays.push((action.to_string(), by));
    }

    /// Answers every call of `action` with `body` (JSON, 200), in place of the emulator:
    /// for calls it lacks or answers without a field AWS sends.
    pub fn answer(&self, action: &str, body: Value) {
        let mut s = self.shared.lock().unwrap();
        s.answers.retain(|(a, _)| a != action);
        s.answers.push((action.to_string(), body.to_string()));
    }

    pub fn refused(&self) -> usize {
        self.shared.lock().unwrap().refused
    }
}

/// Whether an action only reads.
pub fn is_read(action: &str) -> bool {
    let name = action.split(':').nth(1).unwrap_or(action);
    ["Get", "List", "Describe", "BatchGet", "Search", "Simulate"].iter().any(|p| name.starts_with(p))
}

fn serve(client: TcpStream, upstream: &str, shared: &Mutex<Shared>) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut client = client;
    // One request per connection: every response says "Connection: close".
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let header = |name: &str| {
        head.lines()
            .find(|l| l.to_ascii_lowercase().starts_with(&format!("{}:", name.to_ascii_lowercase())))
            .map(|l| l.split_once(':').unwrap().1.trim().to_string())
    };
    let length: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let action = action_of(&head, &body, header("x-amz-target"), header("authorization"));
    let injected = {
        let mut s = shared.lock().unwrap();
        // xorshift: a fixed sequence for a given seed.
        s.seed ^= s.seed << 13;
        s.seed ^= s.seed >> 7;
        s.seed ^= s.seed << 17;
        let roll = s.seed % 1000;
        if roll < s.faults {
            s.refused += 1;
            Some(roll.is_multiple_of(2))
        } else {
            None
        }
    };
    if let Some(throttle) = injected {
        let service = action.split(':').next().unwrap_or_default();
        let (status, headers, body) = match (throttle, service) {
            (true, "iam" | "sts") => (
                "400 Bad Request",
                "Content-Type: text/xml\r\n".to_string(),
                "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>x</RequestId></ErrorResponse>".to_string(),
            ),
            (true, _) => (
                "400 Bad Request",
                "Content-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: ThrottlingException\r\n".to_string(),
                r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#.to_string(),
            ),
            (false, "iam" | "sts") => (
                "500 Internal Server Error",
                "Content-Type: text/xml\r\n".to_string(),
                "<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try again</Message></Error><RequestId>x</RequestId></ErrorResponse>".to_string(),
            ),
            (false, _) => (
                "500 Internal Server Error",
                "Content-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: InternalServiceException\r\n".to_string(),
                r#"{"__type":"InternalServiceException","message":"try again"}"#.to_string(),
            ),
        };
        let text =
            format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
        client.write_all(text.as_bytes())?;
        return client.flush();
    }
    let delay = shared.lock().unwrap().delays.iter().find(|(a, _)| *a == action).map(|(_, d)| *d);
    if let Some(d) = delay {
        std::thread::sleep(d);
    }
    let canned = {
        let s = shared.lock().unwrap();
        match (&s.simulate_denying, &s.simulate_allowing, action.as_str()) {
            (Some(deny), _, "iam:SimulatePrincipalPolicy") => Some(simulation(&body, &|a| !deny.contains(a))),
            (_, Some(allow), "iam:SimulatePrincipalPolicy") => Some(simulation(&body, &|a| allow.contains(a))),
            _ => None,
        }
        .or_else(|| s.access_denied.contains(&action).then(|| access_denied(&action)))
        .or_else(|| {
            s.answers.iter().find(|(a, _)| *a == action).map(|(_, body)| {
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            })
        })
    };
    if let Some(text) = canned {
        shared.lock().unwrap().actions.push(action.clone());
        client.write_all(text.as_bytes())?;
        return client.flush();
    }
    let fault = {
        let mut s = shared.lock().unwrap();
        s.actions.push(action.clone());
        if action == "lakeformation:BatchGrantPermissions" && s.invalid_principal > 0 {
            s.invalid_principal -= 1;
            true
        } else {
            false
        }
    };
    if fault {
        let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let failures: Vec<Value> = request["Entries"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                json!({"RequestEntry": e, "Error": {"ErrorCode": "InvalidInputException",
                    "ErrorMessage": "Invalid principal: the role does not exist yet"}})
            })
            .collect();
        let text = json!({ "Failures": failures }).to_string();
        write!(
            client,
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
            text.len()
        )?;
        return client.flush();
    }
    let mut up = TcpStream::connect(upstream)?;
    let forwarded: String = head
        .lines()
        .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    up.write_all(forwarded.as_bytes())?;
    up.write_all(b"Connection: close\r\n\r\n")?;
    up.write_all(&body)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    let lost = {
        let mut s = shared.lock().unwrap();
        let at = s.lose.iter().position(|a| *a == action);
        at.map(|i| s.lose.remove(i)).is_some()
    };
    if lost {
        let body = "<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>lost</Message></Error><RequestId>x</RequestId></ErrorResponse>";
        let text = format!(
            "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        client.write_all(text.as_bytes())?;
        return client.flush();
    }
    // Make sure the client does not reuse this connection.
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 2).unwrap_or(0);
    let (resp_head, rest) = response.split_at(split);
    let resp_head = String::from_utf8_lossy(resp_head);
    let mut new_head: String = resp_head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(|l| format!("{l}\r\n"))
        .collect();
    new_head.push_str("Connection: close\r\n");
    client.write_all(new_head.as_bytes())?;
    client.write_all(rest)?;
    client.flush()
}

/// IAM's answer to a SimulatePrincipalPolicy request: `allowed` decides each action.
fn simulation(body: &[u8], allowed: &dyn Fn(&String) -> bool) -> String {
    let form: Vec<(String, String)> = String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect();
    let values = |prefix: &str| -> Vec<String> {
        form.iter().filter(|(k, _)| k.starts_with(prefix)).map(|(_, v)| v.clone()).collect()
    };
    let resources = values("ResourceArns.member.");
    // One resource (or none, `*`): the result names it. Several: as IAM answers, one
    // result per action, with a result per resource inside.
    let resource = match resources.as_slice() {
        [one] => one.clone(),
        _ => "*".into(),
    };
    let members: String = values("ActionNames.member.")
        .iter()
        .map(|a| {
            let decision = if allowed(a) { "allowed" } else { "implicitDeny" };
            let per_resource: String = if resources.len() > 1 {
                let each: String = resources
                    .iter()
                    .map(|r| format!("<member><EvalResourceName>{r}</EvalResourceName><EvalResourceDecision>{decision}</EvalResourceDecision><MatchedStatements/><MissingContextValues/></member>"))
                    .collect();
                format!("<ResourceSpecificResults>{each}</ResourceSpecificResults>")
            } else {
                String::new()
            };
            format!("<member><EvalActionName>{a}</EvalActionName><EvalResourceName>{resource}</EvalResourceName><EvalDecision>{decision}</EvalDecision><MatchedStatements/><MissingContextValues/>{per_resource}</member>")
        })
        .collect();
    let body = format!(
        "<SimulatePrincipalPolicyResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><SimulatePrincipalPolicyResult><IsTruncated>false</IsTruncated><EvaluationResults>{members}</EvaluationResults></SimulatePrincipalPolicyResult><ResponseMetadata><RequestId>x</RequestId></ResponseMetadata></SimulatePrincipalPolicyResponse>"
    );
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// AccessDenied for `action`, in its service's protocol, as an SCP's explicit deny reads.
fn access_denied(action: &str) -> String {
    let message =
        format!("User is not authorized to perform: {action} with an explicit deny in a service control policy");
    let (headers, body) = if action.starts_with("iam:") || action.starts_with("sts:") {
        (
            "Content-Type: text/xml\r\n".to_string(),
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message></Error><RequestId>x</RequestId></ErrorResponse>"
            ),
        )
    } else {
        (
            "Content-Type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: AccessDeniedException\r\n".to_string(),
            format!(r#"{{"__type":"AccessDeniedException","Message":"{message}"}}"#),
        )
    };
    format!("HTTP/1.1 400 Bad Request\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

fn percent_decode(v: &str) -> String {
    let bytes = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&v[i + 1..i + 3], 16).unwrap_or(b'?'));
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// "service:Action" from a request in any of the protocols IAM, STS, Glue and Lake
/// Formation use.
fn action_of(head: &str, body: &[u8], target: Option<String>, auth: Option<String>) -> String {
    let service = auth
        .as_deref()
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
    if service == "s3" {
        // S3's REST calls: the method says what, the path which object.
        let verb = match head.split_whitespace().next().unwrap_or("") {
            "GET" => "GetObject",
            "PUT" => "PutObject",
            "DELETE" => "DeleteObject",
            "HEAD" => "HeadObject",
            other => other,
        };
        return format!("s3:{verb}");
    }
    if let Some(t) = target {
        return format!("{service}:{}", t.rsplit('.').next().unwrap_or(&t));
    }
    let text = String::from_utf8_lossy(body);
    if let Some(a) = text.split('&').find_map(|kv| kv.strip_prefix("Action=")) {
        return format!("{service}:{a}");
    }
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let op = path.trim_start_matches('/').split(['/', '?']).next().unwrap_or("");
    format!("{service}:{op}")
}
