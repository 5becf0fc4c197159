//! The two statements behind every paged list: one page of the tenant's rows a search clause
//! keeps, in record id order, and how many rows it keeps. Each table's file owns its clause and
//! builds its [`Search`] with the values bound to it; this file owns only the shape around them.
//! It must never take a clause, a table or an order from input: they are constants of the
//! calling file.

use std::marker::PhantomData;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::{like_pattern, query_as, query_value, FromRow, StorageError};

/// A value bound to a search clause, owned by the search so a page can be read after the
/// filter that made it is gone.
pub type SearchValue<'a> = Box<dyn ToSql + Sync + Send + 'a>;

/// A search of one table's rows of a tenant, read as `T`: `select {rows} from {from} where
/// {clause}`, with the tenant bound to the clause's `$1` and `values` to `$2`, `$3`, ….
pub struct Search<'a, T> {
    /// The table, with the alias the clause names it by when it has one (`tags t`).
    from: &'static str,
    /// What a page selects of each row: `*`, or `t.*` with an alias.
    rows: &'static str,
    clause: &'static str,
    values: Vec<SearchValue<'a>>,
    row: PhantomData<fn() -> T>,
}

impl<'a, T: FromRow> Search<'a, T> {
    pub(super) fn new(
        from: &'static str,
        rows: &'static str,
        clause: &'static str,
        values: Vec<SearchValue<'a>>,
    ) -> Search<'a, T> {
        Search {
            from,
            rows,
            clause,
            values,
            row: PhantomData,
        }
    }

    /// Kill Bill's `searchQuery` of `from` (every row's columns): `clause` with the key in `$2`
    /// (null for every row of the tenant) and its [`like_pattern`] in `$3`.
    pub(super) fn by_key(
        from: &'static str,
        clause: &'static str,
        key: Option<&'a str>,
    ) -> Search<'a, T> {
        let like = key.map(like_pattern);
        Search::new(from, "*", clause, vec![Box::new(key), Box::new(like)])
    }

    /// The tenant's rows from `offset` on, at most `limit`, in record id order (descending when
    /// `descending`, Kill Bill's negative limit).
    pub async fn page(
        self,
        client: &impl GenericClient,
        tenant_record_id: i64,
        offset: i64,
        limit: i64,
        descending: bool,
    ) -> Result<Vec<T>, StorageError> {
        let order = if descending { "desc" } else { "asc" };
        let offset_param = self.values.len() + 2;
        let sql = format!(
            "select {rows} from {from} where {clause}
             order by record_id {order} offset ${offset_param} limit ${limit_param}",
            rows = self.rows,
            from = self.from,
            clause = self.clause,
            limit_param = offset_param + 1,
        );
        let mut params = self.params(&tenant_record_id);
        params.extend([&offset as &(dyn ToSql + Sync), &limit]);
        query_as(client, &sql, &params).await
    }

    /// How many of the tenant's rows the clause keeps.
    pub async fn count(
        self,
        client: &impl GenericClient,
        tenant_record_id: i64,
    ) -> Result<i64, StorageError> {
        let sql = format!("select count(*) from {} where {}", self.from, self.clause);
        query_value(client, &sql, &self.params(&tenant_record_id)).await
    }

    /// The tenant, then the clause's values: what `$1`, `$2`, … bind.
    fn params<'p>(&'p self, tenant_record_id: &'p i64) -> Vec<&'p (dyn ToSql + Sync)> {
        let values = self
            .values
            .iter()
            .map(|value| &**value as &(dyn ToSql + Sync));
        std::iter::once(tenant_record_id as &(dyn ToSql + Sync))
            .chain(values)
            .collect()
    }
}
