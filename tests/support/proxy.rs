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
}

/// Whether an action only reads.
pub fn is_read(action: &str) -> bool {
    let name = action.split(':').nth(1).unwrap_or(action);
    ["Get", "List", "Describe", "BatchGet", "Search"].iter().any(|p| name.starts_with(p))
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

/// "service:Action" from a request in any of the protocols IAM, STS, Glue and Lake
/// Formation use.
fn action_of(head: &str, body: &[u8], target: Option<String>, auth: Option<String>) -> String {
    let service = auth
        .as_deref()
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("unknown")
        .to_string();
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
