//! The committed `OpenAPI` document is the one the code generates, and it agrees with the
//! gateway's routing and authentication rules.

use std::collections::BTreeSet;

use api_docs::{REGENERATE, document, document_path, operations_mut, yaml};
use api_gateway::policy;
use utoipa::openapi::Required;

#[test]
fn the_committed_document_is_the_one_the_code_generates() {
    let path = document_path();
    let generated = yaml();
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    if committed != generated {
        let line = committed
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| committed.lines().count().min(generated.lines().count()));
        panic!(
            "{} does not describe the API the code serves (they differ from line {}: \
             committed {:?}, generated {:?}).\nRegenerate it from the workspace root with\n\n    \
             {REGENERATE}\n\nand commit it with the change.",
            path.display(),
            line + 1,
            committed.lines().nth(line).unwrap_or("<end of file>"),
            generated.lines().nth(line).unwrap_or("<end of file>"),
        );
    }
}

#[test]
fn every_prefix_the_gateway_routes_is_documented() {
    let doc = document();
    for (unit, _) in api_docs::parts() {
        for prefix in unit.routes {
            assert!(
                doc.paths
                    .paths
                    .keys()
                    .any(|path| policy::under(prefix, path)),
                "the gateway routes {prefix} to {}, but the document has nothing there",
                unit.name
            );
        }
    }
}

#[test]
fn the_routes_the_gateway_lets_through_without_a_token_are_documented_without_one() {
    let mut doc = document();
    for path in policy::PUBLIC_POSTS {
        let operation = doc
            .paths
            .paths
            .get(*path)
            .and_then(|item| item.post.as_ref())
            .unwrap_or_else(|| panic!("public POST {path} is not documented"));
        assert!(operation.security.is_none(), "POST {path} needs no token");
    }
    let mut public = 0;
    for (path, item) in &mut doc.paths.paths {
        for (method, operation) in operations_mut(item) {
            let is_public = policy::is_public(&method.parse().unwrap(), &api_docs::concrete(path));
            assert_eq!(
                operation.security.is_none(),
                is_public,
                "{method} {path}: the document and the gateway disagree on whether it needs a token"
            );
            public += usize::from(is_public);
        }
    }
    assert_eq!(
        public,
        policy::PUBLIC_POSTS.len() + 3,
        "the public posts and the three catalogue reads"
    );
}

#[test]
fn every_operation_with_a_required_body_documents_the_answers_to_one_it_cannot_read() {
    let mut doc = document();
    let mut bodies = 0;
    for (path, item) in &mut doc.paths.paths {
        for (method, operation) in operations_mut(item) {
            let required = operation
                .request_body
                .as_ref()
                .is_some_and(|body| body.required == Some(Required::True));
            if required {
                bodies += 1;
                for status in ["400", "413", "415", "422"] {
                    assert!(
                        operation.responses.responses.contains_key(status),
                        "{method} {path} takes a JSON body but does not document {status}"
                    );
                }
            }
        }
    }
    assert_eq!(bodies, 14, "the operations that read a JSON body");
}

#[test]
fn operation_ids_are_unique() {
    let mut doc = document();
    let mut seen = BTreeSet::new();
    for (path, item) in &mut doc.paths.paths {
        for (method, operation) in operations_mut(item) {
            let id = operation.operation_id.clone().unwrap_or_default();
            assert!(
                seen.insert(id.clone()),
                "{method} {path}: operationId {id} is taken"
            );
        }
    }
}

#[test]
fn a_path_parameter_becomes_a_value_a_client_sends() {
    assert_eq!(
        api_docs::concrete("/api/v1/orders/{id}/cancel"),
        "/api/v1/orders/00000000-0000-0000-0000-000000000000/cancel"
    );
    assert_eq!(api_docs::concrete("/api/v1/cart"), "/api/v1/cart");
}
