//! Kill Bill's enum names as column values: the domain's transaction type and status read from
//! and written to their text columns.
//!
//! This is storage's edge for those types: a row leaves storage with the enum, never the text,
//! and a parameter is written as exactly the name Kill Bill stores, so the SQL and the data
//! stay as they were. A name the enum does not know is [`StorageError::UnknownName`] (the
//! stored data is at fault), never a panic. Nothing here decides what a status means.

use std::error::Error;

use bytes::BytesMut;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::Row;

use super::rows::FromColumn;
use super::StorageError;
use crate::domain::payments::{TransactionStatus, TransactionType};

/// The text column `column` of `row`, read with `parse` (an enum's `parse`).
fn read_name<T>(row: &Row, column: &str, parse: fn(&str) -> Option<T>) -> Result<T, StorageError> {
    let text: String = row.try_get(column)?;
    parse_name(column, &text, parse)
}

fn parse_name<T>(
    column: &str,
    text: &str,
    parse: fn(&str) -> Option<T>,
) -> Result<T, StorageError> {
    parse(text).ok_or_else(|| StorageError::UnknownName {
        column: column.to_string(),
        name: text.to_string(),
    })
}

/// A text parameter carrying `$name`'s Kill Bill name, as a `&str` would, and a field read
/// from such a column with `$name::parse`.
macro_rules! name_column {
    ($name:ty) => {
        impl FromColumn for $name {
            fn from_column(row: &Row, column: &str) -> Result<$name, StorageError> {
                read_name(row, column, <$name>::parse)
            }
        }

        impl ToSql for $name {
            fn to_sql(
                &self,
                ty: &Type,
                out: &mut BytesMut,
            ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
                self.as_str().to_sql(ty, out)
            }

            fn accepts(ty: &Type) -> bool {
                <&str as ToSql>::accepts(ty)
            }

            to_sql_checked!();
        }
    };
}

name_column!(TransactionType);
name_column!(TransactionStatus);

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: &(dyn ToSql + Sync)) -> Vec<u8> {
        let mut out = BytesMut::new();
        value.to_sql_checked(&Type::TEXT, &mut out).unwrap();
        out.to_vec()
    }

    #[test]
    fn every_type_is_written_as_its_name_and_read_back() {
        for kind in TransactionType::ALL {
            assert_eq!(encoded(&kind), encoded(&kind.as_str()));
            let read = parse_name("transaction_type", kind.as_str(), TransactionType::parse);
            assert_eq!(read.unwrap(), kind);
        }
    }

    #[test]
    fn every_status_is_written_as_its_name_and_read_back() {
        for status in TransactionStatus::ALL {
            assert_eq!(encoded(&status), encoded(&status.as_str()));
            let read = parse_name(
                "transaction_status",
                status.as_str(),
                TransactionStatus::parse,
            );
            assert_eq!(read.unwrap(), status);
        }
    }

    #[test]
    fn an_unknown_name_is_an_error_naming_the_column_not_a_panic() {
        let error = parse_name("transaction_status", "SETTLED", TransactionStatus::parse);
        assert!(
            matches!(&error, Err(StorageError::UnknownName { column, name })
                if column == "transaction_status" && name == "SETTLED"),
            "{error:?}"
        );
        let error = parse_name("transaction_type", "purchase", TransactionType::parse);
        assert!(matches!(error, Err(StorageError::UnknownName { .. })));
    }

    #[test]
    fn only_text_columns_accept_them() {
        assert!(<TransactionType as ToSql>::accepts(&Type::TEXT));
        assert!(<TransactionStatus as ToSql>::accepts(&Type::VARCHAR));
        assert!(!<TransactionStatus as ToSql>::accepts(&Type::INT4));
    }
}
