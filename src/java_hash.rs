//! The iteration order of Java's `HashMap` and `HashSet` keyed by strings, for the answers Kill
//! Bill builds by walking one: the growing queues of its health check, a user's permissions
//! (`/1.0/kb/security/permissions`), the tenant key-values a prefix search finds. Clients see
//! that order on the wire, so ferrobill reproduces it rather than sorting.
//!
//! A `HashMap` walks its buckets in index order and each bucket's chain in insertion order
//! (resizing splits chains without reordering them). The bucket is the low bits of
//! `h ^ (h >>> 16)`, `h` being `String.hashCode()`, and the table starts at 16 buckets and
//! doubles whenever the size exceeds three quarters of it. Not reproduced: a bucket reaching 9
//! entries (which resizes early below 64 buckets, or becomes a tree above), which the small
//! maps Kill Bill answers with do not come near. Pure functions; no I/O.

/// `entries` in the iteration order of a `java.util.HashMap<String, _>` filled with `put` in
/// the given order (keys distinct) and never shrunk.
pub fn hash_map_order<T>(entries: &[T], key: impl Fn(&T) -> &str) -> Vec<&T> {
    let mut buckets = 16usize;
    while entries.len() > buckets / 4 * 3 {
        buckets *= 2;
    }
    let mut ordered: Vec<&T> = entries.iter().collect();
    // A stable sort keeps insertion order within a bucket.
    ordered.sort_by_key(|entry| spread_hash(key(entry)) as usize & (buckets - 1));
    ordered
}

/// The iteration order of a `java.util.HashSet<String>` after adding `items` in order: the
/// first occurrence of each, walked as [`hash_map_order`] walks a map.
pub fn hash_set_order(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut distinct: Vec<String> = Vec::new();
    for item in items {
        if !distinct.contains(&item) {
            distinct.push(item);
        }
    }
    hash_map_order(&distinct, String::as_str)
        .into_iter()
        .cloned()
        .collect()
}

/// `String.hashCode()` over UTF-16 code units, then `HashMap.hash`'s `h ^ (h >>> 16)`.
fn spread_hash(text: &str) -> u32 {
    let hash = text.encode_utf16().fold(0i32, |hash, unit| {
        hash.wrapping_mul(31).wrapping_add(i32::from(unit))
    });
    let hash = hash as u32;
    hash ^ (hash >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(names: &[&str]) -> Vec<String> {
        let entries: Vec<String> = names.iter().map(|name| name.to_string()).collect();
        hash_map_order(&entries, String::as_str)
            .into_iter()
            .cloned()
            .collect()
    }

    #[test]
    fn hash_map_order_matches_the_jvm() {
        // "Aa" and "BB" share a hash code: same bucket, insertion order.
        assert_eq!(order(&["BB", "Aa", "bus"]), ["BB", "Aa", "bus"]);
        assert_eq!(order(&["Aa", "BB", "bus"]), ["Aa", "BB", "bus"]);
        // 13 entries: one resize to 32 buckets.
        let svc: Vec<String> = (1..=13).map(|i| format!("svc-{i}:queue")).collect();
        let svc: Vec<&str> = svc.iter().map(String::as_str).collect();
        assert_eq!(
            order(&svc),
            [
                "svc-1:queue",
                "svc-7:queue",
                "svc-13:queue",
                "svc-8:queue",
                "svc-5:queue",
                "svc-9:queue",
                "svc-4:queue",
                "svc-10:queue",
                "svc-3:queue",
                "svc-6:queue",
                "svc-12:queue",
                "svc-11:queue",
                "svc-2:queue",
            ]
        );
        // 30 entries: 64 buckets.
        let q: Vec<String> = (1..=30).map(|i| format!("q{i}")).collect();
        let q: Vec<&str> = q.iter().map(String::as_str).collect();
        assert_eq!(
            order(&q),
            [
                "q30", "q11", "q10", "q13", "q12", "q15", "q14", "q17", "q16", "q19", "q18", "q1",
                "q2", "q3", "q4", "q5", "q6", "q7", "q8", "q9", "q20", "q22", "q21", "q24", "q23",
                "q26", "q25", "q28", "q27", "q29",
            ]
        );
    }

    /// The permissions Kill Bill 0.24 listed for a user holding four roles, in its order.
    #[test]
    fn hash_set_order_matches_a_user_permission_listing() {
        let added = [
            "account:*",
            "ACCOUNT:CREATE",
            "foo:bar",
            "payment:*",
            "tag:*",
            "account:create",
            "account:update",
            "custom_field:add",
            "invoice:*",
            "payment:refund",
            "payment:trigger",
            "tag:add",
            "tenant_kvs:add",
            "user:create",
            "tag:add",
        ];
        assert_eq!(
            hash_set_order(added.iter().map(|item| item.to_string())),
            [
                "payment:*",
                "tag:add",
                "foo:bar",
                "account:*",
                "ACCOUNT:CREATE",
                "custom_field:add",
                "account:create",
                "account:update",
                "invoice:*",
                "tenant_kvs:add",
                "payment:refund",
                "user:create",
                "payment:trigger",
                "tag:*",
            ]
        );
    }
}
