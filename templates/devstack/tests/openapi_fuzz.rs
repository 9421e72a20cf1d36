//! A property-based fuzz of the platform from its API document: the committed
//! `docs/api/openapi.yaml` is read, and for every operation a seeded generator makes requests
//! that conform to it and requests that break it in one way (a field or parameter against its
//! schema, a body that is not JSON or not declared JSON, no or a forged token), sent through the
//! gateway to every service running in this process. Every answer must be one the document
//! lists for the operation, in the shape it documents; every error is problem+json; nothing is
//! a server error; what the document forbids is never accepted; and what it allows is refused
//! with 400 or 422 only for the reasons in [`REFUSED_WITHOUT_A_SCHEMA_SAYING_SO`].
//!
//! The seed is printed; `OPENAPI_FUZZ_SEED=<seed>` repeats a run, `OPENAPI_FUZZ_ROUNDS=<n>`
//! makes it longer (each round sends one request to every operation).

mod openapi;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use devstack::{Devstack, Options};
use openapi::generate::Generator;
use openapi::{Document, In, Operation, validate};
use rand::seq::SliceRandom;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::{Value, json};
use testing::stub;

const ADMIN_EMAIL: &str = "fuzz-admin@example.com";
const PASSWORD: &str = "correct-horse-battery";
/// Rounds when `OPENAPI_FUZZ_ROUNDS` is unset: about 1,400 requests, a few seconds.
const ROUNDS: usize = 40;

/// Where a request the document allows may still be refused with 400 or 422: for a reason no
/// schema can state (the state of the platform), told by a part of the problem's detail.
const REFUSED_WITHOUT_A_SCHEMA_SAYING_SO: &[(&str, u16, &str)] = &[
    // The token is unknown, used or expired.
    ("confirm_password_reset", 400, "reset token refused"),
    ("verify_email", 400, "verification token refused"),
    // The product is off sale or priced in another currency than the cart, or the line would
    // hold more than 99 units.
    ("add_cart_item", 422, "is not on sale"),
    ("add_cart_item", 422, "is priced in"),
    ("add_cart_item", 422, "a cart line holds at most"),
    // The cart is empty, has a line no longer sold on its terms, or totals other than the
    // customer expected; or the key was used with another body.
    ("place_order", 422, "the cart is empty"),
    ("place_order", 422, "remove it from the cart"),
    ("place_order", 422, "remove them from the cart"),
    ("place_order", 422, "review the cart"),
    (
        "place_order",
        422,
        "was already used with a different request body",
    ),
    // Lines for one product add up past the largest count.
    ("reserve_stock", 422, "is out of range"),
];

/// What is wrong with a request, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Flaw {
    /// It conforms to the document.
    None,
    /// It breaks the document: it must not succeed.
    Breaks(String),
    /// Its body is JSON but declared as another media type: any documented answer will do.
    OtherContentType(&'static str),
    /// A protected operation without a valid token: 401.
    Unauthenticated(&'static str),
}

/// What a case may get wrong on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Conforming,
    BadBody,
    NotJson,
    OtherContentType,
    NoBody,
    BadParam,
    MissingParam,
    NoToken,
    ForgedToken,
}

/// One generated request.
#[derive(Debug)]
struct Case {
    flaw: Flaw,
    caller: &'static str,
    token: Option<String>,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Option<(&'static str, Vec<u8>)>,
}

/// The tokens of the callers.
struct Callers {
    customer: String,
    admin: String,
}

impl Case {
    fn new(generator: &mut Generator<'_>, operation: &Operation, callers: &Callers) -> Self {
        let mut kinds = Vec::new();
        if let Some(body) = &operation.body {
            kinds.extend([Kind::BadBody, Kind::NotJson, Kind::OtherContentType]);
            if body.required {
                kinds.push(Kind::NoBody);
            }
        }
        if !operation.params.is_empty() {
            kinds.push(Kind::BadParam);
        }
        if operation
            .params
            .iter()
            .any(|param| param.required && param.location != In::Path)
        {
            kinds.push(Kind::MissingParam);
        }
        if operation.secured {
            kinds.extend([Kind::NoToken, Kind::ForgedToken]);
        }
        let kind = if kinds.is_empty() || generator.chance(0.45) {
            Kind::Conforming
        } else {
            *generator.pick(&kinds)
        };
        let mut case = Self {
            flaw: Flaw::None,
            caller: "nobody",
            token: None,
            path: operation.path.clone(),
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        };
        case.params(generator, operation, kind);
        case.body(generator, operation, kind);
        case.caller(generator, operation, kind, callers);
        case
    }

