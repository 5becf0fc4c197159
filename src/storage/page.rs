//! The two statements behind every paged list: one page of the rows a search clause keeps, in
//! record id order, and how many rows it keeps. Each table's file owns its clause and the
//! values bound to it; this file owns only the shape around them. It must never take a clause,
//! a table or an order from input: they are constants of the calling file.

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::{query_as, query_value, FromRow, StorageError};

/// A search of one table: `select {rows} from {from} where {clause}`, with `params` bound to
/// the clause's `$1`, `$2`, ….
pub struct Search<'a> {
    /// The table, with the alias the clause names it by when it has one (`tags t`).
    pub from: &'static str,
    /// What a page selects of each row: `*`, or `t.*` with an alias.
    pub rows: &'static str,
    pub clause: &'static str,
    pub params: &'a [&'a (dyn ToSql + Sync)],
}

impl Search<'_> {
    /// The rows from `offset` on, at most `limit`, in record id order (descending when
    /// `descending`, Kill Bill's negative limit).
    pub async fn page<T: FromRow>(
        &self,
        client: &impl GenericClient,
        offset: i64,
        limit: i64,
        descending: bool,
    ) -> Result<Vec<T>, StorageError> {
        let order = if descending { "desc" } else { "asc" };
        let offset_param = self.params.len() + 1;
        let sql = format!(
            "select {rows} from {from} where {clause}
             order by record_id {order} offset ${offset_param} limit ${limit_param}",
            rows = self.rows,
            from = self.from,
            clause = self.clause,
            limit_param = offset_param + 1,
        );
        let mut params = self.params.to_vec();
        params.extend([&offset as &(dyn ToSql + Sync), &limit]);
        query_as(client, &sql, &params).await
    }

    /// How many rows the clause keeps.
    pub async fn count(&self, client: &impl GenericClient) -> Result<i64, StorageError> {
        let sql = format!("select count(*) from {} where {}", self.from, self.clause);
        query_value(client, &sql, self.params).await
    }
}
