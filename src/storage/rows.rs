//! How a row of a query becomes a value: [`FromRow`], the columns a field is read from
//! ([`FromColumn`]), and [`row_struct!`], which declares a row struct and its [`FromRow`] from
//! one field list, so a column is named once, by its field.
//!
//! This file owns only that reading. It must never run a query, name a table, or decide what a
//! value means: a Kill Bill name is parsed by `names.rs`, a rule by the service.

use tokio_postgres::types::FromSql;
use tokio_postgres::Row;

use super::StorageError;

/// A value read from one row of a query: a table's record, or a tuple of the first columns.
pub trait FromRow: Sized {
    fn from_row(row: &Row) -> Result<Self, StorageError>;
}

/// The first columns of a row, in order: for queries that select one or two bare values.
impl<A: for<'a> FromSql<'a>> FromRow for (A,) {
    fn from_row(row: &Row) -> Result<Self, StorageError> {
        Ok((row.try_get(0)?,))
    }
}

impl<A: for<'a> FromSql<'a>, B: for<'a> FromSql<'a>> FromRow for (A, B) {
    fn from_row(row: &Row) -> Result<Self, StorageError> {
        Ok((row.try_get(0)?, row.try_get(1)?))
    }
}

/// A field's value read from the column `column` of a row: what PostgreSQL's type reads as,
/// or, for Kill Bill's enum names, what `names.rs` parses from the text.
pub trait FromColumn: Sized {
    fn from_column(row: &Row, column: &str) -> Result<Self, StorageError>;
}

impl<T: for<'a> FromSql<'a>> FromColumn for T {
    fn from_column(row: &Row, column: &str) -> Result<Self, StorageError> {
        Ok(row.try_get(column)?)
    }
}

/// Declares a struct of a table's row and its [`FromRow`]: each field is read through
/// [`FromColumn`] from the column of its own name, or from the column written after `=>` when
/// the field is named otherwise. Attributes and doc comments of the struct and of its fields
/// are kept. A row whose fields are not one column each keeps a hand-written [`FromRow`].
macro_rules! row_struct {
    (
        $(#[$struct_attr:meta])*
        $struct_vis:vis struct $name:ident {
            $(
                $(#[$field_attr:meta])*
                $field_vis:vis $field:ident: $ty:ty $(=> $column:literal)?
            ),* $(,)?
        }
    ) => {
        $(#[$struct_attr])*
        $struct_vis struct $name {
            $(
                $(#[$field_attr])*
                $field_vis $field: $ty,
            )*
        }

        impl $crate::storage::FromRow for $name {
            fn from_row(
                row: &tokio_postgres::Row,
            ) -> Result<$name, $crate::storage::StorageError> {
                Ok($name {
                    $(
                        $field: $crate::storage::rows::FromColumn::from_column(
                            row,
                            row_struct!(@column $field $(=> $column)?),
                        )?,
                    )*
                })
            }
        }
    };
    (@column $field:ident) => {
        stringify!($field)
    };
    (@column $field:ident => $column:literal) => {
        $column
    };
}