    fn params(&mut self, generator: &mut Generator<'_>, operation: &Operation, kind: Kind) {
        let params = &operation.params;
        let target = (!params.is_empty()).then(|| generator.pick(params).name.clone());
        let missing = params
            .iter()
            .filter(|param| param.required && param.location != In::Path)
            .map(|param| param.name.clone())
            .collect::<Vec<_>>();
        let missing = (kind == Kind::MissingParam).then(|| generator.pick(&missing).clone());
        for param in params {
            if missing.as_ref() == Some(&param.name) {
                self.flaw = Flaw::Breaks(format!("no `{}`", param.name));
                continue;
            }
            let bad = if kind == Kind::BadParam && target.as_ref() == Some(&param.name) {
                generator.bad_param(param)
            } else {
                None
            };
            let value = match bad {
                Some(bad) => {
                    self.flaw = Flaw::Breaks(format!("`{}` = {bad:?}", param.name));
                    bad
                }
                None if param.required || generator.chance(0.6) => generator.param(param),
                None => continue,
            };
            match param.location {
                In::Path => self.path = self.path.replace(&format!("{{{}}}", param.name), &value),
                In::Query => self.query.push((param.name.clone(), value)),
                In::Header => self.headers.push((param.name.clone(), value)),
            }
        }
    }

    fn body(&mut self, generator: &mut Generator<'_>, operation: &Operation, kind: Kind) {
        let Some(body) = &operation.body else {
            return;
        };
        let json = |value: &Value| Some(("application/json", value.to_string().into_bytes()));
        self.body = match kind {
            Kind::BadBody => match generator.violating(&body.schema) {
                Some(bad) => {
                    self.flaw = Flaw::Breaks(format!("the body breaks its schema: {bad}"));
                    json(&bad)
                }
                None => json(&generator.conforming(&body.schema)),
            },
            Kind::NotJson => {
                let garbage: &[&[u8]] = &[
                    b"{",
                    b"{\"quantity\": ",
                    b"not json",
                    b"[1, 2",
                    b"{\"a\": tru}",
                    b"\xff\xfe{}",
                    b"\"unterminated",
                ];
                self.flaw = Flaw::Breaks("a body that is not JSON".to_owned());
                Some(("application/json", generator.pick(garbage).to_vec()))
            }
            Kind::OtherContentType => {
                let media = *generator.pick(&[
                    "text/plain",
                    "application/x-www-form-urlencoded",
                    "application/xml",
                ]);
                self.flaw = Flaw::OtherContentType(media);
                let value = generator.conforming(&body.schema);
                Some((media, value.to_string().into_bytes()))
            }
            Kind::NoBody => {
                self.flaw = Flaw::Breaks("no body".to_owned());
                None
            }
            _ if body.required || generator.chance(0.7) => {
                json(&generator.conforming(&body.schema))
            }
            _ => None,
        };
    }

    fn caller(
        &mut self,
        generator: &mut Generator<'_>,
        operation: &Operation,
        kind: Kind,
        callers: &Callers,
    ) {
        let forged = [
            "not-a-token".to_owned(),
            format!("{}x", callers.customer),
            callers.admin.replacen("eyJ", "eyK", 1),
        ];
        let (caller, token) = match kind {
            Kind::NoToken => {
                self.flaw = Flaw::Unauthenticated("no token");
                ("nobody", None)
            }
            Kind::ForgedToken => {
                self.flaw = Flaw::Unauthenticated("a forged token");
                ("a forger", Some(generator.pick(&forged).clone()))
            }
            _ => {
                let mut choices = vec![
                    ("a customer", Some(callers.customer.clone())),
                    ("an admin", Some(callers.admin.clone())),
                ];
                if !operation.secured {
                    choices.push(("nobody", None));
                }
                generator.pick(&choices).clone()
            }
        };
        self.caller = caller;
        self.token = token;
    }
}

/// What the gateway answered.
struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

/// A client of the gateway.
struct Client {
    http: reqwest::Client,
    gateway: String,
}

impl Client {
    fn of(stack: &Devstack) -> Self {
        Self {
            http: stub::http_client(Some(Duration::from_secs(10))),
            gateway: stack.gateway_url.clone(),
        }
    }

