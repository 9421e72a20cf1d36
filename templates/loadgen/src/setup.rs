//! Setup, through the gateway like any client: the devstack's admin logs in, creates the run's
//! products and gives each enough stock for every unit the run can put in a cart; customers
//! register, log in and put one unit in their cart, so each can check out. Nothing here is
//! measured. Accounts and product names carry a run id, so runs against one devstack never
//! collide.

use futures::{StreamExt as _, TryStreamExt as _, stream};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api::{Api, Call, Failure};
use crate::error::Error;
use crate::journey::{Customer, PASSWORD, Product, Shop};

/// Registrations in flight at once (each costs the user service a password hash).
const CONCURRENT_SIGN_UPS: usize = 8;

/// How much to set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Products to create.
    pub products: usize,
    /// Customers to register: one per checkout of the run, and one who never checks out.
    pub customers: usize,
    /// Units of each product: enough for every unit the run can put in carts.
    pub stock: u64,
    /// The admin who creates the products, and their password.
    pub admin_email: String,
    pub admin_password: String,
}

impl Plan {
    /// Setup for a run of `checkouts` checkouts and `adds` adds to cart over `products`
    /// products. Each product alone could fill every cart, so no order fails for lack of stock.
    #[must_use]
    pub fn new(
        products: usize,
        checkouts: usize,
        adds: usize,
        admin_email: &str,
        admin_password: &str,
    ) -> Self {
        let customers = checkouts + 1;
        Self {
            products,
            customers,
            stock: u64::try_from(customers + adds).unwrap_or(u64::MAX),
            admin_email: admin_email.to_owned(),
            admin_password: admin_password.to_owned(),
        }
    }
}

/// Creates the products and customers of `plan`; `run` tells this run's names apart.
pub async fn prepare(api: Api, plan: &Plan, run: &str) -> Result<Shop, Error> {
    let admin = admin_token(&api, plan).await?;
    let mut products = Vec::with_capacity(plan.products);
    for n in 0..plan.products {
        products.push(create_product(&api, &admin, plan, &format!("loadgen {run} #{n}")).await?);
    }
    let customers: Vec<Customer> = stream::iter(0..plan.customers)
        .map(|n| {
            let (api, product) = (&api, &products[n % products.len()].id);
            async move {
                let email = format!("loadgen-{run}-{n}@example.com");
                let customer = sign_up(api, &email, &format!("Load {n}")).await?;
                let body = json!({ "product_id": product, "quantity": 1 });
                let call = Call::new(&Method::POST, "/api/v1/cart/items")
                    .token(&customer.token)
                    .json(&body);
                checked(api.expect(StatusCode::OK, call).await, &call, "")?;
                Ok::<_, Error>(customer)
            }
        })
        .buffered(CONCURRENT_SIGN_UPS)
        .try_collect()
        .await?;
    Ok(Shop::new(api, admin, products, customers))
}

/// Logs the admin of `plan` in; answers the access token. Admins are never registered: the
/// devstack makes its admin at start.
async fn admin_token(api: &Api, plan: &Plan) -> Result<String, Error> {
    let hint = format!(
        "`{email}` cannot log in with DEVSTACK_ADMIN_PASSWORD: start the devstack with DEVSTACK_ADMIN_EMAIL={email} and DEVSTACK_ADMIN_PASSWORD set to the same password, or pass an admin's `--admin-email`",
        email = plan.admin_email
    );
    log_in(api, &plan.admin_email, &plan.admin_password, &hint).await
}

async fn sign_up(api: &Api, email: &str, name: &str) -> Result<Customer, Error> {
    let body = json!({ "email": email, "password": PASSWORD, "name": name });
    let call = Call::new(&Method::POST, "/api/v1/auth/register").json(&body);
    checked(api.expect(StatusCode::CREATED, call).await, &call, "")?;
    Ok(Customer {
        email: email.to_owned(),
        token: log_in(api, email, PASSWORD, "").await?,
    })
}

