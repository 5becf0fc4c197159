//! What request data may reach a log line or an ops page: runs of 12 to 19 digits (card
//! numbers, possibly split by blanks or dashes) are masked to their last four digits, and a
//! tenant is named by a short digest of its id, never its id, key or secret.
//!
//! It only rewrites text for display; it never changes what a request carries.

use std::borrow::Cow;

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Shortest and longest card numbers (ISO/IEC 7812).
const CARD_DIGITS: std::ops::RangeInclusive<usize> = 12..=19;

/// `text` with every card-number-like digit run (digits, blanks and dashes, 12 to 19 digits)
/// replaced by `****` and its last four digits.
pub fn mask_card_numbers(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut index = 0;
    while index < bytes.len() {
        if !bytes[index].is_ascii_digit() {
            index += 1;
            continue;
        }
        // A run of digits, blanks and dashes, ending on a digit.
        let start = index;
        let mut end = index;
        let mut digits = 0;
        let mut cursor = index;
        while cursor < bytes.len() && matches!(bytes[cursor], b'0'..=b'9' | b' ' | b'-') {
            if bytes[cursor].is_ascii_digit() {
                digits += 1;
                end = cursor + 1;
            }
            cursor += 1;
        }
        if CARD_DIGITS.contains(&digits) {
            let last4: String = text[start..end]
                .chars()
                .filter(char::is_ascii_digit)
                .skip(digits - 4)
                .collect();
            out.push_str(&text[copied..start]);
            out.push_str("****");
            out.push_str(&last4);
            copied = end;
        }
        index = cursor.max(index + 1);
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// A stable short name for a tenant that does not reveal its id: the first 8 hex digits of the
/// id's SHA-256, enough to tell the tenants of one page apart.
pub fn tenant_tag(tenant: Uuid) -> String {
    let digest = Sha256::digest(tenant.as_bytes());
    digest[..4]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn card_numbers_are_masked_to_their_last_four_digits() {
        assert_eq!(
            mask_card_numbers("/1.0/kb/x/4242424242424242/y"),
            "/1.0/kb/x/****4242/y"
        );
        assert_eq!(
            mask_card_numbers("card 4111 1111 1111 1111, ok"),
            "card ****1111, ok"
        );
        assert_eq!(mask_card_numbers("4000-0000-0000-0002"), "****0002");
    }

    #[test]
    fn other_numbers_are_kept() {
        for text in [
            "/1.0/kb/accounts/2b8a0b27-5d5c-4b1e-8a4b-2f5c1e0e7a10",
            "limit 100 offset 12345678901",
            "12345678901234567890",
            "",
        ] {
            assert_eq!(mask_card_numbers(text), text);
        }
    }

    #[test]
    fn tenant_tags_are_short_and_stable() {
        let tenant = Uuid::new_v4();
        assert_eq!(tenant_tag(tenant), tenant_tag(tenant));
        assert_eq!(tenant_tag(tenant).len(), 8);
    }
}
