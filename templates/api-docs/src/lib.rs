//! The public API document, `docs/api/openapi.yaml`, generated from the code: each service's
//! routes with their `#[utoipa::path]` documentation (the same list its router serves), put
//! together as clients see them through the gateway. The gateway adds what it does to every
//! request: a bearer token on each route it does not let through publicly, rate limiting, a
//! body size limit, and answers for an upstream that is down or slow. Every operation with a
//! required JSON body also gets the platform's answers to a body it cannot read (415, 400, 422).
//!
//! `cargo run -p api-docs -- --write` rewrites the file; a test fails while file and code differ.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use api_gateway::policy;
use platform::error::Problem;
use platform::topology::{self, Unit};
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{Object, Type};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Ref, RefOr, Required,
    ServerBuilder,
};
use utoipa::{PartialSchema, ToSchema};

/// The command that rewrites the document from the code, run from the workspace root.
pub const REGENERATE: &str = "cargo run -p api-docs -- --write";

/// The name of the bearer-token security scheme the handlers' `security(...)` refer to.
pub const BEARER: &str = "bearer";

/// Where the document lives.
#[must_use]
pub fn document_path() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .unwrap_or(crate_dir)
        .join("docs/api/openapi.yaml")
}

/// Each service with its part of the document, from the routes its router serves.
#[must_use]
pub fn parts() -> Vec<(Unit, OpenApi)> {
    vec![
        (topology::USER_SERVICE, user_service::api::openapi()),
        (topology::PRODUCT_SERVICE, product_service::api::openapi()),
        (topology::CART_SERVICE, cart_service::api::openapi()),
        (topology::ORDER_SERVICE, order_service::api::openapi()),
        (
            topology::INVENTORY_SERVICE,
            inventory_service::api::openapi(),
        ),
        (topology::PAYMENT_SERVICE, payment_service::api::openapi()),
        (
            topology::NOTIFICATION_SERVICE,
            notification_service::api::openapi(),
        ),
    ]
}

/// Every operation of a path item, with its method as the gateway sees it.
pub fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("OPTIONS", item.options.as_mut()),
        ("HEAD", item.head.as_mut()),
        ("PATCH", item.patch.as_mut()),
        ("TRACE", item.trace.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, operation)| operation.map(|operation| (method, operation)))
}

/// The methods a path item documents.
fn methods(item: &PathItem) -> BTreeSet<&'static str> {
    operations_mut(&mut item.clone())
        .map(|(method, _)| method)
        .collect()
}

/// `path` with each `{parameter}` replaced by a value, as a client would send it.
#[must_use]
pub fn concrete(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        out.push_str("00000000-0000-0000-0000-000000000000");
        rest = rest[start..]
            .find('}')
            .map_or("", |end| &rest[start + end + 1..]);
    }
    out.push_str(rest);
    out
}

/// The whole document.
///
/// # Panics
///
/// If a service documents a path outside the prefixes the gateway routes to it, if two
/// services document the same operation, or if two give different schemas one name: the
/// document would then not describe what clients reach.
#[must_use]
pub fn document() -> OpenApi {
    let gateway = topology::API_GATEWAY;
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("E-commerce platform API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The public API, served by the API gateway, which routes each `/api/v1/...` \
                     prefix to the service owning it. Errors are problem+json (RFC 9457). \
                     Generated from the code; do not edit the file by hand.",
                ))
                .build(),
        )
        .servers(Some([ServerBuilder::new()
            .url(format!("http://localhost:{}", gateway.port))
            .description(Some("The gateway on a development machine"))
            .build()]))
        .build();
    let mut tags = BTreeMap::new();
    let mut schemas = BTreeMap::new();
    for (unit, part) in parts() {
        for (path, mut item) in part.paths.paths {
            assert!(
                unit.routes
                    .iter()
                    .any(|prefix| policy::under(prefix, &path)),
                "{} documents {path}, which the gateway does not route to it ({:?})",
                unit.name,
                unit.routes
            );
            for (method, operation) in operations_mut(&mut item) {
                for tag in operation.tags.iter().flatten() {
                    tags.insert(tag.clone(), unit.name);
                }
                through_gateway(method, &path, operation);
            }
            let existing = doc.paths.paths.entry(path.clone()).or_default();
            let twice: Vec<_> = methods(existing)
                .intersection(&methods(&item))
                .copied()
                .collect();
            assert!(twice.is_empty(), "{twice:?} {path} is documented twice");
            existing.merge_operations(item);
        }
        for (name, schema) in part.components.into_iter().flat_map(|c| c.schemas) {
            if let Some(earlier) = schemas.get(&name) {
                assert!(*earlier == schema, "two different schemas are named {name}");
            }
            schemas.insert(name, schema);
        }
    }
    schemas.insert(Problem::name().into_owned(), Problem::schema());
    let components = doc.components.get_or_insert_with(Default::default);
    components.schemas = schemas;
    components.responses = shared_responses();
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "An access token from `POST /api/v1/auth/login` or `/api/v1/auth/refresh`",
                ))
                .build(),
        ),
    );
    doc.tags = Some(
        tags.into_iter()
            .map(|(tag, unit)| {
                TagBuilder::new()
                    .name(tag)
                    .description(Some(format!("Served by {unit}")))
                    .build()
            })
            .collect(),
    );
    doc
}