    async fn send(&self, operation: &Operation, case: &Case) -> Reply {
        let url = format!("{}{}", self.gateway, case.path);
        let mut request = self
            .http
            .request(operation.method.clone(), &url)
            .query(&case.query);
        for (name, value) in &case.headers {
            let value = HeaderValue::from_bytes(value.as_bytes()).expect("a header value");
            request = request.header(name, value);
        }
        if let Some(token) = &case.token {
            request = request.bearer_auth(token);
        }
        if let Some((media, bytes)) = &case.body {
            request = request.header(CONTENT_TYPE, *media).body(bytes.clone());
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|err| panic!("{} {url}: {err}", operation.method));
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = response.bytes().await.expect("a body").to_vec();
        Reply {
            status,
            content_type,
            body,
        }
    }

    /// `POST path` with a JSON body, insisting on `expected`; the answer's JSON.
    async fn post(&self, path: &str, body: &Value, expected: u16) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.gateway))
            .json(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), expected, "POST {path}");
        response.json().await.unwrap()
    }

    /// Registers `email` unless it is the admin, logs it in; its access token.
    async fn token(&self, email: &str) -> String {
        if email != ADMIN_EMAIL {
            let body = json!({ "email": email, "password": PASSWORD, "name": "Fuzz" });
            self.post("/api/v1/auth/register", &body, 201).await;
        }
        let login = json!({ "email": email, "password": PASSWORD });
        let tokens = self.post("/api/v1/auth/login", &login, 200).await;
        tokens["access_token"].as_str().unwrap().to_owned()
    }
}

/// What is wrong with `reply` to `case`, by the document.
fn faults(doc: &Document, operation: &Operation, case: &Case, reply: &Reply) -> Vec<String> {
    let mut faults = Vec::new();
    let status = reply.status;
    if status >= 500 {
        faults.push("a server error".to_owned());
    }
    let Some(answer) = operation.answers.get(&status) else {
        faults.push(format!("{status} is not an answer the document lists"));
        return faults;
    };
    let body = serde_json::from_slice::<Value>(&reply.body);
    if status >= 400 {
        if !reply.content_type.starts_with(platform::PROBLEM_JSON) {
            faults.push(format!(
                "an error as `{}`, not problem+json",
                reply.content_type
            ));
        }
        match &body {
            Ok(problem) if problem["status"] == json!(status) => {}
            Ok(problem) => faults.push(format!("a problem whose status is {}", problem["status"])),
            Err(err) => faults.push(format!("an error body that is not JSON: {err}")),
        }
    }
    match (&answer.content, &body) {
        (Some((media, schema)), Ok(value)) => {
            if !reply.content_type.starts_with(media.as_str()) {
                faults.push(format!(
                    "`{}` where {media} is documented",
                    reply.content_type
                ));
            }
            if let Err(why) = validate::check(doc, schema, value) {
                faults.push(format!("a body unlike the documented one: {why}"));
            }
        }
        (Some((media, _)), Err(err)) => faults.push(format!("not {media}: {err}")),
        (None, _) if !reply.body.is_empty() => {
            faults.push("a body where the document has none".to_owned());
        }
        (None, _) => {}
    }
    let success = (200..300).contains(&status);
    match &case.flaw {
        Flaw::None
            if matches!(status, 400 | 422)
                && !for_a_reason_no_schema_states(operation, status, &body) =>
        {
            let detail = body
                .map(|problem| problem["detail"].clone())
                .unwrap_or_default();
            faults.push(format!("refused a request the document allows: {detail}"));
        }
        Flaw::Breaks(what) if success => {
            faults.push(format!("accepted a request the document forbids: {what}"));
        }
        Flaw::Unauthenticated(what) if status != 401 => {
            faults.push(format!("{status} to {what}, not 401"));
        }
        _ => {}
    }
    faults
}

