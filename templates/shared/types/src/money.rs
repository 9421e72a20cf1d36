//! Money in integer minor units (cents). Arithmetic is checked: an overflow or a currency
//! mismatch is an error, never a wrong total.

use std::fmt;

use serde::{Deserialize, Serialize};

/// ISO 4217 currencies the platform accepts.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    #[default]
    Usd,
    Eur,
    Gbp,
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Usd => "USD",
            Self::Eur => "EUR",
            Self::Gbp => "GBP",
        })
    }
}

/// An amount of money: `amount_minor` cents of `currency`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Money {
    /// The amount in the currency's minor unit (cents).
    pub amount_minor: i64,
    pub currency: Currency,
}

/// Why an amount could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount out of range")]
    Overflow,
}

impl Money {
    /// `amount_minor` cents of `currency`.
    #[must_use]
    pub const fn new(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// Nothing, in `currency`.
    #[must_use]
    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// The sum, refusing different currencies and overflow.
    pub fn checked_add(self, other: Self) -> Result<Self, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch(self.currency, other.currency));
        }
        self.amount_minor
            .checked_add(other.amount_minor)
            .map(|amount| Self::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// This amount times a quantity, refusing overflow.
    pub fn checked_mul(self, quantity: u32) -> Result<Self, MoneyError> {
        self.amount_minor
            .checked_mul(i64::from(quantity))
            .map(|amount| Self::new(amount, self.currency))
            .ok_or(MoneyError::Overflow)
    }

    /// Sums amounts of one currency; an empty list is zero of `currency`.
    pub fn sum(
        currency: Currency,
        amounts: impl IntoIterator<Item = Self>,
    ) -> Result<Self, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Self::zero(currency), Self::checked_add)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let abs = self.amount_minor.unsigned_abs();
        write!(f, "{sign}{}.{:02} {}", abs / 100, abs % 100, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_line_totals_in_cents() {
        let line = Money::new(1999, Currency::Usd).checked_mul(3).unwrap();
        let total = Money::sum(Currency::Usd, [line, Money::new(1, Currency::Usd)]).unwrap();
        assert_eq!(total, Money::new(5998, Currency::Usd));
        assert_eq!(total.to_string(), "59.98 USD");
    }

    #[test]
    fn refuses_to_add_different_currencies() {
        let err = Money::new(1, Currency::Usd).checked_add(Money::new(1, Currency::Eur));
        assert_eq!(
            err,
            Err(MoneyError::CurrencyMismatch(Currency::Usd, Currency::Eur))
        );
    }

    #[test]
    fn overflow_is_an_error_not_a_wrong_total() {
        assert_eq!(
            Money::new(i64::MAX, Currency::Usd).checked_mul(2),
            Err(MoneyError::Overflow)
        );
    }
}
