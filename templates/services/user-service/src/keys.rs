//! The signing key's two commands, which read nothing else from the environment so that an
//! operator can run them anywhere the binary runs:
//!
//! - `user-service generate-signing-key` writes a new Ed25519 private key (PKCS#8 PEM) to
//!   standard output: the value of `JWT_SIGNING_KEY`, a secret for the user service alone.
//! - `user-service public-key` reads such a key from `JWT_SIGNING_KEY` or, when that is unset,
//!   standard input, and writes its public key as a JWK set: what `JWT_PUBLIC_KEYS` of every
//!   unit must hold (merged with the keys still in use during a rotation, docs/SECURITY.md).

use std::io::Read as _;

use anyhow::{bail, ensure};
use platform::auth::JwtSigner;
use platform::config::JWT_SIGNING_KEY;
use platform::server::{CommandRun, UnitCommand};

/// `user-service generate-signing-key`.
pub const GENERATE_SIGNING_KEY: UnitCommand = UnitCommand {
    name: "generate-signing-key",
    purpose: "write a new Ed25519 signing key for JWT_SIGNING_KEY to standard output",
    run: CommandRun::Standalone(generate),
};

/// `user-service public-key`.
pub const PUBLIC_KEY: UnitCommand = UnitCommand {
    name: "public-key",
    purpose: "write the JWK set for JWT_PUBLIC_KEYS of the key in JWT_SIGNING_KEY or on standard input",
    run: CommandRun::Standalone(public_key),
};

fn generate(args: &[String]) -> anyhow::Result<()> {
    ensure!(
        args.is_empty(),
        "`generate-signing-key` takes no arguments (it writes the key to standard output)"
    );
    let pem = JwtSigner::generate().map_err(anyhow::Error::msg)?;
    print!("{pem}");
    Ok(())
}

fn public_key(args: &[String]) -> anyhow::Result<()> {
    ensure!(
        args.is_empty(),
        "`public-key` takes no arguments: give the key in {JWT_SIGNING_KEY} or on standard input"
    );
    let pem = match std::env::var(JWT_SIGNING_KEY) {
        Ok(pem) if !pem.trim().is_empty() => pem,
        _ => {
            let mut pem = String::new();
            std::io::stdin().read_to_string(&mut pem)?;
            pem
        }
    };
    println!("{}", jwks_of(&pem)?);
    Ok(())
}

/// The JWK set of the private key `pem`, or an error that says what `pem` is not.
pub fn jwks_of(pem: &str) -> anyhow::Result<String> {
    if pem.trim().is_empty() {
        bail!("no key given: set {JWT_SIGNING_KEY} or pipe the key into `public-key`");
    }
    let signer = JwtSigner::from_pem(pem).map_err(|reason| anyhow::anyhow!("the key {reason}"))?;
    Ok(signer.jwks())
}

#[cfg(test)]
mod tests {
    use platform::auth::{JwtKeys, Role};
    use shared_types::UserId;

    use super::*;

    #[test]
    fn the_public_key_of_a_generated_key_verifies_its_tokens_and_nothing_secret_is_in_it() {
        let pem = JwtSigner::generate().unwrap();
        let jwks = jwks_of(&pem).unwrap();
        let keys = JwtKeys::from_jwks(&jwks).unwrap();
        let signer = JwtSigner::from_pem(&pem).unwrap();
        let (token, _) = signer.issue(UserId::new(), Role::Customer, 0).unwrap();
        assert!(keys.verify_tokens_of(&signer));
        assert!(
            !jwks.contains("\"d\""),
            "a JWK set holds no private part: {jwks}"
        );
        assert!(!token.is_empty());
    }

    #[test]
    fn a_missing_or_unreadable_key_is_named() {
        let err = jwks_of("  ").unwrap_err().to_string();
        assert!(err.contains(JWT_SIGNING_KEY), "{err}");
        let err = jwks_of("not a key").unwrap_err().to_string();
        assert!(err.contains("PKCS#8"), "{err}");
    }
}