/// Whether a refusal of a request the document allows is one of
/// [`REFUSED_WITHOUT_A_SCHEMA_SAYING_SO`].
fn for_a_reason_no_schema_states(
    operation: &Operation,
    status: u16,
    body: &Result<Value, serde_json::Error>,
) -> bool {
    let detail = body
        .as_ref()
        .ok()
        .and_then(|problem| problem["detail"].as_str())
        .unwrap_or_default();
    REFUSED_WITHOUT_A_SCHEMA_SAYING_SO
        .iter()
        .any(|(id, refused, reason)| {
            *id == operation.id && *refused == status && detail.contains(reason)
        })
}

/// `case` and `reply`, for a person reading a failure.
fn describe(operation: &Operation, case: &Case, reply: &Reply) -> String {
    let mut text = format!(
        "{} {} {}{:?} as {}",
        operation.id, operation.method, case.path, case.query, case.caller
    );
    for (name, value) in &case.headers {
        let _ = write!(text, " {name}: {value:?}");
    }
    if let Some((media, bytes)) = &case.body {
        let _ = write!(text, " [{media}] {}", shortened(bytes));
    }
    let _ = write!(
        text,
        " ({:?})\n    → {} [{}] {}",
        case.flaw,
        reply.status,
        reply.content_type,
        shortened(&reply.body)
    );
    text
}

fn shortened(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(300) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.into_owned(),
    }
}

fn from_env<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a number")),
    )
}

fn document() -> Document {
    Document::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/api/openapi.yaml"))
}

#[test]
fn the_generator_makes_bodies_their_schema_accepts_and_bodies_it_refuses() {
    let doc = document();
    let mut generator = Generator::new(&doc, 7);
    for operation in doc.operations() {
        let Some(body) = &operation.body else {
            continue;
        };
        for _ in 0..200 {
            let good = generator.conforming(&body.schema);
            let checked = validate::check(&doc, &body.schema, &good);
            assert!(checked.is_ok(), "{}: {good} {checked:?}", operation.id);
            let bad = generator.violating(&body.schema);
            let bad = bad.unwrap_or_else(|| panic!("{}: nothing breaks the body", operation.id));
            assert!(validate::check(&doc, &body.schema, &bad).is_err());
        }
    }
}

#[tokio::test]
async fn generated_requests_get_only_the_answers_the_document_lists() {
    let doc = document();
    let operations = doc.operations();
    let seed =
        from_env("OPENAPI_FUZZ_SEED").unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
    let rounds = from_env("OPENAPI_FUZZ_ROUNDS").unwrap_or(ROUNDS);
    eprintln!("openapi fuzz: seed {seed}; OPENAPI_FUZZ_SEED={seed} repeats this run");
    let options = Options::for_tests()
        .with_admin(ADMIN_EMAIL, PASSWORD)
        .unwrap();
    let stack = devstack::start(options).await.unwrap();
    let client = Client::of(&stack);
    let callers = Callers {
        customer: client.token("fuzz-customer@example.com").await,
        admin: client.token(ADMIN_EMAIL).await,
    };
    let mut generator = Generator::new(&doc, seed);
    let mut order: Vec<&Operation> = operations.iter().collect();
    let mut failures = Vec::new();
    let mut answers: BTreeMap<&str, BTreeMap<u16, usize>> = BTreeMap::new();
    for _ in 0..rounds {
        order.shuffle(generator.rng());
        for operation in &order {
            let case = Case::new(&mut generator, operation, &callers);
            let reply = client.send(operation, &case).await;
            *answers
                .entry(operation.id.as_str())
                .or_default()
                .entry(reply.status)
                .or_default() += 1;
            let faults = faults(&doc, operation, &case, &reply);
            if !faults.is_empty() {
                failures.push(format!(
                    "{}\n    {}",
                    describe(operation, &case, &reply),
                    faults.join("; ")
                ));
            }
            if (200..300).contains(&reply.status)
                && let Ok(value) = serde_json::from_slice(&reply.body)
            {
                generator.learn(&value);
            }
        }
    }
    stack.shutdown().await.unwrap();
    let sent: usize = answers.values().flat_map(BTreeMap::values).sum();
    eprintln!("openapi fuzz: {sent} requests; answers by operation: {answers:?}");
    assert!(
        failures.is_empty(),
        "{} of {sent} answers are not what docs/api/openapi.yaml says (seed {seed}; \
         OPENAPI_FUZZ_SEED={seed} repeats the run):\n{}",
        failures.len(),
        failures
            .iter()
            .take(4000)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
