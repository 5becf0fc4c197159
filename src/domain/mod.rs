//! Kill Bill's value types, shared by every layer: the names a payment transaction can carry
//! and the ObjectType names.
//!
//! This module owns the enums and their Kill Bill names (the text on the wire and in the
//! columns). It depends on nothing in the crate, so storage, plugins, the service layer and
//! http can all use it; it must never read a database, call a plugin or decide a rule.

pub mod object_types;
pub mod payments;