/// The document as YAML, headed by how to regenerate it.
///
/// # Panics
///
/// If the document cannot be serialized, which would be a bug in utoipa.
#[must_use]
pub fn yaml() -> String {
    let body = document()
        .to_yaml()
        .expect("an OpenAPI document serializes to YAML");
    format!(
        "# Generated from the code by `{REGENERATE}`: change the handlers' \
         #[utoipa::path], not this file.\n{body}"
    )
}

/// Adds to `operation` what the gateway does to every request to `method path`.
fn through_gateway(method: &str, path: &str, operation: &mut Operation) {
    let public = policy::is_public(&method.parse().expect("an HTTP method"), &concrete(path));
    let responses = &mut operation.responses.responses;
    if !public {
        operation
            .security
            .get_or_insert_with(Vec::new)
            .retain(|requirement| *requirement != bearer());
        operation
            .security
            .get_or_insert_with(Vec::new)
            .push(bearer());
        responses
            .entry("401".to_owned())
            .or_insert_with(|| Ref::from_response_name("Unauthorized").into());
    }
    if let Some(body) = &operation.request_body {
        responses.insert(
            "413".to_owned(),
            Ref::from_response_name("PayloadTooLarge").into(),
        );
        // A required body is read with axum's `Json`, whose refusals `platform::ApiError`
        // serves as problem+json: 415 without `Content-Type: application/json`, 400 for
        // malformed JSON, 422 for JSON of another shape. (The checkout's optional body is read
        // by hand, whatever its declared type.)
        if body.required == Some(Required::True) {
            responses.insert(
                "415".to_owned(),
                Ref::from_response_name("UnsupportedMediaType").into(),
            );
            responses
                .entry("400".to_owned())
                .or_insert_with(|| Ref::from_response_name("MalformedJson").into());
            responses
                .entry("422".to_owned())
                .or_insert_with(|| Ref::from_response_name("InvalidBody").into());
        }
    }
    responses.insert(
        "429".to_owned(),
        Ref::from_response_name("TooManyRequests").into(),
    );
    responses.insert(
        "503".to_owned(),
        Ref::from_response_name("ServiceUnavailable").into(),
    );
    responses.insert(
        "504".to_owned(),
        Ref::from_response_name("GatewayTimeout").into(),
    );
}

fn bearer() -> SecurityRequirement {
    SecurityRequirement::new(BEARER, Vec::<String>::new())
}

/// The answers many operations share: the gateway's own, and the platform's to a JSON body it
/// cannot read.
fn shared_responses() -> BTreeMap<String, RefOr<Response>> {
    let problem = |description: &str| {
        ResponseBuilder::new().description(description).content(
            platform::PROBLEM_JSON,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(Problem::name())))
                .build(),
        )
    };
    [
        (
            "Unauthorized",
            problem("No bearer token, or one that is malformed, forged or expired").build(),
        ),
        (
            "PayloadTooLarge",
            problem("The body is larger than the gateway accepts").build(),
        ),
        (
            "UnsupportedMediaType",
            problem("The body is not declared as `Content-Type: application/json`").build(),
        ),
        ("MalformedJson", problem("The body is not JSON").build()),
        (
            "InvalidBody",
            problem("The body is JSON but not of the documented shape").build(),
        ),
        (
            "TooManyRequests",
            problem("The client's rate limit is spent")
                .header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(Object::with_type(Type::Integer))
                        .description(Some("Seconds until a request is let through again"))
                        .build(),
                )
                .build(),
        ),
        (
            "ServiceUnavailable",
            problem("The service is down, failing (its circuit is open), or overloaded").build(),
        ),
        (
            "GatewayTimeout",
            problem("The service did not answer in time").build(),
        ),
    ]
    .into_iter()
    .map(|(name, response)| (name.to_owned(), response.into()))
    .collect()
}
