//! Cards as the simulated gateway sees them: Kill Bill's plugin property names for card and
//! address details, the sandbox test numbers that force an outcome, and the only forms a card
//! number may leave this module in: its last four digits, a SHA-256 fingerprint, a mask and its
//! test class. Nothing here may log, store or return a full number or a verification value.

use sha2::{Digest, Sha256};

use crate::plugin::PluginProperty;

/// Kill Bill's plugin property names (killbill-plugin-framework-java, PluginPaymentPluginApi).
pub const CC_NUMBER: &str = "ccNumber";
/// Reported on reads in place of the number.
pub const CC_LAST4: &str = "ccLast4";

/// The card and address properties kept with a payment method and reported back on reads.
/// Anything else a caller sends (the number, `ccVerificationValue`, track data) is dropped.
pub const KEPT_PROPERTIES: &[&str] = &[
    "ccType",
    "ccFirstName",
    "ccLastName",
    "ccExpirationMonth",
    "ccExpirationYear",
    "ccStartMonth",
    "ccStartYear",
    "ccIssueNumber",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "country",
];

/// Always declined (`card_declined`).
pub const DECLINE_CARD: &str = "4000000000000002";
/// Always fails with a processing error before submission (CANCELED).
pub const ERROR_CARD: &str = "4000000000000119";
/// Always hangs for `ferrobill.gateway.hangTime`, then is processed.
pub const HANG_CARD: &str = "4000000000000341";
/// Always charged, but the answer is lost on the way back: the caller gets UNDEFINED (Kill
/// Bill's UNKNOWN, HTTP 503) while the gateway records PROCESSED for the janitor to find.
pub const LOST_ANSWER_CARD: &str = "4000000000000259";
/// Always left PENDING (as a card needing the customer's authentication on the gateway's
/// page), until a notification settles it.
pub const PENDING_CARD: &str = "4000000000003220";

/// What a card number makes the gateway do, before the configured rates are applied; once
/// they are, also what the gateway does with the call ([`Fate`](super::simulation::Fate)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardClass {
    /// Any other valid number: approved unless a rate draws a failure.
    Approve,
    Decline,
    Error,
    Hang,
    /// Charged, answer lost ([`LOST_ANSWER_CARD`]).
    LostAnswer,
    /// Left PENDING ([`PENDING_CARD`]).
    Pending,
}

impl CardClass {
    /// The `card_class` column's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CardClass::Approve => "approve",
            CardClass::Decline => "decline",
            CardClass::Error => "error",
            CardClass::Hang => "hang",
            CardClass::LostAnswer => "lost_answer",
            CardClass::Pending => "pending",
        }
    }

    pub fn parse(text: &str) -> Option<CardClass> {
        [
            CardClass::Approve,
            CardClass::Decline,
            CardClass::Error,
            CardClass::Hang,
            CardClass::LostAnswer,
            CardClass::Pending,
        ]
        .into_iter()
        .find(|class| class.as_str() == text)
    }
}

/// A card number reduced to what the gateway may keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub class: CardClass,
    pub last4: String,
    /// Hex SHA-256 of the digits: recognises a card again without holding its number. A plain
    /// hash of a card number can be brute-forced, which is acceptable for test numbers only;
    /// docs/gateway.md says never to send real cards.
    pub fingerprint: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CardError {
    #[error("ccNumber is not a card number: expected 12 to 19 digits (blanks and dashes allowed), such as 4242424242424242")]
    NotANumber,
    #[error("the card number ending in {last4} fails the Luhn check; use a test number such as 4242424242424242")]
    Checksum { last4: String },
}

impl Card {
    /// Reads a number as a caller sends it (`4242 4242 4242 4242` and `4242-…` too).
    pub fn parse(number: &str) -> Result<Card, CardError> {
        let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(CardError::NotANumber);
        }
        let last4 = digits[digits.len() - 4..].to_string();
        if !passes_luhn(&digits) {
            return Err(CardError::Checksum { last4 });
        }
        let class = match digits.as_str() {
            DECLINE_CARD => CardClass::Decline,
            ERROR_CARD => CardClass::Error,
            HANG_CARD => CardClass::Hang,
            LOST_ANSWER_CARD => CardClass::LostAnswer,
            PENDING_CARD => CardClass::Pending,
            _ => CardClass::Approve,
        };
        let fingerprint = Sha256::digest(digits.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Ok(Card {
            class,
            last4,
            fingerprint,
        })
    }
}

/// `************4242`: the form a number is reported in (sixteen characters, as the test cards).
pub fn masked(last4: &str) -> String {
    format!("************{last4}")
}

/// The value of `key` in `properties`, if set and not blank.
pub fn property<'a>(properties: &'a [PluginProperty], key: &str) -> Option<&'a str> {
    properties
        .iter()
        .find(|property| property.key == key)
        .and_then(|property| property.value.as_deref())
        .filter(|value| !value.trim().is_empty())
}

/// The mod-10 check every card number carries, so that a typo is refused as a gateway would.
fn passes_luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(index, byte)| {
            let digit = u32::from(byte - b'0');
            if index % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                digit
            }
        })
        .sum();
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_numbers_fall_in_their_classes() {
        for (number, class) in [
            ("4242424242424242", CardClass::Approve),
            ("4242 4242 4242 4242", CardClass::Approve),
            ("5555-5555-5555-4444", CardClass::Approve),
            (DECLINE_CARD, CardClass::Decline),
            (ERROR_CARD, CardClass::Error),
            (HANG_CARD, CardClass::Hang),
        ] {
            let card = Card::parse(number).unwrap_or_else(|e| panic!("{number}: {e}"));
            assert_eq!(card.class, class, "{number}");
            assert_eq!(card.last4.len(), 4);
            assert_eq!(card.fingerprint.len(), 64);
            assert!(!card.fingerprint.contains(&number[..6]));
        }
        assert_eq!(
            Card::parse("4242424242424242").map(|card| card.fingerprint),
            Card::parse("4242 4242 4242 4242").map(|card| card.fingerprint)
        );
    }

    #[test]
    fn bad_numbers_are_refused_without_echoing_them() {
        assert_eq!(Card::parse("4242"), Err(CardError::NotANumber));
        assert_eq!(Card::parse("4242x24242424242"), Err(CardError::NotANumber));
        let error = Card::parse("4242424242424241").expect_err("checksum");
        assert_eq!(
            error,
            CardError::Checksum {
                last4: "4241".to_string()
            }
        );
        assert!(!error.to_string().contains("4242424242424241"));
        assert_eq!(masked("4242"), "************4242");
    }
}