/// Logs `email` in with `password`; `denied` is the hint for a 401 or 403.
async fn log_in(api: &Api, email: &str, password: &str, denied: &str) -> Result<String, Error> {
    let body = json!({ "email": email, "password": password });
    let call = Call::new(&Method::POST, "/api/v1/auth/login").json(&body);
    let tokens = checked(api.expect(StatusCode::OK, call).await, &call, denied)?;
    tokens["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| {
            refused(
                &call,
                &Failure::Other(format!("no access token in {tokens}")),
                "",
            )
        })
}

async fn create_product(api: &Api, admin: &str, plan: &Plan, name: &str) -> Result<Product, Error> {
    let body = json!({
        "name": name,
        "description": "created by the load generator",
        "category": "loadgen",
        "price": { "amount_minor": 1_999, "currency": "USD" },
    });
    let call = Call::new(&Method::POST, "/api/v1/products")
        .token(admin)
        .json(&body);
    let hint = format!(
        "`{}` is no verified admin: start the devstack with DEVSTACK_ADMIN_EMAIL={} and DEVSTACK_ADMIN_PASSWORD, or pass an admin's `--admin-email`",
        plan.admin_email, plan.admin_email
    );
    let product = checked(api.expect(StatusCode::CREATED, call).await, &call, &hint)?;
    let id = product["id"]
        .as_str()
        .ok_or_else(|| refused(&call, &Failure::Other(format!("no id in {product}")), ""))?
        .to_owned();
    let path = format!("/api/v1/inventory/{id}");
    let body = json!({ "available": plan.stock });
    let call = Call::new(&Method::PUT, &path).token(admin).json(&body);
    checked(api.expect(StatusCode::OK, call).await, &call, &hint)?;
    Ok(Product {
        id,
        stock: plan.stock,
    })
}

/// `answer`, or the setup error for `call`, with `forbidden` as the hint for a 403.
fn checked(
    answer: Result<Value, Failure>,
    call: &Call<'_>,
    forbidden: &str,
) -> Result<Value, Error> {
    answer.map_err(|failure| match failure {
        Failure::Status(401 | 403) if !forbidden.is_empty() => Error::Setup {
            call: call.name(),
            status: failure.describe(),
            hint: forbidden.to_owned(),
        },
        failure => refused(call, &failure, ""),
    })
}

fn refused(call: &Call<'_>, failure: &Failure, hint: &str) -> Error {
    let hint = match failure {
        _ if !hint.is_empty() => hint.to_owned(),
        Failure::Status(429) => "the gateway rate-limits this client: start the devstack with its limits lifted, e.g. API_GATEWAY_RATE_LIMIT_PER_SECOND=100000 API_GATEWAY_RATE_LIMIT_BURST=100000 and the same for API_GATEWAY_AUTH_RATE_LIMIT_* and API_GATEWAY_ACCOUNT_RATE_LIMIT_* (per minute; `make load` does)".to_owned(),
        Failure::Connect | Failure::Timeout => "is the devstack still running?".to_owned(),
        _ => "see the devstack's log".to_owned(),
    };
    Error::Setup {
        call: call.name(),
        status: failure.describe(),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_checkout_gets_a_customer_and_one_is_left_to_shop() {
        let plan = Plan::new(10, 20, 60, "ops@example.com", "correct-horse-battery");
        assert_eq!(plan.customers, 21);
    }

    #[test]
    fn each_product_alone_has_stock_for_every_unit_a_cart_can_hold() {
        // 21 units put in carts by setup, 60 by the run.
        assert_eq!(
            Plan::new(10, 20, 60, "ops@example.com", "correct-horse-battery").stock,
            81
        );
    }

    #[test]
    fn a_rate_limited_setup_says_how_to_lift_the_limit() {
        let call = Call::new(&Method::POST, "/api/v1/auth/register");
        let line = refused(&call, &Failure::Status(429), "").line();
        assert!(
            line.starts_with("setup: `POST /api/v1/auth/register` answered 429"),
            "{line}"
        );
        assert!(line.contains("API_GATEWAY_RATE_LIMIT_PER_SECOND"), "{line}");
    }
}
