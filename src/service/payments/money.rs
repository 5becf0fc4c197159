//! Amounts as Kill Bill shows them: rounded half-up to the currency's minor units
//! (KillBillMoney over joda-money's currency data). Stored amounts keep their full precision.

use rust_decimal::{Decimal, RoundingStrategy};

/// ISO 4217 minor units where they are not 2 (and Kill Bill's BTC).
fn minor_units(currency: &str) -> u32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "UYI" | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        "BTC" => 8,
        _ => 2,
    }
}

/// `amount` rounded to `currency`'s minor units; unrounded when the currency is unknown.
pub fn rounded(amount: Decimal, currency: Option<&str>) -> Decimal {
    match currency {
        Some(currency) => amount.round_dp_with_strategy(
            minor_units(currency),
            RoundingStrategy::MidpointAwayFromZero,
        ),
        None => amount,
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    #[test]
    fn amounts_round_half_up_to_minor_units() {
        let amount = Decimal::from_str("10.005").expect("a decimal");
        assert_eq!(rounded(amount, Some("USD")).to_string(), "10.01");
        assert_eq!(rounded(amount, Some("JPY")).to_string(), "10");
        assert_eq!(rounded(amount, Some("KWD")).to_string(), "10.005");
    }
}
