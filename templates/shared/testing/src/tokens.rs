//! Access tokens signed with the development key ([`platform::auth::DEV_SIGNING_KEY`]), the key
//! every unit accepts in tests.

use platform::auth::{JwtSigner, Role};
use shared_types::UserId;

/// A token for `user` with `role`, issued at `issued_at` (seconds since the epoch); a time
/// far enough in the past gives an expired token.
#[must_use]
pub fn issued_at(user: UserId, role: Role, issued_at: i64) -> String {
    JwtSigner::development()
        .issue(user, role, issued_at)
        .expect("the development key signs")
        .0
}

/// A valid token for `user` with `role`.
#[must_use]
pub fn for_user(user: UserId, role: Role) -> String {
    issued_at(user, role, chrono::Utc::now().timestamp())
}

/// A new customer and a valid token for them.
#[must_use]
pub fn customer() -> (UserId, String) {
    let user = UserId::new();
    (user, for_user(user, Role::Customer))
}

/// A valid token for a new admin.
#[must_use]
pub fn admin() -> String {
    for_user(UserId::new(), Role::Admin)
}

#[cfg(test)]
mod tests {
    use platform::auth::JwtKeys;

    use super::*;

    fn verify(token: &str) -> platform::auth::Claims {
        JwtKeys::development().verify(token).expect("a valid token")
    }

    #[test]
    fn a_customer_token_names_the_customer() {
        let (user, token) = customer();
        let claims = verify(&token);
        assert_eq!(claims.sub, user);
        assert_eq!(claims.role, Role::Customer);
    }

    #[test]
    fn an_admin_token_has_the_admin_role() {
        assert_eq!(verify(&admin()).role, Role::Admin);
    }

    #[test]
    fn a_token_issued_an_hour_ago_has_expired() {
        let token = issued_at(
            UserId::new(),
            Role::Customer,
            chrono::Utc::now().timestamp() - 3_600,
        );
        assert!(JwtKeys::development().verify(&token).is_err());
    }
}
