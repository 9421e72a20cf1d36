//! The journeys: one per entry path of the model, each one request through the gateway, and
//! the [`Shop`] they act in (the customers and products setup made). Checkout takes a
//! customer whose cart setup filled and retires them, so every order has its own customer
//! and no later add to cart can land in a cart whose order is still settling.

use std::collections::VecDeque;
use std::sync::Mutex;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::api::{Api, Call, Failure};
use crate::mix::Entry;

/// The password of every account the load generator registers.
pub const PASSWORD: &str = "loadgen-correct-horse-battery";

/// What one request of an entry path does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Journey {
    /// `GET /api/v1/products/{id}`: a product page, anonymous.
    Browse,
    /// `POST /api/v1/cart/items`: one unit into a shopping customer's cart.
    AddToCart,
    /// `POST /api/v1/orders`: a customer checks out their cart.
    Checkout,
    /// `POST /api/v1/auth/login`: a customer signs in (a full password hash on the server).
    Login,
}

impl Journey {
    /// The journey that exercises `entry`, known by its method and path.
    #[must_use]
    pub fn of(entry: &Entry) -> Option<Self> {
        match (entry.method, entry.path) {
            ("GET", "/api/v1/products/{id}") => Some(Self::Browse),
            ("POST", "/api/v1/cart/items") => Some(Self::AddToCart),
            ("POST", "/api/v1/orders") => Some(Self::Checkout),
            ("POST", "/api/v1/auth/login") => Some(Self::Login),
            _ => None,
        }
    }
}

/// A product setup created, and the stock it started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub stock: u64,
}

/// A registered, logged-in customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub email: String,
    pub token: String,
}

/// An order a checkout placed, and whose it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedOrder {
    pub id: String,
    pub customer: usize,
}

/// The customers and products of a run.
#[derive(Debug)]
pub struct Shop {
    pub api: Api,
    /// The admin's access token, for reads only an admin may make (stock levels).
    pub admin_token: String,
    pub products: Vec<Product>,
    pub customers: Vec<Customer>,
    /// Customers who have not checked out, in the order they get the next add to cart.
    shopping: Mutex<VecDeque<usize>>,
}

impl Shop {
    /// A shop whose customers all have a filled cart and have not checked out.
    #[must_use]
    pub fn new(
        api: Api,
        admin_token: String,
        products: Vec<Product>,
        customers: Vec<Customer>,
    ) -> Self {
        let shopping = (0..customers.len()).collect();
        Self {
            api,
            admin_token,
            products,
            customers,
            shopping: Mutex::new(shopping),
        }
    }

    /// Request `i` of the run, taking `journey`; a checkout answers the order it placed.
    pub async fn perform(
        &self,
        journey: Journey,
        i: usize,
    ) -> Result<Option<PlacedOrder>, Failure> {
        let product = &self.products[i % self.products.len()].id;
        match journey {
            Journey::Browse => {
                let path = format!("/api/v1/products/{product}");
                self.api
                    .expect(StatusCode::OK, Call::new(&Method::GET, &path))
                    .await?;
                Ok(None)
            }
            Journey::AddToCart => {
                let customer = self.next_shopper(Take::Rotate)?;
                let body = json!({ "product_id": product, "quantity": 1 });
                let call = Call::new(&Method::POST, "/api/v1/cart/items")
                    .token(&self.customers[customer].token)
                    .json(&body);
                self.api.expect(StatusCode::OK, call).await?;
                Ok(None)
            }
            Journey::Checkout => {
                let customer = self.next_shopper(Take::Retire)?;
                let key = uuid::Uuid::new_v4().to_string();
                let call = Call::new(&Method::POST, "/api/v1/orders")
                    .token(&self.customers[customer].token)
                    .idempotency_key(&key);
                let accepted = self.api.expect(StatusCode::ACCEPTED, call).await?;
                let id = accepted["order_id"].as_str().ok_or_else(|| {
                    Failure::Other(format!("checkout answered no order id: {accepted}"))
                })?;
                Ok(Some(PlacedOrder {
                    id: id.to_owned(),
                    customer,
                }))
            }
            Journey::Login => {
                let customer = &self.customers[i % self.customers.len()];
                let body = json!({ "email": customer.email, "password": PASSWORD });
                let call = Call::new(&Method::POST, "/api/v1/auth/login").json(&body);
                self.api.expect(StatusCode::OK, call).await?;
                Ok(None)
            }
        }
    }

    fn next_shopper(&self, take: Take) -> Result<usize, Failure> {
        let mut shopping = self.shopping.lock().expect("no holder of the lock panics");
        let customer = shopping
            .pop_front()
            .ok_or_else(|| Failure::Other("no customer left to shop".to_owned()))?;
        if take == Take::Rotate {
            shopping.push_back(customer);
        }
        Ok(customer)
    }
}

/// What taking a shopper does to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// They shop again after everyone else.
    Rotate,
    /// They checked out and shop no more.
    Retire,
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::mix::ENTRIES;

    #[test]
    fn every_entry_path_of_the_model_has_a_journey() {
        for entry in ENTRIES {
            assert!(
                Journey::of(entry).is_some(),
                "entry path `{}` ({} {}) has no journey: add one in journey.rs",
                entry.name,
                entry.method,
                entry.path
            );
        }
    }

    #[test]
    fn checkout_retires_its_customer_and_add_to_cart_rotates() {
        let api = Api::new(
            &"http://127.0.0.1:1".parse().unwrap(),
            Duration::from_secs(1),
        );
        let customer = |n: usize| Customer {
            email: format!("c{n}@example.com"),
            token: String::new(),
        };
        let shop = Shop::new(
            api,
            String::new(),
            Vec::new(),
            (0..3).map(customer).collect(),
        );
        assert_eq!(shop.next_shopper(Take::Rotate).unwrap(), 0);
        assert_eq!(shop.next_shopper(Take::Retire).unwrap(), 1);
        assert_eq!(shop.next_shopper(Take::Rotate).unwrap(), 2);
        assert_eq!(shop.next_shopper(Take::Rotate).unwrap(), 0);
        assert_eq!(shop.next_shopper(Take::Retire).unwrap(), 2);
        assert_eq!(shop.next_shopper(Take::Retire).unwrap(), 0);
        assert!(
            shop.next_shopper(Take::Rotate).is_err(),
            "everyone checked out"
        );
    }
}
